"""Matching engine: priority, fees, partial fills, order types, validation, balances."""

from __future__ import annotations

import itertools

import pytest

from botfleet_tools.sim.book import Order
from botfleet_tools.sim.engine import Fill, MatchingEngine, OrderRejected
from botfleet_tools.sim.markets import MarketSpec
from botfleet_tools.sim.units import UNIT, to_units

YES, NO, CID = "111", "222", "0xc0"
_ids = itertools.count()


def market(fee_rate: float = 0.07, tick: str = "0.01", min_size: str = "5") -> MarketSpec:
    return MarketSpec(id="1", condition_id=CID, question="q?", slug="q", category="crypto", yes_token=YES,
                      no_token=NO, fee_rate=fee_rate, tick=to_units(tick), min_size=to_units(min_size))


def engine(**kw: object) -> MatchingEngine:
    eng = MatchingEngine(seed=3)
    eng.add_market(market(**kw))  # type: ignore[arg-type]
    return eng


def order(side: str, price: str, size: str, maker: str = "0xa", order_type: str = "GTC", token: str = YES,
          post_only: bool = False, max_cost: str | None = None, expiration: int = 0, now_ms: int = 1_000_000,
          oid: str | None = None) -> Order:
    return Order(id=oid or f"0x{next(_ids):x}", owner="key-" + maker, maker=maker, token=token, market=CID,
                 side=side, price=to_units(price), size=to_units(size), order_type=order_type,  # type: ignore[arg-type]
                 created_ms=now_ms, post_only=post_only, expiration=expiration,
                 max_cost=to_units(max_cost) if max_cost else None, account=maker)


def funded(eng: MatchingEngine, who: str, usdc: str = "10000", shares: str = "10000") -> None:
    eng.fund(who, to_units(usdc), {YES: to_units(shares), NO: to_units(shares)})


def test_better_price_first_then_time_priority_and_maker_price() -> None:
    eng = engine()
    for who in ("0xa", "0xb", "0xc", "0xt"):
        funded(eng, who)
    first = order("SELL", "0.55", "10", "0xa")
    second = order("SELL", "0.55", "10", "0xb")
    better = order("SELL", "0.54", "5", "0xc")
    for o in (first, second, better):
        eng.submit(o)
    res = eng.submit(order("BUY", "0.60", "12", "0xt"))
    assert [(f.maker_order_id, f.price, f.size) for f in res.fills] == [
        (better.id, to_units("0.54"), to_units("5")),
        (first.id, to_units("0.55"), to_units("7")),
    ]
    assert second.filled == 0 and first.remaining == to_units("3")
    assert res.status == "matched" and res.order.status == "MATCHED"


@pytest.mark.parametrize(("price", "fee"), [("0.01", "0.693"), ("0.99", "0.693"), ("0.5", "17.5"),
                                            ("0.03", "2.037")])
def test_taker_fee_to_the_cent_and_only_taker_pays(price: str, fee: str) -> None:
    eng = engine(tick="0.01")
    funded(eng, "0xm")
    funded(eng, "0xt")
    eng.submit(order("SELL", price, "1000", "0xm"))
    res = eng.submit(order("BUY", price, "1000", "0xt"))
    (fill,) = res.fills
    assert abs(fill.fee / UNIT - float(fee)) < 0.005
    assert fill.fee == to_units(fee)
    cost = to_units(price) * 1000
    assert eng.wallet("0xt").usdc == to_units("10000") - cost - to_units(fee)
    assert eng.wallet("0xm").usdc == to_units("10000") + cost  # maker pays nothing
    assert eng.wallet("0xt").positions[YES] == to_units("11000")


def test_partial_fill_rests_the_remainder_at_its_limit() -> None:
    eng = engine()
    funded(eng, "0xm")
    funded(eng, "0xt")
    eng.submit(order("SELL", "0.40", "40", "0xm"))
    res = eng.submit(order("BUY", "0.45", "100", "0xt"))
    assert res.status == "matched" and res.order.is_open
    assert res.order.filled == to_units("40")
    bids, asks = eng.books[YES].snapshot()
    assert bids == [(to_units("0.45"), to_units("60"))] and asks == []
    assert eng.wallet("0xt").reserved_usdc() == to_units("27")  # 60 x 0.45 stays reserved


