"""The one taker-fee function: venue formula, half-up rounding, rate units, the category table."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.fees import (
    MAX_FEE_RATE_PPM,
    category_fee_rate,
    fee_rate_for,
    rate_ppm,
    rate_ppm_from_bps,
    rate_ppm_of,
    taker_fee_e6,
)


def test_formula_near_zero_and_one_is_symmetric_and_exact() -> None:
    # 100 shares at 1 cent, 7%: 100 * 0.07 * 0.01 * 0.99 = 0.0693
    assert taker_fee_e6(100 * E6, 10_000, 70_000) == 69_300
    assert taker_fee_e6(100 * E6, 990_000, 70_000) == 69_300
    # tick 0.001 at the edge: 100 * 0.07 * 0.001 * 0.999 = 0.006993
    assert taker_fee_e6(100 * E6, 1_000, 70_000) == 6_993
    assert taker_fee_e6(100 * E6, 500_000, 0) == 0 and taker_fee_e6(0, 500_000, 70_000) == 0


def test_rounding_is_half_up_to_the_micro_dollar() -> None:
    # 1.000001 shares at 0.01, 7%: 0.000693000693 -> 693 micro-dollars
    assert taker_fee_e6(1_000_001, 10_000, 70_000) == 693
    # 0.5 micro-dollar exactly: 2e-6 shares * 0.5 * 0.5 * 1.0 would need rate 1; use 0.04 at p=0.5:
    # 50 micro-shares * 0.04 * 0.25 = 0.5e-6 -> rounds up to 1
    assert taker_fee_e6(50, 500_000, 40_000) == 1
    assert taker_fee_e6(49, 500_000, 40_000) == 0


@given(st.integers(1, 10**12), st.integers(1, E6 - 1), st.sampled_from([0.03, 0.04, 0.05, 0.07, 0.0125]))
def test_matches_the_exact_rational_formula(shares_e6: int, price_e6: int, rate: float) -> None:
    # What the simulator charged before the venue module existed (exact fractions, half up).
    p = Fraction(price_e6, E6)
    exact = Fraction(shares_e6) * Fraction(str(rate)) * p * (1 - p)
    q, r = divmod(exact.numerator, exact.denominator)
    assert taker_fee_e6(shares_e6, price_e6, rate_ppm(rate)) == q + (1 if 2 * r >= exact.denominator else 0)


def test_rate_units() -> None:
    assert rate_ppm(0.07) == 70_000 and rate_ppm_from_bps(700) == 70_000 and rate_ppm_from_bps("250") == 25_000
    assert rate_ppm_of(False, 0.07) == 0
    assert rate_ppm_of(True, None) == MAX_FEE_RATE_PPM == 70_000  # unknown rate on a fee market: the highest
    assert rate_ppm_of(True, 0.03) == 30_000


def test_category_table() -> None:
    assert category_fee_rate("Crypto") == 0.07 and category_fee_rate("Pop Culture") == 0.05
    assert category_fee_rate("", ["sports"]) == 0.03 and category_fee_rate("unheard-of") is None
    assert fee_rate_for("geopolitics") == 0.0 and fee_rate_for("unheard-of") == 0.05
