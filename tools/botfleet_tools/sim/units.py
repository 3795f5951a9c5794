"""Fixed-point units: prices, shares and collateral are integers of 1e-6 (6 decimals on chain).

Integers keep the matching engine exact; strings on the wire are rendered the way Polymarket
renders them (no trailing zeros).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from bot_runtime.venue.polymarket.constants import E6 as UNIT


def to_units(value: str | float | int | Decimal) -> int:
    """Decimal value (e.g. "0.52", ".48", 10) -> integer micro-units, rounded half up."""
    try:
        d = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal number: {value!r}") from exc
    return int((d * UNIT).to_integral_value(rounding=ROUND_HALF_UP))


def fmt(units: int) -> str:
    """Micro-units -> shortest decimal string: 500000 -> "0.5", 200000000 -> "200"."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), UNIT)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:06d}".rstrip("0")


def to_float(units: int) -> float:
    return units / UNIT


def mul_units(a: int, b: int) -> int:
    """(a * b) for two micro-unit numbers, rounded half up: shares x price -> collateral."""
    q, r = divmod(a * b, UNIT)
    return q + (1 if 2 * r >= UNIT else 0)
