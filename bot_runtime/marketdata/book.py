"""One token's order book, in exact integer micro units (value * 1e6).

Prices and sizes arrive as decimal strings (".48", "219.217767"); floats would make
"0.1 + 0.2" style errors leak into edge calculations, so every number is an int of
millionths. Collateral and outcome tokens both have 6 decimals, so 1e6 is exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sortedcontainers import SortedDict

from bot_runtime.venue.polymarket.frames import BUY, SELL, Level


class OrderBook:
    """Bids and asks of one asset (token), keyed by price.

    The best bid / ask are cached so reading them is O(1); a SortedDict keeps
    the removal of the best level O(log n). Wire sort order is never trusted.
    """

    __slots__ = (
        "_asks",
        "_best_ask",
        "_best_bid",
        "_bids",
        "asset_id",
        "hash",
        "last_trade_price_e6",
        "last_update_ms",
        "market",
        "min_order_size_e6",
        "neg_risk",
        "received_ms",
        "synced",
        "tick_size_e6",
    )

    def __init__(
        self,
        asset_id: str,
        market: str = "",
        *,
        tick_size_e6: int = 10_000,
        min_order_size_e6: int = 0,
        neg_risk: bool = False,
    ) -> None:
        self.asset_id = asset_id
        self.market = market
        self.tick_size_e6 = tick_size_e6
        self.min_order_size_e6 = min_order_size_e6
        self.neg_risk = neg_risk
        self._bids: SortedDict = SortedDict()
        self._asks: SortedDict = SortedDict()
        self._best_bid: Level | None = None
        self._best_ask: Level | None = None
        # exchange timestamp of the last applied event, and local receipt time (ms)
        self.last_update_ms = 0
        self.received_ms = 0
        self.hash = ""
        self.last_trade_price_e6: int | None = None
        # False until a full snapshot is applied, and again after a disconnect:
        # incremental updates on top of a stale book would be wrong
        self.synced = False

    # -- reading ---------------------------------------------------------------------
    def best_bid(self) -> Level | None:
        return self._best_bid

    def best_ask(self) -> Level | None:
        return self._best_ask

    def bids_desc(self) -> Iterator[Level]:
        """Bid levels from best (highest) to worst."""
        bids = self._bids
        for p in reversed(bids.keys()):
            yield p, bids[p]

    def asks_asc(self) -> Iterator[Level]:
        """Ask levels from best (lowest) to worst."""
        asks = self._asks
        for p in asks:
            yield p, asks[p]

    def depth(self) -> tuple[int, int]:
        """Number of (bid, ask) levels."""
        return len(self._bids), len(self._asks)

    def size_at(self, side: str, price_e6: int) -> int:
        book = self._bids if side == BUY else self._asks
        size: int = book.get(price_e6, 0)
        return size

    def mid_e6(self) -> int | None:
        bb, ba = self._best_bid, self._best_ask
        if bb is None or ba is None:
            return None
        return (bb[0] + ba[0]) // 2

    def levels(self) -> tuple[list[Level], list[Level]]:
        """(bids best-first, asks best-first): for comparisons and debugging."""
        return list(self.bids_desc()), list(self.asks_asc())

    # -- writing ---------------------------------------------------------------------
    def apply_snapshot(
        self, bids: Iterable[Level], asks: Iterable[Level], ts_ms: int, hash: str = ""
    ) -> None:
        """Replace the whole book. Zero-size levels are dropped; duplicates: last wins."""
        self._bids = SortedDict({p: s for p, s in bids if s > 0})
        self._asks = SortedDict({p: s for p, s in asks if s > 0})
        self._best_bid = self._bids.peekitem(-1) if self._bids else None
        self._best_ask = self._asks.peekitem(0) if self._asks else None
        self.last_update_ms = ts_ms
        self.hash = hash
        self.synced = True

    def apply_level(self, side: str, price_e6: int, size_e6: int) -> None:
        """Set the NEW TOTAL size at a price level; size 0 removes the level."""
        if side == BUY:
            bids = self._bids
            bb = self._best_bid
            if size_e6 > 0:
                bids[price_e6] = size_e6
                if bb is None or price_e6 >= bb[0]:
                    self._best_bid = (price_e6, size_e6)
            elif size_e6 == 0:
                if bids.pop(price_e6, None) is not None and bb is not None and bb[0] == price_e6:
                    self._best_bid = bids.peekitem(-1) if bids else None
            else:
                raise ValueError(f"negative size {size_e6} at price {price_e6}")
        elif side == SELL:
            asks = self._asks
            ba = self._best_ask
            if size_e6 > 0:
                asks[price_e6] = size_e6
                if ba is None or price_e6 <= ba[0]:
                    self._best_ask = (price_e6, size_e6)
            elif size_e6 == 0:
                if asks.pop(price_e6, None) is not None and ba is not None and ba[0] == price_e6:
                    self._best_ask = asks.peekitem(0) if asks else None
            else:
                raise ValueError(f"negative size {size_e6} at price {price_e6}")
        else:
            raise ValueError(f"side must be 'BUY' or 'SELL', got {side!r}")

    def invalidate(self) -> None:
        """Mark the book as not trustworthy until the next snapshot (levels are kept)."""
        self.synced = False

    def clear(self) -> None:
        self._bids = SortedDict()
        self._asks = SortedDict()
        self._best_bid = None
        self._best_ask = None
        self.synced = False

    def __repr__(self) -> str:
        return (
            f"OrderBook({self.asset_id[:12]}.., bid={self._best_bid}, ask={self._best_ask}, "
            f"depth={self.depth()}, synced={self.synced})"
        )
