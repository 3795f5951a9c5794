"""The subcommands of `botfleet`, discovered through the `botfleet.commands` entry-point group and
loaded lazily: only the module of the command being run is imported, so a bot pod never loads the
operator's dependencies and `botfleet --help` is fast.

Each package declares its own commands in pyproject.toml (`[project.entry-points."botfleet.commands"]`):
the bot (run, backup, restore, kill-switch, rotate-credentials), the operator (operator, crd) and the
developer tools (sim, demo, record, backtest, dev). A command whose package is not installed (the image
ships no tools) is hidden, so this module names no package but its own."""

from __future__ import annotations

import functools
import importlib.util
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import typer
from typer.core import TyperGroup

GROUP = "botfleet.commands"
BOT_PACKAGE = "bot_runtime"


def new_typer(**kwargs: Any) -> typer.Typer:
    """A typer app whose crash traceback shows no local variables (typer's default shows them, and a
    frame's locals can hold a private key or an S3 secret key). Every app of the command goes
    through here or `_load`."""
    kwargs.setdefault("add_completion", False)
    return typer.Typer(pretty_exceptions_show_locals=False, **kwargs)


@functools.cache
def available() -> dict[str, EntryPoint]:
    """Command name -> its entry point, for the commands whose top-level package is importable.
    `find_spec` on a top-level name imports nothing."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        if importlib.util.find_spec(ep.module.partition(".")[0]) is not None:
            found.setdefault(ep.name, ep)
    return found


# typer vendors its own click; its types are private, so contexts and commands are typed loosely.
def _load(name: str, ep: EntryPoint) -> Any:
    """The entry point's object is a typer.Typer (a group of subcommands) or a function with typer
    parameters (one command, whose docstring is its help)."""
    obj: Any = ep.load()
    if isinstance(obj, typer.Typer):
        obj.pretty_exceptions_show_locals = False  # an app made elsewhere with typer.Typer()
        # Completion is installed for a program, not a subcommand: the root has none, so no group has it.
        obj._add_completion = False
        cmd = typer.main.get_command(obj)
    else:
        single = new_typer()
        single.command(name=name)(obj)
        cmd = typer.main.get_command(single)
    cmd.name = name
    return cmd


class LazyGroup(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        return sorted({*super().list_commands(ctx), *available()})

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        ep = available().get(cmd_name)
        if ep is not None:
            return _load(cmd_name, ep)
        return super().get_command(ctx, cmd_name)
