"""ArbHunter's pure decisions: fees, level walking, ticks, sizes, sell side and repair."""

from __future__ import annotations

from bot_runtime.strategies.arbhunter.logic import (
    LegFill,
    plan_repair,
    plan_set,
    round_up_to_tick,
    valid_price,
)
from bot_runtime.venue.polymarket.constants import E6


def lv(*pairs: tuple[float, float]) -> list[tuple[int, int]]:
    return [(round(p * E6), round(s * E6)) for p, s in pairs]


def buy(yes, no, *, rate=0, threshold=0.005, budget=1000.0, min_size=5.0, ticks=(10_000, 10_000)):
    return plan_set("BUY", ("Y", "N"), (lv(*yes), lv(*no)), (rate, rate), ticks,
                    round(threshold * E6), round(budget * E6), round(min_size * E6))


def test_binary_complement_found_and_sized_by_depth() -> None:
    plan = buy([(0.40, 50), (0.45, 50), (0.60, 100)], [(0.50, 80), (0.52, 100)])
    assert plan is not None
    # 50 @ .40+.50, 30 @ .45+.50, 20 @ .45+.52, then .60+.52 > 1
    assert plan.shares_e6 == 100 * E6
    assert [leg.limit_price_e6 for leg in plan.legs] == [450_000, 520_000]
    assert plan.legs[0].cost_e6 == 20 * E6 + 22_500_000
    assert plan.legs[1].cost_e6 == 40 * E6 + 10_400_000
    assert plan.profit_e6 == 100 * E6 - 42_500_000 - 50_400_000
    assert abs(plan.edge - 0.071) < 1e-9


def test_budget_caps_each_leg() -> None:
    plan = buy([(0.40, 50), (0.45, 50)], [(0.50, 80)], budget=20.0)
    assert plan is not None
    assert plan.shares_e6 == 40 * E6  # NO leg: $20 / 0.50
    assert all(leg.cost_e6 <= 20 * E6 for leg in plan.legs)


def test_fees_remove_a_thin_edge_but_not_at_the_extremes() -> None:
    # 0.49 + 0.50 = 0.99: 1% gross, but 7% fees near 0.5 cost about 3.5%
    assert buy([(0.49, 100)], [(0.50, 100)], rate=70_000) is None
    assert buy([(0.49, 100)], [(0.50, 100)], rate=0) is not None
    # 0.02 + 0.97 = 0.99: fees near p=0 and p=1 are tiny (0.34%), edge 0.66% clears 0.5% ...
    plan = buy([(0.02, 100)], [(0.97, 100)], rate=70_000)
    assert plan is not None and 0.0065 < plan.edge < 0.0067
    # ... but not 0.7%
    assert buy([(0.02, 100)], [(0.97, 100)], rate=70_000, threshold=0.007) is None


def test_threshold_is_strict_and_sets_at_par_are_not_arbitrage() -> None:
    assert buy([(0.50, 100)], [(0.50, 100)], threshold=0.001) is None
    # exactly 1 - threshold is not below it
    assert buy([(0.495, 100)], [(0.50, 100)], threshold=0.005, ticks=(1000, 1000)) is None
    assert buy([(0.494, 100)], [(0.50, 100)], threshold=0.005, ticks=(1000, 1000)) is not None


def test_minimum_size_and_lot_rounding() -> None:
    assert buy([(0.40, 4.99)], [(0.50, 100)], min_size=5) is None
    plan = buy([(0.40, 7.123456)], [(0.50, 100)], min_size=5)
    assert plan is not None and plan.shares_e6 == 7_120_000  # 0.01-share lots, rounded down


def test_empty_side_is_no_opportunity() -> None:
    assert buy([], [(0.5, 10)]) is None


def test_limit_price_is_rounded_to_the_current_tick() -> None:
    # a level left on a finer grid after the tick grew: the buy limit rounds up onto the grid
    plan = buy([(0.455, 100)], [(0.50, 100)], ticks=(10_000, 10_000))
    assert plan is not None and plan.legs[0].limit_price_e6 == 460_000
    assert round_up_to_tick(455_000, 1_000) == 455_000
    assert not valid_price(1_000_000, 10_000) and not valid_price(0, 10_000) and valid_price(990_000, 10_000)
    # 0.995 rounds up to 1.00, which is not a valid price: no order
    assert buy([(0.001, 100)], [(0.995, 100)], ticks=(10_000, 10_000)) is None


def test_negrisk_multi_outcome_buys_every_outcome() -> None:
    books = (lv((0.30, 40)), lv((0.30, 60), (0.31, 100)), lv((0.35, 100)))
    plan = plan_set("BUY", ("A", "B", "C"), books, (0, 0, 0), (10_000,) * 3, 5_000, 1000 * E6, 5 * E6)
    assert plan is not None
    assert plan.shares_e6 == 40 * E6  # outcome A has only 40
    assert abs(plan.edge - 0.05) < 1e-9
    # one outcome short of a complete set is not an arbitrage
    assert plan_set("BUY", ("A",), books[:1], (0,), (10_000,), 5_000, 1000 * E6, 5 * E6) is None


def test_sell_side_needs_inventory_and_bids_above_one() -> None:
    bids = (lv((0.55, 100), (0.50, 100)), lv((0.50, 100), (0.40, 50)))
    plan = plan_set("SELL", ("Y", "N"), bids, (0, 0), (10_000, 10_000), 5_000, 1000 * E6, 5 * E6,
                    inventory_e6=30 * E6)
    assert plan is not None and plan.shares_e6 == 30 * E6
    assert plan.profit_e6 == 1_500_000 and [leg.limit_price_e6 for leg in plan.legs] == [550_000, 500_000]
    assert plan_set("SELL", ("Y", "N"), bids, (0, 0), (10_000, 10_000), 5_000, 1000 * E6, 5 * E6,
                    inventory_e6=0) is None


def test_repair_hedges_when_cheap_and_unwinds_otherwise() -> None:
    fills = [LegFill("Y", 100 * E6, 450_000), LegFill("N", 0, 0)]
    r = plan_repair(fills, [460_000, 520_000], [0, 0], max_loss_e6=0)
    assert r.action == "hedge" and r.orders == (("N", 100 * E6),)
    r = plan_repair(fills, [460_000, 600_000], [0, 0], max_loss_e6=E6)
    assert r.action == "unwind" and r.orders == (("Y", 100 * E6),)
    # no ask to hedge with: unwind
    assert plan_repair(fills, [460_000, None], [0, 0], 10 * E6).action == "unwind"
    # partial: 60 vs 100 -> 40 excess
    r = plan_repair([LegFill("Y", 100 * E6, 450_000), LegFill("N", 60 * E6, 500_000)],
                    [None, 510_000], [0, 0], 0)
    assert r.action == "hedge" and r.orders == (("N", 40 * E6),)
    assert plan_repair([LegFill("Y", E6, 1), LegFill("N", E6, 1)], [None, None], [0, 0], 0).action == "none"
