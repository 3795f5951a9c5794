from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot_runtime.marketdata.store import BookStore
from bot_runtime.venue.polymarket.frames import Event, FrameError, LastTradePriceEvent, MarketResolvedEvent
from bot_runtime.venue.polymarket.gamma import MarketInfo

SAMPLES = Path(__file__).parent / "data" / "market-channel-samples.jsonl"
ASSET = "65818619657568813474341868652308942079804919287380422192892211131408793125422"
MARKET = "0xbd31dc8a20211944f6b70f31557f1001557b59905b7738480ca09bd4532f84af"


def _book(asset: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]], ts: int = 1_000) -> str:
    return json.dumps(
        {
            "event_type": "book",
            "asset_id": asset,
            "market": "0xm",
            "bids": [{"price": p, "size": s} for p, s in bids],
            "asks": [{"price": p, "size": s} for p, s in asks],
            "timestamp": str(ts),
            "hash": "h",
        }
    )


def _pc(changes: list[dict[str, str]], ts: int = 2_000, market: str = "0xm") -> str:
    return json.dumps({"event_type": "price_change", "market": market, "price_changes": changes, "timestamp": str(ts)})


def test_samples_applied_in_order() -> None:
    s = BookStore()
    touched = [s.apply_raw(line) for line in SAMPLES.read_text().splitlines()]
    assert touched[:3] == [{ASSET}, {ASSET}, {ASSET}] and touched[3:] == [set(), set()]
    b = s.books[ASSET]
    assert b.best_bid() == (500_000, 200_000_000)
    assert b.best_ask() == (520_000, 25_000_000)  # .54 removed, .52 still best
    assert b.tick_size_e6 == 1_000  # tick_size_change applied
    assert b.last_trade_price_e6 == 520_000
    assert s.asset_market[ASSET] == MARKET
    assert s.stats.desyncs == 0  # the sample's best_bid/best_ask agree with our book


def test_update_listener_gets_touched_assets_per_frame() -> None:
    s = BookStore()
    calls: list[set[str]] = []
    s.add_update_listener(lambda ids: calls.append(set(ids)))
    s.apply_raw(_book("a", [("0.4", "1")], [("0.6", "1")]))
    s.apply_raw(_book("b", [("0.3", "1")], [("0.7", "1")]))
    s.apply_raw(
        _pc(
            [
                {"asset_id": "a", "price": "0.45", "size": "2", "side": "BUY"},
                {"asset_id": "b", "price": "0.65", "size": "2", "side": "SELL"},
            ]
        )
    )
    s.apply_raw('{"event_type":"last_trade_price","asset_id":"a","price":"0.45","side":"BUY","size":"1"}')
    assert calls == [{"a"}, {"b"}, {"a", "b"}]  # trades do not trigger a book re-evaluation


def test_event_listener_and_resolution() -> None:
    s = BookStore()
    seen: list[Event] = []
    s.add_event_listener(seen.append)
    s.apply_raw('{"event_type":"last_trade_price","asset_id":"a","price":"0.45","side":"BUY","size":"1"}')
    s.apply_raw('{"event_type":"market_resolved","market":"0xm","winning_asset_id":"a"}')
    assert [type(e) for e in seen] == [LastTradePriceEvent, MarketResolvedEvent]
    assert s.resolved == {"0xm": "a"}


def test_failing_listener_does_not_break_the_store() -> None:
    s = BookStore()

    def boom(_: set[str]) -> None:
        raise RuntimeError("listener bug")

    s.add_update_listener(boom)
    s.apply_raw(_book("a", [("0.4", "1")], []))
    assert s.books["a"].best_bid() == (400_000, 1_000_000)
    assert s.stats.listener_errors == 1


def test_bad_frame_is_counted_and_changes_nothing() -> None:
    s = BookStore()
    s.apply_raw(_book("a", [("0.4", "1")], []))
    with pytest.raises(FrameError):
        s.apply_raw('[{"event_type":"price_change","price_changes":[{"asset_id":"a","price":"0.5","size":"1","side":"BUY"}]}, 7]')
    assert s.stats.bad_frames == 1
    assert s.books["a"].best_bid() == (400_000, 1_000_000)  # a frame is applied whole or not at all


