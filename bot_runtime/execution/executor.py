"""The executor: risk check -> client ids -> sign every leg -> journal `pending` (one transaction,
on the event loop thread where the journal allows it, fsync'd right behind the send) -> send every
leg at once -> journal results and fills -> positions.

On start, `reconcile()` matches what the journal does not know the outcome of with the exchange,
by order hash (the exchange's order id): found -> recorded; not found -> it never reached the
exchange -> `unsent` (never re-sent automatically unless asked, and then only the identical signed
order, which the exchange would reject as a duplicate had it arrived). Fills missing from the
journal are added. A kill-switch trip cancels every open order.
"""

from __future__ import annotations

import asyncio
import gc
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import structlog

from bot_runtime.execution.exchange import Exchange
from bot_runtime.execution.journal import OPEN_STATUSES, Journal, OrderRow, PendingOrder, Position
from bot_runtime.execution.observer import ExecutionObserver, NullObserver
from bot_runtime.execution.risk import INVALID_INTENT, RiskEngine, RiskState, daily_pnl_e6, utc_midnight_ms
from bot_runtime.types import UNRESOLVED, Fill, Opportunity, OrderIntent, OrderResult, OrderStatus
from bot_runtime.venue.polymarket.clob import CancelOnly, CancelResult, ExchangeError, OpenOrder, PostResult
from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.signing import OrderError, OrderSigner, SignedOrder

log = structlog.get_logger()
T = TypeVar("T")


# A thread holding the GIL (the journal thread recording fills, the syncer) delays the event loop
# by up to this much before the interpreter makes it hand over; CPython's default is 5 ms.
SWITCH_INTERVAL_S = 0.0005


def tune_for_latency() -> None:
    """Process-wide settings for the order path, called once the bot has started: start-up's
    objects (modules, markets, books) frozen out of the cyclic GC's sight, so later passes walk
    only what trading allocates; and a shorter GIL switch interval. docs/benchmarks.md."""
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class _Open:
    """An order that may still trade: BUY notional counts towards exposure."""

    market: str
    token_id: str
    side: str
    price_e6: int
    remaining_e6: int

    @property
    def buy_notional_e6(self) -> int:
        return self.price_e6 * self.remaining_e6 // E6 if self.side == "BUY" else 0


@dataclass(slots=True)
class _Provisional:
    """Shares a BUY filled per the POST answer, not yet in the journal's fills."""

    market: str
    shares_e6: int
    cost_e6: int


@dataclass(slots=True)
class _Unresolved:
    since_ms: int
    unanswered: bool     # the POST got no answer: the exchange may never have seen the order
    orphan: bool = False  # found pending at reconcile: no strategy of this run waits on it



@dataclass
class ReconcileReport:
    checked: int = 0
    live: int = 0
    filled: int = 0
    canceled: int = 0
    unsent: int = 0
    resent: int = 0
    new_fills: int = 0
    open_orders: int = 0
    adopted: int = 0        # on the exchange, missing from the journal (it lost its last writes)
    statuses: dict[str, str] = field(default_factory=dict)   # client id -> new status


def _result_from_post(client_id: str, intent: OrderIntent, r: PostResult) -> OrderResult:
    if not r.ok:
        duplicate = "duplicat" in r.error.lower()
        status = "error" if (duplicate or not r.definite) else "rejected"
        return OrderResult(client_id, intent, status, order_id=r.order_hash, error=r.error)  # type: ignore[arg-type]
    shares, collateral = (r.taking_e6, r.making_e6) if intent.side == "BUY" else (r.making_e6, r.taking_e6)
    avg = collateral * E6 // shares if shares else 0
    if r.status == "matched":
        status = "matched" if intent.order_type in ("GTC", "GTD", "FOK") or shares >= intent.size_e6 else "partial"
    elif r.status == "delayed":
        # accepted, matching deferred: it may still fill in full. Pending until the exchange says
        # final (`Executor.resolve`); never "nothing filled".
        status = "pending"
    elif r.status == "live":
        status = "partial" if shares else "live"
    elif r.status in ("unmatched", "canceled"):
        status = "partial" if shares else ("unmatched" if r.status == "unmatched" else "canceled")
    else:
        status = "error"
    return OrderResult(client_id, intent, status, order_id=r.order_id or r.order_hash,  # type: ignore[arg-type]
                       filled_size_e6=shares, avg_price_e6=avg, error=r.error)


