"""Sizing under a per-leg budget that binds in the middle of a level (a former hang)."""

from __future__ import annotations

from bot_runtime.strategies.arbhunter.logic import plan_set
from bot_runtime.venue.polymarket.constants import E6


def test_budget_binding_mid_level_terminates_and_respects_the_budget() -> None:
    books = [
        [(170_000, 250 * E6), (180_000, 300 * E6)],
        [(300_000, 100 * E6), (310_000, 300 * E6)],
        [(250_000, 100 * E6), (260_000, 300 * E6)],
        [(200_000, 100 * E6), (210_000, 300 * E6)],
    ]
    plan = plan_set("BUY", ["a", "b", "c", "d"], books, [40_000] * 4, [10_000] * 4,
                    threshold_ppm=5_000, budget_e6=100 * E6, min_size_e6=5 * E6)
    assert plan is not None
    # The dearest leg (0.30 then 0.31) caps the size: $100 buys at most 100/0.30 shares of it.
    assert plan.shares_e6 <= 100 * E6 * E6 // 300_000
    for leg in plan.legs:
        assert leg.cost_e6 <= 100 * E6
