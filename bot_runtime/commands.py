"""The subcommands of `botfleet`, loaded lazily: only the module of the command being run is
imported, so a bot pod never loads the operator's dependencies and `botfleet --help` is fast."""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

# name -> ("module:attribute", one-line help). The attribute is a typer.Typer (a group of
# subcommands) or a function with typer parameters (one command).
LAZY: dict[str, tuple[str, str]] = {
    "demo": ("bot_runtime.demo:demo_command", "Simulator + every strategy in paper mode, with a live view."),
    "run": ("bot_runtime.run:run_command", "Run one trading bot (the pod's entrypoint)."),
    "sim": ("bot_runtime.sim.cli:sim_command", "Run the simulated Polymarket exchange."),
    "record": ("bot_runtime.record:record_command", "Record market-channel frames to a tape."),
    "backtest": ("bot_runtime.backtest:backtest_command", "Replay a tape through a strategy in paper mode."),
    "backup": ("bot_runtime.backup:backup_command", "Snapshot the order journal while the bot trades."),
    "restore": ("bot_runtime.backup:restore_command", "Replace the journal with a verified backup."),
    "kill-switch": ("bot_runtime.run:kill_switch_app", "Show or reset the daily-loss kill switch."),
    "operator": ("botfleet_operator.cli:operator_command", "Run the Kubernetes operator (kopf)."),
    "crd": ("botfleet_operator.cli:crd_command", "Print the TradingBot CustomResourceDefinition."),
    "rotate-credentials": ("botfleet_operator.rotation:rotate_command",
                           "Rotate a bot's CLOB API credentials (the rotation Job)."),
    "dev": ("bot_runtime.devcluster.cli:dev_app", "Developer tools: a local Kubernetes control plane."),
}


# typer vendors its own click; its types are private, so contexts and commands are typed loosely.
def _load(name: str) -> Any:
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
    def list_commands(self, ctx: Any) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY})

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in LAZY:
            return _load(cmd_name)
        return super().get_command(ctx, cmd_name)
