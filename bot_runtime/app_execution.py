"""The execution side of a bot: journal (locked), exchange, signer, risk engine, executor, and
the periodic work around them (fill sync, PnL, gauges, heartbeat, kill-switch reset requests).

Kept apart from app.py so the lifecycle reads on its own. `build_execution(deps)` is the only entry;
everything it needs from the bot comes in `ExecutionDeps`, so this module never imports app.py.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from bot_runtime.contract.config import (
    CLOB_API_KEY,
    CLOB_PASSPHRASE,
    CLOB_SECRET,
    SIM_CHAIN_ID,
    WALLET_FUNDER_ADDRESS,
    WALLET_PRIVATE_KEY,
    WALLET_SIGNATURE_TYPE,
    BotConfig,
)
from bot_runtime.contract.secret_values import funder_address_ok, must_be, private_key_bytes, signature_type
from bot_runtime.errors import StartupError
from bot_runtime.execution.journal import Journal, JournalError, open_journal, redact_url
from bot_runtime.execution.journal_lock import HEARTBEAT_KEY, JournalLocked, acquire_journal_lock, sqlite_path
from bot_runtime.execution.risk import RiskEngine
from bot_runtime.marketdata.store import BookStore
from bot_runtime.telemetry.http_metrics import traced_session
from bot_runtime.telemetry.logs import register_secret
from bot_runtime.telemetry.metrics import BotMetrics
from bot_runtime.telemetry.observer import MetricsObserver
from bot_runtime.types import Opportunity, OrderIntent, OrderResult
from bot_runtime.venue.polymarket.auth import ApiCreds
from bot_runtime.venue.polymarket.constants import CLOB_URL, E6
from bot_runtime.venue.polymarket.fees import rate_ppm
from bot_runtime.venue.polymarket.signing import OrderError, OrderSigner

if TYPE_CHECKING:
    from bot_runtime.execution.executor import Executor

KILL_RESET_REQUEST_KEY = "risk.kill_switch_reset_request"
FILL_SYNC_INTERVAL_S = 2.0
TRADES_ENDPOINT = "GET /data/trades"
SYNC_FAILURES_NOT_READY = 5        # 10 s of failed fill syncs / PnL checks
# the risk engine's stale-data halt: a quiet connection is PINGed after 1 s of silence, so a live
# book is never older than ~1.5 s; 5 s means the connection is in trouble (or its feed stalled:
# then the age is None and every order is refused at once)
DEFAULT_MAX_DATA_AGE_MS = 5_000
# Polymarket's dead-man switch (`POST /v1/heartbeats`): once started, 10 s without a heartbeat
# cancels every order of the account. Beat twice per window so one lost request costs nothing.
EXCHANGE_HEARTBEAT_INTERVAL_S = 5.0
DEAD_MAN_TIMEOUT_S = 10.0
HEARTBEAT_ENDPOINT = "heartbeat"   # the endpoint label of botfleet_api_errors_total
PRODUCTION_CLOB = CLOB_URL


@dataclass(frozen=True)
class ExecutionDeps:
    """What the execution side uses of the bot, passed in by BotApp (no reference back to it)."""

    config: BotConfig
    credentials: Mapping[str, str]
    metrics: BotMetrics
    labels: tuple[str, str]
    log: Any                                # the bot's bound structlog logger
    store: BookStore                        # books: paper fills, marks, market-data age
    http: aiohttp.ClientSession | None      # the bot's shared session (API-key derivation)
    paused: Callable[[], bool]              # the bot's current pause flag


@dataclass(frozen=True)
class ExecutionPlan:
    """How orders are executed, decided from the configuration and which credentials exist."""

    kind: str                 # "live" | "sim" | "paper-local"
    paper_wallet: bool        # sign with the bot's own paper key (execution/paper_wallet.py), not the Secret's
    derive_api_creds: bool    # ask the exchange's L1 endpoint for API credentials
    chain_id: int             # what orders and L1 headers are signed for
    ignored: tuple[str, ...] = ()  # Secret keys present but never used in this mode (warned about once)


PAPER_IGNORED_KEYS = (WALLET_PRIVATE_KEY, WALLET_FUNDER_ADDRESS, WALLET_SIGNATURE_TYPE,
                      CLOB_API_KEY, CLOB_SECRET, CLOB_PASSPHRASE)


def plan_execution(config: BotConfig, has_wallet: bool, has_api_creds: bool,
                   present: Collection[str] = ()) -> ExecutionPlan:
    """Pure decision of the execution path; raises StartupError(config_error=True) when refused.

    Paper mode never signs with the wallet Secret nor uses its CLOB API credentials: a simulator
    may be compromised or sniffed (plain HTTP), so a paper bot has a key of its own and signs for
    the simulator's chain id, which Polygon does not accept. `present`: the credential keys found."""
    production = config.endpoints.clobUrl.rstrip("/") == PRODUCTION_CLOB
    if config.mode == "live":
        if not has_wallet:
            raise StartupError("mode is live but no wallet key was found: mount the wallet Secret with "
                               "PRIVATE_KEY (spec.walletSecretRef) or set mode: paper", config_error=True)
        return ExecutionPlan("live", paper_wallet=False, derive_api_creds=not has_api_creds,
                             chain_id=config.endpoints.chainId)
    ignored = tuple(k for k in PAPER_IGNORED_KEYS if k in present)
    if production:  # orders are matched in-process: nothing signed leaves the bot
        return ExecutionPlan("paper-local", paper_wallet=True, derive_api_creds=False, chain_id=SIM_CHAIN_ID,
                             ignored=ignored)
    return ExecutionPlan("sim", paper_wallet=True, derive_api_creds=True, chain_id=SIM_CHAIN_ID, ignored=ignored)


