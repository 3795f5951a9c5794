"""`botfleet run --config FILE`: the bot pod's entrypoint.

One process, one bot: loads the configuration the operator rendered, reads the credentials, serves
telemetry and runs `BotApp` until SIGTERM/SIGINT, then shuts down gracefully (no new orders, open
orders canceled, journal flushed and closed).

Exit codes:
  0  stopped by SIGTERM/SIGINT after a clean shutdown
  1  the bot failed at runtime (exchange/journal unreachable at start, a crashed task, an
     unclean shutdown)
  2  bad configuration: the message names the field (also: live mode without a wallet key, a
     journal already locked by another bot process, an unknown strategy)
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

import structlog
import typer

from bot_runtime import __version__
from bot_runtime.contract.config import BotConfig, ConfigError, load_config

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

log = structlog.get_logger("botfleet.run")


async def serve(config: BotConfig, stop_after_s: float | None = None) -> int:
    """Run one bot with its telemetry server until a signal (or `stop_after_s`); returns the exit code."""
    from bot_runtime.app import BotApp
    from bot_runtime.credentials import CredentialsReader
    from bot_runtime.errors import StartupError
    from bot_runtime.telemetry.metrics import BotMetrics
    from bot_runtime.telemetry.server import TelemetryServer

    credentials = CredentialsReader(config.credentialsDir)
    metrics = BotMetrics()
    app = BotApp(config, credentials, metrics=metrics)
    server = TelemetryServer(metrics.registry, [app], port=config.telemetry.port)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, app.request_stop, sig.name)
    try:
        await server.start()
    except OSError as exc:
        log.error("telemetry port unavailable", port=config.telemetry.port, error=str(exc))
        return EXIT_FAILED
    try:
        try:
            await app.start()
        except StartupError as exc:
            log.error("BOT FAILED TO START", reason=str(exc), config_error=exc.config_error)
            await app.stop("startup failed")
            return EXIT_CONFIG if exc.config_error else EXIT_FAILED
        if stop_after_s is not None:
            loop.call_later(stop_after_s, app.request_stop, "deadline")
        clean = await app.wait()
        return EXIT_OK if clean else EXIT_FAILED
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await server.stop()


def run_command(
    config: str = typer.Option(None, "--config", envvar="BOTFLEET_CONFIG",
                               help="The bot's config.json (default: $BOTFLEET_CONFIG)."),
    log_level: str = typer.Option(None, "--log-level", help="Override telemetry.logLevel (debug, info, ...)."),
) -> None:
    """Run one trading bot (the pod's entrypoint)."""
    from bot_runtime.telemetry.logs import configure_logging

    if not config and not os.environ.get("BOTFLEET_STRATEGY"):
        typer.echo("error: no configuration: pass --config FILE or set BOTFLEET_CONFIG to the rendered "
                   "config.json", err=True)
        raise typer.Exit(EXIT_CONFIG)
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    configure_logging(log_level or cfg.telemetry.logLevel, bot=cfg.name, strategy=str(cfg.strategy),
                      namespace=cfg.namespace)
    log.info("BOT STARTING", version=__version__, mode=cfg.mode, strategy=str(cfg.strategy),
             risk_profile=str(cfg.riskProfile), paused=cfg.paused, python=sys.version.split()[0])
    code = asyncio.run(serve(cfg))
    raise typer.Exit(code)


# -- `botfleet kill-switch ...`: run in the pod (`kubectl exec deploy/<bot> -- botfleet kill-switch reset`) --
kill_switch_app = typer.Typer(help="Inspect or reset a bot's daily-loss kill switch (stored in its journal).",
                              no_args_is_help=True, add_completion=False)


def _journal_for(config: str | None) -> tuple[BotConfig, Any]:
    from bot_runtime.execution.journal import JournalError, open_journal

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    try:
        return cfg, open_journal(cfg.journal.url)
    except (JournalError, OSError) as exc:
        typer.echo(f"error: journal cannot be opened: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None


@kill_switch_app.command("status")
def kill_switch_status(
    config: str = typer.Option(None, "--config", envvar="BOTFLEET_CONFIG", help="The bot's config.json."),
) -> None:
    """Print the kill switch state as JSON."""
    import json

    from bot_runtime.execution.risk import KILL_SWITCH_KEY

    _cfg, journal = _journal_for(config)
    try:
        state = journal.kv_get(KILL_SWITCH_KEY) or {"tripped": False}
    finally:
        journal.close()
    typer.echo(json.dumps(state))


@kill_switch_app.command("reset")
def kill_switch_reset(
    config: str = typer.Option(None, "--config", envvar="BOTFLEET_CONFIG", help="The bot's config.json."),
    by: str = typer.Option(os.environ.get("USER", "operator"), "--by", help="Who resets it (journaled)."),
) -> None:
    """Reset a tripped kill switch. A running bot applies it within seconds; a stopped one on start."""
    import time

    from bot_runtime.app_execution import KILL_RESET_REQUEST_KEY
    from bot_runtime.execution.journal_lock import HEARTBEAT_KEY, heartbeat_fresh, journal_in_use, sqlite_path
    from bot_runtime.execution.risk import KILL_SWITCH_KEY, RiskEngine

    cfg, j = _journal_for(config)
    try:
        state = j.kv_get(KILL_SWITCH_KEY) or {}
        if not state.get("tripped"):
            typer.echo("kill switch is not tripped: nothing to reset")
            return
        path = sqlite_path(cfg.journal.url)
        running = journal_in_use(path) if path is not None else heartbeat_fresh(
            j.kv_get(HEARTBEAT_KEY), int(time.time() * 1000))
        if running:
            # the bot owns its risk engine: it picks the request up on its next loop (about 2 s)
            j.kv_set(KILL_RESET_REQUEST_KEY, {"by": by, "at_ms": int(time.time() * 1000)})
            typer.echo(f"reset requested for running bot {cfg.name}; watch botfleet_kill_switch_tripped go to 0")
        else:
            RiskEngine(cfg.limits, j).reset(by)
            typer.echo(f"kill switch of {cfg.name} reset by {by}")
    finally:
        j.close()