def test_fok_killed_when_book_too_thin_and_book_untouched() -> None:
    eng = engine()
    funded(eng, "0xm")
    funded(eng, "0xt")
    eng.submit(order("SELL", "0.50", "10", "0xm"))
    eng.drain()
    with pytest.raises(OrderRejected) as exc:
        eng.submit(order("BUY", "0.50", "12", "0xt", order_type="FOK", max_cost="6"))
    assert exc.value.code == "FOK_ORDER_NOT_FILLED_ERROR"
    assert eng.ledger == []
    assert eng.books[YES].snapshot()[1] == [(to_units("0.50"), to_units("10"))]
    changes, events = eng.drain()
    assert changes == [] and [getattr(e, "kind", None) for e in events] == ["CANCELLATION"]


def test_fok_buy_spends_its_dollar_budget() -> None:
    eng = engine(fee_rate=0.0)
    funded(eng, "0xm")
    funded(eng, "0xt")
    eng.submit(order("SELL", "0.40", "10", "0xm"))
    eng.submit(order("SELL", "0.50", "100", "0xm"))
    res = eng.submit(order("BUY", "0.50", "20", "0xt", order_type="FOK", max_cost="9"))
    assert [(f.price, f.size) for f in res.fills] == [(to_units("0.40"), to_units("10")),
                                                      (to_units("0.50"), to_units("10"))]
    assert res.making_amount == to_units("9") and res.taking_amount == to_units("20")


def test_fak_fills_what_it_can_and_cancels_the_rest() -> None:
    eng = engine()
    funded(eng, "0xm")
    funded(eng, "0xt")
    eng.submit(order("BUY", "0.30", "10", "0xm"))
    res = eng.submit(order("SELL", "0.30", "25", "0xt", order_type="FAK"))
    assert res.taking_amount == to_units("3") and res.making_amount == to_units("10")
    assert not res.order.is_open and eng.books[YES].snapshot() == ([], [])
    with pytest.raises(OrderRejected) as exc:
        eng.submit(order("SELL", "0.30", "25", "0xt", order_type="FAK"))
    assert exc.value.code == "FAK_ORDER_NOT_FILLED_ERROR"


def test_post_only_crossing_is_rejected_and_resting_is_accepted() -> None:
    eng = engine()
    funded(eng, "0xm")
    funded(eng, "0xt")
    eng.submit(order("SELL", "0.50", "10", "0xm"))
    with pytest.raises(OrderRejected) as exc:
        eng.submit(order("BUY", "0.50", "10", "0xt", post_only=True))
    assert exc.value.code == "INVALID_POST_ONLY_ORDER"
    assert eng.submit(order("BUY", "0.49", "10", "0xt", post_only=True)).status == "live"
    with pytest.raises(OrderRejected):
        eng.submit(order("BUY", "0.49", "10", "0xt", post_only=True, order_type="FOK"))


@pytest.mark.parametrize(("price", "size", "code"), [
    ("0.505", "10", "INVALID_ORDER_MIN_TICK_SIZE"),
    ("0.995", "10", "INVALID_ORDER_MIN_TICK_SIZE"),
    ("0.001", "10", "INVALID_ORDER_MIN_TICK_SIZE"),
    ("0.50", "4.99", "INVALID_ORDER_MIN_SIZE"),
])
def test_tick_and_min_size_rejects(price: str, size: str, code: str) -> None:
    eng = engine()
    funded(eng, "0xt")
    with pytest.raises(OrderRejected) as exc:
        eng.submit(order("BUY", price, size, "0xt"))
    assert exc.value.code == code
    assert eng.orders == {}


def test_finer_tick_market_accepts_finer_prices() -> None:
    eng = engine(tick="0.001")
    funded(eng, "0xt")
    assert eng.submit(order("BUY", "0.505", "10", "0xt")).status == "live"


def test_balance_rejects_count_open_orders_and_fees() -> None:
    eng = engine(fee_rate=0.0)
    eng.fund("0xt", to_units("10"))
    assert eng.submit(order("BUY", "0.50", "15", "0xt")).status == "live"  # reserves 7.5
    with pytest.raises(OrderRejected) as exc:
        eng.submit(order("BUY", "0.50", "6", "0xt"))  # 3 > 2.5 left
    assert exc.value.code == "INVALID_ORDER_NOT_ENOUGH_BALANCE"
    assert eng.submit(order("BUY", "0.50", "5", "0xt")).status == "live"
    with pytest.raises(OrderRejected) as exc:
        eng.submit(order("SELL", "0.50", "5", "0xt"))  # holds no shares
    assert exc.value.code == "INVALID_ORDER_NOT_ENOUGH_BALANCE"
    fee_eng = engine(fee_rate=0.07)
    fee_eng.fund("0xf", to_units("5"))
    with pytest.raises(OrderRejected):  # 5.00 cost + 0.175 fee at the limit price
        fee_eng.submit(order("BUY", "0.50", "10", "0xf"))


