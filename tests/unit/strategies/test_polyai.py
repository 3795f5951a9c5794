"""PolyAI's shell over a real BookStore with a virtual clock and a fake executor (offline analyzer)."""

from __future__ import annotations

import json
from typing import Any

from bot_runtime.contract.config import BotConfig
from bot_runtime.marketdata.store import BookStore
from bot_runtime.strategies import get_strategy
from bot_runtime.strategies.base import StrategyContext
from bot_runtime.types import Opportunity, OrderIntent, OrderResult
from bot_runtime.venue.polymarket.gamma import market_from_gamma


class FakeExec:
    def __init__(self) -> None:
        self.intents: list[OrderIntent] = []

    async def submit(self, intents: list[OrderIntent], opp: Opportunity) -> list[OrderResult]:
        self.intents += intents
        return [OrderResult("c", i, "matched", "o", i.size_e6, i.price_e6) for i in intents]


def gm(i: int, q: str, **kw: Any) -> dict[str, Any]:
    return {"conditionId": f"0x{i:064x}", "question": q, "clobTokenIds": json.dumps([f"{i}1", f"{i}0"]),
            "orderPriceMinTickSize": 0.01, "orderMinSize": 5, "endDate": "2027-01-01", **kw}


def setup(markets: list[dict[str, Any]], now: list[int], held: dict[str, tuple[int, int]] | None = None,
          **params: Any) -> tuple[Any, BookStore, FakeExec]:
    cfg = BotConfig.model_validate({"name": "p", "strategy": "polyai", "params": params})
    infos = [market_from_gamma(m) for m in markets]
    store = BookStore()
    store.add_markets(infos)
    exe = FakeExec()
    ctx = StrategyContext(config=cfg, params=cfg.strategy_params(), books=store,
                          markets={m.condition_id: m for m in infos}, submit=exe.submit, clock=lambda: now[0],
                          backtest=True, held=lambda: held or {})
    s = get_strategy("polyai")(ctx)
    s.select_markets(infos)
    return s, store, exe


def quote(store: BookStore, i: int, bid: float, ask: float, ts: int) -> None:
    for tok, b, a in ((f"{i}1", bid, ask), (f"{i}0", 1 - ask, 1 - bid)):
        store.apply_raw(json.dumps({"event_type": "book", "asset_id": tok, "market": f"0x{i:064x}",
                                    "timestamp": str(ts), "bids": [{"price": f"{b:.2f}", "size": "500"}],
                                    "asks": [{"price": f"{a:.2f}", "size": "500"}]}), ts)


async def test_event_sum_scan_trades_once_per_market() -> None:
    now = [1_000_000]
    ev = {"negRisk": True, "negRiskMarketID": "0xev", "eventOutcomeIds": [f"0x{i:064x}" for i in (1, 2, 3)]}
    s, store, exe = setup([gm(1, "A?", **ev), gm(2, "B?", **ev), gm(3, "C?", **ev)], now,
                          minConfidence=50, minEdge=0.02, tradeSizeUsd=20)
    quote(store, 1, 0.49, 0.51, now[0])
    quote(store, 2, 0.29, 0.31, now[0])
    quote(store, 3, 0.29, 0.31, now[0])
    await s.tick()
    assert len(exe.intents) == 1
    i = exe.intents[0]
    assert (i.token_id, i.side, i.price_e6, i.order_type) == ("10", "BUY", 510_000, "FAK")  # NO of A
    assert i.size_e6 == 39_210_000  # $20 / 0.51 in 0.01 lots
    snap = s.snapshot()
    assert snap["opportunities"] == 1 and snap["signals"]["event_sum"] == 1 and snap["analyzer"] == "offline"
    now[0] += 5 * 60_000  # next scan: the signal is still there but we already hold the market
    await s.tick()
    assert len(exe.intents) == 1


async def test_one_position_guard_survives_a_restart() -> None:
    """The journal says NO of A is held (a previous run bought it): the same signal buys nothing."""
    now = [1_000_000]
    ev = {"negRisk": True, "negRiskMarketID": "0xev", "eventOutcomeIds": [f"0x{i:064x}" for i in (1, 2, 3)]}
    s, store, exe = setup([gm(1, "A?", **ev), gm(2, "B?", **ev), gm(3, "C?", **ev)], now,
                          held={"10": (39_210_000, 20 * 1_000_000)}, minConfidence=50, minEdge=0.02, tradeSizeUsd=20)
    quote(store, 1, 0.49, 0.51, now[0])
    quote(store, 2, 0.29, 0.31, now[0])
    quote(store, 3, 0.29, 0.31, now[0])
    await s.tick()
    assert exe.intents == [] and s.tally.positions == {"10": 39_210_000}


