"""All books of one bot: applies parsed events and tells listeners what changed.

Freshness is judged on the local clock (`recv_ms`: when the frame or a PONG arrived),
not on exchange timestamps, so clock skew cannot make stale data look fresh. In replay
no local clock exists, so `recv_ms` defaults to the frame's own timestamp, which keeps
backtests deterministic.

`book_age_ms` is THE answer to "may I trade on this book?" (risk engine, strategies, readiness,
the age gauge all derive from it). A book attached to a `FeedLink` (its websocket connection) is
as fresh as the last frame of any kind on that connection: frames on one connection are ordered,
so a PONG or another asset's update proves every earlier update of every book on it arrived. A
link the websocket client declared `stalled` (PONGs but no data while the exchange is known to be
trading) makes its books untradable until data resumes and they are rebuilt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bot_runtime.marketdata.book import OrderBook
from bot_runtime.venue.polymarket.frames import (
    BestBidAskEvent,
    BookEvent,
    Event,
    FrameError,
    LastTradePriceEvent,
    MarketResolvedEvent,
    PriceChangeEvent,
    TickSizeChangeEvent,
    event_timestamp_ms,
    parse_book,
    parse_frame,
)
from bot_runtime.venue.polymarket.gamma import MarketInfo
from bot_runtime.venue.polymarket.ws import FeedLink

log = logging.getLogger(__name__)

UpdateListener = Callable[[set[str]], None]
EventListener = Callable[[Event], None]
DesyncListener = Callable[[str], None]


@dataclass(slots=True)
class StoreStats:
    frames: int = 0
    bad_frames: int = 0
    events: int = 0
    snapshots: int = 0
    level_updates: int = 0
    updates_while_unsynced: int = 0  # applied, but the book is not trusted until a snapshot
    desyncs: int = 0  # our best bid/ask disagreed with the exchange's
    stale_snapshots_skipped: int = 0
    ignored_updates: int = 0  # for assets without a book (never snapshotted, or unsubscribed)
    listener_errors: int = 0


def _bid_matches(ours: tuple[int, int] | None, theirs: int | None) -> bool:
    if theirs is None:
        return True
    if ours is None:
        return theirs == 0
    return ours[0] == theirs


def _ask_matches(ours: tuple[int, int] | None, theirs: int | None) -> bool:
    if theirs is None:
        return True
    if ours is None:
        return theirs in (0, 1_000_000)  # empty ask side is reported as 0 or 1
    return ours[0] == theirs


class BookStore:
    def __init__(self, *, verify_best: bool = True) -> None:
        self.books: dict[str, OrderBook] = {}
        self.asset_market: dict[str, str] = {}  # token id -> condition id
        self.markets: dict[str, MarketInfo] = {}  # condition id -> metadata
        self.resolved: dict[str, str] = {}  # condition id -> winning token id
        self.stats = StoreStats()
        self.last_frame_ms = 0  # local time of the last frame or PONG, any connection
        self.last_data_ms = 0  # local time of the last market-data frame (PONGs excluded)
        # compare our best bid/ask with the ones the exchange attaches to price changes
        self.verify_best = verify_best
        self._update_listeners: list[UpdateListener] = []
        self._event_listeners: list[EventListener] = []
        self._desync_listeners: list[DesyncListener] = []
        self._dropped: set[str] = set()
        self._links: dict[str, FeedLink] = {}  # token id -> the connection carrying it

    # -- metadata --------------------------------------------------------------------
    def add_market(self, info: MarketInfo) -> None:
        self.markets[info.condition_id] = info
        for tok in info.token_ids:
            self.asset_market[tok] = info.condition_id
            book = self.books.get(tok)
            if book is None:
                book = self.books[tok] = OrderBook(tok, info.condition_id)
            book.market = info.condition_id
            book.tick_size_e6 = info.tick_size_e6
            book.min_order_size_e6 = info.min_size_e6
            book.neg_risk = info.neg_risk

    def add_markets(self, infos: Iterable[MarketInfo]) -> None:
        for i in infos:
            self.add_market(i)

    def remove_assets(self, asset_ids: Iterable[str]) -> None:
        """Forget these books (unsubscribed). Frames for them still in flight are ignored until
        `track()` is called for them again, so a late frame cannot resurrect a book nobody
        keeps current (it would make `data_age_ms` grow forever)."""
        for a in asset_ids:
            self.books.pop(a, None)
            self._links.pop(a, None)
            self._dropped.add(a)

    def track(self, asset_ids: Iterable[str]) -> None:
        """Accept frames for these assets again (subscribed anew)."""
        self._dropped.difference_update(asset_ids)

    def market_of(self, asset_id: str) -> MarketInfo | None:
        cid = self.asset_market.get(asset_id)
        return self.markets.get(cid) if cid else None

    def neg_risk_groups(self) -> dict[str, list[MarketInfo]]:
        """neg_risk_market_id -> the outcome markets of that event."""
        groups: dict[str, list[MarketInfo]] = {}
        for m in self.markets.values():
            if m.neg_risk and m.neg_risk_market_id:
                groups.setdefault(m.neg_risk_market_id, []).append(m)
        return groups

    def book(self, asset_id: str) -> OrderBook | None:
        return self.books.get(asset_id)

    get = book  # mapping-style alias

    def _ensure_book(self, asset_id: str, market: str) -> OrderBook:
        book = self.books.get(asset_id)
        if book is None:
            book = self.books[asset_id] = OrderBook(asset_id, market)
            if market:
                self.asset_market.setdefault(asset_id, market)
        return book

    # -- listeners -------------------------------------------------------------------
    def add_update_listener(self, fn: UpdateListener) -> None:
        """`fn(asset_ids)` after each frame that changed books; the set must not be kept or mutated."""
        self._update_listeners.append(fn)

    def add_event_listener(self, fn: EventListener) -> None:
        """`fn(event)` for non-book events: last_trade_price, market_resolved, new_market, ..."""
        self._event_listeners.append(fn)

    def add_desync_listener(self, fn: DesyncListener) -> None:
        """`fn(asset_id)` when a book disagreed with the exchange's best prices and needs a snapshot."""
        self._desync_listeners.append(fn)

    def _call(self, fns: list[Any], arg: Any) -> None:
        for fn in fns:
            try:
                fn(arg)
            except Exception:
                self.stats.listener_errors += 1
                log.exception("market data listener failed")

    # -- applying --------------------------------------------------------------------
    def apply_raw(self, raw: str | bytes, recv_ms: int | None = None) -> set[str]:
        """Parse and apply one frame; returns the assets whose books changed. Raises FrameError."""
        try:
            events = parse_frame(raw)
        except FrameError:
            self.stats.bad_frames += 1
            raise
        return self.apply_events(events, recv_ms)

    def apply_events(self, events: list[Event], recv_ms: int | None = None) -> set[str]:
        if recv_ms is None:
            recv_ms = event_timestamp_ms(events)
        stats = self.stats
        stats.frames += 1
        stats.events += len(events)
        if recv_ms > self.last_frame_ms:
            self.last_frame_ms = recv_ms
        if recv_ms > self.last_data_ms:
            self.last_data_ms = recv_ms
        touched: set[str] = set()
        books = self.books
        for ev in events:
            # exact-type checks: cheaper than isinstance on the hot path
            if type(ev) is PriceChangeEvent:
                self._apply_price_change(ev, recv_ms, touched)
            elif type(ev) is BookEvent:
                if ev.asset_id in self._dropped:
                    stats.ignored_updates += 1
                    continue
                self.apply_book(ev, recv_ms)
                touched.add(ev.asset_id)
            elif type(ev) is TickSizeChangeEvent:
                tb = books.get(ev.asset_id)
                if tb is not None:
                    tb.tick_size_e6 = ev.new_tick_size_e6
                    touched.add(tb.asset_id)
                self._call(self._event_listeners, ev)
            else:
                if type(ev) is LastTradePriceEvent:
                    lb = books.get(ev.asset_id)
                    if lb is not None:
                        lb.last_trade_price_e6 = ev.price_e6
                elif type(ev) is BestBidAskEvent and self.verify_best:
                    bb = books.get(ev.asset_id)
                    if bb is not None and bb.synced:
                        self._verify(bb, ev.best_bid_e6, ev.best_ask_e6)
                elif type(ev) is MarketResolvedEvent:
                    self.resolved[ev.market] = ev.winning_asset_id
                self._call(self._event_listeners, ev)
        if touched and self._update_listeners:
            self._call(self._update_listeners, touched)
        return touched

    def _apply_price_change(self, ev: PriceChangeEvent, recv_ms: int, touched: set[str]) -> None:
        books = self.books
        ts = ev.timestamp_ms
        last: dict[str, tuple[int | None, int | None]] = {}
        for c in ev.changes:
            aid = c.asset_id
            book = books.get(aid)
            if book is None:
                # no snapshot yet (or unsubscribed): a level alone is not a book
                self.stats.ignored_updates += 1
                continue
            book.apply_level(c.side, c.price_e6, c.size_e6)
            book.last_update_ms = ts
            if book.synced:
                book.received_ms = recv_ms
            else:
                self.stats.updates_while_unsynced += 1
            if c.hash:
                book.hash = c.hash
            touched.add(aid)
            last[aid] = (c.best_bid_e6, c.best_ask_e6)
            self.stats.level_updates += 1
        if self.verify_best:
            # the exchange's best prices describe the book after the whole event
            for aid, (b, a) in last.items():
                book = books[aid]
                if book.synced:
                    self._verify(book, b, a)

    def _verify(self, book: OrderBook, best_bid: int | None, best_ask: int | None) -> None:
        if _bid_matches(book.best_bid(), best_bid) and _ask_matches(book.best_ask(), best_ask):
            return
        self.stats.desyncs += 1
        log.warning(
            "book desync asset=%s ours bid=%s ask=%s exchange bid=%s ask=%s",
            book.asset_id,
            book.best_bid(),
            book.best_ask(),
            best_bid,
            best_ask,
        )
        book.invalidate()
        self._call(self._desync_listeners, book.asset_id)

    def apply_book(self, ev: BookEvent, recv_ms: int | None = None) -> None:
        book = self._ensure_book(ev.asset_id, ev.market)
        if ev.market and not book.market:
            book.market = ev.market
        book.apply_snapshot(ev.bids, ev.asks, ev.timestamp_ms, ev.hash)
        book.received_ms = ev.timestamp_ms if recv_ms is None else recv_ms
        if ev.tick_size_e6:
            book.tick_size_e6 = ev.tick_size_e6
        if ev.min_order_size_e6 is not None:
            book.min_order_size_e6 = ev.min_order_size_e6
        if ev.neg_risk is not None:
            book.neg_risk = ev.neg_risk
        if ev.last_trade_price_e6 is not None:
            book.last_trade_price_e6 = ev.last_trade_price_e6
        self.stats.snapshots += 1

    def apply_rest_books(self, items: Iterable[Any], recv_ms: int) -> set[str]:
        """Apply REST `/book` or `POST /books` results. A snapshot older than what the
        websocket already applied is skipped (it would erase newer updates)."""
        touched: set[str] = set()
        for d in items:
            if not isinstance(d, dict):
                raise FrameError("REST book must be a JSON object")
            try:
                ev = parse_book(d)
            except FrameError:
                raise
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise FrameError(f"bad REST book: {type(e).__name__}: {e}"[:300]) from None
            cur = self.books.get(ev.asset_id)
            if cur is not None and ev.timestamp_ms < cur.last_update_ms:
                self.stats.stale_snapshots_skipped += 1
                continue
            self.apply_book(ev, recv_ms)
            touched.add(ev.asset_id)
        if touched and self._update_listeners:
            self._call(self._update_listeners, touched)
        return touched

    # -- liveness --------------------------------------------------------------------
    def attach(self, asset_ids: Iterable[str], link: FeedLink) -> None:
        """These assets arrive over `link` (subscribed on that connection)."""
        for a in asset_ids:
            self._links[a] = link

    def detach(self, asset_ids: Iterable[str]) -> None:
        for a in asset_ids:
            self._links.pop(a, None)

    def link_of(self, asset_id: str) -> FeedLink | None:
        return self._links.get(asset_id)

    def book_age_ms(self, asset_id: str, now_ms: int) -> int | None:
        """Age of what we know of this book; None: do not trade on it (no book, not synced since
        a disconnect or desync, or its feed is stalled). The one freshness rule of the runtime."""
        b = self.books.get(asset_id)
        if b is None or not b.synced:
            return None
        good = b.received_ms
        link = self._links.get(asset_id)
        if link is not None:
            if link.stalled:
                return None
            if link.heard_ms > good:
                good = link.heard_ms
        return max(0, now_ms - good)

    def market_age_ms(self, market: str, now_ms: int) -> int | None:
        """Age of a market's stalest outcome book; None when any of them is untradable.

        The stalest, not the freshest: an order on a token whose book is being rebuilt must not
        pass because the other outcome's book is already current."""
        info = self.markets.get(market)
        if info is None or not info.token_ids:
            return None
        worst = 0
        for tok in info.token_ids:
            a = self.book_age_ms(tok, now_ms)
            if a is None:
                return None
            if a > worst:
                worst = a
        return worst

    def oldest_age_ms(self, now_ms: int) -> int | None:
        """For readiness and the age gauge: the oldest book's age, counting an untradable book
        from its last good data (a stalled feed from its last data frame). None without books."""
        if not self.books:
            return None
        oldest: int | None = None
        for a, b in self.books.items():
            good = b.received_ms
            link = self._links.get(a)
            if link is not None:
                if link.stalled:
                    good = min(good, link.data_ms) if link.data_ms else good
                elif b.synced and link.heard_ms > good:
                    good = link.heard_ms
            if oldest is None or good < oldest:
                oldest = good
        assert oldest is not None
        return max(0, now_ms - oldest)

    def touch(self, asset_ids: Iterable[str], now_ms: int) -> None:
        """The connection carrying these assets is alive (PONG received): their synced books are
        current. `received_ms` therefore always means "last time this book was known good"."""
        books = self.books
        for a in asset_ids:
            b = books.get(a)
            if b is not None and b.synced and b.received_ms < now_ms:
                b.received_ms = now_ms
        if now_ms > self.last_frame_ms:
            self.last_frame_ms = now_ms

    def invalidate(self, asset_ids: Iterable[str]) -> None:
        """Connection lost: these books are not trusted until their next snapshot."""
        books = self.books
        for a in asset_ids:
            b = books.get(a)
            if b is not None:
                b.invalidate()

    def is_fresh(self, asset_id: str, now_ms: int, max_age_ms: int) -> bool:
        b = self.books.get(asset_id)
        return b is not None and b.synced and now_ms - b.received_ms <= max_age_ms

    def stale_assets(self, now_ms: int, max_age_ms: int, asset_ids: Iterable[str] | None = None) -> list[str]:
        ids = self.books.keys() if asset_ids is None else asset_ids
        return [a for a in ids if not self.is_fresh(a, now_ms, max_age_ms)]

    def feed_age_ms(self, now_ms: int) -> int | None:
        """Time since the last market-data frame on any connection; None before the first.

        A PONG proves the connection, not the data: an exchange whose feed stalls while it
        still answers PING keeps `data_age_ms` low but makes this grow. On a busy set of
        markets, a feed age of many seconds means the feed is stale.
        """
        if not self.last_data_ms:
            return None
        return max(0, now_ms - self.last_data_ms)

    def data_age_ms(self, now_ms: int) -> int | None:
        """Age of the oldest book (ms since it was last known current); None without books.

        An unsynced book counts from its last good data (a never-synced one from 0), so
        one dead connection shows up here even while the others are busy.
        """
        if not self.books:
            return None
        oldest = min(b.received_ms for b in self.books.values())
        return max(0, now_ms - oldest)
