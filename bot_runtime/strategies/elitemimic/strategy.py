"""EliteMimic: copy the trades of watched wallets, gated by an AI approval.

Sources: the Data API's wallet activity (polled per wallet with a timestamp cursor; default) and/or on-chain
`OrderFilled` logs (needs POLYGON_RPC_URL). Each trade is deduplicated, checked for staleness, sized,
priced within the slippage bound, approved by the analyzer (offline by default) and sent as FAK.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Any

from bot_runtime.ai.factory import make_analyzer
from bot_runtime.ai.types import AnalysisError, AnalysisRequest
from bot_runtime.contract.config import POLYGON_RPC_URL
from bot_runtime.contract.params import EliteMimicParams
from bot_runtime.strategies.base import Strategy, StrategyContext, register
from bot_runtime.strategies.common import LatencyWindow, Tally, TaskSet, until_final
from bot_runtime.strategies.elitemimic.logic import (
    TradeParseError,
    WhaleTrade,
    copy_won,
    from_chain_fill,
    parse_data_api_trade,
    plan_copy,
)
from bot_runtime.telemetry.metrics import zero
from bot_runtime.types import Opportunity, OrderIntent
from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.data_api import DataApiClient, item_time
from bot_runtime.venue.polymarket.gamma import GammaClient, MarketInfo

POLL_INTERVAL_MS = 5_000
RESOLUTION_CHECK_MS = 10 * 60_000  # Gamma poll for resolved markets we copied into


class _ApiMetrics:
    """The Data API client's request accounting -> botfleet_api_requests_total / api_errors_total."""

    def __init__(self, ctx: StrategyContext, strategy: str) -> None:
        self.ctx = ctx
        self.strategy = strategy

    def on_response(self, endpoint: str, status: int) -> None:
        if self.ctx.metrics is not None:
            self.ctx.metrics.api_requests.labels(self.ctx.bot, self.strategy, endpoint, f"{status // 100}xx").inc()

    def on_error(self, endpoint: str, kind: str) -> None:
        if self.ctx.metrics is not None:
            self.ctx.metrics.api_errors.labels(self.ctx.bot, self.strategy, endpoint, kind).inc()