class Executor:
    def __init__(self, exchange: Exchange, signer: OrderSigner, journal: Journal, risk: RiskEngine, *,
                 observer: ExecutionObserver | None = None, client_prefix: str = "bf",
                 data_age_ms: Callable[[str], int | None] | None = None,
                 marks: Callable[[str], int | None] | None = None,
                 crash_hook: Callable[[str], None] | None = None) -> None:
        self.exchange = exchange
        self.signer = signer
        self.journal = journal
        self.risk = risk
        self.observer = observer or NullObserver()
        self.client_prefix = client_prefix
        # Book age per market; None: the caller has no market data and the stale check is off.
        self.data_age_ms = data_age_ms
        self.marks = marks              # token -> mark price (e6) for unrealised PnL
        self.crash_hook = crash_hook    # tests: called at "after_journal" and "after_send"
        self.paused = False
        self.accepting = True           # False after SIGTERM: no new orders
        self._run = secrets.token_hex(3)
        self._seq = 0
        self._open: dict[str, _Open] = {}          # exchange order id (or client id while in flight) -> order
        self._positions: dict[str, Position] = {}
        self._lock = asyncio.Lock()
        self._io_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._last_trade_s = 0
        self._daily_pnl_cached = 0
        self._trip_cancel_pending = False
        # BUY fills the POST reported that the journal has not recorded yet (order id -> fill)
        self._provisional: dict[str, _Provisional] = {}
        # orders whose outcome the exchange has not made final (delayed, or the POST's answer lost)
        self._unresolved: dict[str, _Unresolved] = {}
        self.unknown_grace_ms = 10_000   # not found this long after an unanswered POST: never placed
        self.poll_interval_s = 0.25

    # -- plumbing -------------------------------------------------------------------------------
    async def _io(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Journal calls run on one dedicated thread: ordered, and off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io_pool, lambda: fn(*args, **kwargs))

    def _crash_point(self, name: str) -> None:
        if self.crash_hook is not None:
            self.crash_hook(name)

    def next_client_id(self) -> str:
        self._seq += 1
        return f"{self.client_prefix}-{self._run}-{self._seq}"

    @property
    def open_orders(self) -> dict[str, _Open]:
        return dict(self._open)

    @property
    def positions(self) -> dict[str, Position]:
        return dict(self._positions)

    def risk_state(self) -> RiskState:
        pos: dict[str, int] = {}
        for p in self._positions.values():
            if p.size_e6 > 0:
                pos[p.market] = pos.get(p.market, 0) + p.cost_e6
        for pv in self._provisional.values():
            pos[pv.market] = pos.get(pv.market, 0) + pv.cost_e6
        buys: dict[str, int] = {}
        for o in self._open.values():
            if o.side == "BUY":
                buys[o.market] = buys.get(o.market, 0) + o.buy_notional_e6
        return RiskState(position_usd_e6=pos, open_buy_usd_e6=buys, open_orders=len(self._open),
                         daily_pnl_e6=self._daily_pnl_cached, data_age_ms=_AgeView(self.data_age_ms),
                         paused=self.paused or not self.accepting)

    # -- start ----------------------------------------------------------------------------------
    async def start(self, resend_unsent: bool = False) -> ReconcileReport:
        self._positions = await self._io(self.journal.positions)
        self.observer.on_kill_switch(self.risk.tripped)
        report = await self.reconcile(resend_unsent=resend_unsent)
        # Tripped in an earlier run: whatever still rests on the book must go (the cancel may have failed then).
        self._trip_cancel_pending = self.risk.tripped and bool(self._open)
        await self.check_pnl()
        return report

    async def close(self) -> None:
        self._io_pool.shutdown(wait=True)

    # -- submit ---------------------------------------------------------------------------------
    async def submit(self, intents: Sequence[OrderIntent], opportunity: Opportunity | None = None) -> list[OrderResult]:
        """Execute a group of legs atomically with respect to risk: all are sent or none."""
        if gc.isenabled():  # no cyclic-GC pass between here and the orders' bytes on the socket:
            gc.disable()    # it runs on the next loop turn instead (one pass costs more than this path)
            asyncio.get_running_loop().call_soon(gc.enable)
        intents = list(intents)
        group = intents[0].group_id if intents and intents[0].group_id else ""
        async with self._lock:  # decision and reservation together: concurrent groups see each other
            decision = self.risk.check(intents, self.risk_state())
            if not decision.approved:
                return self._refuse(intents, decision.reason, decision.detail, opportunity)
            ts = _now_ms()
            group = group or f"g-{self._run}-{self._seq + 1}"
            signed: list[tuple[OrderIntent, SignedOrder]] = []
            try:
                for leg in intents:
                    if leg.group_id != group:
                        leg = replace(leg, group_id=group)
                    signed.append((leg, self.signer.sign(leg, self.next_client_id(), ts)))
            except OrderError as exc:
                return self._refuse(intents, INVALID_INTENT, str(exc), opportunity)
            for leg, so in signed:  # reserve exposure until the exchange answers
                self._open[so.client_id] = _Open(leg.market, leg.token_id, leg.side, leg.price_e6, leg.size_e6)
        pending = [PendingOrder(so.client_id, leg, ts, so.order_hash, so.to_json()) for leg, so in signed]
        inline = self.journal.inline_pending
        try:
            if inline:  # on this thread: no hop to the journal thread and back (~2 x 100 us + jitter)
                self.journal.record_pending(pending, durable=False)
            else:
                await self._io(self.journal.record_pending, pending)
        except Exception as exc:
            for _, so in signed:
                self._open.pop(so.client_id, None)
            log.error("journal write failed: nothing sent", error=str(exc), group=group)
            return [OrderResult(so.client_id, leg, "rejected", error=f"journal: {exc}") for leg, so in signed]
        self._crash_point("after_journal")
        if inline:  # the fsync starts on the next loop turn: once the request is written, not before
            asyncio.get_running_loop().call_soon(self.journal.sync_soon)
        try:
            answers = await self.exchange.post_orders([so for _, so in signed])
        except Exception as exc:  # outcome unknown: keep the rows and let reconcile find out
            log.error("post_orders failed: outcome unknown, will reconcile", error=str(exc), group=group)
            answers = [PostResult(so.order_hash, False, error=f"{type(exc).__name__}: {exc}", http_status=0,
                                  definite=False) for _, so in signed]
        self._crash_point("after_send")
        results = [_result_from_post(so.client_id, leg, r) for (leg, so), r in zip(signed, answers, strict=True)]
        for (leg, so), res in zip(signed, results, strict=True):
            self._open.pop(so.client_id, None)
            if res.status in ("live", "partial") and leg.order_type in ("GTC", "GTD"):
                self._open[res.order_id.lower()] = _Open(leg.market, leg.token_id, leg.side, leg.price_e6,
                                                 max(leg.size_e6 - res.filled_size_e6, 0))
            elif res.status in UNRESOLVED:
                # a delayed or unknown order may still fill in full: its exposure stays reserved
                self._open[res.order_id.lower()] = _Open(leg.market, leg.token_id, leg.side, leg.price_e6, leg.size_e6)
                self._unresolved[res.order_id.lower()] = _Unresolved(_now_ms(), res.status == "error")
            if res.filled_size_e6 and leg.side == "BUY":
                # the position exists from the moment the exchange says it filled, not from the
                # next trade sync: risk checks in between see it
                self._provisional[res.order_id.lower()] = _Provisional(
                    leg.market, res.filled_size_e6, res.filled_size_e6 * res.avg_price_e6 // E6)
        if inline:
            self.journal.record_results(results)
        else:
            await self._io(self.journal.record_results, results)
        for res in results:
            self.observer.on_order(res)
        log.info("EXECUTED" if any(r.filled_size_e6 for r in results) else "ORDERS SENT", group=group,
                 kind=opportunity.kind if opportunity else "", market=intents[0].market,
                 legs=[{"client_id": r.client_id, "order_id": r.order_id, "status": r.status,
                        "filled": r.filled_size_e6, "avg_price": r.avg_price_e6, "error": r.error} for r in results])
        if any(r.filled_size_e6 for r in results):
            await self.sync_fills()
        return results

    async def resolve(self, results: Sequence[OrderResult], max_wait_s: float = 30.0) -> list[OrderResult]:
        """Ask the exchange (by order hash) about every result that is not final (`delayed`, or a
        POST without an answer) until it is, or `max_wait_s` passes; returns the results with the
        exchange's final word where it gave one (still `pending`/`error` otherwise: call again).
        Nothing may be settled, hedged or unwound on a result that is not final."""
        out = list(results)
        deadline = time.monotonic() + max_wait_s
        delay = self.poll_interval_s
        while True:
            todo = [i for i, r in enumerate(out) if r.status in UNRESOLVED and r.client_id]
            if not todo:
                return out
            for i in todo:
                out[i] = await self._resolve_one(out[i])
            if all(out[i].status not in UNRESOLVED for i in todo) or time.monotonic() >= deadline:
                return out
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def resolve_orphans(self) -> None:
        """One status query for each unresolved order found at reconcile (delayed when the bot
        stopped): no strategy of this run waits on them, but their exposure and outcome must settle."""
        for oid in [k for k, u in self._unresolved.items() if u.orphan]:
            row = await self._io(self.journal.order_by_hash, oid)
            if row is None:
                self._unresolved.pop(oid, None)
                continue
            await self._resolve_one(OrderResult(row.client_id, row.intent, "pending", order_id=oid))

    async def _resolve_one(self, r: OrderResult) -> OrderResult:
        oid = r.order_id.lower()
        try:
            remote = await self.exchange.get_order(oid)
        except ExchangeError as exc:
            log.warning("order status query failed: still pending", order_id=oid, error=str(exc))
            return r
        info = self._unresolved.get(oid)
        if remote is None:
            if info is not None and info.unanswered and _now_ms() - info.since_ms >= self.unknown_grace_ms:
                status = "unsent"  # the exchange never got it (its id is its hash: it cannot appear later)
                res = replace(r, status=status, error=r.error or "not found at the exchange")  # type: ignore[arg-type]
                await self._finish(res)
                return res
            return r
        st = remote.status.lower()
        rests = r.intent.order_type in ("GTC", "GTD")
        if st in ("delayed", "pending", "unknown", "") or (st in ("live", "open") and not rests and remote.remaining_e6):
            return r
        await self.sync_fills()
        shares, collateral, fees = await self._io(self.journal.fill_totals, oid)
        filled = max(shares, remote.size_matched_e6)
        avg = collateral * E6 // shares if shares else r.intent.price_e6
        if st in ("live", "open") and remote.remaining_e6:
            status = "partial" if filled else "live"
        elif filled >= r.intent.size_e6 or (filled and st == "matched"):
            status = "matched" if (st == "matched" or r.intent.order_type != "FAK") else "partial"
        elif filled:
            status = "partial"
        else:
            status = "canceled" if "cancel" in st else "unmatched"
        res = replace(r, status=status, filled_size_e6=filled, avg_price_e6=avg if filled else 0,  # type: ignore[arg-type]
                      fee_e6=fees)
        await self._finish(res, resting=remote if status in ("live", "partial") and rests else None)
        return res

    async def _finish(self, res: OrderResult, resting: OpenOrder | None = None) -> None:
        oid = res.order_id.lower()
        self._unresolved.pop(oid, None)
        self._open.pop(oid, None)
        if resting is not None and resting.remaining_e6:
            self._open[oid] = _open_from(resting)
        await self._io(self.journal.record_results, [res])
        self.observer.on_order(res)
        log.info("ORDER FINAL", order_id=oid, status=res.status, filled=res.filled_size_e6)

    async def state_set(self, key: str, value: Any) -> None:
        await self._io(self.journal.kv_set, key, value)

    async def record_event(self, kind: str, data: dict[str, Any]) -> None:
        """A strategy's journal entry (e.g. `naked_remainder`), durable like the orders."""
        await self._io(self.journal.add_event, kind, data)

    def _refuse(self, intents: list[OrderIntent], reason: str, detail: str,
                opportunity: Opportunity | None) -> list[OrderResult]:
        self.observer.on_reject(reason)
        log.info("RISK REJECTED", reason=reason, detail=detail, kind=opportunity.kind if opportunity else "",
                 market=intents[0].market if intents else "")
        return [OrderResult("", leg, "rejected", error=reason) for leg in intents]

    # -- fills ----------------------------------------------------------------------------------
    async def record_fills(self, fills: Sequence[Fill]) -> list[Fill]:
        """Record fills from any source (REST poll, user channel); returns the new ones."""
        if not fills:
            return []
        ids = await self._io(self._client_ids_for, {f.order_id for f in fills})
        new = await self._io(self.journal.record_fills, list(fills), ids)
        if new:
            await self._io(self._update_filled, {f.order_id for f in new})
            self._positions = await self._io(self.journal.positions)
            for f in new:
                self.observer.on_fill(f)
                log.info("FILL", trade_id=f.trade_id, order_id=f.order_id, side=f.side, price=f.price_e6,
                         size=f.size_e6, fee=f.fee_e6)
                self._last_trade_s = max(self._last_trade_s, f.ts_ms // 1000)
                pv = self._provisional.get(f.order_id.lower())
                if pv is not None and f.side == "BUY":
                    done = min(f.size_e6, pv.shares_e6)
                    pv.cost_e6 -= pv.cost_e6 * done // pv.shares_e6 if pv.shares_e6 else pv.cost_e6
                    pv.shares_e6 -= done
                    if pv.shares_e6 <= 0:
                        del self._provisional[f.order_id.lower()]
                o = self._open.get(f.order_id.lower())
                if o is not None:
                    o.remaining_e6 = max(o.remaining_e6 - f.size_e6, 0)
                    if o.remaining_e6 == 0:
                        del self._open[f.order_id.lower()]
            await self.check_pnl()
        return new

    def _update_filled(self, order_ids: set[str]) -> None:
        """Fill totals and status of our orders that just traded."""
        for oid in order_ids:
            row = self.journal.order_by_hash(oid)
            if row is None:
                continue
            shares, collateral, fees = self.journal.fill_totals(oid)
            status = row.status
            if shares >= row.intent.size_e6 or (row.status == "matched" and shares):
                status = "matched"
            elif shares and row.status in ("live", "pending", "error", "canceled", "unmatched"):
                status = "partial"
            self.journal.update_order(row.client_id, status, filled_size_e6=max(shares, row.filled_size_e6),
                                      avg_price_e6=collateral * E6 // shares if shares else 0, fee_e6=fees)

    def _client_ids_for(self, order_ids: set[str]) -> dict[str, str]:
        out = {}
        for oid in order_ids:
            row = self.journal.order_by_hash(oid)
            if row is not None:
                out[oid] = row.client_id
        return out

    async def sync_fills(self, since_s: int | None = None) -> list[Fill]:
        """Poll the exchange's trades and record the ones the journal lacks."""
        since = self._last_trade_s - 60 if since_s is None else since_s
        try:
            fills = await self.exchange.trades(max(since, 0))
        except ExchangeError as exc:
            log.warning("trade sync failed", error=str(exc))
            return []
        return await self.record_fills(fills)

    # -- PnL and the kill switch ----------------------------------------------------------------
    def unrealised_e6(self) -> int:
        total = 0
        for p in self._positions.values():
            mark = self.marks(p.token_id) if self.marks else None
            if mark is not None and p.size_e6:
                total += p.unrealised_e6(mark)
        return total

    async def check_pnl(self) -> int:
        now = _now_ms()
        realised = await self._io(self.journal.realised_since, utc_midnight_ms(now))
        pnl = await self._io(daily_pnl_e6, realised, self.unrealised_e6(), self.journal, now)
        self._daily_pnl_cached = pnl
        if self.risk.observe_pnl(pnl):
            await self._on_trip()
        elif self.risk.tripped and self._trip_cancel_pending:
            await self._cancel_for_kill_switch()
        return pnl

    async def trip(self, reason: str, detail: str = "") -> None:
        """Trip the kill switch by hand (operator, watchdog) and cancel everything."""
        if await self._io(self.risk.trip, reason, detail):
            await self._on_trip()

    async def _on_trip(self) -> None:
        self.observer.on_kill_switch(True)
        await self._cancel_for_kill_switch()

    async def _cancel_for_kill_switch(self) -> None:
        """Cancel everything; if the exchange does not answer, retried on every `check_pnl`."""
        try:
            await self.cancel_all("kill_switch")
            self._trip_cancel_pending = False
        except ExchangeError as exc:
            self._trip_cancel_pending = True
            log.error("kill switch: cancel-all failed, will retry", error=str(exc))

    async def reset_kill_switch(self, operator: str) -> None:
        await self._io(self.risk.reset, operator)
        self.observer.on_kill_switch(False)

    # -- cancels --------------------------------------------------------------------------------
    async def cancel_all(self, reason: str = "") -> CancelResult:
        """Cancel every open order of the account (kill switch, SIGTERM, pause)."""
        try:
            res = await self.exchange.cancel_all()
        except (ExchangeError, CancelOnly) as exc:
            log.error("cancel-all failed", reason=reason, error=str(exc))
            await self._io(self.journal.add_event, "cancel_all_failed", {"reason": reason, "error": str(exc)})
            raise
        await self._io(self._mark_canceled, res.canceled)
        for oid in res.canceled:
            self._open.pop(oid.lower(), None)
        await self._io(self.journal.add_event, "cancel_all", {"reason": reason, "canceled": len(res.canceled)})
        log.warning("CANCELED ALL", reason=reason, canceled=len(res.canceled), not_canceled=len(res.not_canceled))
        return res

    async def cancel(self, order_ids: Sequence[str]) -> CancelResult:
        res = await self.exchange.cancel(order_ids)
        await self._io(self._mark_canceled, res.canceled)
        for oid in res.canceled:
            self._open.pop(oid.lower(), None)
        return res

    async def refresh_open_orders(self, reason: str = "") -> list[str]:
        """Forget open orders the exchange no longer has (canceled behind our back, e.g. by the
        dead-man switch after missed heartbeats); returns their ids. Fills are synced first so a
        filled order is recorded as such; orders sent while the list was fetched are kept."""
        await self.sync_fills()
        in_flight = f"{self.client_prefix}-{self._run}-"  # orders still being sent are keyed by client id
        before = {k for k in self._open if not k.startswith(in_flight)}
        remote = {o.id.lower() for o in await self.exchange.open_orders()}
        gone = [k for k in before if k not in remote and k in self._open]
        if gone:
            await self._io(self._mark_canceled, gone)
            for k in gone:
                self._open.pop(k, None)
            await self._io(self.journal.add_event, "orders_gone", {"reason": reason, "count": len(gone)})
            log.warning("OPEN ORDERS GONE", reason=reason, count=len(gone))
        return gone

    def _mark_canceled(self, order_ids: Sequence[str]) -> None:
        for oid in order_ids:
            row = self.journal.order_by_hash(oid)
            if row is not None and row.status in OPEN_STATUSES:
                self.journal.update_order(row.client_id, "canceled" if not row.filled_size_e6 else "partial")

    # -- reconcile ------------------------------------------------------------------------------
    async def reconcile(self, resend_unsent: bool = False) -> ReconcileReport:
        report = ReconcileReport()
        still_pending: list[OrderRow] = []
        rows: list[OrderRow] = await self._io(self.journal.orders, OPEN_STATUSES)
        report.checked = len(rows)
        exchange_open = {o.id.lower(): o for o in await self.exchange.open_orders()}
        last_fill = await self._io(self.journal.fills)
        oldest = min([r.created_ms for r in rows] + ([last_fill[-1].ts_ms] if last_fill else []), default=0)
        since_s = max(oldest // 1000 - 3600, 0) if oldest else 0
        new_fills = await self.sync_fills(since_s)
        report.new_fills = len(new_fills)
        all_fills = await self._io(self.journal.fills, since_s * 1000)
        if all_fills:  # later syncs only ask for what is newer than the journal
            self._last_trade_s = max(self._last_trade_s, all_fills[-1].ts_ms // 1000)
        filled_by_order: dict[str, int] = {}
        for f in all_fills:
            filled_by_order[f.order_id.lower()] = filled_by_order.get(f.order_id.lower(), 0) + f.size_e6
        for row in rows:
            h = row.order_hash.lower()
            filled = filled_by_order.get(h, 0)
            status: str
            if h in exchange_open:
                status = "partial" if exchange_open[h].size_matched_e6 else "live"
                report.live += 1
            else:
                remote = await self.exchange.get_order(h)
                if remote is not None:
                    filled = max(filled, remote.size_matched_e6)
                    if remote.status in ("delayed", "pending"):  # matching deferred: may still fill
                        status = "pending"
                        report.live += 1
                        still_pending.append(row)
                    elif remote.status in ("live", "open") and remote.remaining_e6:
                        status = "partial" if filled else "live"
                        report.live += 1
                    elif filled >= row.intent.size_e6 or (filled and remote.status == "matched"):
                        status = "matched"
                        report.filled += 1
                    elif filled:
                        status = "partial"
                        report.filled += 1
                    else:
                        status = "canceled" if "cancel" in remote.status else "unmatched"
                        report.canceled += 1
                elif filled:
                    status = "matched" if filled >= row.intent.size_e6 else "partial"
                    report.filled += 1
                else:
                    status = "unsent"
                    report.unsent += 1
            if status == "unsent" and resend_unsent and await self._resend_identical(row):
                report.resent += 1
                status = "pending"
            if status != row.status or filled != row.filled_size_e6:
                await self._io(self.journal.update_order, row.client_id, status, filled_size_e6=filled)
                report.statuses[row.client_id] = status
        report.adopted = await self._adopt_unknown(exchange_open, all_fills)
        self._open = {o.id.lower(): _open_from(o) for o in exchange_open.values()}
        for row in still_pending:  # exposure stays reserved; `resolve` gets the final word
            i = row.intent
            self._open[row.order_hash.lower()] = _Open(i.market, i.token_id, i.side, i.price_e6, i.size_e6)
            self._unresolved[row.order_hash.lower()] = _Unresolved(_now_ms(), False, orphan=True)
        report.open_orders = len(self._open)
        self._positions = await self._io(self.journal.positions)
        await self._io(self.journal.add_event, "reconciled", {
            "checked": report.checked, "live": report.live, "filled": report.filled, "canceled": report.canceled,
            "unsent": report.unsent, "resent": report.resent, "new_fills": report.new_fills,
            "adopted": report.adopted})
        log.info("RECONCILED", checked=report.checked, live=report.live, filled=report.filled,
                 canceled=report.canceled, unsent=report.unsent, resent=report.resent, new_fills=report.new_fills,
                 open_orders=report.open_orders, adopted=report.adopted)
        return report

    async def _adopt_unknown(self, exchange_open: dict[str, OpenOrder], fills: Sequence[Fill]) -> int:
        """Journal the wallet's orders that the exchange has and the journal lacks: resting ones,
        and those behind fills newer than the journal's newest order. Only a journal that lost
        its last commits (a power cut between the write and the fsync behind the send) can lack
        them; adopted, they count in exposure, reports and cancels like any other. Never re-sent:
        the exchange has them, and order hashes are deterministic, so nothing could duplicate them."""
        newest = await self._io(self.journal.newest_order_ms)
        recent = {f.order_id.lower() for f in fills if newest is not None and f.ts_ms >= newest - 60_000}
        candidates = set(exchange_open) | recent
        if not candidates:
            return 0
        known = await self._io(self._known_hashes, candidates)
        adopted: list[tuple[PendingOrder, OrderResult]] = []
        for h in sorted(candidates - known):
            o = exchange_open.get(h) or await self.exchange.get_order(h)
            if o is None:
                continue
            intent = OrderIntent(market=o.market, token_id=o.token_id, side=o.side,  # type: ignore[arg-type]
                                 price_e6=o.price_e6, size_e6=o.original_size_e6, group_id="adopted",
                                 reason="adopted: on the exchange, not in the journal")
            cid = f"adopted-{h}"
            adopted.append((PendingOrder(cid, intent, 0, h, '{"adopted":true}'),
                            OrderResult(cid, intent, _remote_status(o, h in exchange_open), order_id=h,
                                        filled_size_e6=o.size_matched_e6)))
        if adopted:
            await self._io(self.journal.record_pending, [p for p, _ in adopted])
            await self._io(self.journal.record_results, [r for _, r in adopted])
            log.warning("ADOPTED ORDERS the journal did not have (it lost its last writes)", count=len(adopted),
                        orders=[p.order_hash for p, _ in adopted][:20])
        return len(adopted)

    def _known_hashes(self, hashes: set[str]) -> set[str]:
        return {h for h in hashes if self.journal.order_by_hash(h) is not None}

    async def _resend_identical(self, row: OrderRow) -> bool:
        """Re-send an unsent order only if re-deriving it gives the very same signed order."""
        again = self.signer.sign(row.intent, row.client_id, row.timestamp_ms)
        journaled = SignedOrder.from_json(row.signed_json)
        if again != journaled:
            log.warning("not re-sending: re-derived order differs from the journal", client_id=row.client_id)
            return False
        if row.intent.order_type == "GTD" and row.intent.expiration_s and row.intent.expiration_s < time.time():
            return False
        res = (await self.exchange.post_orders([journaled]))[0]
        result = _result_from_post(row.client_id, row.intent, res)
        await self._io(self.journal.record_results, [result])
        return True


def _remote_status(o: OpenOrder, resting: bool) -> OrderStatus:
    if o.status in ("delayed", "pending"):  # matching deferred: the next reconcile settles it
        return "pending"
    if resting or (o.status in ("live", "open") and o.remaining_e6):
        return "partial" if o.size_matched_e6 else "live"
    if o.size_matched_e6 >= o.original_size_e6 or (o.size_matched_e6 and o.status == "matched"):
        return "matched"
    if o.size_matched_e6:
        return "partial"
    return "canceled" if "cancel" in o.status else "unmatched"


def _open_from(o: OpenOrder) -> _Open:
    return _Open(o.market, o.token_id, o.side, o.price_e6, o.remaining_e6)


class _AgeView:
    """Mapping-like view of book ages for the risk engine; without a source every market is fresh."""

    def __init__(self, source: Callable[[str], int | None] | None) -> None:
        self._source = source

    def get(self, market: str, /) -> int | None:
        return 0 if self._source is None else self._source(market)
