from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot_runtime.venue.polymarket.frames import (
    BestBidAskEvent,
    BookEvent,
    FrameError,
    LastTradePriceEvent,
    MarketResolvedEvent,
    NewMarketEvent,
    PriceChangeEvent,
    TickSizeChangeEvent,
    UnknownEvent,
    event_timestamp_ms,
    parse_book,
    parse_frame,
)

# One market-channel frame of each kind, as Polymarket sends them (docs/venue.md#market-channel).
SAMPLES = Path(__file__).parents[1] / "marketdata" / "data" / "market-channel-samples.jsonl"
ASSET = "65818619657568813474341868652308942079804919287380422192892211131408793125422"
MARKET = "0xbd31dc8a20211944f6b70f31557f1001557b59905b7738480ca09bd4532f84af"


def _sample_lines() -> list[str]:
    return SAMPLES.read_text().splitlines()


def test_every_sample_frame_parses_to_its_type() -> None:
    kinds = [type(parse_frame(line)[0]) for line in _sample_lines()]
    assert kinds == [BookEvent, PriceChangeEvent, TickSizeChangeEvent, LastTradePriceEvent, BestBidAskEvent]


def test_book_sample_values() -> None:
    ev = parse_frame(_sample_lines()[0])[0]
    assert isinstance(ev, BookEvent)
    assert ev.asset_id == ASSET and ev.market == MARKET
    assert ev.bids == [(480_000, 30_000_000), (490_000, 20_000_000), (500_000, 15_000_000)]
    assert ev.asks[-1] == (520_000, 25_000_000)
    assert ev.timestamp_ms == 1757908890000 and ev.hash == "0x0"


def test_price_change_sample_values() -> None:
    ev = parse_frame(_sample_lines()[1])[0]
    assert isinstance(ev, PriceChangeEvent)
    assert [(c.side, c.price_e6, c.size_e6) for c in ev.changes] == [("BUY", 500_000, 200_000_000), ("SELL", 540_000, 0)]
    assert ev.changes[0].best_bid_e6 == 500_000 and ev.changes[0].best_ask_e6 == 520_000
    assert ev.timestamp_ms == 1757908892351


def test_other_sample_values() -> None:
    lines = _sample_lines()
    tick = parse_frame(lines[2])[0]
    assert isinstance(tick, TickSizeChangeEvent)
    assert (tick.old_tick_size_e6, tick.new_tick_size_e6) == (10_000, 1_000)
    ltp = parse_frame(lines[3])[0]
    assert isinstance(ltp, LastTradePriceEvent)
    assert (ltp.price_e6, ltp.size_e6, ltp.side, ltp.fee_rate_bps) == (520_000, 219_217_767, "BUY", 0)
    bba = parse_frame(lines[4])  # the sample is an array of one event
    assert len(bba) == 1 and isinstance(bba[0], BestBidAskEvent)
    assert bba[0].spread_e6 == 20_000


def test_old_changes_shape() -> None:
    frame = {
        "event_type": "price_change",
        "asset_id": "1",
        "market": "0xm",
        "changes": [{"price": ".4", "side": "sell", "size": "3"}, {"price": "0.3", "side": "BUY", "size": "0"}],
        "timestamp": "1700000000000",
        "hash": "h",
    }
    ev = parse_frame(json.dumps(frame))[0]
    assert isinstance(ev, PriceChangeEvent)
    assert [(c.asset_id, c.side, c.price_e6, c.size_e6, c.hash) for c in ev.changes] == [
        ("1", "SELL", 400_000, 3_000_000, "h"),
        ("1", "BUY", 300_000, 0, "h"),
    ]


def test_array_of_mixed_events_keeps_order_and_tolerates_unknowns() -> None:
    frame = [
        {"event_type": "book", "asset_id": "a", "market": "m", "bids": [], "asks": [], "timestamp": "5", "x": 1},
        {"event_type": "brand_new_event", "foo": "bar", "timestamp": "1700000000001"},
        {"event_type": "market_resolved", "market": "m", "winning_asset_id": "a", "assets_ids": ["a", "b"]},
        {"event_type": "new_market", "market": "m2", "assets_ids": ["c", "d"], "question": "?"},
    ]
    evs = parse_frame(json.dumps(frame).encode())
    assert [type(e) for e in evs] == [BookEvent, UnknownEvent, MarketResolvedEvent, NewMarketEvent]
    assert isinstance(evs[1], UnknownEvent) and evs[1].event_type == "brand_new_event"
    assert isinstance(evs[2], MarketResolvedEvent) and evs[2].winning_asset_id == "a"
    assert isinstance(evs[3], NewMarketEvent) and evs[3].asset_ids == ["c", "d"]
    assert event_timestamp_ms(evs) == 1700000000001
    assert parse_frame("[]") == []
    odd = parse_frame('{"event_type":"future","timestamp":{"nested":true}}')[0]
    assert isinstance(odd, UnknownEvent) and odd.timestamp_ms == 0
    err = parse_frame('{"error":"invalid message"}')[0]  # what a server answers to a bad subscription
    assert isinstance(err, UnknownEvent) and err.raw == {"error": "invalid message"}