def test_desync_detected_from_exchange_best_prices() -> None:
    s = BookStore()
    desynced: list[str] = []
    s.add_desync_listener(desynced.append)
    s.apply_raw(_book("a", [("0.4", "1")], [("0.6", "1")]))
    # the exchange says best bid is 0.42 but our book (after the change) says 0.41
    s.apply_raw(_pc([{"asset_id": "a", "price": "0.41", "size": "1", "side": "BUY", "best_bid": "0.42", "best_ask": "0.6"}]))
    assert desynced == ["a"] and s.stats.desyncs == 1
    assert not s.books["a"].synced
    assert not s.is_fresh("a", 2_000, 10_000)
    # an in-stream snapshot makes it good again
    s.apply_raw(_book("a", [("0.42", "1")], [("0.6", "1")], ts=3_000))
    assert s.books["a"].synced and s.is_fresh("a", 3_000, 10_000)


def test_empty_side_reported_as_zero_is_not_a_desync() -> None:
    s = BookStore()
    s.apply_raw(_book("a", [("0.4", "1")], [("0.6", "1")]))
    s.apply_raw(_pc([{"asset_id": "a", "price": "0.6", "size": "0", "side": "SELL", "best_bid": "0.4", "best_ask": "0"}]))
    s.apply_raw(_pc([{"asset_id": "a", "price": "0.4", "size": "0", "side": "BUY", "best_bid": "0", "best_ask": "1"}]))
    assert s.stats.desyncs == 0 and s.books["a"].synced


def test_freshness_and_data_age() -> None:
    s = BookStore()
    s.apply_raw(_book("a", [("0.4", "1")], []), recv_ms=10_000)
    s.apply_raw(_book("b", [("0.4", "1")], []), recv_ms=12_000)
    assert s.is_fresh("a", 14_000, 5_000) and not s.is_fresh("a", 16_000, 5_000)
    assert not s.is_fresh("zzz", 14_000, 5_000)
    assert s.data_age_ms(16_000) == 6_000  # the oldest book
    s.touch(["a", "b"], 16_000)  # PONG: both connections alive
    assert s.data_age_ms(16_500) == 500
    s.invalidate(["b"])  # disconnect
    assert not s.is_fresh("b", 16_500, 5_000)
    assert s.stale_assets(16_500, 5_000) == ["b"]
    s.touch(["b"], 20_000)  # a PONG does not make an unsynced book fresh
    assert s.data_age_ms(20_000) == 4_000
    assert BookStore().data_age_ms(1) is None
    # PONGs keep books current but not the feed: a stalled feed shows in feed_age_ms
    assert s.feed_age_ms(20_000) == 8_000
    assert BookStore().feed_age_ms(1) is None


def test_updates_on_unsynced_book_are_applied_but_not_trusted() -> None:
    s = BookStore()
    s.apply_raw(_book("a", [("0.4", "1")], []), recv_ms=5)
    s.invalidate(["a"])
    s.apply_raw(_pc([{"asset_id": "a", "price": "0.41", "size": "1", "side": "BUY"}]), recv_ms=6)
    assert s.stats.updates_while_unsynced == 1
    assert s.books["a"].best_bid() == (410_000, 1_000_000)
    assert not s.is_fresh("a", 6, 1000)
    assert s.books["a"].received_ms == 5  # still the time it was last known good


def test_levels_for_assets_without_a_book_are_ignored() -> None:
    s = BookStore()
    s.apply_raw(_pc([{"asset_id": "x", "price": "0.4", "size": "1", "side": "BUY"}]))
    s.apply_raw('{"event_type":"tick_size_change","asset_id":"x","new_tick_size":"0.001"}')
    assert "x" not in s.books and s.stats.ignored_updates == 1


