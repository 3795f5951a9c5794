"""Kubernetes resource quantities ("250m", "1Gi", "1e3") as exact numbers, to compare requests with limits.

The grammar of k8s.io/apimachinery's resource.Quantity (what the CRD's patterns admit): a decimal
number, then a binary suffix (Ki..Ei), a decimal one (n, u, m, k, M..E) or an exponent (e3, E-2).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}


def parse_quantity(quantity: str | int | float) -> Decimal:
    """The quantity's value (a Decimal: "100m" is exactly 0.1); ValueError naming it when malformed."""
    if isinstance(quantity, int | float):
        return Decimal(quantity)
    text = str(quantity).strip()
    if text[-2:] in _BINARY:
        number, scale = text[:-2], Decimal(2) ** _BINARY[text[-2:]]
    elif text[-1:] in _DECIMAL and text[-1:] != "":
        number, scale = text[:-1], Decimal(10) ** _DECIMAL[text[-1:]]
    else:  # no suffix, or an exponent: Decimal reads "1e3" and "1E-2" itself
        number, scale = text, Decimal(1)
    try:
        value = Decimal(number)
    except InvalidOperation:
        raise ValueError(f"{quantity!r} is not a Kubernetes quantity (e.g. 250m, 512Mi, 1e3)") from None
    if not value.is_finite():
        raise ValueError(f"{quantity!r} is not a Kubernetes quantity (e.g. 250m, 512Mi, 1e3)")
    return value * scale