def _creds_from(credentials: Any) -> ApiCreds | None:
    key, secret, passphrase = (credentials.get(k) for k in (CLOB_API_KEY, CLOB_SECRET, CLOB_PASSPHRASE))
    if key and secret and passphrase:
        return ApiCreds(str(key), str(secret), str(passphrase))
    return None


def _signer(deps: ExecutionDeps, private_key: str, plan: ExecutionPlan) -> OrderSigner:
    if plan.paper_wallet:  # the paper key is a plain EOA: the wallet Secret's settings are not its own
        return OrderSigner(private_key, chain_id=plan.chain_id)
    creds = deps.credentials
    # The operator checks the wallet Secret with these same contract functions (SecretValueInvalid).
    if private_key_bytes(private_key) is None:
        raise StartupError(f"wallet Secret: {must_be(WALLET_PRIVATE_KEY)}", config_error=True)
    sig_type = signature_type(creds.get(WALLET_SIGNATURE_TYPE) or "")
    if sig_type is None:
        raise StartupError(f"wallet Secret: {must_be(WALLET_SIGNATURE_TYPE)}", config_error=True)
    funder = (creds.get(WALLET_FUNDER_ADDRESS) or "").strip()
    if not funder_address_ok(funder):
        raise StartupError(f"wallet Secret: {must_be(WALLET_FUNDER_ADDRESS)}", config_error=True)
    try:
        return OrderSigner(private_key.strip(), chain_id=plan.chain_id, signature_type=sig_type, funder=funder or None)
    except OrderError as exc:  # the message names the key, never its value
        raise StartupError(f"wallet Secret: {exc}", config_error=True) from None


