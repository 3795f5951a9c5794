"""Polymarket taker fees (docs/venue.md#fees): only takers pay, `fee = shares * rate * p * (1 - p)`.

One function in integer e6 units with one rounding rule (half up to the micro-dollar, what the
venue and the simulator charge); rates travel as parts per million (`rate_ppm = rate * 1e6`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from bot_runtime.venue.polymarket.constants import E6

# Taker fee rate by market category; markets with fees have `feesEnabled: true`.
CATEGORY_FEE_RATES: Final[dict[str, float]] = {
    "crypto": 0.07,
    "sports": 0.03,
    "finance": 0.04,
    "politics": 0.04,
    "economics": 0.05,
    "economy": 0.05,
    "culture": 0.05,
    "pop-culture": 0.05,
    "weather": 0.05,
    "geopolitics": 0.0,
}
DEFAULT_FEE_RATE: Final = 0.05   # what the simulator charges a category the table does not name
MAX_FEE_RATE_PPM: Final = 70_000  # the highest rate: assumed when a fee market's rate is unknown
_E18: Final = E6 * E6 * E6


def taker_fee_e6(shares_e6: int, price_e6: int, rate_ppm: int) -> int:
    """Taker fee in micro-dollars of `shares_e6` at `price_e6`, rounded half up."""
    if rate_ppm <= 0 or shares_e6 <= 0:
        return 0
    q, r = divmod(shares_e6 * rate_ppm * price_e6 * (E6 - price_e6), _E18)
    return q + (1 if 2 * r >= _E18 else 0)


def rate_ppm(fee_rate: float) -> int:
    """A decimal rate (0.07) -> parts per million (70_000)."""
    return max(0, round(fee_rate * E6))


def rate_ppm_from_bps(bps: int | float | str) -> int:
    """The wire's `fee_rate_bps` / `base_fee` (basis points) -> parts per million."""
    return max(0, round(float(bps) * 100))


def rate_bps(fee_rate: float) -> int:
    """A decimal rate -> the wire's basis points (`fee_rate_bps`)."""
    return max(0, round(fee_rate * 10_000))


def rate_ppm_of(fees_enabled: bool, fee_rate: float | None) -> int:
    """A market's rate in ppm; an unknown rate on a fee market is taken as the highest."""
    if not fees_enabled:
        return 0
    if fee_rate is None:
        return MAX_FEE_RATE_PPM
    return rate_ppm(fee_rate)


def category_fee_rate(category: str, tags: Iterable[str] = ()) -> float | None:
    """Fee rate from the category, else from the first tag that names one; None if unknown."""
    for name in (category, *tags):
        key = name.strip().lower().replace(" ", "-")
        if key in CATEGORY_FEE_RATES:
            return CATEGORY_FEE_RATES[key]
    return None


def fee_rate_for(category: str) -> float:
    """The simulator's rate of a category: the table's, else DEFAULT_FEE_RATE."""
    rate = category_fee_rate(category)
    return DEFAULT_FEE_RATE if rate is None else rate
