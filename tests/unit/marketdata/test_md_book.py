from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot_runtime.marketdata.book import OrderBook
from bot_runtime.venue.polymarket.frames import BUY, SELL, format_e6, parse_e6


@pytest.mark.parametrize(
    ("s", "v"),
    [
        (".48", 480_000),
        ("0.48", 480_000),
        ("0.5", 500_000),
        ("1", 1_000_000),
        ("0", 0),
        ("5.", 5_000_000),
        ("219.217767", 219_217_767),
        ("0.001", 1_000),
        ("0.0001", 100),
        ("0.1000000", 100_000),  # extra zero decimals are exact
        ("30", 30_000_000),
        ("000.010", 10_000),
    ],
)
def test_parse_e6_exact(s: str, v: int) -> None:
    assert parse_e6(s) == v


@pytest.mark.parametrize(
    "s", ["", ".", "-1", "+1", "1e-3", " 1", "1 ", "1_000", "0.1234567", "abc", "1.2.3", "²", "0x10", "nan"]
)
def test_parse_e6_rejects(s: str) -> None:
    with pytest.raises(ValueError):
        parse_e6(s)


@given(st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False, allow_infinity=False))
def test_parse_e6_matches_decimal(d: Decimal) -> None:
    s = format(d, "f")
    assert parse_e6(s) == int(d * 1_000_000)
    # and without the leading zero, as the wire sometimes sends it
    if s.startswith("0."):
        assert parse_e6(s[1:]) == int(d * 1_000_000)


@given(st.integers(min_value=0, max_value=10**15))
def test_format_roundtrip(v: int) -> None:
    assert parse_e6(format_e6(v)) == v


def test_format_e6() -> None:
    assert format_e6(480_000) == "0.48"
    assert format_e6(5_000_000) == "5"
    assert format_e6(-10_000) == "-0.01"


def _sample_book() -> OrderBook:
    b = OrderBook("tok", "0xm")
    # wire order: bids ascending, asks descending (best LAST), as in the samples
    b.apply_snapshot(
        [(480_000, 30), (490_000, 20), (500_000, 15)],
        [(540_000, 10), (530_000, 60), (520_000, 25)],
        1000,
        "0xh",
    )
    return b


def test_snapshot_ignores_wire_order() -> None:
    b = _sample_book()
    assert b.best_bid() == (500_000, 15)
    assert b.best_ask() == (520_000, 25)
    assert list(b.bids_desc()) == [(500_000, 15), (490_000, 20), (480_000, 30)]
    assert list(b.asks_asc()) == [(520_000, 25), (530_000, 60), (540_000, 10)]
    assert b.synced and b.last_update_ms == 1000 and b.hash == "0xh"
    assert b.mid_e6() == 510_000


def test_snapshot_in_opposite_order_gives_same_book() -> None:
    a = _sample_book()
    b = OrderBook("tok")
    b.apply_snapshot(
        [(500_000, 15), (490_000, 20), (480_000, 30)], [(520_000, 25), (530_000, 60), (540_000, 10)], 1000
    )
    assert a.levels() == b.levels()


def test_snapshot_drops_zero_levels() -> None:
    b = OrderBook("tok")
    b.apply_snapshot([(500_000, 0), (490_000, 5)], [(520_000, 0)], 1)
    assert b.best_bid() == (490_000, 5)
    assert b.best_ask() is None


def test_level_updates_and_removal_of_best() -> None:
    b = _sample_book()
    b.apply_level(BUY, 510_000, 7)  # new best bid
    assert b.best_bid() == (510_000, 7)
    b.apply_level(BUY, 510_000, 9)  # size is the new total, not a delta
    assert b.best_bid() == (510_000, 9)
    b.apply_level(BUY, 510_000, 0)  # removal of the best falls back to the next level
    assert b.best_bid() == (500_000, 15)
    b.apply_level(SELL, 520_000, 0)
    assert b.best_ask() == (530_000, 60)
    b.apply_level(SELL, 525_000, 1)
    assert b.best_ask() == (525_000, 1)
    b.apply_level(SELL, 999_000, 0)  # removing an absent level is a no-op
    assert b.depth() == (3, 3)
    b.apply_level(BUY, 480_000, 31)  # a non-best update keeps the cached best
    assert b.best_bid() == (500_000, 15)
    assert b.size_at(BUY, 480_000) == 31


def test_empty_sides() -> None:
    b = OrderBook("tok")
    assert b.best_bid() is None and b.best_ask() is None and b.mid_e6() is None
    b.apply_level(SELL, 600_000, 5)
    b.apply_level(SELL, 600_000, 0)
    assert b.best_ask() is None
    assert list(b.asks_asc()) == []


def test_bad_side_and_negative_size() -> None:
    b = OrderBook("tok")
    with pytest.raises(ValueError, match="side"):
        b.apply_level("bid", 1, 1)
    with pytest.raises(ValueError, match="negative"):
        b.apply_level(BUY, 1, -1)


def test_invalidate_and_clear() -> None:
    b = _sample_book()
    b.invalidate()
    assert not b.synced and b.best_bid() == (500_000, 15)
    b.clear()
    assert b.best_bid() is None and b.depth() == (0, 0)


_ops = st.lists(
    st.tuples(st.sampled_from([BUY, SELL]), st.integers(1, 99), st.sampled_from([0, 0, 1, 5, 100])),
    max_size=300,
)


@settings(max_examples=200)
@given(_ops)
def test_cached_best_matches_a_model(ops: list[tuple[str, int, int]]) -> None:
    b = OrderBook("tok")
    model: dict[str, dict[int, int]] = {BUY: {}, SELL: {}}
    for side, tick, size in ops:
        price = tick * 10_000
        b.apply_level(side, price, size)
        if size:
            model[side][price] = size
        else:
            model[side].pop(price, None)
        bids, asks = model[BUY], model[SELL]
        assert b.best_bid() == (max(bids), bids[max(bids)]) if bids else b.best_bid() is None
        assert b.best_ask() == (min(asks), asks[min(asks)]) if asks else b.best_ask() is None
    assert list(b.bids_desc()) == sorted(model[BUY].items(), reverse=True)
    assert list(b.asks_asc()) == sorted(model[SELL].items())