class Execution:
    """What BotApp needs from the execution layer, over one Executor."""

    def __init__(self, deps: ExecutionDeps, kind: str, journal: Journal, executor: Executor,
                 observer: MetricsObserver, lock_fd: int | None, session: Any = None,
                 paper_wallet: bool = False) -> None:
        self.deps = deps
        self.log = deps.log
        self.kind = kind
        self.paper_wallet = paper_wallet
        self.journal = journal
        self.executor = executor
        self.observer = observer
        self._lock_fd = lock_fd
        self._session = session
        self.journal_open = True
        self._task: asyncio.Task[None] | None = None
        self.last_fill_sync_error = ""
        self.sync_failures = 0          # consecutive failed passes of the loop below
        self.heartbeat_ok_at = 0.0      # monotonic time of the last acknowledged exchange heartbeat
        self.heartbeat_started_at = 0.0
        self.heartbeat_failures = 0     # consecutive
        self.last_heartbeat_error = ""

    # -- used by BotApp ---------------------------------------------------------------------
    async def submit(self, intents: list[OrderIntent], opportunity: Opportunity) -> list[OrderResult]:
        self.executor.paused = self.deps.paused()
        return await self.executor.submit(intents, opportunity)

    async def resolve(self, results: list[OrderResult]) -> list[OrderResult]:
        return await self.executor.resolve(results)

    def held(self) -> dict[str, tuple[int, int]]:
        """token -> (shares, cost basis) held per the journal (loaded by executor.start)."""
        return {t: (p.size_e6, p.cost_e6) for t, p in self.executor.positions.items() if p.size_e6 > 0}

    async def record_event(self, kind: str, data: dict[str, Any]) -> None:
        await self.executor.record_event(kind, data)

    def state_get(self, key: str) -> Any:
        """A strategy's saved state (journal kv `strategy:<key>`); read once at start."""
        return self.executor.journal.kv_get(f"strategy:{key}")

    async def state_set(self, key: str, value: Any) -> None:
        await self.executor.state_set(f"strategy:{key}", value)

    async def cancel_all(self) -> int:
        """Stop new orders, then cancel every open order; returns how many were canceled."""
        self.executor.accepting = False
        res = await self.executor.cancel_all("shutdown")
        await self.executor.sync_fills()  # fills that raced the cancel are journaled before exit
        return len(res.canceled)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.executor.close()
        try:
            await self.executor.exchange.close()
            if self._session is not None:
                await self._session.close()
        finally:
            if self.journal_open:
                await asyncio.to_thread(self.journal.close)
                self.journal_open = False
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def credentials_changed(self, keys: set[str]) -> None:
        if self.paper_wallet:  # paper mode signs with its own key and derives its own API credentials
            return
        if WALLET_PRIVATE_KEY in keys:
            # positions and open orders belong to the old wallet: a new key needs a restart
            self.log.warning("wallet key changed: restart the bot to trade with the new wallet")
        if keys & {CLOB_API_KEY, CLOB_SECRET, CLOB_PASSPHRASE}:
            self.log.info("API credentials rotated: used from the next request")

    async def heartbeat(self) -> None:
        beat = {"ts_ms": time.time_ns() // 1_000_000, "pid": os.getpid(), "host": socket.gethostname(),
                "bot": self.deps.config.name}
        await asyncio.to_thread(self.journal.kv_set, HEARTBEAT_KEY, beat)

    async def exchange_heartbeat(self) -> bool:
        """One dead-man-switch heartbeat; False (counted, logged) when it failed.

        After a gap longer than the exchange's timeout the exchange has canceled every order of
        the account: the executor's open orders are refreshed from the exchange."""
        from bot_runtime.venue.polymarket.clob import ExchangeError

        now = time.monotonic()
        if not self.heartbeat_started_at:
            self.heartbeat_started_at = now
        try:
            # a beat slower than the interval is as good as lost: the next one must not wait for it.
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the result when the
            # beat completes as the task is cancelled, and the cancellation is lost (CPython
            # gh-86296): the heartbeat task then outlived its cancel and a stop waited for ever.
            async with asyncio.timeout(EXCHANGE_HEARTBEAT_INTERVAL_S):
                await self.executor.exchange.heartbeat()
        except Exception as exc:
            status = exc.status if isinstance(exc, ExchangeError) else 0
            self.observer.on_api_error(HEARTBEAT_ENDPOINT, status)
            self.heartbeat_failures += 1
            self.last_heartbeat_error = f"{type(exc).__name__}: {exc}"[:200]
            self.log.warning("HEARTBEAT FAILED", failures=self.heartbeat_failures,
                                 error=self.last_heartbeat_error)
            return False
        lapsed = self.heartbeat_ok_at and time.monotonic() - self.heartbeat_ok_at > DEAD_MAN_TIMEOUT_S
        self.heartbeat_ok_at = time.monotonic()
        self.heartbeat_failures = 0
        self.last_heartbeat_error = ""
        if lapsed:
            self.log.error("HEARTBEAT LAPSED: the exchange canceled our resting orders",
                               timeout_s=DEAD_MAN_TIMEOUT_S)
            try:
                await self.executor.refresh_open_orders("heartbeat_lapsed")
            except Exception as exc:  # the fill-sync loop and the next restart reconcile anyway
                self.log.warning("open-order refresh after heartbeat lapse failed",
                                     error=f"{type(exc).__name__}: {exc}")
        return True

    def heartbeat_problem(self, now: float | None = None) -> str:
        """A readiness reason while heartbeats fail long enough for the exchange to cancel orders."""
        if not self.heartbeat_started_at:
            return ""
        now = time.monotonic() if now is None else now
        since = now - (self.heartbeat_ok_at or self.heartbeat_started_at)
        if self.heartbeat_failures and since > DEAD_MAN_TIMEOUT_S:
            return (f"exchange heartbeat failing for {since:.0f}s (dead-man switch: the exchange cancels "
                    f"our orders): {self.last_heartbeat_error}")
        return ""

    def start_background(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"{self.deps.config.name}:fills")

    async def _loop(self) -> None:
        """Fills of resting orders, PnL for the kill switch, operator reset requests."""
        while True:
            await asyncio.sleep(FILL_SYNC_INTERVAL_S)
            try:
                before = self.observer.errors_by_endpoint.get(TRADES_ENDPOINT, 0)
                await self.executor.sync_fills()  # logs and swallows exchange errors itself
                await self.executor.resolve_orphans()  # pending orders no strategy waits on (a restart)
                if self.observer.errors_by_endpoint.get(TRADES_ENDPOINT, 0) > before:
                    raise RuntimeError(f"{TRADES_ENDPOINT} failed")
                await self.executor.check_pnl()
                req = await asyncio.to_thread(self.journal.kv_get, KILL_RESET_REQUEST_KEY)
                if req:
                    by = str(req.get("by", "operator")) if isinstance(req, dict) else "operator"
                    if self.executor.risk.tripped:
                        await self.executor.reset_kill_switch(by)
                    await asyncio.to_thread(self.journal.kv_set, KILL_RESET_REQUEST_KEY, None)
                self.last_fill_sync_error = ""
                self.sync_failures = 0
            except Exception as exc:  # keep polling: the exchange may be back next time
                self.sync_failures += 1
                self.last_fill_sync_error = f"{type(exc).__name__}: {exc}"[:200]
                self.log.warning("fill sync failed", error=self.last_fill_sync_error)

    def problems(self) -> list[str]:
        """Readiness reasons of the execution side: an exchange that keeps failing halts the bot."""
        out: list[str] = []
        if self.sync_failures >= SYNC_FAILURES_NOT_READY:
            out.append(f"exchange failing for {self.sync_failures * FILL_SYNC_INTERVAL_S:.0f}s: "
                       f"{self.last_fill_sync_error}")
        hb = self.heartbeat_problem()
        if hb:
            out.append(hb)
        return out

    async def update_gauges(self) -> None:
        m, lab = self.deps.metrics, self.deps.labels
        s = self.summary()
        m.exposure.labels(*lab).set(s["exposureUsd"])
        m.open_orders.labels(*lab).set(s["openOrders"])
        m.pnl_realized.labels(*lab).set(s["pnlRealizedUsd"])
        m.pnl_unrealized.labels(*lab).set(s["pnlUnrealizedUsd"])
        m.kill_switch.labels(*lab).set(1 if s["killSwitch"]["tripped"] else 0)
        m.paused.labels(*lab).set(1 if self.deps.paused() else 0)
        m.pnl_today.labels(*lab).set(s["pnlTodayUsd"])
        for limit, usd in s["limits"].items():
            m.limit.labels(*lab, limit).set(usd)

    def summary(self) -> dict[str, Any]:
        ex = self.executor
        positions = ex.positions
        state = ex.risk_state()
        exposure = sum(state.position_usd_e6.values()) + sum(state.open_buy_usd_e6.values())
        realised = sum(p.realised_e6 for p in positions.values())
        return {
            "killSwitch": {"tripped": ex.risk.tripped, "reason": ex.risk.kill_reason},
            "exposureUsd": round(exposure / E6, 6),
            "pnlRealizedUsd": round(realised / E6, 6),
            "pnlUnrealizedUsd": round(ex.unrealised_e6() / E6, 6),
            "openOrders": len(ex.open_orders),
            "positions": sum(1 for p in positions.values() if p.size_e6),
            "accepting": ex.accepting,
            # What the daily-loss kill switch compares, and the limits the risk engine enforces.
            "pnlTodayUsd": round(state.daily_pnl_e6 / E6, 6),
            "limits": ex.risk.limits.model_dump(include=MONEY_LIMITS),
        }


