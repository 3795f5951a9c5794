"""The subcommands of `botfleet`, loaded lazily: only the module of the command being run is
imported, so a bot pod never loads the operator's dependencies and `botfleet --help` is fast."""

from __future__ import annotations

import importlib
from typing import Any

import click
import typer
from typer.core import TyperGroup

# name -> ("module:attribute", one-line help). The attribute is a typer.Typer (a group of
# subcommands) or a function with typer parameters (one command).
LAZY: dict[str, tuple[str, str]] = {}


def _load(name: str) -> click.Command:
    target, help_text = LAZY[name]
    module, _, attr = target.partition(":")
    obj: Any = getattr(importlib.import_module(module), attr)
    if isinstance(obj, typer.Typer):
        cmd = typer.main.get_command(obj)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name=name, help=help_text)(obj)
        cmd = typer.main.get_command(single)
    cmd.name = name
    cmd.help = cmd.help or help_text
    return cmd


class LazyGroup(TyperGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY:
            return _load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, LAZY[name][1]) for name in sorted(LAZY)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