def test_removed_assets_stay_removed_until_tracked_again() -> None:
    s = BookStore()
    s.apply_raw(_book("a", [("0.4", "1")], []), recv_ms=5)
    s.apply_raw(_book("b", [("0.4", "1")], []), recv_ms=5)
    s.remove_assets(["a"])
    # frames still in flight after the unsubscription
    s.apply_raw(_book("a", [("0.4", "1")], []), recv_ms=6)
    s.apply_raw(_pc([{"asset_id": "a", "price": "0.4", "size": "2", "side": "BUY"}]), recv_ms=6)
    assert "a" not in s.books and s.stats.ignored_updates == 2
    assert s.data_age_ms(10) == 5  # only the books still kept count
    s.track(["a"])
    s.apply_raw(_book("a", [("0.4", "1")], []), recv_ms=7)
    assert s.books["a"].synced


def test_replay_freshness_uses_frame_timestamps() -> None:
    s = BookStore()
    s.apply_raw(_book("a", [("0.4", "1")], [], ts=1_757_908_890_000))
    assert s.books["a"].received_ms == 1_757_908_890_000


def test_market_metadata_configures_books() -> None:
    s = BookStore()
    m = MarketInfo(
        condition_id="0xc", question="q", slug="s", yes_token_id="y", no_token_id="n",
        neg_risk=True, neg_risk_market_id="0xg", tick_size_e6=1_000, min_size_e6=5_000_000,
    )
    s.add_market(m)
    assert s.books["y"].tick_size_e6 == 1_000 and s.books["n"].neg_risk
    assert s.market_of("n") is m
    assert s.neg_risk_groups() == {"0xg": [m]}
    s.apply_raw('{"event_type":"tick_size_change","asset_id":"y","market":"0xc","old_tick_size":"0.001","new_tick_size":"0.01"}')
    assert s.books["y"].tick_size_e6 == 10_000


def test_rest_snapshot_older_than_stream_is_skipped() -> None:
    s = BookStore()
    s.apply_raw(_book("a", [("0.4", "1")], [], ts=5_000))
    rest = {"asset_id": "a", "market": "0xm", "timestamp": "4000", "bids": [], "asks": [{"price": "0.9", "size": "1"}]}
    assert s.apply_rest_books([rest], recv_ms=6_000) == set()
    assert s.stats.stale_snapshots_skipped == 1
    rest["timestamp"] = "7000"
    assert s.apply_rest_books([rest], recv_ms=7_000) == {"a"}
    assert s.books["a"].best_ask() == (900_000, 1_000_000) and s.books["a"].best_bid() is None
    with pytest.raises(FrameError):
        s.apply_rest_books([{"asset_id": "a", "bids": "x"}], recv_ms=1)


_price = st.sampled_from(["0.01", ".5", "0.99", "0.5", "1", "0", "0.123456", ".48"])
_size = st.sampled_from(["0", "1", "100.5", ".000001", "0"])
_change = st.fixed_dictionaries(
    {"asset_id": st.sampled_from(["a", "b"]), "price": _price, "size": _size, "side": st.sampled_from(["BUY", "SELL"])},
    optional={"best_bid": _price, "best_ask": _price},
)
_level = st.fixed_dictionaries({"price": _price, "size": _size})
_event = st.one_of(
    st.builds(lambda cs: {"event_type": "price_change", "market": "m", "price_changes": cs, "timestamp": "5"},
              st.lists(_change, max_size=4)),
    st.builds(lambda a, b, k: {"event_type": "book", "asset_id": a, "market": "m", "bids": b, "asks": k},
              st.sampled_from(["a", "b"]), st.lists(_level, max_size=4), st.lists(_level, max_size=4)),
    st.builds(lambda a, p: {"event_type": "best_bid_ask", "asset_id": a, "best_bid": p, "best_ask": p},
              st.sampled_from(["a", "b"]), _price),
    st.builds(lambda a, p: {"event_type": "tick_size_change", "asset_id": a, "new_tick_size": p},
              st.sampled_from(["a", "b"]), _price),
)


@settings(max_examples=80)
@given(st.lists(st.lists(_event, min_size=1, max_size=3), max_size=12))
def test_random_event_streams_keep_the_books_consistent(frames: list[list[dict[str, object]]]) -> None:
    s = BookStore()
    for f in frames:
        s.apply_raw(json.dumps(f))
    for b in s.books.values():
        bids, asks = b.levels()
        assert b.best_bid() == (bids[0] if bids else None)
        assert b.best_ask() == (asks[0] if asks else None)
        assert all(size > 0 for _, size in bids + asks)
