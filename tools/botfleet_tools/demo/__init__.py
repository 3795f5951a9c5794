"""`botfleet demo`: the simulator and one paper bot per strategy, with a live terminal view."""

from __future__ import annotations

from pathlib import Path

import typer


def demo_command(
    duration: float = typer.Option(None, "--duration", min=1, help="Stop after SECONDS (default: until Ctrl-C)."),
    report: Path = typer.Option(None, "--report", help="Write the summary as JSON to PATH."),
    seed: int = typer.Option(7, "--seed", help="Seed of the simulated market (same seed, same market)."),
    no_ui: bool = typer.Option(False, "--no-ui", help="Plain periodic lines instead of the live view."),
    metrics_port: int = typer.Option(9100, "--metrics-port", min=0, max=65535,
                                     help="Serve every bot's /metrics on this port (0 = off)."),
    log_file: Path = typer.Option(None, "--log-file", help="Where the bots' JSON logs go (default: a temp file)."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    scenario: str = typer.Option("realistic", "--scenario",
                                 help="Simulator scenario: realistic (delayed matching, entry latency, a faster "
                                      "competing taker, multi-level arbitrage, incomplete neg-risk events) or demo "
                                      "(the plain market)."),
) -> None:
    """Simulator + every strategy in paper mode, with a live view."""  # in one process
    from botfleet_tools.demo.runner import DemoOptions, main
    from botfleet_tools.sim.scenarios import PRESETS

    if scenario not in PRESETS:
        raise typer.BadParameter(f"unknown scenario {scenario!r}: choose one of {', '.join(sorted(PRESETS))}",
                                 param_hint="--scenario")
    code = main(DemoOptions(duration_s=duration, report=report, seed=seed, ui=not no_ui,
                            metrics_port=metrics_port, log_file=log_file, log_level=log_level, scenario=scenario))
    raise typer.Exit(code)


__all__ = ["demo_command"]
