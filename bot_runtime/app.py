"""BotApp: one bot assembled from the runtime's pieces, with its lifecycle.

start():  journal (locked) -> exchange -> executor + risk engine (reconcile with the exchange)
          -> market discovery (Gamma) -> strategy.select_markets -> books over the market websocket
          -> the first exchange heartbeat -> strategy.run(), the gauges loop, the exchange
          heartbeat loop (dead-man switch), the credentials watch.
stop():   no new orders -> strategy stopped and drained -> open orders canceled -> heartbeats
          stop (the exchange's dead-man switch is the backstop if the cancel failed) -> market
          data closed -> journal flushed and closed -> lock released.

Mode rules (decided in `plan_execution`, a pure function):
- live: needs `mode: live` AND a wallet key (`PRIVATE_KEY`); orders go to the configured CLOB;
- paper against a simulator (any clobUrl other than production's): real HTTP orders to the sim,
  signed with the bot's own paper key (generated once, kept with the journal, never logged) for
  the simulator's chain id (SIM_CHAIN_ID), never with the wallet Secret; API credentials come
  from the sim's L1 auth endpoint, never from the credentials Secret (warned about when present);
- paper against production endpoints: live market data, orders filled by an in-process matching
  engine against those books; nothing is sent to Polymarket (same paper key).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from bot_runtime import __version__, app_execution
from bot_runtime.app_execution import Execution, ExecutionDeps, build_execution
from bot_runtime.contract.config import BotConfig
from bot_runtime.errors import StartupError
from bot_runtime.marketdata.store import BookStore
from bot_runtime.telemetry import logs as ev
from bot_runtime.telemetry.http_metrics import traced_session
from bot_runtime.telemetry.metrics import BotMetrics
from bot_runtime.types import Opportunity, OrderIntent, OrderResult
from bot_runtime.venue.polymarket.frames import FrameError, MarketResolvedEvent
from bot_runtime.venue.polymarket.gamma import GammaClient, MarketFilter, MarketInfo
from bot_runtime.venue.polymarket.ws import MarketDataHooks, MarketWsClient, WsSettings, wall_ms

READY_MAX_DATA_AGE_S = 30.0     # a live connection keeps its books < ~1.5 s old: 30 s is a dead one
FEED_STALL_ENV = "BOTFLEET_FEED_STALL_SECONDS"  # override of WsSettings.stall_after_s ("off" disables)
GAUGE_INTERVAL_S = 1.0
HEARTBEAT_INTERVAL_S = 10.0
STOP_TIMEOUT_S = 20.0           # inside Kubernetes' default 30 s grace period
SYNC_TIMEOUT_S = 15.0


def feed_stall_limit(env: Mapping[str, str], default: float | None) -> float | None:
    """Seconds of PONG-only silence after which a trading feed is stale, from the environment."""
    raw = env.get(FEED_STALL_ENV, "").strip()
    if not raw:
        return default
    if raw.lower() in ("off", "none", "0"):
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise StartupError(f"{FEED_STALL_ENV} must be a number of seconds > 0 or 'off', got {raw!r}",
                           config_error=True)
    return value


def readiness_reasons(*, started: bool, stopping: bool, shards: int, connected: int, data_age_s: float | None,
                      journal_open: bool, fatal: str, max_age_s: float = READY_MAX_DATA_AGE_S,
                      stalled: int = 0) -> list[str]:
    """Why a bot is not ready (empty = ready). Pure, for tests."""
    reasons: list[str] = []
    if fatal:
        reasons.append(f"halted: {fatal}")
    if stopping:
        reasons.append("shutting down")
    if not started:
        reasons.append("starting")
        return reasons
    if not journal_open:
        reasons.append("journal closed")
    if shards and connected < shards:
        reasons.append(f"market data: {shards - connected} of {shards} connections down")
    if stalled:
        reasons.append(f"market data stalled: {stalled} of {shards} connections answer PING but deliver no "
                       "data while the exchange trades")
    if data_age_s is None:
        reasons.append("market data: no books yet")
    elif data_age_s > max_age_s:
        reasons.append(f"market data stale: {data_age_s:.1f}s old (limit {max_age_s:.0f}s)")
    return reasons


class _Hooks(MarketDataHooks):
    """Market-data telemetry, and the arrival time of the frame being applied (latency start)."""

    def __init__(self, app: BotApp) -> None:
        self.app = app
        self.last_frame_ns = 0
        self.frames = app.metrics.ws_frames.labels(*app.labels)
        self.reconnects = app.metrics.ws_reconnects.labels(*app.labels)

    def on_raw_frame(self, raw: bytes, recv_ms: int) -> None:
        self.last_frame_ns = time.perf_counter_ns()

    def on_frame(self, n_bytes: int) -> None:
        self.frames.inc()

    def on_reconnect(self, shard_id: int) -> None:
        self.reconnects.inc()
        self.app.log.warning(ev.RECONNECT, shard=shard_id)

    def on_disconnect(self, shard_id: int, reason: str) -> None:
        if self.app.stopping:
            return
        self.app.log.warning("MARKET DATA DISCONNECTED", shard=shard_id, reason=reason)

    def on_frame_error(self, error: FrameError) -> None:
        self.app.metrics.api_errors.labels(*self.app.labels, "ws_market", "bad_frame").inc()

    def on_resync(self, asset_ids: list[str], source: str) -> None:
        self.app.log.info("BOOKS RESYNCED", assets=len(asset_ids), source=source)


class BotApp:
    """One bot. Several may share a process (the demo), each with its own journal and labels."""

    def __init__(self, config: BotConfig, credentials: Mapping[str, str], *, metrics: BotMetrics | None = None,
                 state_dir: str | Path | None = None, sync_timeout_s: float = SYNC_TIMEOUT_S,
                 ws_settings: Callable[[BotConfig], WsSettings] | None = None) -> None:
        self.config = config
        self.credentials = credentials
        self.metrics = metrics or BotMetrics()
        self.labels = (config.name, str(config.strategy))
        self.log = structlog.get_logger("botfleet.bot").bind(bot=config.name, strategy=str(config.strategy))
        self.state_dir = Path(state_dir) if state_dir else None
        self.sync_timeout_s = sync_timeout_s
        self._ws_settings = ws_settings
        self.paused = config.paused
        self.started = False
        self.stopping = False
        self.fatal = ""
        self.started_at = 0.0
        self.markets: dict[str, MarketInfo] = {}
        self.store = BookStore()
        self.hooks = _Hooks(self)
        self.ws: MarketWsClient | None = None
        self.http: aiohttp.ClientSession | None = None
        self.execution: Execution | None = None
        self.strategy: Any = None
        self.last_opportunity: dict[str, Any] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._stop_requested = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stop_reason = ""
        self._clean = True
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def name(self) -> str:
        return self.config.name

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.config
        self.started_at = time.time()
        # every task started from here (executor, websocket, strategy) logs with this bot's labels,
        # also in the demo where several bots share a process (each starts in its own task)
        structlog.contextvars.bind_contextvars(bot=cfg.name, strategy=str(cfg.strategy))
        self.metrics.build_info.labels(*self.labels).info(
            {"version": __version__, "mode": cfg.mode, "risk_profile": str(cfg.riskProfile)})
        self.metrics.paused.labels(*self.labels).set(1 if self.paused else 0)
        self.http = traced_session(self.metrics, *self.labels, timeout=aiohttp.ClientTimeout(total=15))
        # the execution side gets what it needs passed in: it never reaches back into the app
        self.execution = await build_execution(ExecutionDeps(
            config=cfg, credentials=self.credentials, metrics=self.metrics, labels=self.labels, log=self.log,
            store=self.store, http=self.http, paused=lambda: self.paused))
        await self._discover_and_subscribe()
        self._spawn(self._gauges(), "gauges")
        self._spawn(self._heartbeat(), "heartbeat")
        # the dead-man switch is armed before the strategy can place an order
        await self.execution.exchange_heartbeat()
        self._spawn(self._exchange_heartbeat(), "exchange-heartbeat")
        watch = getattr(self.credentials, "watch", None)
        if callable(watch):
            on_change = getattr(self.credentials, "on_change", None)
            if callable(on_change):
                on_change(self._credentials_changed)
            self._spawn(watch(), "credentials")
        self._spawn(self.strategy.run(), "strategy", essential=True)
        from bot_runtime.execution.executor import tune_for_latency

        tune_for_latency()  # GC freeze, GIL switch interval: docs/benchmarks.md (tick to order)
        self.started = True
        self.log.info(ev.STARTED, mode=cfg.mode, execution=self.execution.kind, markets=len(self.markets),
                      assets=len(self.store.books), paused=self.paused, version=__version__)

    async def _discover_and_subscribe(self) -> None:
        from bot_runtime.ai.factory import AnalyzerUnavailable
        from bot_runtime.strategies import get_strategy
        from bot_runtime.strategies.base import StrategyContext

        cfg = self.config
        try:
            cls = get_strategy(str(cfg.strategy))
        except ValueError as exc:
            raise StartupError(str(exc), config_error=True) from None
        gamma = GammaClient(cfg.endpoints.gammaUrl, session=self.http)
        sel = cfg.markets
        f = MarketFilter(condition_ids=sel.conditionIds, slugs=sel.slugs, categories=sel.tags,
                         max_markets=sel.maxMarkets)
        try:
            found = await gamma.markets(f)
            found = await gamma.fill_fee_rates(found, cfg.endpoints.clobUrl)
            found = await gamma.annotate_events(found)
        except (aiohttp.ClientError, TimeoutError, RuntimeError) as exc:
            raise StartupError(f"market discovery at {cfg.endpoints.gammaUrl} failed: {exc}") from None
        state_dir = self._state_dir()
        ctx = StrategyContext(config=cfg, params=cfg.strategy_params(), books=self.store, markets={},
                              submit=self.submit, metrics=self.metrics, log=self.log, http=self.http,
                              credentials=self.credentials, state_dir=str(state_dir))
        if self.execution is not None:
            ctx.resolve = self.execution.resolve
            ctx.held = self.execution.held
            ctx.record_event = self.execution.record_event
            ctx.state_get = self.execution.state_get
            ctx.state_set = self.execution.state_set
        if self.execution is not None and self.execution.kind == "sim" and hasattr(ctx, "newsapi_url"):
            # the simulator serves NewsAPI-shaped headlines of its own markets' news
            ctx.newsapi_url = cfg.endpoints.clobUrl.rstrip("/") + "/newsapi"
        try:
            self.strategy = cls(ctx)
        except AnalyzerUnavailable as exc:
            raise StartupError(str(exc), config_error=True) from None
        chosen = self.strategy.select_markets(found)
        ctx.markets.update({m.condition_id: m for m in chosen})
        self.markets = ctx.markets
        self.store.add_markets(chosen)
        ev.register_public([m.condition_id for m in chosen] + [m.neg_risk_market_id for m in chosen])
        self.store.add_update_listener(self._on_books)
        self.store.add_event_listener(self._on_market_event)
        self.metrics.markets_tracked.labels(*self.labels).set(len(chosen))
        assets = [t for m in chosen for t in m.token_ids]
        if self._ws_settings:
            settings = self._ws_settings(cfg)
        else:
            settings = WsSettings(url=cfg.endpoints.wsMarketUrl, rest_url=cfg.endpoints.clobUrl)
            settings.stall_after_s = feed_stall_limit(os.environ, settings.stall_after_s)
        self.ws = MarketWsClient(self.store, settings, self.hooks)
        await self.ws.start(assets)
        if assets and not await self.ws.wait_synced(timeout=self.sync_timeout_s):
            self.log.warning("market data not synced yet", assets=len(assets), waited_s=self.sync_timeout_s)

    def _state_dir(self) -> Path:
        if self.state_dir is None:
            from bot_runtime.execution.journal_lock import sqlite_path

            path = sqlite_path(self.config.journal.url)
            if path is not None:
                self.state_dir = path.parent / "state"
            else:
                self._tmpdir = tempfile.TemporaryDirectory(prefix=f"botfleet-{self.name}-")
                self.state_dir = Path(self._tmpdir.name)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return self.state_dir

    def _spawn(self, coro: Any, name: str, essential: bool = False) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}:{name}")
        self._tasks.append(task)
        if essential:
            task.add_done_callback(self._essential_done)

    def _essential_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or self.stopping:
            return
        exc = task.exception()
        if exc is not None:
            self.fatal = f"{task.get_name()} failed: {type(exc).__name__}: {exc}"
            self.log.error("BOT TASK FAILED", task=task.get_name(), error=f"{type(exc).__name__}: {exc}")
            self._clean = False
            self.request_stop("task failed")

    def request_stop(self, reason: str = "requested") -> None:
        """Signal-safe: ask the bot to shut down gracefully."""
        if not self._stop_requested.is_set():
            self._stop_reason = reason
            self._stop_requested.set()

    async def wait(self) -> bool:
        """Until a stop is requested, then shut down; returns True for a clean shutdown."""
        await self._stop_requested.wait()
        return await self.stop(self._stop_reason)

    async def stop(self, reason: str = "requested") -> bool:
        """Graceful shutdown (idempotent). Returns True when every step succeeded."""
        if self.stopping:
            await self._stopped.wait()
            return self._clean
        self.stopping = True
        self._stop_requested.set()
        self.log.info(ev.STOPPING, reason=reason)
        try:
            await asyncio.wait_for(self._shutdown(), STOP_TIMEOUT_S)
        except TimeoutError:
            self._clean = False
            self.log.error("shutdown timed out", timeout_s=STOP_TIMEOUT_S)
        self._stopped.set()
        self.log.info(ev.STOPPED, clean=self._clean, reason=reason)
        return self._clean

    async def _shutdown(self) -> None:
        if self.strategy is not None:
            try:
                await self.strategy.stop()
                await self.strategy.drain()
            except Exception as exc:
                self._clean = False
                self.log.error("strategy stop failed", error=f"{type(exc).__name__}: {exc}")
        if self.execution is not None:
            try:
                canceled = await self.execution.cancel_all()
                self.log.info("OPEN ORDERS CANCELED", count=canceled)
            except Exception as exc:
                self._clean = False
                self.log.error("cancel on shutdown failed", error=f"{type(exc).__name__}: {exc}")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.ws is not None:
            await self.ws.stop()
        if self.execution is not None:
            try:
                await self.execution.close()
            except Exception as exc:
                self._clean = False
                self.log.error("journal close failed", error=f"{type(exc).__name__}: {exc}")
        if self.http is not None:
            await self.http.close()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()

    # -- the hot path and events ------------------------------------------------------------
    def _on_books(self, asset_ids: set[str]) -> None:
        if self.stopping or self.strategy is None:
            return
        self.strategy.on_book_update(asset_ids, self.hooks.last_frame_ns)

    def _on_market_event(self, event: Any) -> None:
        if isinstance(event, MarketResolvedEvent) and self.strategy is not None:
            self.strategy.on_market_resolved(event.market, event.winning_asset_id)

    async def submit(self, intents: list[OrderIntent], opportunity: Opportunity) -> list[OrderResult]:
        """What strategies call: refused while stopping; otherwise risk engine + journal + send."""
        self.last_opportunity = {"ts_ms": opportunity.ts_ms, "market": opportunity.market,
                                 "kind": opportunity.kind, "edge": opportunity.edge}
        if self.stopping or self.execution is None:
            return [OrderResult(client_id="", intent=i, status="rejected", error="bot is shutting down")
                    for i in intents]
        return await self.execution.submit(intents, opportunity)

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.metrics.paused.labels(*self.labels).set(1 if paused else 0)

    async def _credentials_changed(self, keys: set[str]) -> None:
        if self.execution is not None:
            await self.execution.credentials_changed(keys)

    # -- periodic work ------------------------------------------------------------------------
    def data_age_s(self) -> float | None:
        """Age of the oldest book by the runtime's one freshness rule (`BookStore.book_age_ms`);
        a stalled feed counts from its last data frame. Feeds /readyz, /status and the gauge."""
        age = self.store.oldest_age_ms(wall_ms())
        return None if age is None else age / 1000

    async def _gauges(self) -> None:
        m, lab = self.metrics, self.labels
        age_fn = getattr(self.credentials, "age_seconds", None)
        due_fn = getattr(self.credentials, "rotation_due", None)
        rotation_logged = False
        while True:
            age = self.data_age_s()
            m.market_data_age.labels(*lab).set(age if age is not None else float("inf"))
            if self.execution is not None:
                try:
                    await self.execution.update_gauges()
                except Exception as exc:  # telemetry must never take the bot down
                    self.log.warning("gauge update failed", error=f"{type(exc).__name__}: {exc}")
            if callable(age_fn):
                cage = age_fn()
                if cage is not None:
                    m.credential_age.labels(*lab).set(cage)
            if callable(due_fn) and due_fn(self.config.maxCredentialAgeDays) and not rotation_logged:
                self.log.warning(ev.ROTATION_DUE, max_age_days=self.config.maxCredentialAgeDays)
                rotation_logged = True
            await asyncio.sleep(GAUGE_INTERVAL_S)

    async def _heartbeat(self) -> None:
        """`runtime.heartbeat` in the journal: `botfleet restore` refuses to restore under a live bot."""
        while True:
            if self.execution is not None:
                with contextlib.suppress(Exception):
                    await self.execution.heartbeat()
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)

    async def _exchange_heartbeat(self) -> None:
        """Polymarket's dead-man switch: a bot that stops beating (hung, SIGKILLed, partitioned)
        has its resting orders canceled by the exchange within 10 s. Always on, live and paper:
        one request per 5 s, and no window where an order rests unprotected."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            interval = app_execution.EXCHANGE_HEARTBEAT_INTERVAL_S  # read each time: tests shorten it
            due += interval  # a fixed cadence: a slow beat does not delay the next
            await asyncio.sleep(max(0.0, due - loop.time()))
            due = max(due, loop.time() - interval)
            if self.execution is not None:
                await self.execution.exchange_heartbeat()

    # -- telemetry sources ---------------------------------------------------------------------
    def readiness(self) -> list[str]:
        ws = self.ws
        reasons = readiness_reasons(
            started=self.started, stopping=self.stopping, shards=ws.shard_count if ws else 0,
            connected=ws.connected_shards if ws else 0, data_age_s=self.data_age_s() if self.markets else 0.0,
            journal_open=self.execution is not None and self.execution.journal_open, fatal=self.fatal,
            stalled=ws.stalled_shards if ws else 0)
        if self.execution is not None:
            reasons += self.execution.problems()
        return reasons

    def liveness(self) -> list[str]:
        return [self.fatal] if self.fatal else []

    def snapshot(self) -> dict[str, Any]:
        """The strategy's own summary (opportunities, orders, fills, pnl_usd, latency_us)."""
        if self.strategy is None:
            return {"opportunities": 0, "orders": 0, "fills": 0, "pnl_usd": 0.0,
                    "latency_us": {"p50": 0.0, "p99": 0.0}}
        try:
            return dict(self.strategy.snapshot())
        except Exception as exc:
            return {"error": f"snapshot failed: {type(exc).__name__}"}

    def status(self) -> dict[str, Any]:
        cfg = self.config
        ex = self.execution.summary() if self.execution is not None else {}
        age = self.data_age_s()
        return {
            "name": cfg.name, "namespace": cfg.namespace, "strategy": str(cfg.strategy), "mode": cfg.mode,
            "execution": self.execution.kind if self.execution is not None else "",
            "riskProfile": str(cfg.riskProfile), "paused": self.paused, "ready": not self.readiness(),
            "notReadyReasons": self.readiness(), **ex,
            "lastOpportunity": self.last_opportunity,
            "marketDataAgeSeconds": None if age is None else round(age, 3),
            "markets": len(self.markets), "version": __version__,
            "uptimeSeconds": round(time.time() - self.started_at, 1) if self.started_at else 0.0,
            "strategySnapshot": self.snapshot(),
        }
