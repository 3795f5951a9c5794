"""The runtime's one freshness rule (`BookStore.book_age_ms`) and the stall decisions, offline."""

from __future__ import annotations

import json

import pytest

from bot_runtime.marketdata.store import BookStore
from bot_runtime.venue.polymarket.gamma import MarketInfo
from bot_runtime.venue.polymarket.ws import FeedLink, WsSettings, books_differ, feed_silent


def _book(asset: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]], ts: int = 1_000) -> str:
    return json.dumps({"event_type": "book", "asset_id": asset, "market": "0xm",
                       "bids": [{"price": p, "size": s} for p, s in bids],
                       "asks": [{"price": p, "size": s} for p, s in asks], "timestamp": str(ts), "hash": "h"})


def _store() -> tuple[BookStore, FeedLink]:
    s = BookStore()
    s.add_market(MarketInfo("0xm", "q", "m", "yes", "no"))
    s.apply_raw(_book("yes", [("0.40", "10")], [("0.45", "10")]), recv_ms=1_000)
    s.apply_raw(_book("no", [("0.54", "10")], [("0.60", "10")]), recv_ms=1_000)
    link = FeedLink()
    link.heard_ms = link.data_ms = 1_000
    s.attach(["yes", "no"], link)
    return s, link


def test_quiet_book_on_a_live_connection_is_fresh() -> None:
    s, link = _store()
    # 9 s without an update for these books, but the connection answered a PING just now
    link.heard_ms = 10_000
    assert s.book_age_ms("yes", 10_500) == 500
    assert s.market_age_ms("0xm", 10_500) == 500
    assert s.oldest_age_ms(10_500) == 500
    # another asset's frame on the same connection proves it just the same (frames are ordered)
    link.heard_ms = link.data_ms = 12_000
    assert s.book_age_ms("no", 12_000) == 0


def test_book_without_a_link_ages_from_its_own_data() -> None:
    s = BookStore()
    s.apply_raw(_book("a", [("0.4", "1")], []), recv_ms=1_000)
    assert s.book_age_ms("a", 4_000) == 3_000  # replay and tests: the store alone
    assert s.book_age_ms("zzz", 4_000) is None


def test_stalled_feed_makes_its_books_untradable() -> None:
    s, link = _store()
    link.heard_ms = 20_000  # PONGs keep coming...
    link.stalled = True  # ...but the websocket client found no data while the exchange trades
    assert s.book_age_ms("yes", 20_000) is None
    assert s.market_age_ms("0xm", 20_000) is None
    # readiness and the gauge count a stalled feed from its last data frame
    assert s.oldest_age_ms(20_000) == 19_000
    s.touch(["yes", "no"], 20_000)  # a PONG does not hide the stall
    assert s.oldest_age_ms(20_000) == 19_000 and s.book_age_ms("yes", 20_000) is None


def test_market_age_is_the_stalest_outcome() -> None:
    s, _ = _store()
    s.detach(["yes", "no"])
    s.apply_raw(_book("yes", [("0.40", "10")], [("0.45", "10")]), recv_ms=5_000)
    assert s.market_age_ms("0xm", 6_000) == 5_000  # the NO book, not the fresh YES one
    s.invalidate(["no"])  # the NO book is being rebuilt after a reconnect
    assert s.market_age_ms("0xm", 6_000) is None
    assert s.market_age_ms("0xunknown", 6_000) is None


def test_removed_assets_lose_their_link() -> None:
    s, link = _store()
    s.remove_assets(["yes"])
    assert s.link_of("yes") is None and s.link_of("no") is link


def test_feed_silent() -> None:
    assert not feed_silent(6_000, 1_000, 5.0)
    assert feed_silent(6_001, 1_000, 5.0)


def test_books_differ_compares_levels_with_the_exchange() -> None:
    s, _ = _store()
    same = {"asset_id": "yes", "market": "0xm", "timestamp": "9",
            # REST order: bids ascending, asks descending (best last); zero sizes are no level
            "bids": [{"price": "0.30", "size": "0"}, {"price": "0.40", "size": "10"}],
            "asks": [{"price": "0.45", "size": "10"}]}
    assert not books_differ(s, [same, "junk", {"no": "asset"}])
    moved = {**same, "asks": [{"price": "0.46", "size": "10"}]}
    assert books_differ(s, [same, moved])
    assert not books_differ(s, [{**moved, "asset_id": "unknown"}])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"idle_ping_s": 0}, "idle_ping_s"),
    ({"stall_after_s": -1}, "stall_after_s"),
    ({"stall_probe_assets": 0}, "stall_probe_assets"),
])
def test_settings_validation_of_freshness_knobs(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        WsSettings(**kwargs)  # type: ignore[arg-type]


def test_freshness_knobs_default_on_and_can_be_turned_off() -> None:
    d = WsSettings()
    assert d.idle_ping_s == 1.0 and d.stall_after_s == 5.0
    off = WsSettings(idle_ping_s=None, stall_after_s=None)
    assert off.idle_ping_s is None and off.stall_after_s is None