async def test_confidence_and_edge_bars() -> None:
    now = [1_000_000]
    ev = {"negRisk": True, "negRiskMarketID": "0xev", "eventOutcomeIds": [f"0x{i:064x}" for i in (1, 2)]}
    s, store, exe = setup([gm(1, "A?", **ev), gm(2, "B?", **ev)], now, minConfidence=95, minEdge=0.02)
    quote(store, 1, 0.50, 0.55, now[0])  # wide spreads: confidence ~50
    quote(store, 2, 0.60, 0.65, now[0])
    await s.tick()
    assert exe.intents == [] and s.snapshot()["signals"]
    s2, store2, exe2 = setup([gm(1, "A?", **ev), gm(2, "B?", **ev)], now, minConfidence=0, minEdge=0.5)
    quote(store2, 1, 0.50, 0.51, now[0])
    quote(store2, 2, 0.60, 0.61, now[0])
    await s2.tick()
    assert exe2.intents == []


async def test_mean_reversion_after_a_jump_on_the_virtual_clock() -> None:
    now = [1_000_000]
    s, store, exe = setup([gm(1, "Rain tomorrow?")], now, minConfidence=40, minEdge=0.02, scanIntervalMinutes=1)
    for k in range(40):  # 40 samples, 5 s apart, oscillating around 0.50
        mid_bid = 0.49 if k % 2 else 0.48
        quote(store, 1, mid_bid, mid_bid + 0.02, now[0])
        await s.tick()
        now[0] += 5_000
    assert exe.intents == []
    quote(store, 1, 0.62, 0.63, now[0])  # jump far above the rolling mean
    now[0] += 60_000
    await s.tick()
    assert [(i.token_id, i.side) for i in exe.intents] == [("10", "BUY")]  # buy NO: expect reversion
    assert s.snapshot()["signals"].get("mean_reversion") == 1
    bought = exe.intents[0]
    target = s.exits["10"][1]
    assert bought.price_e6 < target < 1_000_000
    quote(store, 1, 0.60, 0.61, now[0])  # not back yet: NO bid 0.39 below the target: held
    now[0] += 60_000
    await s.tick()
    assert len(exe.intents) == 1
    quote(store, 1, 0.50, 0.51, now[0])  # reverted: NO bid 0.49 >= target -> sold (before: never sold)
    now[0] += 60_000
    await s.tick()
    sell = exe.intents[1]
    assert (sell.token_id, sell.side, sell.order_type, sell.size_e6) == ("10", "SELL", "FAK", bought.size_e6)
    assert sell.price_e6 == target // 10_000 * 10_000 and s.tally.positions["10"] == 0 and not s.exits


async def test_accuracy_on_resolved_markets() -> None:
    now = [1_000_000]
    s, _store, _exe = setup([gm(1, "A?"), gm(2, "B?")], now)
    s.accuracy.predict(f"0x{1:064x}", 0.8, "11")
    s.accuracy.predict(f"0x{2:064x}", 0.3, "21")
    s.on_market_resolved(f"0x{1:064x}", "11")  # predicted YES, YES won
    s.on_market_resolved(f"0x{2:064x}", "21")  # predicted NO, YES won
    assert s.snapshot()["ai_accuracy"] == 0.5 and s.snapshot()["ai_resolved"] == 2


def test_live_mode_refuses_an_ai_strategy_without_an_llm() -> None:
    from types import SimpleNamespace

    import pytest as _pytest

    from bot_runtime.ai.factory import AnalyzerUnavailable, make_analyzer
    from bot_runtime.ai.offline import OfflineAnalyzer

    def ctx(mode: str, key: str = "") -> Any:
        return SimpleNamespace(backtest=False, config=SimpleNamespace(mode=mode), strategy_name="polyai", bot="b",
                               metrics=None, secret=lambda k: key)

    with _pytest.raises(AnalyzerUnavailable, match="OPENAI_API_KEY"):
        make_analyzer(ctx("live"))
    assert isinstance(make_analyzer(ctx("paper")), OfflineAnalyzer)  # paper: the offline analyzer
    assert isinstance(make_analyzer(ctx("live"), required=False), OfflineAnalyzer)  # no AI gate: not needed
    llm = make_analyzer(ctx("live"), base_url="http://127.0.0.1:9/v1")  # a self-hosted endpoint, no key
    assert not isinstance(llm, OfflineAnalyzer)
    assert not isinstance(make_analyzer(ctx("live", "sk-test")), OfflineAnalyzer)