@pytest.mark.parametrize(
    ("ts", "ms"),
    [('"1757908895"', 1757908895000), ('"1757908895123"', 1757908895123), ("1757908895123", 1757908895123),
     ('"1757908895123.0"', 1757908895123), ("1757908895.5", 1757908895000), ('""', 0), ("null", 0)],
)
def test_timestamps_in_ms_or_seconds(ts: str, ms: int) -> None:
    ev = parse_frame('{"event_type":"best_bid_ask","asset_id":"a","timestamp":' + ts + "}")[0]
    assert ev.timestamp_ms == ms


def test_rest_book_shape_with_metadata() -> None:
    ev = parse_book(
        {
            "market": "0xm",
            "asset_id": "7",
            "timestamp": "1757908890000",
            "hash": "abc",
            "bids": [{"price": "0.01", "size": "10"}],
            "asks": [{"price": ".99", "size": "1.5"}],
            "min_order_size": "5",
            "tick_size": "0.01",
            "neg_risk": True,
            "last_trade_price": "0.5",
        }
    )
    assert (ev.tick_size_e6, ev.min_order_size_e6, ev.neg_risk, ev.last_trade_price_e6) == (
        10_000,
        5_000_000,
        True,
        500_000,
    )
    assert ev.asks == [(990_000, 1_500_000)]


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "PONG",
        '{"event_type":"book"',  # truncated
        "42",
        '"book"',
        "null",
        "[1, 2]",
        '{"event_type":"book","asset_id":"a","bids":[{"price":"x","size":"1"}]}',
        '{"event_type":"book","asset_id":"a","bids":[{"price":"-0.5","size":"1"}]}',
        '{"event_type":"book","asset_id":"a","bids":{"price":".5"}}',
        '{"event_type":"book"}',
        '{"event_type":"price_change","market":"m"}',
        '{"event_type":"price_change","price_changes":[{"asset_id":"a","price":".5","size":"1","side":"HOLD"}]}',
        '{"event_type":"price_change","price_changes":[{"asset_id":1,"price":".5","size":"1","side":"BUY"}]}',
        '{"event_type":"price_change","price_changes":"nope"}',
        '{"event_type":"tick_size_change","asset_id":"a"}',
        '{"event_type":"last_trade_price","asset_id":"a","price":".5","side":"BUY","fee_rate_bps":"x"}',
        '{"event_type":"book","asset_id":"a","timestamp":"soon"}',
        # a finite float whose millionths overflow: OverflowError escaped before
        '{"event_type":"book","asset_id":"a","bids":[{"price":1.7e308,"size":"1"}]}',
        "[" * 5000 + "]" * 5000,
        b"\xff\xfe",
    ],
)
def test_malformed_frames_raise_frame_error(raw: str | bytes) -> None:
    with pytest.raises(FrameError):
        parse_frame(raw)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
_keys = st.sampled_from(
    ["event_type", "asset_id", "market", "bids", "asks", "price_changes", "changes", "price", "size", "side",
     "timestamp", "new_tick_size", "best_bid", "best_ask", "hash", "winning_asset_id", "assets_ids"]
)
_types = st.sampled_from(
    ["book", "price_change", "tick_size_change", "last_trade_price", "best_bid_ask", "new_market",
     "market_resolved", "other"]
)
_eventish = st.builds(
    lambda et, d: {"event_type": et, **d}, _types, st.dictionaries(_keys, _json | st.text(max_size=6), max_size=8)
)


def _only_frame_error(raw: str | bytes) -> None:
    """Any exception other than FrameError fails the test."""
    try:
        events = parse_frame(raw)
    except FrameError:
        return
    assert all(hasattr(e, "timestamp_ms") for e in events)


@settings(max_examples=300)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_random_text_never_crashes(raw: str | bytes) -> None:
    _only_frame_error(raw)


@settings(max_examples=200)
@given(_eventish | st.lists(_eventish, max_size=3) | _json)
def test_random_json_events_never_crash(obj: object) -> None:
    _only_frame_error(json.dumps(obj))


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=10_000))
def test_truncated_real_frames_never_crash(cut: int) -> None:
    for line in _sample_lines():
        _only_frame_error(line[: cut % (len(line) + 1)])


@pytest.mark.parametrize("ts", ["1e309", "-1e309", "nan", "inf"])
def test_a_non_finite_timestamp_is_a_frame_error_not_an_overflow(ts: str) -> None:
    # Found by tests/reliability/test_bad_input.py (hypothesis): int(float("1e309")) raises OverflowError.
    book = {"event_type": "book", "market": "0x1", "asset_id": "1", "bids": [], "asks": [], "timestamp": ts}
    with pytest.raises(FrameError):
        parse_frame(json.dumps(book))
    with pytest.raises(ValueError, match="timestamp is not a finite number"):
        parse_book(book)  # the REST /book path: a ValueError its caller reports, never an OverflowError