def test_duplicate_order_id_is_rejected_even_after_a_kill() -> None:
    eng = engine()
    funded(eng, "0xt")
    eng.submit(order("BUY", "0.40", "10", "0xt", oid="0xdup"))
    with pytest.raises(OrderRejected) as exc:
        eng.submit(order("BUY", "0.40", "10", "0xt", oid="0xdup"))
    assert exc.value.code == "INVALID_ORDER_DUPLICATED"
    with pytest.raises(OrderRejected):
        eng.submit(order("BUY", "0.40", "10", "0xt", order_type="FOK", max_cost="4", oid="0xfok"))
    with pytest.raises(OrderRejected) as exc:
        eng.submit(order("BUY", "0.40", "10", "0xt", order_type="FOK", max_cost="4", oid="0xfok"))
    assert exc.value.code == "INVALID_ORDER_DUPLICATED"


def test_cancel_releases_reservation_and_emits_level_removal() -> None:
    eng = engine(fee_rate=0.0)
    eng.fund("0xt", to_units("10"))
    o = order("BUY", "0.50", "20", "0xt")
    eng.submit(o)
    eng.drain()
    assert eng.cancel(o.id, "0xother", 1) == "order not found"
    assert eng.cancel(o.id, "0xt", 1) is None
    assert eng.cancel(o.id, "0xt", 1) == "order already canceled"
    changes, _ = eng.drain()
    assert [(c.side, c.price, c.size) for c in changes] == [("BUY", to_units("0.50"), 0)]
    assert eng.wallet("0xt").reserved_usdc() == 0


def test_gtd_orders_expire() -> None:
    eng = engine()
    funded(eng, "0xt")
    o = order("BUY", "0.40", "10", "0xt", order_type="GTD", expiration=2_000, now_ms=1_000_000)
    eng.submit(o)
    assert eng.expire(1_999_000) == []
    assert eng.expire(2_000_000) == [o.id]
    with pytest.raises(OrderRejected) as exc:
        eng.submit(order("BUY", "0.40", "10", "0xt", order_type="GTD", expiration=999, now_ms=1_000_000))
    assert exc.value.code == "INVALID_ORDER_EXPIRATION"


def test_snapshot_sorts_best_last_and_events_carry_new_totals() -> None:
    eng = engine()
    funded(eng, "0xm")
    for p in ("0.40", "0.42", "0.41"):
        eng.submit(order("BUY", p, "10", "0xm"))
    for p in ("0.60", "0.58", "0.59"):
        eng.submit(order("SELL", p, "10", "0xm"))
    eng.submit(order("SELL", "0.58", "5", "0xm"))
    bids, asks = eng.books[YES].snapshot()
    assert [p for p, _ in bids] == [to_units(x) for x in ("0.40", "0.41", "0.42")]
    assert [p for p, _ in asks] == [to_units(x) for x in ("0.60", "0.59", "0.58")]
    changes, _ = eng.drain()
    assert {(c.side, c.price): c.size for c in changes}[("SELL", to_units("0.58"))] == to_units("15")


def test_merge_and_resolution_pay_out() -> None:
    eng = engine(fee_rate=0.0)
    eng.fund("0xt", 0, {YES: to_units("10"), NO: to_units("4")})
    eng.merge("0xt", CID, to_units("4"))
    assert eng.wallet("0xt").usdc == to_units("4")
    with pytest.raises(ValueError):
        eng.merge("0xt", CID, to_units("1"))
    payouts = eng.resolve(CID, YES, 5)
    assert payouts == {"0xt": to_units("6")} and eng.wallet("0xt").usdc == to_units("10")
    with pytest.raises(OrderRejected) as exc:
        eng.submit(order("BUY", "0.5", "10", "0xt"))
    assert exc.value.code == "MARKET_NOT_READY"


def test_ledger_records_both_sides() -> None:
    eng = engine()
    funded(eng, "0xm")
    funded(eng, "0xt")
    maker = order("SELL", "0.50", "10", "0xm")
    eng.submit(maker)
    taker = order("BUY", "0.50", "10", "0xt")
    eng.submit(taker)
    (fill,) = eng.ledger
    assert isinstance(fill, Fill)
    assert (fill.maker, fill.taker, fill.maker_order_id, fill.taker_order_id) == ("0xm", "0xt", maker.id, taker.id)
    assert fill.taker_side == "BUY" and fill.maker_side == "SELL" and fill.transaction_hash.startswith("0x")
    assert fill.as_dict()["price"] == "0.5"
