"""What a signed order means to the exchange and how it takes liquidity: one set of rules for the
simulator, the paper engine and the backtest, so the three agree on every order.

Polymarket (docs/venue.md#orders-clob-v2): a BUY's makerAmount is collateral and its takerAmount shares; a
SELL the reverse. A limit order (GTC/GTD) trades `shares` at its price or better. A market order
(FOK/FAK) BUY *spends makerAmount dollars*, best price first, never above the price implied by
maker/taker (the worst level the client walked); a market SELL sells makerAmount shares. FOK fills
completely or not at all; FAK takes what there is and cancels the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from bot_runtime.venue.polymarket.constants import E6

MARKET_TYPES = ("FOK", "FAK")


@dataclass(frozen=True, slots=True)
class OrderTerms:
    side: str                 # "BUY" | "SELL"
    order_type: str           # GTC | GTD | FOK | FAK
    limit_e6: int             # worst price the order accepts
    shares_e6: int            # shares to trade (market BUY: the takerAmount, a floor at the limit)
    budget_e6: int | None     # market BUY: collateral to spend; None: trade `shares_e6`

    @property
    def market(self) -> bool:
        return self.order_type in MARKET_TYPES

    def crosses(self, price_e6: int) -> bool:
        """Does a resting level at this price trade with the order?"""
        return price_e6 <= self.limit_e6 if self.side == "BUY" else price_e6 >= self.limit_e6


def nearest_tick(ratio: Fraction, tick_e6: int) -> int:
    """The tick nearest to a maker/taker ratio (the client's amount rounding leaves it a hair off)."""
    units = ratio * E6
    return int((units / tick_e6 + Fraction(1, 2)) // 1) * tick_e6


def terms_of(side: str, order_type: str, maker_amount: int, taker_amount: int, tick_e6: int) -> OrderTerms:
    """Read a signed order's amounts (e6) as the exchange does. Raises ValueError on non-positive amounts."""
    if maker_amount <= 0 or taker_amount <= 0:
        raise ValueError("makerAmount and takerAmount must be positive")
    if side == "BUY":
        ratio, shares = Fraction(maker_amount, taker_amount), taker_amount
    elif side == "SELL":
        ratio, shares = Fraction(taker_amount, maker_amount), maker_amount
    else:
        raise ValueError(f"side {side!r}: must be BUY or SELL")
    market = order_type in MARKET_TYPES
    limit = nearest_tick(ratio, tick_e6) if market else int((ratio * E6 + Fraction(1, 2)) // 1)
    budget = maker_amount if (market and side == "BUY") else None
    return OrderTerms(side, order_type, limit, shares, budget)


def take_at(terms: OrderTerms, price_e6: int, available_e6: int, spent_e12: int, got_e6: int) -> int:
    """Shares the order takes from `available_e6` at one crossing level, having already spent
    `spent_e12` (collateral x 1e6, exact: sum of shares x price) or taken `got_e6` shares."""
    if terms.budget_e6 is not None:
        by_cost = (terms.budget_e6 * E6 - spent_e12) // price_e6
        return max(0, min(available_e6, by_cost))
    return max(0, min(available_e6, terms.shares_e6 - got_e6))


def cost_e6(shares_e6: int, price_e6: int) -> int:
    """Collateral of `shares_e6` at `price_e6` (floor)."""
    return shares_e6 * price_e6 // E6


def walk(terms: OrderTerms, levels: Iterable[tuple[int, int]]) -> tuple[list[tuple[int, int]], bool]:
    """Take liquidity from `levels` (opposite side, best first: (price, available shares)).
    Returns the fills [(price, shares)] and whether the order is complete: its shares all
    traded, or (budgeted BUY) its dollars spent down to less than one micro-share more."""
    fills: list[tuple[int, int]] = []
    spent = got = 0
    for price, available in levels:
        if not terms.crosses(price):
            break
        q = take_at(terms, price, available, spent, got)
        if q > 0:
            fills.append((price, q))
            spent += q * price
            got += q
        if complete(terms, spent, got, price):
            return fills, True
    return fills, False


def complete(terms: OrderTerms, spent_e12: int, got_e6: int, price_e6: int) -> bool:
    """Is nothing left to trade? (Budgeted BUY: not one more micro-share at `price_e6`.)"""
    if terms.budget_e6 is not None:
        return terms.budget_e6 * E6 - spent_e12 < price_e6
    return got_e6 >= terms.shares_e6
