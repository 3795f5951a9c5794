"""Value types shared by strategies, the risk engine, the executor and the exchanges.

Money is exact: prices and sizes are integers in millionths ("e6"), as on the wire (6 decimals for
collateral and outcome tokens). 0.52 -> 520_000; 10 shares -> 10_000_000.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot_runtime.venue.polymarket.constants import E6

Side = Literal["BUY", "SELL"]
OrderType = Literal["GTC", "GTD", "FOK", "FAK"]
OrderStatus = Literal[
    "pending",   # journaled, not yet acknowledged by the exchange
    "live",      # resting on the book
    "matched",   # fully filled
    "partial",   # partly filled, remainder canceled (FAK) or still live
    "unmatched", # killed (FOK/FAK without a fill)
    "canceled",
    "rejected",  # refused by the risk engine or the exchange
    "error",     # outcome unknown: reconciled from the exchange on the next pass
    "unsent",    # journaled but never reached the exchange (found by reconciliation)
]

# Results the exchange has not made final: a delayed order (`pending`) or a POST whose answer was
# lost (`error`). Either may still fill in full; nothing is settled, hedged or unwound on them.
UNRESOLVED: tuple[str, ...] = ("pending", "error")


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """One order a strategy wants. The risk engine approves it, the executor journals then sends it."""

    market: str          # condition id (0x...)
    token_id: str        # asset id (decimal string)
    side: Side
    price_e6: int        # limit price
    size_e6: int         # shares
    order_type: OrderType = "GTC"
    tick_size_e6: int = 10_000
    neg_risk: bool = False
    post_only: bool = False
    expiration_s: int = 0      # GTD only
    group_id: str = ""         # legs of one opportunity share a group id
    reason: str = ""           # e.g. "arb:binary", "copy:0xwhale", "polyai:news"
    # FOK/FAK BUY only: the dollars to spend (the exchange reads a market BUY's amount as dollars,
    # spent best price first up to `price_e6`). A strategy that walked the book passes the walked
    # cost, so the order buys `size_e6` shares; 0 = price x size (right for one level).
    amount_e6: int = 0

    @property
    def notional_e6(self) -> int:
        """Collateral at risk: the market BUY's dollars, else price x size, in e6 USD."""
        if self.amount_e6 and self.side == "BUY" and self.order_type in ("FOK", "FAK"):
            return self.amount_e6
        return self.price_e6 * self.size_e6 // E6


@dataclass(slots=True)
class OrderResult:
    client_id: str
    intent: OrderIntent
    status: OrderStatus
    order_id: str = ""          # exchange id (the order hash on Polymarket)
    filled_size_e6: int = 0
    avg_price_e6: int = 0
    fee_e6: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class Fill:
    trade_id: str
    order_id: str
    market: str
    token_id: str
    side: Side
    price_e6: int
    size_e6: int
    fee_e6: int
    ts_ms: int


@dataclass(slots=True)
class Opportunity:
    """What a strategy found, for logs, metrics and reports (`botfleet backtest --report`)."""

    ts_ms: int
    market: str
    kind: str                  # "binary" | "negrisk" | "statarb" | "news" | "copy" ...
    edge: float                # expected profit per $1 after fees
    assets: list[str] = field(default_factory=list)
    intents: list[OrderIntent] = field(default_factory=list)
