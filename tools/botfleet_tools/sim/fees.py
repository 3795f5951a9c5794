"""Polymarket taker fees: fee = shares * feeRate * p * (1 - p), paid by the taker only."""

from __future__ import annotations

from fractions import Fraction

from .units import UNIT

# Rates by market category (Polymarket fee schedule); unknown categories use DEFAULT_FEE_RATE.
CATEGORY_FEE_RATES: dict[str, float] = {
    "crypto": 0.07,
    "sports": 0.03,
    "finance": 0.04,
    "politics": 0.04,
    "economics": 0.05,
    "culture": 0.05,
    "weather": 0.05,
    "geopolitics": 0.0,
}
DEFAULT_FEE_RATE = 0.05


def fee_rate_for(category: str) -> float:
    return CATEGORY_FEE_RATES.get(category.lower(), DEFAULT_FEE_RATE)


def taker_fee_units(shares_units: int, price_units: int, fee_rate: float) -> int:
    """Fee in collateral micro-units, rounded half up to the micro-unit (6 decimals)."""
    if fee_rate <= 0 or shares_units <= 0:
        return 0
    p = Fraction(price_units, UNIT)
    fee = Fraction(shares_units) * Fraction(str(fee_rate)) * p * (1 - p)
    q, r = divmod(fee.numerator, fee.denominator)
    return q + (1 if 2 * r >= fee.denominator else 0)


def taker_fee(shares: float, price: float, fee_rate: float) -> float:
    """Float convenience for reports and strategies: fee in USD."""
    return shares * fee_rate * price * (1 - price)
