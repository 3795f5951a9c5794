"""One token's order book: price levels holding resting orders in time priority."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from sortedcontainers import SortedDict

Side = Literal["BUY", "SELL"]


@dataclass(eq=False)
class Order:
    """A live or finished order. Amounts are micro-units (see units.py)."""

    id: str
    owner: str  # API key, or an internal name ("mm:...", "whale:...") for scenario traders
    maker: str  # wallet address whose funds the order uses
    token: str
    market: str  # condition id
    side: Side
    price: int  # limit price
    size: int  # original size in shares
    order_type: str  # GTC | GTD | FOK | FAK
    created_ms: int
    post_only: bool = False
    expiration: int = 0  # unix seconds, GTD only
    max_cost: int | None = None  # FOK/FAK BUY: collateral budget (makerAmount)
    internal: bool = False
    account: str = ""  # lower-case address of the API key's owner: cancels and queries go by account
    filled: int = 0  # shares matched so far
    spent: int = 0  # collateral paid (BUY) or received (SELL) so far, before fees
    status: str = "LIVE"  # LIVE | MATCHED | CANCELED | INVALID
    trade_ids: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return self.size - self.filled

    @property
    def is_open(self) -> bool:
        return self.status == "LIVE" and self.remaining > 0


@dataclass
class Level:
    """Orders at one price; dict insertion order is time priority, removal is O(1)."""

    orders: dict[str, Order] = field(default_factory=dict)
    total: int = 0


class OrderBook:
    def __init__(self, token: str, market: str) -> None:
        self.token = token
        self.market = market
        self.bids: SortedDict = SortedDict()  # price -> Level
        self.asks: SortedDict = SortedDict()

    def _side(self, side: Side) -> SortedDict:
        return self.bids if side == "BUY" else self.asks

    def best_bid(self) -> int | None:
        return self.bids.peekitem(-1)[0] if self.bids else None

    def best_ask(self) -> int | None:
        return self.asks.peekitem(0)[0] if self.asks else None

    def add(self, order: Order) -> None:
        levels = self._side(order.side)
        level = levels.get(order.price)
        if level is None:
            level = levels[order.price] = Level()
        level.orders[order.id] = order
        level.total += order.remaining

    def remove(self, order: Order) -> None:
        levels = self._side(order.side)
        level = levels.get(order.price)
        if level is None or order.id not in level.orders:
            return
        del level.orders[order.id]
        level.total -= order.remaining
        if not level.orders:
            del levels[order.price]

    def reduce(self, order: Order, shares: int) -> None:
        """Account for a fill of a resting order (call before updating order.filled)."""
        level = self._side(order.side)[order.price]
        level.total -= shares

    def level_total(self, side: Side, price: int) -> int:
        level = self._side(side).get(price)
        return level.total if level else 0

    def crossing_levels(self, taker_side: Side, limit: int) -> Iterator[tuple[int, Level]]:
        """Opposite levels a taker with this limit can trade with, best first."""
        if taker_side == "BUY":
            for price in list(self.asks.irange(maximum=limit)):
                yield price, self.asks[price]
        else:
            for price in list(self.bids.irange(minimum=limit, reverse=True)):
                yield price, self.bids[price]

    def snapshot(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids ascending, asks descending): the best level is LAST, as on Polymarket."""
        bids = [(p, lv.total) for p, lv in self.bids.items() if lv.total > 0]
        asks = [(p, lv.total) for p, lv in reversed(self.asks.items()) if lv.total > 0]
        return bids, asks
