"""The risk engine's decisions, one reason at a time, and the persistent kill switch."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot_runtime.contract.params import Limits
from bot_runtime.execution import risk
from bot_runtime.execution.journal import SqliteJournal
from bot_runtime.execution.risk import Decision, RiskEngine, RiskState, daily_pnl_e6, utc_midnight_ms
from bot_runtime.types import OrderIntent
from bot_runtime.venue.polymarket.constants import E6

LIMITS = Limits(maxOrderUsd=100, maxPositionPerMarketUsd=300, maxTotalExposureUsd=500, maxDailyLossUsd=50,
                maxOpenOrders=4)
FRESH = {"0xa": 10, "0xb": 10}


def leg(market: str = "0xa", side: str = "BUY", price: float = 0.5, size: float = 100) -> OrderIntent:
    return OrderIntent(market=market, token_id="1", side=side, price_e6=round(price * E6),  # type: ignore[arg-type]
                       size_e6=round(size * E6))


def state(**kw: object) -> RiskState:
    return replace(RiskState(data_age_ms=FRESH), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("intents,st,reason", [
    ([leg()], state(), risk.APPROVED),
    ([], state(), risk.EMPTY_GROUP),
    ([leg()], state(paused=True), risk.PAUSED),
    ([leg(size=201)], state(), risk.MAX_ORDER_USD),                       # $100.50 > $100
    ([leg(size=200)], state(), risk.APPROVED),                            # exactly $100
    ([leg(), leg(size=0)], state(), risk.INVALID_INTENT),
    ([leg()], state(data_age_ms={"0xa": 5000}), risk.STALE_DATA),
    ([leg(market="0xc")], state(), risk.STALE_DATA),                      # no book at all
    ([leg()], state(open_orders=4), risk.MAX_OPEN_ORDERS),
    ([leg(), leg()], state(open_orders=3), risk.MAX_OPEN_ORDERS),
    ([leg()], state(position_usd_e6={"0xa": 200 * E6}, open_buy_usd_e6={"0xa": 60 * E6}), risk.MAX_POSITION_USD),
    ([leg(side="SELL")], state(position_usd_e6={"0xa": 300 * E6}), risk.APPROVED),  # selling never adds
    ([leg(), leg(market="0xb")], state(position_usd_e6={"0xa": 250 * E6, "0xb": 200 * E6}),
     risk.MAX_TOTAL_EXPOSURE_USD),
    ([leg()], state(daily_pnl_e6=-50 * E6), risk.DAILY_LOSS),
])
def test_decisions(intents: list[OrderIntent], st: RiskState, reason: str) -> None:
    d = RiskEngine(LIMITS).check(intents, st)
    assert d.reason == reason and bool(d) == (reason == risk.APPROVED), d
    assert reason == risk.APPROVED or reason in risk.REASONS


def test_group_is_judged_as_a_whole() -> None:
    # Each leg alone fits the per-market limit, together they do not: the whole group is refused.
    engine = RiskEngine(LIMITS)
    st = state(position_usd_e6={"0xa": 150 * E6})
    assert engine.check([leg()], st).approved
    d = engine.check([leg(), leg(), leg(), leg()], st)
    assert d == Decision(False, risk.MAX_POSITION_USD, d.detail)
    assert engine.check([leg(), leg(size=300)], st).leg == 1


def test_kill_switch_trips_persists_and_resets(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.sqlite")
    engine = RiskEngine(LIMITS, j)
    assert not engine.observe_pnl(-49 * E6)
    assert engine.observe_pnl(-50 * E6)
    assert not engine.observe_pnl(-80 * E6)          # already tripped: not a new trip
    assert engine.check([leg()], state()).reason == risk.KILL_SWITCH
    restarted = RiskEngine(LIMITS, SqliteJournal(tmp_path / "j.sqlite"))
    assert restarted.tripped and restarted.kill_reason == risk.DAILY_LOSS
    assert restarted.check([leg()], state(daily_pnl_e6=10)).reason == risk.KILL_SWITCH
    restarted.reset("alice")
    assert RiskEngine(LIMITS, j).check([leg()], state()).approved
    assert [e.kind for e in j.events()] == ["kill_switch_tripped", "kill_switch_reset"]


def test_daily_pnl_anchor(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.sqlite")
    day1 = 1_764_000_000_000
    assert utc_midnight_ms(day1) % 86_400_000 == 0 and 0 <= day1 - utc_midnight_ms(day1) < 86_400_000
    # unrealised +10 at the first look of the day is the baseline
    assert daily_pnl_e6(0, 10 * E6, j, day1) == 0
    assert daily_pnl_e6(-5 * E6, 4 * E6, j, day1 + 1000) == -11 * E6
    # next day: new baseline
    assert daily_pnl_e6(0, 4 * E6, j, day1 + 86_400_000) == 0
    assert daily_pnl_e6(0, 1 * E6, None, day1) == 0
