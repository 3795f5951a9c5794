"""PaperMatchingExchange: paper trading against live books when only market data is available.

Orders match against the depth of the local book (what the market channel shows) by the fill
rules the simulator uses too (`venue.polymarket.fills`: a FOK/FAK BUY spends its dollar amount), at each
level's price, taking liquidity that this process already consumed out of the displayed size
until the book changes. Takers pay `shares * feeRate * p * (1 - p)`. A GTC/GTD remainder rests
in-process and fills (as a maker, no fee) once the book trades through its price. Balances are
checked like the exchange does: collateral for BUYs, shares for SELLs.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot_runtime.types import Fill
from bot_runtime.venue.polymarket.clob import CancelResult, OpenOrder, PostResult
from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.fees import taker_fee_e6
from bot_runtime.venue.polymarket.fills import OrderTerms, cost_e6, terms_of, walk
from bot_runtime.venue.polymarket.signing import SignedOrder


class BookView(Protocol):
    """What the paper engine reads from a market-data book (bot_runtime.marketdata.book.OrderBook)."""

    market: str

    def bids_desc(self) -> Iterator[tuple[int, int]]: ...

    def asks_asc(self) -> Iterator[tuple[int, int]]: ...


@dataclass
class _Resting:
    id: str
    market: str
    token_id: str
    side: str
    price_e6: int
    size_e6: int
    matched_e6: int = 0
    status: str = "live"

    def as_open(self) -> OpenOrder:
        return OpenOrder(self.id, self.market, self.token_id, self.side, self.price_e6, self.size_e6,
                         self.matched_e6, self.status)


class PaperMatchingExchange:
    def __init__(self, books: Callable[[str], BookView | None], *, fee_rate_ppm: Callable[[str], int] | None = None,
                 usdc_e6: int = 10_000 * E6, clock_ms: Callable[[], int] | None = None) -> None:
        self.books = books
        self.fee_rate_ppm = fee_rate_ppm or (lambda token: 0)
        self.usdc_e6 = usdc_e6
        self.shares: dict[str, int] = {}
        self._clock = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._orders: dict[str, _Resting] = {}
        # Bounded: a paper bot runs for weeks; duplicates are checked against the id set instead.
        self._fills: deque[Fill] = deque(maxlen=100_000)
        self._ids_with_fills: set[str] = set()
        # (token, side, price) -> (displayed size when we took from it, size taken): what we took stays
        # taken until the level changes on the feed
        self._consumed: dict[tuple[str, str, int], tuple[int, int]] = {}
        self._seq = itertools.count(1)

    # -- matching -------------------------------------------------------------------------------
    def _available(self, token: str, side: str, price: int, displayed: int) -> int:
        seen, used = self._consumed.get((token, side, price), (displayed, 0))
        return max(displayed - (used if seen == displayed else 0), 0)

    def _consume(self, token: str, side: str, price: int, displayed: int, size: int) -> None:
        key = (token, side, price)
        seen, used = self._consumed.get(key, (displayed, 0))
        self._consumed[key] = (displayed, (used if seen == displayed else 0) + size)

    def _levels(self, token: str, terms: OrderTerms) -> list[tuple[int, int, int]]:
        """(price, displayed, available) of the opposite side, best first, net of what we took."""
        book = self.books(token)
        if book is None:
            return []
        book_side = "SELL" if terms.side == "BUY" else "BUY"
        levels = book.asks_asc() if terms.side == "BUY" else book.bids_desc()
        return [(p, size, self._available(token, book_side, p, size)) for p, size in levels]

    def _match(self, token: str, terms: OrderTerms) -> tuple[list[tuple[int, int]], bool]:
        """Walk the book by the shared fill rules (venue.polymarket.fills.walk) and consume what was taken."""
        levels = self._levels(token, terms)
        fills, complete = walk(terms, ((p, avail) for p, _, avail in levels))
        if terms.order_type == "FOK" and not complete:
            return [], False
        displayed = {p: d for p, d, _ in levels}
        book_side = "SELL" if terms.side == "BUY" else "BUY"
        for price, take in fills:
            self._consume(token, book_side, price, displayed[price], take)
        return fills, complete

    def _fill(self, order_id: str, market: str, token: str, side: str, price: int, size: int, taker: bool) -> Fill:
        fee = taker_fee_e6(size, price, self.fee_rate_ppm(token)) if taker else 0
        fill = Fill(f"paper-{next(self._seq)}", order_id, market, token, side, price, size, fee,  # type: ignore[arg-type]
                    self._clock())
        notional = size * price // E6
        if side == "BUY":
            self.usdc_e6 -= notional + fee
            self.shares[token] = self.shares.get(token, 0) + size
        else:
            self.usdc_e6 += notional - fee
            self.shares[token] = self.shares.get(token, 0) - size
        self._fills.append(fill)
        self._ids_with_fills.add(order_id)
        return fill

    async def post_orders(self, orders: Sequence[SignedOrder]) -> list[PostResult]:
        return [self._post(o) for o in orders]

    def _post(self, so: SignedOrder) -> PostResult:
        o = so.order
        oid = so.order_hash
        if oid in self._orders or oid in self._ids_with_fills:
            return PostResult(oid, False, error=f"order {oid} is invalid. Duplicated.", http_status=400)
        token, side = str(o["tokenId"]), str(o["side"])
        book = self.books(token)
        tick = getattr(book, "tick_size_e6", None) or 10_000
        try:
            terms = terms_of(side, so.order_type, int(o["makerAmount"]), int(o["takerAmount"]), tick)
        except ValueError as exc:
            return PostResult(oid, False, error=f"invalid amounts: {exc}", http_status=400)
        market = book.market if book is not None else ""
        if side == "BUY":
            need = terms.budget_e6 if terms.budget_e6 is not None else cost_e6(terms.shares_e6, terms.limit_e6)
            if need > self.usdc_e6:
                return PostResult(oid, False, error="not enough balance / allowance", http_status=400)
        elif terms.shares_e6 > self.shares.get(token, 0):
            return PostResult(oid, False, error="not enough balance / allowance", http_status=400)
        if so.post_only and self._crosses(token, side, terms.limit_e6):
            return PostResult(oid, False, error="invalid post-only order: order crosses book", http_status=400)
        taken, complete = self._match(token, terms)
        if terms.order_type == "FOK" and not complete:
            return PostResult(oid, False, error="order couldn't be fully filled. FOK orders are fully filled "
                                                "or killed.", http_status=400)
        fills = [self._fill(oid, market, token, side, p, s, True) for p, s in taken]
        got = sum(s for _, s in taken)
        paid = sum(cost_e6(s, p) for p, s in taken)
        making, taking = (paid, got) if side == "BUY" else (got, paid)
        trade_ids = tuple(f.trade_id for f in fills)
        fee = sum(f.fee_e6 for f in fills)
        if terms.market:
            if not fills:
                return PostResult(oid, False, error="no orders found to match with FAK order", http_status=400)
            return PostResult(oid, True, oid, "matched", making, taking, trade_ids=trade_ids, fee_e6=fee)
        if complete:
            return PostResult(oid, True, oid, "matched", making, taking, trade_ids=trade_ids, fee_e6=fee)
        self._orders[oid] = _Resting(oid, market, token, side, terms.limit_e6, terms.shares_e6, got)
        return PostResult(oid, True, oid, "live", making, taking, trade_ids=trade_ids, fee_e6=fee)

    def level_changed(self, token: str, side: str, price_e6: int) -> None:
        """The feed changed this level: what we took from it is history, the size now shown is
        fresh liquidity (a level re-added with the same size is otherwise indistinguishable)."""
        self._consumed.pop((token, side, price_e6), None)

    def book_replaced(self, token: str) -> None:
        """A snapshot replaced the whole book of `token`."""
        for key in [k for k in self._consumed if k[0] == token]:
            del self._consumed[key]

    def _crosses(self, token: str, side: str, limit: int) -> bool:
        book = self.books(token)
        if book is None:
            return False
        best = next(iter(book.asks_asc() if side == "BUY" else book.bids_desc()), None)
        return best is not None and (best[0] <= limit if side == "BUY" else best[0] >= limit)

    def poke(self) -> list[Fill]:
        """Fill resting orders the book now trades through (as makers: no fee)."""
        new: list[Fill] = []
        for r in list(self._orders.values()):
            if r.status != "live":
                continue
            book = self.books(r.token_id)
            if book is None:
                continue
            best = next(iter(book.asks_asc() if r.side == "BUY" else book.bids_desc()), None)
            if best is None or (r.side == "BUY" and best[0] > r.price_e6) or (r.side == "SELL" and best[0] < r.price_e6):
                continue
            other = "SELL" if r.side == "BUY" else "BUY"
            size = min(r.size_e6 - r.matched_e6, self._available(r.token_id, other, best[0], best[1]))
            if size <= 0:
                continue
            self._consume(r.token_id, other, best[0], best[1], size)
            new.append(self._fill(r.id, r.market, r.token_id, r.side, r.price_e6, size, False))
            r.matched_e6 += size
            if r.matched_e6 >= r.size_e6:
                r.status = "matched"
        return new

    # -- the rest of the interface --------------------------------------------------------------
    async def cancel(self, order_ids: Sequence[str]) -> CancelResult:
        canceled, not_canceled = [], {}
        for oid in order_ids:
            r = self._orders.get(oid)
            if r is not None and r.status == "live":
                r.status = "canceled"
                canceled.append(oid)
            else:
                not_canceled[oid] = "order not found or already done"
        return CancelResult(canceled, not_canceled)

    async def cancel_all(self) -> CancelResult:
        return await self.cancel([oid for oid, r in self._orders.items() if r.status == "live"])

    async def open_orders(self) -> list[OpenOrder]:
        self.poke()
        return [r.as_open() for r in self._orders.values() if r.status == "live"]

    async def get_order(self, order_id: str) -> OpenOrder | None:
        r = self._orders.get(order_id)
        return r.as_open() if r is not None else None

    async def trades(self, since_s: int = 0) -> list[Fill]:
        self.poke()
        return [f for f in self._fills if f.ts_ms // 1000 >= since_s]

    async def heartbeat(self) -> None:
        pass

    async def close(self) -> None:
        pass