@register
class EliteMimic(Strategy):
    name = "elitemimic"
    params_model = EliteMimicParams

    def __init__(self, ctx: StrategyContext) -> None:
        super().__init__(ctx)
        self.p: EliteMimicParams = ctx.params
        self.wallets: list[str] = [w.lower() for w in self.p.wallets]
        # the AI gate matters only when it can say no
        self.analyzer = make_analyzer(ctx, required=self.p.minAiConfidence > 0)
        self.tally = Tally()
        self.tally.restore(ctx.held())  # positions survive a restart (the journal has them)
        self.latency = LatencyWindow()
        self.tasks = TaskSet()
        self.opportunities: list[Opportunity] = []
        self.decisions: dict[str, int] = {}
        self.copies: dict[str, list[tuple[str, str]]] = {}     # market -> [(side, token)] of filled copies
        self.outcomes = {"win": 0, "loss": 0}
        if ctx.metrics is not None:
            zero(ctx.metrics.copy_outcomes, ctx.bot, self.name, self.outcomes)
        self.whales: dict[str, dict[str, int]] = {}            # wallet -> {"trades", "wins", "losses"}
        self._whale_trades: dict[str, list[tuple[str, str, str]]] = {}  # market -> [(wallet, side, token)]
        self._seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._cursor: dict[str, int] = {}                        # wallet -> last timestamp (s) polled
        self._token_market: dict[str, MarketInfo] = {}
        self._index_markets(ctx.markets.values())
        self._stopped = asyncio.Event()
        self._last_poll_ms = -(10**15)
        self._last_resolution_ms = -(10**15)
        self._ids = itertools.count(1)
        self._chain_task: asyncio.Task[Any] | None = None
        self.api_errors = 0
        # venue clients over the bot's shared session; one attempt each: the next round asks again
        http = ctx.http
        self.data_api = (DataApiClient(http, ctx.data_api_url, hooks=_ApiMetrics(ctx, self.name))
                         if http is not None else None)
        self.gamma = GammaClient(ctx.gamma_url, session=http, max_retries=0) if http is not None else None
        self.recent: deque[dict[str, Any]] = deque(maxlen=20)

    def _index_markets(self, markets: Iterable[MarketInfo]) -> None:
        for m in markets:
            self._token_market[m.yes_token_id] = m
            self._token_market[m.no_token_id] = m

    def select_markets(self, markets: list[MarketInfo]) -> list[MarketInfo]:
        chosen = [m for m in markets if m.tradable]
        self._index_markets(chosen)
        return chosen

    # -- inputs ----------------------------------------------------------------------------
    def feed_whale_trades(self, items: Iterable[dict[str, Any]], repolled: bool = False) -> None:
        """Data API items (polled, or replayed by a backtest) -> copy decisions, scheduled as tasks.

        `repolled`: the poll re-reads its cursor's last second, so items seen before are expected
        and dropped silently; `skipped_duplicate` counts the same trade arriving again otherwise
        (e.g. from both the chain and the Data API)."""
        for item in items:
            try:
                t = parse_data_api_trade(item, "backtest" if self.ctx.backtest else "dataapi")
            except (TradeParseError, KeyError, TypeError, ValueError) as e:
                self.log.warning("bad whale trade item", error=str(e))
                continue
            if t is not None and not (repolled and t.key in self._seen):
                self._accept(t)

    def _accept(self, t: WhaleTrade) -> None:
        if self.wallets and t.wallet.lower() not in self.wallets:
            return
        m = self.ctx.metrics
        if m is not None:
            m.whale_signals.labels(self.ctx.bot, self.name, t.source).inc()
        if t.key in self._seen:
            self._decide("skipped_duplicate", t, "")
            return
        self._seen[t.key] = None
        if len(self._seen) > 50_000:
            self._seen.popitem(last=False)
        self.tasks.spawn(self._process(t, self.ctx.perf_ns()))

    def _decide(self, result: str, t: WhaleTrade, reason: str) -> None:
        self.decisions[result] = self.decisions.get(result, 0) + 1
        m = self.ctx.metrics
        if m is not None:
            m.copies.labels(self.ctx.bot, self.name, result).inc()
        if result != "skipped_duplicate":
            self.recent.append({"wallet": t.wallet, "side": t.side, "token": t.token_id,
                                "usd": round(t.usd_e6 / E6, 2), "result": result, "reason": reason})
            self.log.info("WHALE TRADE", wallet=t.wallet, side=t.side, token=t.token_id, market=t.market,
                          usd=round(t.usd_e6 / E6, 2), price=t.price_e6 / E6, source=t.source, result=result,
                          reason=reason)

    async def _market_for(self, t: WhaleTrade) -> MarketInfo | None:
        info = self._token_market.get(t.token_id)
        if info is not None or self.ctx.backtest or self.gamma is None or not t.market:
            return info
        try:  # a market outside our selection: ask Gamma once
            info = await self.gamma.market(t.market)
            if info is not None:
                self._index_markets([info])
        except Exception as e:
            self.api_errors += 1
            self.log.warning("gamma lookup failed", market=t.market, error=f"{type(e).__name__}")
        return info

    # -- decision + order ------------------------------------------------------------------
    async def _process(self, t: WhaleTrade, t0: int) -> None:
        try:
            await self._process_inner(t, t0)
        except Exception as e:  # one bad trade must not stop the copier
            self._decide("error", t, f"{type(e).__name__}: {e}"[:200])

    async def _process_inner(self, t: WhaleTrade, t0: int) -> None:
        w = self.whales.setdefault(t.wallet.lower(), {"trades": 0, "wins": 0, "losses": 0})
        w["trades"] += 1
        info = await self._market_for(t)
        if info is None:
            self._decide("skipped_unknown_market", t, "market metadata not found")
            return
        if not info.tradable:
            self._decide("skipped_closed", t, "market is not accepting orders")
            return
        self._whale_trades.setdefault(info.condition_id, []).append((t.wallet.lower(), t.side, t.token_id))
        book = self.ctx.books.book(t.token_id) if self.ctx.books is not None else None
        best = None
        tick = info.tick_size_e6
        if book is not None and book.synced:
            lv = book.best_ask() if t.side == "BUY" else book.best_bid()
            best = lv[0] if lv is not None else None
            tick = book.tick_size_e6 or tick
        lim = self.ctx.config.limits
        d = plan_copy(t, self.ctx.clock(), copy_ratio=self.p.copyRatio, max_copy_usd=self.p.maxCopySizeUsd,
                      max_order_usd=lim.maxOrderUsd, max_slippage=self.p.maxSlippage,
                      max_age_s=self.p.maxTradeAgeSeconds, min_whale_usd=self.p.minWhaleTradeUsd, tick_e6=tick,
                      min_size_e6=info.min_size_e6, best_e6=best, held_e6=self.tally.positions.get(t.token_id, 0))
        if d.plan is None:
            self._decide(d.result, t, d.reason)
            return
        yes_price = (t.price_e6 if t.token_id == info.yes_token_id else E6 - t.price_e6) / E6
        req = AnalysisRequest(info.condition_id, info.question, yes_price, "copy", facts={
            "side": t.side, "outcome": "YES" if t.token_id == info.yes_token_id else "NO",
            "price": t.price_e6 / E6, "usd": t.usd_e6 / E6, "age_s": (self.ctx.clock() - t.ts_ms) / 1000,
            "wallet_trades": w["trades"], "wallet_wins": w["wins"], "wallet_losses": w["losses"]})
        try:
            a = await self.analyzer.analyze(req)
        except AnalysisError as e:
            self._decide("skipped_ai", t, f"analyzer failed: {e}")
            return
        if a.confidence < self.p.minAiConfidence:
            self._decide("skipped_ai", t, f"AI confidence {a.confidence} < {self.p.minAiConfidence}: {a.rationale}")
            return
        plan = d.plan
        intent = OrderIntent(market=info.condition_id, token_id=plan.token_id, side=plan.side,  # type: ignore[arg-type]
                             price_e6=plan.price_e6, size_e6=plan.shares_e6, order_type="FAK", tick_size_e6=tick,
                             neg_risk=info.neg_risk, group_id=f"copy-{next(self._ids)}",
                             reason=f"copy:{t.wallet.lower()}")
        edge = max(0.0, a.confidence / 100 - 0.5) if a.model == "offline" else abs(a.probability - yes_price)
        opp = Opportunity(self.ctx.clock(), info.condition_id, "copy", round(edge, 6), [plan.token_id], [intent])
        self.opportunities.append(opp)
        self.tally.opportunities += 1
        if self.ctx.metrics is not None:
            self.ctx.metrics.opportunities.labels(self.ctx.bot, self.name, "copy").inc()
        lat = self.ctx.perf_ns() - t0
        results = await until_final(self.ctx, await self.ctx.submit([intent], opp), self._stopped)
        self.latency.add_ns(lat)
        self.tally.record_results(results)
        r = results[0] if results else None
        filled = r.filled_size_e6 if r is not None else 0
        if filled > 0:
            self.copies.setdefault(info.condition_id, []).append((plan.side, plan.token_id))
            self._decide("copied", t, f"{filled / E6:.2f} shares at <= {plan.price_e6 / E6:.4f}")
            self.log.info("EXECUTED", market=info.condition_id, kind="copy", side=plan.side, token=plan.token_id,
                          shares=filled / E6, price=plan.price_e6 / E6, ai_confidence=a.confidence,
                          latency_us=round(lat / 1000, 1), wallet=t.wallet)
        else:
            self._decide("rejected" if r is None or r.status in ("rejected", "error") else "unfilled", t,
                         (r.error or r.status) if r is not None else "no result")

    def on_market_resolved(self, market: str, winning_asset_id: str) -> None:
        m = self.ctx.metrics
        for side, tok in self.copies.pop(market, []):
            res = "win" if copy_won(side, tok, winning_asset_id) else "loss"
            self.outcomes[res] += 1
            if m is not None:
                m.copy_outcomes.labels(self.ctx.bot, self.name, res).inc()
        for wallet, side, tok in self._whale_trades.pop(market, []):
            w = self.whales.setdefault(wallet, {"trades": 0, "wins": 0, "losses": 0})
            w["wins" if copy_won(side, tok, winning_asset_id) else "losses"] += 1

    # -- polling -----------------------------------------------------------------------------
    async def _poll_data_api(self) -> None:
        api = self.data_api
        if api is None:
            return
        for wallet in list(self.wallets):
            start = self._cursor.get(wallet, max(0, self.ctx.clock() // 1000 - self.p.maxTradeAgeSeconds))
            try:
                items = await api.activity(wallet, start, limit=100)  # oldest first
            except Exception:  # counted by the client's hooks (_ApiMetrics)
                self.api_errors += 1
                continue
            if items:
                # re-read the last second next time: same-second trades may still arrive; dedupe drops repeats
                self._cursor[wallet] = max(start, item_time(items[-1]))
            self.feed_whale_trades(items, repolled=True)

    async def _discover_leaderboard(self) -> None:
        if not self.p.leaderboardTop or self.data_api is None or self.ctx.backtest:
            return
        try:
            top = await self.data_api.leaderboard(self.p.leaderboardTop)
        except Exception as e:
            self.api_errors += 1
            self.log.warning("leaderboard lookup failed", error=type(e).__name__)
            return
        for w in top:
            if w not in self.wallets:
                self.wallets.append(w)

    def _start_chain(self) -> None:
        if self.p.source not in ("chain", "both") or self.ctx.backtest or self._chain_task is not None:
            return
        rpc = self.ctx.secret(POLYGON_RPC_URL)
        if not rpc:
            self.log.warning("source chain needs POLYGON_RPC_URL in the credentials secret; using the Data API")
            return
        from web3 import HTTPProvider, Web3

        from bot_runtime.chain.watcher import OrderFilledWatcher
        from bot_runtime.venue.polymarket.constants import EXCHANGES_V1, EXCHANGES_V2

        watcher = OrderFilledWatcher(Web3(HTTPProvider(rpc)), EXCHANGES_V2 + EXCHANGES_V1, self.wallets,
                                     confirmations=2, reorg_window=8)
        self.chain_watcher = watcher
        self._chain_task = asyncio.get_running_loop().create_task(
            watcher.run(self.on_chain_fills, self._stopped, interval_s=2.0))

    def on_chain_fills(self, fills: list[Any]) -> None:
        now = self.ctx.clock()
        for f in fills:
            for w in self.wallets:
                # the block's time: a fill read late is old, and the staleness check must see that
                t = from_chain_fill(f, w, f.block_time_ms or now)
                if t is not None:
                    self._accept(t)

    async def tick(self) -> None:
        now = self.ctx.clock()
        if now - self._last_poll_ms < POLL_INTERVAL_MS:
            return
        self._last_poll_ms = now
        if self.p.source in ("dataapi", "both") and not self.ctx.backtest:
            await self._poll_data_api()
        if now - self._last_resolution_ms >= RESOLUTION_CHECK_MS:
            self._last_resolution_ms = now
            await self.check_resolutions()

    async def check_resolutions(self) -> None:
        """Settle copies in markets Gamma reports closed (a missed `market_resolved`)."""
        pending = set(self.copies) | set(self._whale_trades)
        if not pending or self.gamma is None or self.ctx.backtest:
            return
        try:
            winners = await self.gamma.resolutions(pending)
        except Exception as e:
            self.api_errors += 1
            self.log.warning("resolution check failed", error=type(e).__name__)
            return
        for cid, token in winners.items():
            self.on_market_resolved(cid, token)

    async def run(self) -> None:
        await self._discover_leaderboard()
        self._start_chain()
        while not self._stopped.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), timeout=1.0)
        await self.tasks.drain()

    async def stop(self) -> None:
        self._stopped.set()
        if self._chain_task is not None:
            with contextlib.suppress(Exception):
                await self._chain_task
        await self.tasks.drain()

    async def drain(self) -> None:
        await self.tasks.drain()

    def pnl_e6(self) -> int:
        value = 0
        for tok, q in self.tally.positions.items():
            if q <= 0:
                continue
            b = self.ctx.books.book(tok) if self.ctx.books is not None else None
            bb = b.best_bid() if b is not None else None
            if bb is not None:
                value += q * bb[0] // E6
        return self.tally.cash_e6 + value

    def snapshot(self) -> dict[str, Any]:
        res = self.outcomes["win"] + self.outcomes["loss"]
        return {
            "strategy": self.name,
            "wallets": len(self.wallets),
            "opportunities": self.tally.opportunities,
            "orders": self.tally.orders,
            "fills": self.tally.fills,
            "pnl_usd": round(self.pnl_e6() / E6, 6),
            "latency_us": self.latency.percentiles(),
            "decisions": dict(sorted(self.decisions.items())),
            "copy_outcomes": dict(self.outcomes),
            "copy_success": round(self.outcomes["win"] / res, 4) if res else None,
            "api_errors": self.api_errors,
            "recent": list(self.recent)[-10:],
        }
