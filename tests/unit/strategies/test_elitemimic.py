"""EliteMimic: whale-trade parsing, copy sizing/pricing, AI gate, dedupe and outcome tracking."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot_runtime.ai.offline import OfflineAnalyzer
from bot_runtime.ai.types import AnalysisRequest
from bot_runtime.contract.config import BotConfig
from bot_runtime.marketdata.store import BookStore
from bot_runtime.strategies import get_strategy
from bot_runtime.strategies.base import StrategyContext
from bot_runtime.strategies.elitemimic.logic import (
    TradeParseError,
    WhaleTrade,
    copy_won,
    parse_data_api_trade,
    plan_copy,
)
from bot_runtime.types import Opportunity, OrderIntent, OrderResult
from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.gamma import market_from_gamma

CID = "0x" + "22" * 32
YES, NO = "501", "502"
WHALE = "0x" + "ab" * 20


def item(**kw: Any) -> dict[str, Any]:
    d = {"proxyWallet": WHALE, "side": "BUY", "asset": YES, "conditionId": CID, "size": 4000, "price": 0.5,
         "usdcSize": 2000, "timestamp": 1_700_000_000, "transactionHash": "0xfeed", "type": "TRADE"}
    d.update(kw)
    return d


def trade(**kw: Any) -> WhaleTrade:
    t = parse_data_api_trade(item(**kw))
    assert t is not None
    return t


KW: dict[str, Any] = dict(copy_ratio=0.5, max_copy_usd=500.0, max_order_usd=250.0, max_slippage=0.02, max_age_s=120,
          min_whale_usd=1000.0, tick_e6=10_000, min_size_e6=5 * E6)
NOW = 1_700_000_010_000


def test_parse_activity_and_trades_items() -> None:
    t = trade()
    assert (t.side, t.token_id, t.price_e6, t.shares_e6, t.usd_e6, t.ts_ms) == (
        "BUY", YES, 500_000, 4000 * E6, 2000 * E6, 1_700_000_000_000)
    # /trades items carry no usdcSize: size x price
    d = item(size="100", price=".45")
    d.pop("usdcSize")
    t2 = parse_data_api_trade(d)
    assert t2 is not None and t2.usd_e6 == 45 * E6
    assert parse_data_api_trade(item(type="REDEEM")) is None
    with pytest.raises(TradeParseError, match="side"):
        parse_data_api_trade(item(side="HOLD"))
    with pytest.raises(TradeParseError, match="price"):
        parse_data_api_trade(item(price="abc"))


def test_copy_size_is_the_smallest_of_ratio_cap_and_risk_limit() -> None:
    d = plan_copy(trade(), NOW, **KW)  # 0.5 x $2000 = $1000, cap $500, risk limit $250 -> $250
    assert d.result == "copy" and d.plan is not None
    assert d.plan.price_e6 == 510_000  # 0.50 + 2% = 0.51
    assert d.plan.shares_e6 == 490_190_000  # $250 / 0.51, rounded down to 0.01 share
    d = plan_copy(trade(usdcSize=300, size=600), NOW, **{**KW, "min_whale_usd": 100})  # 0.5 x 300 = 150
    assert d.plan is not None and d.plan.usd_e6 <= 150 * E6 and d.plan.shares_e6 == 294_110_000


def test_limit_price_rounds_to_the_safe_side_of_the_tick() -> None:
    d = plan_copy(trade(price=0.333), NOW, **KW)  # 0.333 * 1.02 = 0.33966 -> 0.33 (down for a buy)
    assert d.plan is not None and d.plan.price_e6 == 330_000
    d = plan_copy(trade(side="SELL", price=0.333), NOW, **KW, held_e6=100 * E6)  # 0.32634 -> 0.33 (up)
    assert d.plan is not None and d.plan.price_e6 == 330_000 and d.plan.shares_e6 == 100 * E6
    d = plan_copy(trade(price=0.995), NOW, **{**KW, "tick_e6": 1000})
    assert d.plan is not None and d.plan.price_e6 == 999_000  # capped at 1 - tick


def test_skips_stale_small_moved_unheld_and_tiny() -> None:
    assert plan_copy(trade(), NOW + 200_000, **KW).result == "skipped_stale"
    assert plan_copy(trade(usdcSize=999), NOW, **KW).result == "skipped_small"
    assert plan_copy(trade(), NOW, **KW, best_e6=520_000).result == "skipped_price"  # ask beyond 0.51
    assert plan_copy(trade(), NOW, **KW, best_e6=505_000).result == "copy"
    assert plan_copy(trade(side="SELL"), NOW, **KW).result == "skipped_no_position"
    assert plan_copy(trade(), NOW, **{**KW, "max_order_usd": 2.0}).result == "skipped_size"


def test_copy_outcome() -> None:
    assert copy_won("BUY", YES, YES) and not copy_won("BUY", YES, NO)
    assert copy_won("SELL", YES, NO) and not copy_won("SELL", YES, YES)


async def test_offline_analyzer_is_deterministic_and_prefers_big_fresh_trades() -> None:
    a = OfflineAnalyzer()

    def req(usd: float, price: float, age: float) -> AnalysisRequest:
        return AnalysisRequest(CID, "Q?", price, "copy", facts={"usd": usd, "price": price, "age_s": age,
                                                                 "side": "BUY"})

    big = await a.analyze(req(20_000, 0.5, 5))
    assert big == await a.analyze(req(20_000, 0.5, 5))
    small = await a.analyze(req(150, 0.5, 5))
    extreme = await a.analyze(req(20_000, 0.98, 5))
    old = await a.analyze(req(20_000, 0.5, 600))
    assert big.confidence > small.confidence and big.confidence > extreme.confidence
    assert big.confidence > old.confidence and 0 <= extreme.confidence <= 100


class FakeExec:
    def __init__(self, fill_ratio: float = 1.0) -> None:
        self.intents: list[OrderIntent] = []
        self.ratio = fill_ratio

    async def submit(self, intents: list[OrderIntent], opp: Opportunity) -> list[OrderResult]:
        self.intents += intents
        return [OrderResult(f"c{len(self.intents)}", i, "matched", "o", int(i.size_e6 * self.ratio) // 10_000 * 10_000,
                            i.price_e6, 0) for i in intents]


def make(exe: FakeExec, now: list[int], **params: Any) -> Any:
    cfg = BotConfig.model_validate({"name": "t", "strategy": "elitemimic", "params": {"wallets": [WHALE], **params}})
    info = market_from_gamma({"conditionId": CID, "question": "Will it rain?", "clobTokenIds": json.dumps([YES, NO]),
                              "orderPriceMinTickSize": 0.01, "orderMinSize": 5})
    ctx = StrategyContext(config=cfg, params=cfg.strategy_params(), books=BookStore(), markets={CID: info},
                          submit=exe.submit, clock=lambda: now[0])
    s = get_strategy("elitemimic")(ctx)
    s.select_markets([info])
    return s


async def test_strategy_copies_once_and_tracks_the_outcome() -> None:
    exe, now = FakeExec(), [NOW]
    s = make(exe, now, minAiConfidence=50)
    s.feed_whale_trades([item(), item()])  # the same trade twice (e.g. two polls)
    s.feed_whale_trades([item(proxyWallet="0x" + "cd" * 20, transactionHash="0xother")])  # not watched
    await s.drain()
    assert len(exe.intents) == 1
    i = exe.intents[0]
    assert (i.side, i.token_id, i.price_e6, i.order_type, i.market) == ("BUY", YES, 510_000, "FAK", CID)
    snap = s.snapshot()
    assert snap["decisions"] == {"copied": 1, "skipped_duplicate": 1} and snap["fills"] == 1
    s.on_market_resolved(CID, YES)
    assert s.snapshot()["copy_outcomes"] == {"win": 1, "loss": 0} and s.snapshot()["copy_success"] == 1.0
    assert s.whales[WHALE] == {"trades": 1, "wins": 1, "losses": 0}


async def test_ai_gate_and_staleness_block_copies() -> None:
    exe, now = FakeExec(), [NOW]
    s = make(exe, now, minAiConfidence=99)
    s.feed_whale_trades([item()])
    await s.drain()
    now[0] = NOW + 10 * 60_000
    s.feed_whale_trades([item(transactionHash="0x2")])
    await s.drain()
    assert not exe.intents
    assert s.snapshot()["decisions"] == {"skipped_ai": 1, "skipped_stale": 1}
