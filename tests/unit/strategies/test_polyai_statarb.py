"""PolyAI's stat-arb relations: event sums, nested thresholds, calendars, mean reversion."""

from __future__ import annotations

import json
from typing import Any

from bot_runtime.strategies.polyai.statarb import (
    Quote,
    RollingStats,
    calendar_signals,
    event_sum_signals,
    mean_reversion_signal,
    nested_signals,
)
from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.gamma import MarketInfo, market_from_gamma


def mk(i: int, question: str, end: str = "2027-01-01", **kw: Any) -> MarketInfo:
    return market_from_gamma({"conditionId": f"0x{i:064x}", "question": question, "endDate": end,
                              "clobTokenIds": json.dumps([f"{i}1", f"{i}0"]), **kw})


def q(m: MarketInfo, bid: float, ask: float) -> Quote:
    return Quote(m, round(bid * E6), round(ask * E6), round((1 - bid) * E6))


def test_event_sum_buys_the_cheapest_relative_to_fair() -> None:
    ev: dict[str, Any] = {"negRisk": True, "negRiskMarketID": "0xev",
                          "eventOutcomeIds": [f"0x{i:064x}" for i in (1, 2, 3)]}
    a, b, c = mk(1, "A wins?", **ev), mk(2, "B wins?", **ev), mk(3, "C wins?", **ev)
    # mids 0.50 + 0.30 + 0.30 = 1.10: every outcome is rich; NO of the richest is the buy
    sigs = event_sum_signals([q(a, 0.49, 0.51), q(b, 0.29, 0.31), q(c, 0.29, 0.31)])
    assert len(sigs) == 1
    s = sigs[0]
    assert s.kind == "event_sum" and s.token_id == "10" and s.group == "0xev"  # NO of A
    # fair(A) = 0.5/1.1 = 0.4545; NO fair 0.5455, NO ask = 1 - 0.49 = 0.51 -> edge 0.0355
    assert abs(s.edge - 0.035455) < 1e-5 and 80 <= s.confidence <= 100
    # consistent prices: nothing
    assert event_sum_signals([q(a, 0.39, 0.41), q(b, 0.29, 0.31), q(c, 0.29, 0.31)]) == []
    # binary markets are not events
    assert event_sum_signals([q(mk(4, "X?"), 0.2, 0.3)]) == []


def test_event_sum_ignores_incomplete_events() -> None:
    """Two of three outcomes quoted (the third not accepting orders, cut, or unknown): their mids
    rescaled to 1 would call both cheap: no signal. Augmented events never give one either."""
    ids = [f"0x{i:064x}" for i in (1, 2, 3)]
    ev: dict[str, Any] = {"negRisk": True, "negRiskMarketID": "0xev", "eventOutcomeIds": ids}
    a, b = mk(1, "A wins?", **ev), mk(2, "B wins?", **ev)
    c_closed = mk(3, "C wins?", acceptingOrders=False, **ev)
    assert event_sum_signals([q(a, 0.29, 0.31), q(b, 0.19, 0.21)]) == []
    assert event_sum_signals([q(a, 0.29, 0.31), q(b, 0.19, 0.21), q(c_closed, 0.4, 0.6)]) == []
    unknown = {"negRisk": True, "negRiskMarketID": "0xev"}
    assert event_sum_signals([q(mk(i, f"{i}?", **unknown), 0.29, 0.31) for i in (1, 2, 3)]) == []
    aug = ev | {"negRiskAugmented": True}
    assert event_sum_signals([q(mk(i, f"{i}?", **aug), 0.29, 0.31) for i in (1, 2, 3)]) == []
    # the same three outcomes, complete: the rich one is sold (NO bought)
    full = [q(mk(i, f"{i}?", **ev), b, b + 0.02) for i, b in ((1, 0.49), (2, 0.29), (3, 0.29))]
    assert len(event_sum_signals(full)) == 1


def test_nested_thresholds_must_be_ordered() -> None:
    lo = mk(1, "Will BTC be above $100,000 on Dec 31?")
    hi = mk(2, "Will BTC be above $120,000 on Dec 31?")
    sigs = nested_signals([q(lo, 0.39, 0.41), q(hi, 0.49, 0.51)], min_gap=0.03)
    assert len(sigs) == 1 and sigs[0].kind == "nested"
    # fair = 0.45 for both: buy YES of the easier at 0.41 (edge .04) or NO of the harder at .51 (edge .04)
    assert abs(sigs[0].edge - 0.04) < 1e-9
    assert nested_signals([q(lo, 0.49, 0.51), q(hi, 0.39, 0.41)], min_gap=0.03) == []  # ordered: fine
    down_lo = mk(3, "Will CPI be below 2% in June?")
    down_hi = mk(4, "Will CPI be below 3% in June?")
    # "below 2%" cannot be likelier than "below 3%"
    sigs = nested_signals([q(down_lo, 0.59, 0.61), q(down_hi, 0.39, 0.41)], min_gap=0.03)
    assert len(sigs) == 1 and sigs[0].market in (down_lo.condition_id, down_hi.condition_id)


def test_calendar_later_deadline_is_at_least_as_likely() -> None:
    early = mk(1, "Will the bill pass by June 30?", end="2027-06-30")
    late = mk(2, "Will the bill pass by December 31?", end="2027-12-31")
    sigs = calendar_signals([q(early, 0.59, 0.61), q(late, 0.49, 0.51)], min_gap=0.03)
    assert len(sigs) == 1 and sigs[0].kind == "calendar"
    assert sigs[0].token_id in (late.yes_token_id, early.no_token_id) and sigs[0].edge > 0.03
    assert calendar_signals([q(early, 0.49, 0.51), q(late, 0.59, 0.61)], min_gap=0.03) == []


def test_mean_reversion_needs_history_and_a_real_deviation() -> None:
    m = mk(1, "Rain?")
    st = RollingStats(window=20)
    for i in range(20):
        st.add(0.50 + (0.01 if i % 2 else -0.01))
    assert mean_reversion_signal(q(m, 0.50, 0.51), st) is None  # within the noise
    s = mean_reversion_signal(q(m, 0.59, 0.60), st)  # +9 sd: buy NO
    assert s is not None and s.token_id == m.no_token_id and s.kind == "mean_reversion"
    assert abs(s.edge - ((1 - (0.595 - 0.5 * 0.095)) - 0.41)) < 1e-6
    s = mean_reversion_signal(q(m, 0.40, 0.41), st)  # -9 sd: buy YES
    assert s is not None and s.token_id == m.yes_token_id
    short = RollingStats()
    short.add(0.5)
    assert mean_reversion_signal(q(m, 0.9, 0.91), short) is None
