"""`botfleet demo`: the simulated exchange plus one paper bot per strategy, in one process.

No cluster, no keys, no internet: the simulator listens on a free loopback port, each bot gets its
own journal in a temporary directory that is removed at the end, and a paper key beside it (the
simulator funds new wallets). Logs go to a file (the terminal shows the live view).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from botfleet_tools.demo.configs import DEMO_NEWSAPI_KEY, demo_configs, order_strategies
from botfleet_tools.demo.report import BotRow, build_report, row_from, write_report
from botfleet_tools.demo.view import bots_table, live_view, plain_lines

PLAIN_EVERY_S = 5.0
UI_REFRESH_S = 0.5


@dataclass
class DemoOptions:
    duration_s: float | None = None
    report: Path | None = None
    seed: int = 7
    ui: bool = True
    metrics_port: int = 9100
    metrics_host: str = "127.0.0.1"
    log_file: Path | None = None
    log_level: str = "info"
    scenario: str = "realistic"  # the simulator's realism knobs on (scenarios.PRESET_FAULTS)
    # news jumps every few seconds (the preset's rate gives ~1 a minute): PolyAI reads them as headlines
    scenario_params: dict[str, Any] = field(default_factory=lambda: {"jump_prob": 0.005})


@dataclass
class _Bot:
    app: Any
    error: str = ""
    last_opp: Any = None
    recent: list[str] = field(default_factory=list)


def registered_strategies() -> list[str]:
    """The built-in strategies that exist in this build (the demo runs whichever are registered)."""
    import importlib

    from bot_runtime.contract.params import Strategy as StrategyName
    from bot_runtime.strategies.base import STRATEGIES

    for s in StrategyName:
        with contextlib.suppress(ImportError):
            importlib.import_module(f"bot_runtime.strategies.{s.value}")
    return [n for n in STRATEGIES if n in {s.value for s in StrategyName}]


def _rows(bots: list[_Bot]) -> list[BotRow]:
    rows = []
    for b in bots:
        app = b.app
        status: dict[str, Any] = {}
        if not b.error:
            try:
                status = app.status()
            except Exception as exc:
                status = {"error": f"status failed: {type(exc).__name__}"}
        row = row_from(app.name, str(app.config.strategy), app.snapshot(), status)
        if b.error:
            row.state, row.error = "error", b.error
        rows.append(row)
    return rows


def _new_events(bots: list[_Bot], elapsed: float, recent: list[str]) -> None:
    for b in bots:
        opp = b.app.last_opportunity
        if opp and opp is not b.last_opp:
            b.last_opp = opp
            market = str(opp.get("market", ""))
            recent.append(f"{elapsed:6.1f}s  {b.app.name:<17} {opp.get('kind', ''):<12} edge "
                          f"{float(opp.get('edge') or 0) * 100:5.2f}%  {market[:10]}…")
    del recent[:-50]


async def run_demo(opts: DemoOptions, console: Console | None = None) -> tuple[dict[str, Any], bool]:
    """Run the demo; returns (report, every bot started)."""
    from bot_runtime.app import BotApp
    from bot_runtime.credentials import CredentialsReader
    from bot_runtime.strategies.base import STRATEGIES
    from bot_runtime.telemetry.logs import configure_logging
    from bot_runtime.telemetry.metrics import BotMetrics
    from bot_runtime.telemetry.server import TelemetryServer
    from botfleet_tools.sim.config import SimConfig
    from botfleet_tools.sim.exchange import SimExchange

    console = console or Console()
    log_path = opts.log_file or Path(tempfile.gettempdir()) / f"botfleet-demo-{time.strftime('%Y%m%dT%H%M%S')}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_stream = log_path.open("a", buffering=1)
    configure_logging(opts.log_level, stream=log_stream, demo=True)

    names = order_strategies(registered_strategies())
    sim = SimExchange(SimConfig(seed=opts.seed, scenario=opts.scenario, scenario_params=dict(opts.scenario_params)))
    url = await sim.start("127.0.0.1", 0)
    workdir = tempfile.TemporaryDirectory(prefix="botfleet-demo-")
    metrics = BotMetrics()
    fields = {n: set(getattr(STRATEGIES[n].params_model, "model_fields", {})) for n in names}
    configs = demo_configs(url, names, Path(workdir.name), whales=sim.scenario.whale_wallets,
                           param_model_fields=fields)
    # no real credentials: environment variables are ignored; the sim's news feed takes any key
    bots = [_Bot(BotApp(c, CredentialsReader(None, env={"NEWSAPI_KEY": DEMO_NEWSAPI_KEY}), metrics=metrics,
                        sync_timeout_s=5.0)) for c in configs]
    server: TelemetryServer | None = None
    metrics_note = "metrics off"
    if opts.metrics_port:
        server = TelemetryServer(metrics.registry, [b.app for b in bots], host=opts.metrics_host,
                                 port=opts.metrics_port)
        try:
            port = await server.start()
            metrics_note = f"metrics http://{opts.metrics_host}:{port}/metrics"
        except OSError as exc:
            metrics_note = f"metrics port {opts.metrics_port} unavailable ({exc.strerror}); use --metrics-port"
            server = None
    header = (f"simulated exchange {url} · seed {opts.seed} · {len(bots)} bots "
              f"({', '.join(names) or 'none registered'}) · {metrics_note} · logs {log_path}")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    # each bot starts in its own task, so its log context (bot, strategy) stays its own
    results = await asyncio.gather(*(asyncio.ensure_future(b.app.start()) for b in bots), return_exceptions=True)
    for b, res in zip(bots, results, strict=True):
        if isinstance(res, BaseException):
            b.error = f"{type(res).__name__}: {res}"[:200]
    all_started = all(not b.error for b in bots) and bool(bots)

    t0 = time.monotonic()
    recent: list[str] = []
    try:
        if opts.ui and console.is_terminal:
            with Live(console=console, refresh_per_second=4, transient=False) as live:
                while not stop.is_set():
                    elapsed = time.monotonic() - t0
                    if opts.duration_s is not None and elapsed >= opts.duration_s:
                        break
                    _new_events(bots, elapsed, recent)
                    live.update(live_view(_rows(bots), elapsed, opts.duration_s, header, recent))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), UI_REFRESH_S)
        else:
            print(header, flush=True)
            next_print = PLAIN_EVERY_S
            while not stop.is_set():
                elapsed = time.monotonic() - t0
                if opts.duration_s is not None and elapsed >= opts.duration_s:
                    break
                if elapsed >= next_print:
                    print("\n".join(plain_lines(_rows(bots), elapsed)), flush=True)
                    next_print += PLAIN_EVERY_S
                wait = min(0.25, max(0.0, (opts.duration_s or 1e9) - elapsed))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
    finally:
        duration = time.monotonic() - t0
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await asyncio.gather(*(b.app.stop("demo finished") for b in bots if b.app.started or b.error),
                             return_exceptions=True)
        rows = _rows(bots)
        for r, b in zip(rows, bots, strict=True):
            if not b.error:
                r.state = "stopped"
        if server is not None:
            await server.stop()
        sim_fills = len(sim.ledger) if hasattr(sim, "ledger") else None
        await sim.stop()
        workdir.cleanup()
        # late messages (interpreter shutdown) must not hit a closed file
        configure_logging("error", stream=sys.stderr)
        log_stream.close()
    report = build_report(duration, rows, {"sim": {"url": url, "seed": opts.seed, "scenario": opts.scenario,
                                                   "fills": sim_fills}, "log_file": str(log_path)})
    if opts.report is not None:
        write_report(opts.report, report)
    if opts.ui and console.is_terminal:
        console.print(bots_table(rows, f"summary after {duration:.1f}s"))
    else:
        print("summary:", flush=True)
        print("\n".join(plain_lines(rows, duration)), flush=True)
    if opts.report is not None:
        print(f"report written to {opts.report}", flush=True)
    print(f"logs: {log_path}", flush=True)
    return report, all_started


def main(opts: DemoOptions) -> int:
    try:
        _report, ok = asyncio.run(run_demo(opts))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        print("interrupted", file=sys.stderr)
        return 130
    return 0 if ok else 1
