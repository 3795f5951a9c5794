"""PolyAI: periodic stat-arb scans plus LLM analysis of news, trading only clear, confident edges.

Every `scanIntervalMinutes` the books of the selected markets are turned into quotes and checked by
`statarb`; every `newsIntervalMinutes` a few markets get headlines (NewsAPI, budgeted), related past
analyses (memory, top 3 by embedding) and an analyzer's forecast. A signal trades (FAK BUY at the ask)
when its edge >= minEdge and confidence >= minConfidence, at most one position per market.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import tempfile
from collections import deque
from typing import Any

from bot_runtime.ai.accuracy import AccuracyTracker
from bot_runtime.ai.factory import make_analyzer
from bot_runtime.ai.memory import MemoryRecord, SQLiteMemory, SupabaseMemory
from bot_runtime.ai.news import NewsBudgetExceeded, NewsClient
from bot_runtime.ai.offline import keywords
from bot_runtime.ai.types import AnalysisError, AnalysisRequest, Headline
from bot_runtime.contract.config import NEWSAPI_KEY, SUPABASE_KEY, SUPABASE_URL
from bot_runtime.contract.params import PolyAIParams
from bot_runtime.strategies.base import Strategy, StrategyContext, register
from bot_runtime.strategies.common import LatencyWindow, Tally, TaskSet, until_final
from bot_runtime.strategies.polyai.statarb import (
    Quote,
    RollingStats,
    Signal,
    calendar_signals,
    event_sum_signals,
    mean_reversion_signal,
    nested_signals,
)
from bot_runtime.telemetry.metrics import zero
from bot_runtime.types import Opportunity, OrderIntent
from bot_runtime.venue.polymarket.constants import E6, LOT_E6
from bot_runtime.venue.polymarket.gamma import GammaClient, MarketInfo

SAMPLE_MS = 5_000          # rolling statistics sample period (shorter when scans are more frequent)
WINDOW = 60                # samples kept (5 minutes at 5 s)
DAY_MS = 86_400_000
RESOLUTION_CHECK_MS = 10 * 60_000  # Gamma poll for resolved markets with open predictions


def make_memory(ctx: StrategyContext, backend: str) -> Any:
    if backend == "supabase":
        url, key = ctx.secret(SUPABASE_URL), ctx.secret(SUPABASE_KEY)
        if not url or not key:
            raise ValueError("spec.params.memoryBackend=supabase needs SUPABASE_URL and SUPABASE_KEY in the "
                             "credentials secret; add them or use memoryBackend: embedded")
        return SupabaseMemory(url, key)
    if ctx.backtest:
        return SQLiteMemory(":memory:")
    base = ctx.state_dir or os.path.join(tempfile.gettempdir(), "botfleet")
    return SQLiteMemory(os.path.join(base, f"{ctx.bot}-polyai-memory.sqlite"))


ACCURACY_KEY = "polyai.accuracy"


def _r(x: float | None) -> float | None:
    return round(x, 6) if x is not None else None


@register
class PolyAI(Strategy):
    name = "polyai"
    params_model = PolyAIParams

    def __init__(self, ctx: StrategyContext) -> None:
        super().__init__(ctx)
        self.p: PolyAIParams = ctx.params
        self.analyzer = make_analyzer(ctx, self.p.llmModel, self.p.llmBaseUrl, self.p.embeddingModel)
        self.memory = make_memory(ctx, self.p.memoryBackend)
        news_key = ctx.secret(NEWSAPI_KEY)
        self.news: NewsClient | None = None
        if news_key and ctx.http is not None and not ctx.backtest:
            self.news = NewsClient(ctx.http, news_key, ctx.clock, base_url=ctx.newsapi_url,
                                   daily_limit=self.p.newsDailyRequestLimit)
        self.tally = Tally()
        self.tally.restore(ctx.held())  # positions survive a restart (the journal has them)
        self.latency = LatencyWindow()
        self.tasks = TaskSet()
        self.opportunities: list[Opportunity] = []
        self.signals: dict[str, int] = {}
        self.exits: dict[str, tuple[str, int]] = {}  # token -> (market, price to sell at): mean reversion
        self.accuracy = AccuracyTracker(metrics=ctx.metrics, labels=(ctx.bot, self.name))
        if ctx.metrics is not None:
            zero(ctx.metrics.ai_predictions, ctx.bot, self.name, ("correct", "wrong"))
        self.accuracy.load_state(ctx.state_get(ACCURACY_KEY))  # the score survives restarts
        self.stats: dict[str, RollingStats] = {}
        self.markets: list[MarketInfo] = [m for m in ctx.markets.values() if m.tradable]
        self._stopped = asyncio.Event()
        self._last_scan = self._last_news = self._last_sample = self._last_resolution = -(10**15)
        self._news_rr = 0
        self._ids = itertools.count(1)
        self.recent: deque[dict[str, Any]] = deque(maxlen=20)
        self.errors = 0

    def select_markets(self, markets: list[MarketInfo]) -> list[MarketInfo]:
        self.markets = [m for m in markets if m.tradable]
        return self.markets

    # -- quotes ------------------------------------------------------------------------------
    def _quotes(self) -> list[Quote]:
        out = []
        store = self.ctx.books
        for m in self.markets:
            yb, nb = store.book(m.yes_token_id), store.book(m.no_token_id)
            if yb is None or not yb.synced:
                continue
            bid, ask = yb.best_bid(), yb.best_ask()
            no_ask = nb.best_ask() if nb is not None and nb.synced else None
            out.append(Quote(m, bid[0] if bid else None, ask[0] if ask else None, no_ask[0] if no_ask else None))
        return out

    def _sample(self, quotes: list[Quote]) -> None:
        for q in quotes:
            mid = q.mid
            if mid is not None:
                self.stats.setdefault(q.market.yes_token_id, RollingStats(WINDOW)).add(mid)

    # -- scan --------------------------------------------------------------------------------
    async def scan(self) -> list[Signal]:
        t0 = self.ctx.perf_ns()
        quotes = self._quotes()
        gap = self.p.minEdge
        sigs = event_sum_signals(quotes) + nested_signals(quotes, gap) + calendar_signals(quotes, gap)
        for q in quotes:
            st = self.stats.get(q.market.yes_token_id)
            if st is not None:
                s = mean_reversion_signal(q, st)
                if s is not None:
                    sigs.append(s)
        for s in sigs:
            self.signals[s.kind] = self.signals.get(s.kind, 0) + 1
        await self._take_profits(t0)
        for s in sorted(sigs, key=lambda s: (-s.edge, s.market)):
            if s.edge >= self.p.minEdge and s.confidence >= self.p.minConfidence:
                await self._trade(s, t0)
        return sigs

    async def _take_profits(self, t0: int) -> None:
        """A mean-reversion position is a bet on the price coming back, not on the resolution: once
        the bid reaches the reversion target, sell (FAK at the target: every bid at or above it)."""
        for tok, (market, target) in list(self.exits.items()):
            held = self.tally.positions.get(tok, 0) // LOT_E6 * LOT_E6
            info = next((m for m in self.markets if m.condition_id == market), None)
            if held <= 0 or info is None:
                del self.exits[tok]
                continue
            book = self.ctx.books.book(tok)
            bid = book.best_bid() if book is not None else None
            tick = book.tick_size_e6 if book is not None else info.tick_size_e6
            price = target // tick * tick
            if bid is None or bid[0] < price or price < tick:
                continue
            intent = OrderIntent(market=market, token_id=tok, side="SELL", price_e6=price, size_e6=held,
                                 order_type="FAK", tick_size_e6=tick, neg_risk=info.neg_risk,
                                 group_id=f"polyai-{next(self._ids)}", reason="polyai:mean_reversion_exit")
            opp = Opportunity(self.ctx.clock(), market, "mean_reversion_exit", 0.0, [tok], [intent])
            results = await until_final(self.ctx, await self.ctx.submit([intent], opp), self._stopped)
            self.tally.record_results(results)
            sold = sum(r.filled_size_e6 for r in results)
            self.log.info("POLYAI EXIT", market=market, token=tok, target=price / E6, bid=bid[0] / E6,
                          sold=sold / E6, held=held / E6, latency_us=round((self.ctx.perf_ns() - t0) / 1000, 1))
            if self.tally.positions.get(tok, 0) < LOT_E6:
                del self.exits[tok]

    # -- news --------------------------------------------------------------------------------
    def _news_batch(self) -> int:
        """Markets to analyse this cycle: today's remaining NewsAPI budget spread over the remaining cycles."""
        if self.news is None:
            return 1
        cycle_ms = int(self.p.newsIntervalMinutes * 60_000)
        left_ms = DAY_MS - self.ctx.clock() % DAY_MS
        cycles = max(1, left_ms // max(1, cycle_ms))
        return max(0, min(5, self.news.remaining // cycles or (1 if self.news.remaining else 0)))

    async def _embed(self, text: str) -> list[float]:
        model = getattr(self.analyzer, "embedding_model", self.analyzer.model)
        key = hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()
        persistent = isinstance(self.memory, SQLiteMemory)
        if persistent:
            hit = self.memory.get_embedding(key)
            if hit is not None:
                if self.ctx.metrics is not None:
                    self.ctx.metrics.embedding_cache.labels(self.ctx.bot, self.name, "hit").inc()
                return hit
        vec: list[float] = await self.analyzer.embed(text)
        if persistent:
            self.memory.put_embedding(key, vec)
        return vec

    async def analyze_market(self, m: MarketInfo, headlines: list[Headline]) -> Signal | None:
        t0 = self.ctx.perf_ns()
        q = next((x for x in self._quotes() if x.market.condition_id == m.condition_id), None)
        if q is None or q.mid is None:
            return None
        text = m.question + "\n" + "\n".join(h.title for h in headlines[:10])
        emb = await self._embed(text)
        past = await self.memory.search(emb, 3)
        memories = tuple(f"{r.question}: p={r.probability:.2f} conf={r.confidence} ({r.summary})" for r in past
                         if r.similarity > 0.2)
        req = AnalysisRequest(m.condition_id, m.question, q.mid, "news", tuple(headlines), memories)
        try:
            a = await self.analyzer.analyze(req)
        except AnalysisError as e:
            self.errors += 1
            self.log.warning("analysis failed", market=m.condition_id, error=str(e))
            return None
        await self.memory.add(MemoryRecord(m.condition_id, m.question, a.rationale[:500], a.probability,
                                           a.confidence, q.mid, self.ctx.clock(), tuple(emb)))
        if a.confidence > 0:  # scored later against the price the market had now
            self.accuracy.predict(m.condition_id, a.probability, m.yes_token_id, market_p=q.mid,
                                  ts_ms=self.ctx.clock())
            await self.ctx.state_set(ACCURACY_KEY, self.accuracy.to_state())
        self.log.info("AI ANALYSIS", market=m.condition_id, probability=a.probability, confidence=a.confidence,
                      price=round(q.mid, 4), model=a.model, tokens=a.prompt_tokens + a.completion_tokens,
                      memories=len(memories))
        why = f"{a.model}: p={a.probability:.3f} vs price {q.mid:.3f}; {a.rationale}"[:300]
        sig = None
        if q.yes_ask is not None and a.probability - q.yes_ask / E6 > 0:
            sig = Signal("news", m.condition_id, m.yes_token_id, q.yes_ask, round(a.probability - q.yes_ask / E6, 6),
                         a.confidence, why)
        elif q.no_ask is not None and (1 - a.probability) - q.no_ask / E6 > 0:
            sig = Signal("news", m.condition_id, m.no_token_id, q.no_ask,
                         round((1 - a.probability) - q.no_ask / E6, 6), a.confidence, why)
        if sig is not None:
            self.signals["news"] = self.signals.get("news", 0) + 1
            if sig.edge >= self.p.minEdge and sig.confidence >= self.p.minConfidence:
                await self._trade(sig, t0)
        return sig

    async def news_cycle(self) -> None:
        n = self._news_batch()
        if not self.markets or n <= 0:
            return
        for _ in range(n):
            m = self.markets[self._news_rr % len(self.markets)]
            self._news_rr += 1
            headlines: list[Headline] = []
            if self.news is not None:
                query = " ".join(sorted(keywords(m.question))[:6])
                before = self.news.requests
                try:
                    headlines = await self.news.headlines(query)
                except NewsBudgetExceeded:
                    return
                except Exception as e:
                    self.errors += 1
                    self._count_request("newsapi", "error")
                    if self.ctx.metrics is not None:
                        self.ctx.metrics.api_errors.labels(self.ctx.bot, self.name, "newsapi", type(e).__name__).inc()
                    continue
                if self.news.requests > before:
                    self._count_request("newsapi", "2xx")
            if not headlines and self.analyzer.model == "offline":
                continue  # the offline analyzer has nothing to read
            await self.analyze_market(m, headlines)

    def _count_request(self, endpoint: str, code: str) -> None:
        if self.ctx.metrics is not None:
            self.ctx.metrics.api_requests.labels(self.ctx.bot, self.name, endpoint, code).inc()

    # -- orders ------------------------------------------------------------------------------
    def _holding(self, market: str) -> bool:
        info = self.ctx.markets.get(market) or next((m for m in self.markets if m.condition_id == market), None)
        if info is None:
            return False
        pos = self.tally.positions
        return pos.get(info.yes_token_id, 0) > 0 or pos.get(info.no_token_id, 0) > 0

    async def _trade(self, s: Signal, t0: int) -> None:
        if self._holding(s.market):
            return
        info = next((m for m in self.markets if m.condition_id == s.market), None)
        if info is None:
            return
        book = self.ctx.books.book(s.token_id)
        tick = book.tick_size_e6 if book is not None else info.tick_size_e6
        usd = min(self.p.tradeSizeUsd, self.ctx.config.limits.maxOrderUsd)
        shares = round(usd * E6) * E6 // s.price_e6 // LOT_E6 * LOT_E6
        if shares < info.min_size_e6 or shares <= 0:
            return
        intent = OrderIntent(market=s.market, token_id=s.token_id, side="BUY", price_e6=s.price_e6, size_e6=shares,
                             order_type="FAK", tick_size_e6=tick, neg_risk=info.neg_risk,
                             group_id=f"polyai-{next(self._ids)}", reason=f"polyai:{s.kind}")
        opp = Opportunity(self.ctx.clock(), s.market, s.kind, s.edge, [s.token_id], [intent])
        self.opportunities.append(opp)
        self.tally.opportunities += 1
        m = self.ctx.metrics
        if m is not None:
            m.opportunities.labels(self.ctx.bot, self.name, s.kind).inc()
            m.edge.labels(self.ctx.bot, self.name, s.kind).observe(s.edge)
        self.log.info("POLYAI SIGNAL", market=s.market, kind=s.kind, edge=s.edge, confidence=s.confidence,
                      token=s.token_id, price=s.price_e6 / E6, shares=shares / E6, why=s.rationale)
        lat = self.ctx.perf_ns() - t0
        results = await until_final(self.ctx, await self.ctx.submit([intent], opp), self._stopped)
        self.latency.add_ns(lat)
        self.tally.record_results(results)
        filled = sum(r.filled_size_e6 for r in results)
        self.recent.append({"kind": s.kind, "market": s.market, "edge": s.edge, "confidence": s.confidence,
                            "filled": filled / E6})
        if filled:
            self.log.info("EXECUTED", market=s.market, kind=s.kind, shares=filled / E6, price=s.price_e6 / E6,
                          latency_us=round(lat / 1000, 1))
            if s.kind == "mean_reversion":  # sold when the price is back at the expected level
                self.exits[s.token_id] = (s.market, s.price_e6 + round(s.edge * E6))

    async def _save_accuracy(self) -> None:
        await self.ctx.state_set(ACCURACY_KEY, self.accuracy.to_state())

    def on_market_resolved(self, market: str, winning_asset_id: str) -> None:
        if market in self.accuracy.predictions:
            self.accuracy.resolve(market, winning_asset_id)
            self.tasks.spawn(self._save_accuracy())

    # -- lifecycle ---------------------------------------------------------------------------
    def _sample_ms(self) -> int:
        """Rolling-statistics sample period: 5 s, or a quarter of a shorter scan interval, at least 1 s."""
        return int(max(1_000, min(SAMPLE_MS, self.p.scanIntervalMinutes * 60_000 / 4)))

    async def tick(self) -> None:
        now = self.ctx.clock()
        if now - self._last_sample >= self._sample_ms():
            self._last_sample = now
            quotes = self._quotes()
            if now - self._last_scan >= self.p.scanIntervalMinutes * 60_000:
                self._last_scan = now
                await self.scan()  # judged against the history before this sample
            self._sample(quotes)
        elif now - self._last_scan >= self.p.scanIntervalMinutes * 60_000:
            self._last_scan = now
            await self.scan()
        if now - self._last_news >= self.p.newsIntervalMinutes * 60_000:
            self._last_news = now
            await self.news_cycle()
        if now - self._last_resolution >= RESOLUTION_CHECK_MS:
            self._last_resolution = now
            await self.check_resolutions()

    async def check_resolutions(self) -> None:
        """Score predictions of markets Gamma reports closed (a missed `market_resolved`)."""
        pending = list(self.accuracy.predictions)
        if not pending or self.ctx.http is None or self.ctx.backtest:
            return
        try:
            # one attempt: the next check retries (ten minutes on)
            gamma = GammaClient(self.ctx.gamma_url, session=self.ctx.http, max_retries=0)
            winners = await gamma.resolutions(pending)
        except Exception as e:
            self.errors += 1
            self._count_request("gamma/markets", "error")
            self.log.warning("resolution check failed", error=type(e).__name__)
            return
        self._count_request("gamma/markets", "2xx")
        for cid, token in winners.items():
            self.on_market_resolved(cid, token)

    async def run(self) -> None:
        while not self._stopped.is_set():
            try:
                await self.tick()
            except Exception as e:  # one failed cycle must not end the strategy
                self.errors += 1
                self.log.error("polyai cycle failed", error=f"{type(e).__name__}: {e}"[:300])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), timeout=1.0)

    async def stop(self) -> None:
        self._stopped.set()
        await self.tasks.drain()
        close = getattr(self.analyzer, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
        with contextlib.suppress(Exception):
            await self.memory.close()

    async def drain(self) -> None:
        await self.tasks.drain()

    def pnl_e6(self) -> int:
        value = 0
        for tok, q in self.tally.positions.items():
            b = self.ctx.books.book(tok)
            bb = b.best_bid() if b is not None and q > 0 else None
            if bb is not None:
                value += q * bb[0] // E6
        return self.tally.cash_e6 + value

    def snapshot(self) -> dict[str, Any]:
        acc = self.accuracy.accuracy
        snap: dict[str, Any] = {
            "strategy": self.name,
            "markets": len(self.markets),
            "opportunities": self.tally.opportunities,
            "orders": self.tally.orders,
            "fills": self.tally.fills,
            "pnl_usd": round(self.pnl_e6() / E6, 6),
            "latency_us": self.latency.percentiles(),
            "signals": dict(sorted(self.signals.items())),
            "analyzer": self.analyzer.model,
            "ai_accuracy": round(acc, 4) if acc is not None else None,   # hit rate (guide: > 65%)
            "ai_resolved": self.accuracy.correct + self.accuracy.wrong,
            "ai_brier": _r(self.accuracy.brier),                     # 0 perfect, 0.25 coin flip
            "market_brier": _r(self.accuracy.market_brier),          # the price at prediction time
            "ai_skill": _r(self.accuracy.skill),                     # market Brier - AI Brier: > 0 beats it
            "errors": self.errors,
            "recent": list(self.recent)[-10:],
        }
        tokens = getattr(self.analyzer, "tokens", None)
        if tokens is not None:
            snap["llm_tokens"] = dict(tokens)
            snap["llm_cost_usd"] = round(float(getattr(self.analyzer, "cost", 0.0)), 6)
        if self.news is not None:
            snap["news_requests_today"] = self.news.used_today
        return snap
