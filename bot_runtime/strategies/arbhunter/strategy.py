"""ArbHunter: the thin shell around `logic.plan_set` that watches books and places the legs.

Hot path (`on_book_update`): O(1) best-ask reads and an integer pre-check per affected set; levels
are walked only when the top of book already clears the threshold. Submission runs as a task; the
tick-to-order latency is measured from the frame's arrival to the call into the executor.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot_runtime.contract.params import ArbHunterParams
from bot_runtime.strategies.arbhunter.logic import (
    E12,
    E18,
    LOT_E6,
    UNWIND_ATTEMPTS,
    UNWIND_MAX_LOSS_PPM,
    ArbPlan,
    LegFill,
    plan_repair,
    plan_set,
    round_down_to_tick,
    round_up_to_tick,
    valid_price,
)
from bot_runtime.strategies.base import Strategy, StrategyContext, register
from bot_runtime.strategies.common import LatencyWindow, Tally, TaskSet
from bot_runtime.telemetry.metrics import zero
from bot_runtime.types import UNRESOLVED, Opportunity, OrderIntent, OrderResult
from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.fees import rate_ppm_of
from bot_runtime.venue.polymarket.gamma import MarketInfo, complete_negrisk_events


@dataclass(slots=True, eq=False)  # identity: sets are compared by object in the hot path
class ArbSet:
    """A complete set of outcomes: YES+NO of one market, or YES of every outcome of a neg-risk event."""

    key: str                      # condition id (binary) or negRiskMarketID (negrisk)
    kind: str                     # "binary" | "negrisk"
    tokens: tuple[str, ...]
    markets: tuple[str, ...]      # condition id of each leg
    rates_ppm: tuple[int, ...]
    neg_risk: bool
    min_size_e6: int
    busy: bool = False            # an execution is in flight
    in_episode: bool = False      # the dislocation was already seen (count it once)
    executed: bool = False        # an execution was started in this episode
    last_exec_ms: int = -(10**15)
    last_failed: bool = False


def build_sets(markets: Iterable[MarketInfo], include_negrisk: bool) -> list[ArbSet]:
    """Binary sets for every tradable market; neg-risk sets only for complete events (every
    unresolved outcome present and tradable, not augmented: `complete_negrisk_events`)."""
    # a fee exponent other than 1 is a formula the plan does not compute: such markets are left out
    all_markets = [m for m in markets if m.fee_exponent == 1 or not m.fees_enabled]
    ms = [m for m in all_markets if m.tradable]
    sets = [
        ArbSet(m.condition_id, "binary", (m.yes_token_id, m.no_token_id), (m.condition_id, m.condition_id),
               (rate_ppm_of(m.fees_enabled, m.fee_rate),) * 2, m.neg_risk, m.min_size_e6)
        for m in ms
    ]
    if include_negrisk:
        for key, outs in sorted(complete_negrisk_events(all_markets).items()):
            sets.append(ArbSet(
                key, "negrisk", tuple(m.yes_token_id for m in outs), tuple(m.condition_id for m in outs),
                tuple(rate_ppm_of(m.fees_enabled, m.fee_rate) for m in outs), True,
                max(m.min_size_e6 for m in outs)))
    return sets


@register
class ArbHunter(Strategy):
    name = "arbhunter"
    params_model = ArbHunterParams

    def __init__(self, ctx: StrategyContext) -> None:
        super().__init__(ctx)
        p: ArbHunterParams = ctx.params
        self.p = p
        self.threshold_ppm = round(p.minProfitThreshold * E6)
        self._threshold_e18 = self.threshold_ppm * E12
        # the BookStore's dict, read directly on the hot path (one lookup per leg)
        books = getattr(ctx.books, "books", None)  # may still be empty: the same dict fills up later
        self._books_by_id: Any = books if isinstance(books, dict) else _BookLookup(ctx.books)
        # the runtime's one freshness rule (BookStore.book_age_ms: a live connection keeps a quiet
        # book current, a stalled feed makes it untradable); stores without it: the book's own age
        age_fn = getattr(ctx.books, "book_age_ms", None)
        self._book_age: Any = age_fn if callable(age_fn) else None
        budget = min(p.tradeSizeUsd, ctx.config.limits.maxOrderUsd)
        self.budget_e6 = round(budget * E6)
        self.tally = Tally()
        self.tally.restore(ctx.held())  # positions survive a restart (the journal has them)
        self.latency = LatencyWindow()
        self.results = {"won": 0, "lost": 0, "failed": 0}
        if ctx.metrics is not None:
            zero(ctx.metrics.arb_results, ctx.bot, self.name, self.results)
        self.tasks = TaskSet()
        self._stopped = asyncio.Event()
        self._ids = itertools.count(1)
        self.sets: list[ArbSet] = []
        self._by_asset: dict[str, list[ArbSet]] = {}
        self._inflight: dict[str, ArbSet] = {}   # token -> the set whose execution holds it
        self.opportunities: list[Opportunity] = []   # bounded: for reports and the demo view
        self._set_markets(list(ctx.markets.values()))

    # -- setup ---------------------------------------------------------------------------
    def _set_markets(self, markets: list[MarketInfo]) -> None:
        self.sets = build_sets(markets, self.p.negRisk)
        idx: dict[str, list[ArbSet]] = {}
        for s in self.sets:
            for t in s.tokens:
                idx.setdefault(t, []).append(s)
        self._by_asset = idx

    def select_markets(self, markets: list[MarketInfo]) -> list[MarketInfo]:
        chosen = [m for m in markets if m.tradable]
        # every market offered, tradable or not: an outcome not accepting orders makes its event incomplete
        self._set_markets(markets)
        return chosen

    # -- hot path ------------------------------------------------------------------------
    def on_book_update(self, asset_ids: Iterable[str], received_ns: int = 0) -> None:
        if self._stopped.is_set():
            return
        t0 = received_ns or self.ctx.perf_ns()
        now = self.ctx.clock()
        by_asset = self._by_asset
        checked: list[ArbSet] = []
        for a in asset_ids:
            sets = by_asset.get(a)
            if sets is None:
                continue
            for s in sets:
                if s in checked:
                    continue
                checked.append(s)
                self._check(s, now, t0)

    def _check(self, s: ArbSet, now: int, t0: int) -> None:
        if s.busy:
            return
        inflight = self._inflight
        if inflight:
            for tok in s.tokens:
                if tok in inflight:  # another set (binary vs neg-risk share YES) is trading it
                    return
        books_by_id = self._books_by_id
        book_age = self._book_age
        max_age = self.p.maxBookAgeMs
        books = []
        for tok in s.tokens:
            b = books_by_id.get(tok)
            # stale or unsynced books never trade: the price may be gone
            if b is None or not b.synced:
                s.in_episode = False
                return
            age = book_age(tok, now) if book_age is not None else now - b.received_ms
            if age is None or age > max_age:
                s.in_episode = False
                return
            books.append(b)
        # integer pre-check on the best asks (e18 fixed point), before any level is walked
        plan: ArbPlan | None = None
        total = 0
        for b, r in zip(books, s.rates_ppm, strict=True):
            ba = b.best_ask()
            if ba is None:
                total = -1
                break
            p = ba[0]
            total += p * E12 + p * (E6 - p) * r
        if total >= 0 and E18 - total > self._threshold_e18:
            plan = plan_set("BUY", s.tokens, [b.asks_asc() for b in books], s.rates_ppm,
                            [b.tick_size_e6 for b in books], self.threshold_ppm, self.budget_e6, s.min_size_e6)
        if plan is None:
            plan = self._sell_plan(s, books)
        if plan is None:
            s.in_episode = False
            return
        ticks = [b.tick_size_e6 for b in books]
        opp: Opportunity | None = None
        if not s.in_episode:  # a new dislocation: counted once, however long it lasts
            s.in_episode = True
            s.executed = False
            opp = self._opportunity(s, plan, now, ticks, True)
        # within one dislocation: execute once; retry only if nothing filled (after the cooldown)
        if (s.executed and not s.last_failed) or now - s.last_exec_ms < self.p.cooldownMs:
            if opp is not None:
                self._log_opportunity(opp, plan, False)
            return
        if opp is None:
            opp = self._opportunity(s, plan, now, ticks, False)
        s.busy = True
        s.executed = True
        s.last_exec_ms = now
        for tok in s.tokens:  # one execution per token at a time, across every set holding it
            self._inflight[tok] = s
        self.tasks.spawn(self._execute(s, plan, opp, t0))

    def _sell_plan(self, s: ArbSet, books: list[Any]) -> ArbPlan | None:
        """Sell a set we hold when its bids sum above $1 + threshold (fees included)."""
        pos = self.tally.positions
        if not pos:
            return None
        held = min([pos.get(t, 0) for t in s.tokens])
        if held <= 0:
            return None
        total = 0
        for b, r in zip(books, s.rates_ppm, strict=True):
            bb = b.best_bid()
            if bb is None:
                return None
            p = bb[0]
            total += p * E12 - p * (E6 - p) * r
        if total - E18 <= self._threshold_e18:
            return None
        return plan_set("SELL", s.tokens, [b.bids_desc() for b in books], s.rates_ppm,
                        [b.tick_size_e6 for b in books], self.threshold_ppm, self.budget_e6,
                        s.min_size_e6, inventory_e6=held)

    def _opportunity(self, s: ArbSet, plan: ArbPlan, now: int, ticks: list[int], new: bool) -> Opportunity:
        gid = f"arb-{s.kind}-{next(self._ids)}"
        kind = s.kind if plan.side == "BUY" else f"{s.kind}_sell"
        # A market BUY spends dollars: the walked cost buys exactly the planned shares, where
        # shares x worst price would buy more than the walked levels hold (killed, or a leg heavier
        # than the others).
        market_buy = plan.side == "BUY" and self.p.orderType in ("FOK", "FAK")
        intents = [
            OrderIntent(market=mkt, token_id=leg.token_id, side=plan.side,  # type: ignore[arg-type]
                        price_e6=leg.limit_price_e6, size_e6=plan.shares_e6, order_type=self.p.orderType,
                        tick_size_e6=tick, neg_risk=s.neg_risk, group_id=gid, reason=f"arb:{kind}",
                        amount_e6=leg.cost_e6 if market_buy else 0)
            for mkt, leg, tick in zip(s.markets, plan.legs, ticks, strict=True)
        ]
        opp = Opportunity(ts_ms=now, market=s.key, kind=kind, edge=plan.edge, assets=list(s.tokens),
                          intents=intents)
        if new:
            self.tally.opportunities += 1
            self.opportunities.append(opp)
            if len(self.opportunities) > 10_000:
                del self.opportunities[:1000]
            m = self.ctx.metrics
            if m is not None:
                m.opportunities.labels(self.ctx.bot, self.name, kind).inc()
                m.edge.labels(self.ctx.bot, self.name, kind).observe(plan.edge)
        return opp

    def _log_opportunity(self, opp: Opportunity, plan: ArbPlan, executing: bool) -> None:
        self.log.info("ARB OPPORTUNITY", market=opp.market, kind=opp.kind, edge=round(plan.edge, 6),
                      shares=plan.shares_e6 / E6, prices=[leg.limit_price_e6 / E6 for leg in plan.legs],
                      profit_usd=plan.profit_e6 / E6, group=opp.intents[0].group_id, ts_ms=opp.ts_ms,
                      executing=executing)

    # -- execution -----------------------------------------------------------------------
    async def _execute(self, s: ArbSet, plan: ArbPlan, opp: Opportunity, t0: int) -> None:
        try:
            lat_ns = self.ctx.perf_ns() - t0
            results = await self.ctx.submit(opp.intents, opp)
            if any(r.status in UNRESOLVED for r in results):
                results = await self._until_final(s, results)
            # logged after the orders went out: formatting a log line is not worth a delay on the wire
            self._log_opportunity(opp, plan, True)
            self.latency.add_ns(lat_ns)
            if self.ctx.metrics is not None:
                self.ctx.metrics.tick_to_order.labels(self.ctx.bot, self.name).observe(lat_ns / 1e9)
            self.tally.record_results(results)
            outcome = await self._settle(s, plan, results)
            s.last_failed = outcome == "failed"
            self.results[outcome] += 1
            if self.ctx.metrics is not None:
                self.ctx.metrics.arb_results.labels(self.ctx.bot, self.name, outcome).inc()
            self.log.info("EXECUTED", market=s.key, kind=opp.kind, edge=round(plan.edge, 6),
                          shares=plan.shares_e6 / E6, result=outcome, latency_us=round(lat_ns / 1000, 1),
                          fills=[r.filled_size_e6 / E6 for r in results],
                          statuses=[r.status for r in results], group=opp.intents[0].group_id)
        except _StillPending as exc:  # stopping: the journal keeps them pending for reconcile
            self.log.warning("ARB LEFT PENDING", market=s.key, orders=exc.order_ids)
        except Exception as exc:  # a failed execution must not kill the bot; the journal has the truth
            s.last_failed = True
            self.log.error("arb execution failed", market=s.key, error=f"{type(exc).__name__}: {exc}")
        finally:
            s.busy = False
            for tok in s.tokens:
                if self._inflight.get(tok) is s:
                    del self._inflight[tok]

    async def _until_final(self, s: ArbSet, results: list[OrderResult]) -> list[OrderResult]:
        """Wait for the exchange's final word on delayed or unanswered legs. The set (and every
        token of it) stays blocked: a leg that fills later must not meet a fresh group, a hedge
        or an unwind decided on "nothing filled"."""
        self.log.warning("ARB PENDING", market=s.key, statuses=[r.status for r in results],
                         orders=[r.order_id for r in results if r.status in UNRESOLVED])
        while any(r.status in UNRESOLVED for r in results):
            if self._stopped.is_set():
                raise _StillPending([r.order_id for r in results if r.status in UNRESOLVED])
            results = await self.ctx.resolve(results)
            if any(r.status in UNRESOLVED for r in results):
                await asyncio.sleep(0.05)  # resolve() waits itself; this only bounds a resolve that cannot
        return results

    async def _settle(self, s: ArbSet, plan: ArbPlan, results: list[OrderResult]) -> str:
        """won: every leg filled alike (or hedged to it); failed: nothing filled; lost: unwound."""
        filled = [r.filled_size_e6 for r in results]
        if len(results) == len(plan.legs) and max(filled) - min(filled) <= dust_e6(plan):
            return "won" if min(filled) > 0 else "failed"
        if plan.side == "SELL":
            # a partly sold set leaves inventory that a later set or resolution settles: no loss taken
            return "won" if any(filled) else "failed"
        if not any(filled):
            return "failed"
        by_tok = {r.intent.token_id: r for r in results}
        held = {t: (by_tok[t].filled_size_e6, by_tok[t].avg_price_e6) if t in by_tok else (0, 0) for t in s.tokens}
        fills = [LegFill(t, q, p) for t, (q, p) in held.items()]
        store = self.ctx.books
        asks = []
        for t in s.tokens:
            b = store.book(t)
            ba = b.best_ask() if b is not None else None
            asks.append(ba[0] if ba is not None else None)
        excess = max(f.filled_e6 for f in fills) - min(f.filled_e6 for f in fills)
        repair = plan_repair(fills, asks, s.rates_ppm, excess * self.threshold_ppm // E6)
        self.log.warning("ARB UNBALANCED", market=s.key, action=repair.action,
                         fills=[f.filled_e6 / E6 for f in fills],
                         orders=[(t, q / E6) for t, q in repair.orders])
        group = plan_group(results)
        orders = repair.orders
        if repair.action == "hedge":
            for r in await self._repair(s, "hedge", orders, group):
                tok = r.intent.token_id
                held[tok] = (held[tok][0] + r.filled_size_e6, held[tok][1])
            top = max(q for q, _ in held.values())
            low = min(q for q, _ in held.values())
            if top == low:
                return "won"
            # the hedge fell short: unwind what is still in excess
            orders = tuple((t, q - low) for t, (q, _) in held.items() if q > low)
        await self._unwind(s, orders, {t: p for t, (_, p) in held.items()}, group)
        return "lost"

    async def _unwind(self, s: ArbSet, orders: tuple[tuple[str, int], ...], paid: dict[str, int],
                      group: str) -> None:
        """Sell the excess legs as FAK at a floor price (the price paid less UNWIND_MAX_LOSS), which
        walks every bid down to the floor, at most UNWIND_ATTEMPTS times; what cannot be sold at or
        above the floor stays held and is journaled (`naked_remainder`), never dumped at any bid."""
        store = self.ctx.books
        for tok, qty in orders:
            left = qty
            b = store.book(tok)
            tick = b.tick_size_e6 if b is not None else 10_000
            avg = paid.get(tok) or 0
            floor = max(tick, round_up_to_tick(avg * (E6 - UNWIND_MAX_LOSS_PPM) // E6, tick))
            for _ in range(UNWIND_ATTEMPTS):
                b = store.book(tok)
                bb = b.best_bid() if b is not None else None
                if left < LOT_E6 or bb is None or bb[0] < floor or not valid_price(floor, tick):
                    break
                intent = OrderIntent(market=s.markets[s.tokens.index(tok)], token_id=tok, side="SELL",
                                     price_e6=floor, size_e6=left // LOT_E6 * LOT_E6, order_type="FAK",
                                     tick_size_e6=tick, neg_risk=s.neg_risk, group_id=group, reason="arb:unwind")
                opp = Opportunity(ts_ms=self.ctx.clock(), market=s.key, kind=f"{s.kind}_unwind", edge=0.0,
                                  assets=[tok], intents=[intent])
                fixes = await self.ctx.submit([intent], opp)
                if any(r.status in UNRESOLVED for r in fixes):
                    fixes = await self._until_final(s, fixes)
                self.tally.record_results(fixes)
                sold = sum(r.filled_size_e6 for r in fixes)
                self.log.info("ARB REPAIRED", market=s.key, action="unwind", token=tok, floor=floor / E6,
                              filled=sold / E6, statuses=[r.status for r in fixes])
                left -= sold
                if sold == 0:
                    break
            if left >= LOT_E6:
                detail = {"set": s.key, "kind": s.kind, "token": tok, "shares_e6": left, "floor_e6": floor,
                          "paid_e6": avg, "group": group}
                self.log.error("ARB NAKED REMAINDER", **detail)
                await self.ctx.record_event("naked_remainder", detail)

    async def _repair(self, s: ArbSet, action: str, orders: tuple[tuple[str, int], ...],
                      group: str) -> list[OrderResult]:
        """FAK orders at the current best price: BUY the missing legs (hedge) or SELL the excess (unwind)."""
        store = self.ctx.books
        side = "BUY" if action == "hedge" else "SELL"
        intents: list[OrderIntent] = []
        for tok, qty in orders:
            b = store.book(tok)
            lv = None if b is None else (b.best_ask() if side == "BUY" else b.best_bid())
            if b is None or lv is None or qty <= 0:
                continue
            tick = b.tick_size_e6
            price = round_up_to_tick(lv[0], tick) if side == "BUY" else round_down_to_tick(lv[0], tick)
            if not valid_price(price, tick):
                continue
            intents.append(OrderIntent(market=s.markets[s.tokens.index(tok)], token_id=tok,
                                       side=side,  # type: ignore[arg-type]
                                       price_e6=price, size_e6=qty, order_type="FAK", tick_size_e6=tick,
                                       neg_risk=s.neg_risk, group_id=group, reason=f"arb:{action}"))
        if not intents:
            self.log.error("ARB UNREPAIRED", market=s.key, action=action, orders=[(t, q / E6) for t, q in orders],
                           reason="no price to trade at")
            return []
        opp = Opportunity(ts_ms=self.ctx.clock(), market=s.key, kind=f"{s.kind}_{action}", edge=0.0,
                          assets=[i.token_id for i in intents], intents=intents)
        fixes = await self.ctx.submit(intents, opp)
        if any(r.status in UNRESOLVED for r in fixes):
            fixes = await self._until_final(s, fixes)
        self.tally.record_results(fixes)
        self.log.info("ARB REPAIRED", market=s.key, action=action,
                      filled=[r.filled_size_e6 / E6 for r in fixes], statuses=[r.status for r in fixes])
        return fixes

    # -- lifecycle -----------------------------------------------------------------------
    async def run(self) -> None:
        # event-driven: all work happens in on_book_update; this just waits for stop()
        await self._stopped.wait()
        await self.tasks.drain()

    async def stop(self) -> None:
        self._stopped.set()
        await self.tasks.drain()

    async def drain(self) -> None:
        await self.tasks.drain()

    def pnl_e6(self) -> int:
        """Cash plus held inventory: complete sets at $1, the rest marked at the best bid."""
        pos = dict(self.tally.positions)
        value = 0
        for s in self.sets:
            held = min(pos.get(t, 0) for t in s.tokens)
            if held > 0:
                value += held
                for t in s.tokens:
                    pos[t] -= held
        store = self.ctx.books
        for tok, q in pos.items():
            if q > 0:
                b = store.book(tok)
                bb = b.best_bid() if b is not None else None
                if bb is not None:
                    value += q * bb[0] // E6
        return self.tally.cash_e6 + value

    def snapshot(self) -> dict[str, Any]:
        done = sum(self.results.values())
        return {
            "strategy": self.name,
            "sets": len(self.sets),
            "opportunities": self.tally.opportunities,
            "orders": self.tally.orders,
            "fills": self.tally.fills,
            "pnl_usd": round(self.pnl_e6() / E6, 6),
            "latency_us": self.latency.percentiles(),
            "executions": dict(self.results),
            "win_rate": round(self.results["won"] / done, 4) if done else None,
            "recent": [{"ts": o.ts_ms, "market": o.market, "kind": o.kind, "edge": round(o.edge, 6)}
                       for o in self.opportunities[-10:]],
        }


class _StillPending(Exception):
    def __init__(self, order_ids: list[str]) -> None:
        super().__init__(", ".join(order_ids))
        self.order_ids = order_ids


class _BookLookup:
    """dict-like `.get` over a store that only offers `.book(asset_id)`."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def get(self, asset_id: str) -> Any:
        return self.store.book(asset_id)


def dust_e6(plan: ArbPlan) -> int:
    """Shares by which filled legs may differ and still be one set: a market BUY's dollars are
    signed in whole cents (rounded down), so a leg may buy up to one cent's worth less."""
    if plan.side != "BUY":
        return 0
    cheapest = min(leg.cost_e6 * E6 // plan.shares_e6 for leg in plan.legs) if plan.shares_e6 else E6
    return 10_000 * E6 // max(cheapest, 1) + 1


def plan_group(results: list[OrderResult]) -> str:
    return results[0].intent.group_id if results else ""