MONEY_LIMITS = {"maxOrderUsd", "maxPositionPerMarketUsd", "maxTotalExposureUsd", "maxDailyLossUsd"}


async def build_execution(deps: ExecutionDeps) -> Execution:
    """Open the journal, pick and authenticate the exchange, reconcile; raises StartupError."""
    from bot_runtime.execution.executor import Executor
    from bot_runtime.venue.polymarket.auth import ApiKeyError, create_or_derive_api_creds
    from bot_runtime.venue.polymarket.clob_http import ClobHttpExchange

    cfg = deps.config
    creds = deps.credentials
    exchange_session: aiohttp.ClientSession | None = None  # ours to close: the exchange does not own it
    present = [k for k in PAPER_IGNORED_KEYS if creds.get(k)]
    plan = plan_execution(cfg, WALLET_PRIVATE_KEY in present, _creds_from(creds) is not None, present)
    if plan.ignored:  # names only: the values stay unread
        deps.log.warning("paper mode ignores the wallet Secret and the CLOB API credentials: the bot signs "
                         "with its own paper key for the simulator's chain id", ignored=list(plan.ignored))

    # the journal, exclusively ours
    lock_fd: int | None = None
    path = sqlite_path(cfg.journal.url)
    if path is not None:
        try:
            lock_fd = acquire_journal_lock(Path(path))
        except JournalLocked as exc:
            raise StartupError(str(exc), config_error=True) from None
    try:
        journal = await asyncio.to_thread(open_journal, cfg.journal.url)
    except (JournalError, OSError) as exc:
        if lock_fd is not None:
            os.close(lock_fd)
        raise StartupError(f"journal {redact_url(cfg.journal.url)} cannot be opened: {exc}") from None

    try:
        observer = MetricsObserver(deps.metrics, *deps.labels, log=deps.log)
        if plan.paper_wallet:
            from bot_runtime.execution.paper_wallet import load_or_create_paper_key

            private_key = await asyncio.to_thread(load_or_create_paper_key, cfg.journal.url, journal)
            register_secret(private_key)
            register_secret(private_key.removeprefix("0x"))  # the bare hex too: some libraries print it so
        else:
            private_key = creds.get(WALLET_PRIVATE_KEY) or ""
        signer = _signer(deps, private_key, plan)
        if plan.kind == "paper-local":
            from bot_runtime.execution.paper import PaperMatchingExchange

            exchange: Any = PaperMatchingExchange(deps.store.books.get, fee_rate_ppm=_fee_ppm(deps.store))
        else:
            derived: ApiCreds | None = None
            if plan.derive_api_creds:
                assert deps.http is not None
                try:
                    derived = await create_or_derive_api_creds(deps.http, cfg.endpoints.clobUrl, private_key,
                                                               plan.chain_id)
                except ApiKeyError as exc:
                    raise StartupError(str(exc)) from None
                for v in (derived.api_key, derived.secret, derived.passphrase):
                    register_secret(v)
            paper = plan.paper_wallet

            def current_creds() -> ApiCreds:
                if paper:  # the Secret's CLOB keys belong to the real wallet: never sent to a simulator
                    return derived or ApiCreds("", "", "")
                # a rotated credentials Secret wins over what was derived at start
                return _creds_from(creds) or derived or ApiCreds("", "", "")

            # its own session (connection pool sized for order bursts), counted per endpoint
            session = traced_session(deps.metrics, *deps.labels, timeout=aiohttp.ClientTimeout(total=10),
                                     connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=60))
            exchange = ClobHttpExchange(cfg.endpoints.clobUrl, signer.address, current_creds,
                                        session=session, observer=observer)
            exchange_session = session

        risk = await asyncio.to_thread(RiskEngine, cfg.limits, journal, DEFAULT_MAX_DATA_AGE_MS)
        executor = Executor(exchange, signer, journal, risk, observer=observer,
                            client_prefix=_client_prefix(cfg.name), data_age_ms=_market_age(deps.store),
                            marks=_marks(deps.store))
        executor.paused = deps.paused()
        try:
            report = await executor.start()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise StartupError(f"exchange {cfg.endpoints.clobUrl} unreachable at start: {exc}") from None
        except Exception as exc:
            from bot_runtime.venue.polymarket.clob import ExchangeError

            if isinstance(exc, ExchangeError):
                raise StartupError(f"reconcile with {cfg.endpoints.clobUrl} failed: {exc}") from None
            raise
        deps.log.info("EXECUTION READY", execution=plan.kind, address=signer.address,
                     paper_wallet=plan.paper_wallet, chain_id=plan.chain_id, reconciled=report.checked,
                     open_orders=report.open_orders, kill_switch=risk.tripped)
    except BaseException:
        if exchange_session is not None:
            await exchange_session.close()
        await asyncio.to_thread(journal.close)
        if lock_fd is not None:
            os.close(lock_fd)
        raise
    # risk state reads the journal's kill switch at construction: reflect it right away
    observer.on_kill_switch(risk.tripped)
    execution = Execution(deps, plan.kind, journal, executor, observer, lock_fd, exchange_session,
                          paper_wallet=plan.paper_wallet)
    execution.start_background()
    return execution


def _client_prefix(name: str) -> str:
    return "".join(c for c in name if c.isalnum())[:12] or "bf"


def _market_age(store: BookStore) -> Any:
    """market -> age (ms) of its stalest outcome book (`BookStore.market_age_ms`); None when any
    of them is not tradable (unsynced, or its feed stalled).

    The risk engine's stale-data halt is the backstop against dead market data (a dropped
    connection, a stalled feed); each strategy checks the exact books it trades against its own
    tighter limit (ArbHunter: maxBookAgeMs), with the same `BookStore.book_age_ms` rule.
    """
    from bot_runtime.venue.polymarket.ws import wall_ms

    def age(market: str) -> int | None:
        return store.market_age_ms(market, wall_ms())

    return age


def _fee_ppm(store: BookStore) -> Any:
    def ppm(token: str) -> int:
        info = store.market_of(token)
        if info is None or not info.fees_enabled or not info.fee_rate:
            return 0
        return rate_ppm(info.fee_rate)

    return ppm


def _marks(store: BookStore) -> Any:
    def mark(token: str) -> int | None:
        b = store.books.get(token)
        if b is None:
            return None
        mid = b.mid_e6()
        return mid if mid is not None else (b.last_trade_price_e6 or None)

    return mark