def test_brier_score_against_the_market_price_at_prediction_time() -> None:
    from bot_runtime.ai.accuracy import AccuracyTracker

    t = AccuracyTracker()
    t.predict("a", 0.8, "a-yes", market_p=0.6)   # YES wins: AI (0.2)^2 = 0.04, market (0.4)^2 = 0.16
    t.predict("b", 0.3, "b-yes", market_p=0.5)   # YES wins: AI (0.7)^2 = 0.49, market 0.25
    t.predict("c", 0.1, "c-yes")                 # NO wins, no price: AI 0.01 only in the AI's own score
    assert t.resolve("a", "a-yes") is True and t.resolve("b", "b-yes") is False and t.resolve("c", "c-no") is True
    assert abs(t.brier - (0.04 + 0.49 + 0.01) / 3) < 1e-12  # type: ignore[operator]
    assert abs(t.market_brier - (0.16 + 0.25) / 2) < 1e-12  # type: ignore[operator]
    assert abs(t.skill - ((0.16 + 0.25) - (0.04 + 0.49)) / 2) < 1e-12  # type: ignore[operator]
    assert t.accuracy == 2 / 3
    again = AccuracyTracker()
    again.load_state(t.to_state())
    assert (again.brier, again.market_brier, again.accuracy) == (t.brier, t.market_brier, t.accuracy)
    again.load_state({"v": 99})  # an unknown state leaves it as it was
    assert again.scored == 3


async def test_prediction_scores_survive_a_restart(tmp_path: Any) -> None:
    """The scores live in the journal (kv): a new PolyAI on the same journal continues them."""
    from bot_runtime.execution.journal import SqliteJournal

    journal = SqliteJournal(tmp_path / "j.sqlite")

    async def state_set(key: str, value: Any) -> None:
        journal.kv_set(f"strategy:{key}", value)

    def build() -> Any:
        cfg = BotConfig.model_validate({"name": "p", "strategy": "polyai"})
        infos = [market_from_gamma(gm(i, f"{i}?")) for i in (1, 2)]
        ctx = StrategyContext(config=cfg, params=cfg.strategy_params(), books=BookStore(),
                              markets={m.condition_id: m for m in infos}, submit=FakeExec().submit,
                              clock=lambda: 0, backtest=True, state_dir=str(tmp_path),
                              state_get=lambda k: journal.kv_get(f"strategy:{k}"), state_set=state_set)
        return get_strategy("polyai")(ctx)

    s = build()
    s.accuracy.predict(f"0x{1:064x}", 0.8, "11", market_p=0.6)
    s.accuracy.predict(f"0x{2:064x}", 0.7, "21", market_p=0.5)
    s.on_market_resolved(f"0x{1:064x}", "11")
    await s.drain()
    s2 = build()  # a restart: the first market's score and the open prediction are still there
    assert s2.accuracy.scored == 1 and f"0x{2:064x}" in s2.accuracy.predictions
    s2.on_market_resolved(f"0x{2:064x}", "20")  # NO won
    await s2.drain()
    snap = build().snapshot()
    assert snap["ai_resolved"] == 2 and snap["ai_accuracy"] == 0.5
    assert snap["ai_brier"] == round((0.04 + 0.49) / 2, 6) and snap["market_brier"] == round((0.16 + 0.25) / 2, 6)
    journal.close()


async def test_a_delayed_order_counts_when_the_exchange_says_it_filled() -> None:
    """The exchange answered `delayed`: PolyAI waits for the final word, so the fill is held and
    the one-position guard sees it (before: counted as nothing filled, the market traded again)."""
    now = [1_000_000]
    ev = {"negRisk": True, "negRiskMarketID": "0xev", "eventOutcomeIds": [f"0x{i:064x}" for i in (1, 2, 3)]}
    s, store, exe = setup([gm(1, "A?", **ev), gm(2, "B?", **ev), gm(3, "C?", **ev)], now,
                          minConfidence=50, minEdge=0.02, tradeSizeUsd=20)

    async def delayed(intents: list[OrderIntent], opp: Opportunity) -> list[OrderResult]:
        exe.intents += intents
        return [OrderResult("c", i, "pending", "o") for i in intents]

    async def resolve(results: list[OrderResult]) -> list[OrderResult]:
        return [OrderResult(r.client_id, r.intent, "matched", r.order_id, r.intent.size_e6, r.intent.price_e6)
                for r in results]

    s.ctx.submit, s.ctx.resolve = delayed, resolve
    for i, (b, a) in enumerate(((0.49, 0.51), (0.29, 0.31), (0.29, 0.31)), start=1):
        quote(store, i, b, a, now[0])
    await s.tick()
    assert len(exe.intents) == 1 and s.tally.positions == {"10": exe.intents[0].size_e6}
    now[0] += 5 * 60_000
    await s.tick()
    assert len(exe.intents) == 1  # held: not bought again
