"""Wire parsing (trades, orders, POST results), the fee formula and the token buckets."""

from __future__ import annotations

import asyncio

from bot_runtime.venue.polymarket.clob import (
    fills_from_trade,
    open_order_from_json,
    parse_e6,
    post_result_from_json,
)
from bot_runtime.venue.polymarket.constants import CLOB_LIMITS, E6
from bot_runtime.venue.polymarket.fees import taker_fee_e6
from bot_runtime.venue.polymarket.ratelimit import Backoff, RateLimiter, TokenBucket

TRADE = {
    "id": "t1", "taker_order_id": "0xtaker", "market": "0xm", "asset_id": "9", "side": "BUY", "size": "10",
    "fee_rate_bps": "700", "price": ".5", "status": "MATCHED", "match_time": "1700000000", "owner": "key-a",
    "trader_side": "TAKER",
    "maker_orders": [
        {"order_id": "0xm1", "owner": "key-b", "maker_address": "0xB", "matched_amount": "6", "price": "0.5",
         "asset_id": "9", "side": "SELL"},
        {"order_id": "0xm2", "owner": "key-a", "maker_address": "0xA", "matched_amount": "4", "price": "0.5",
         "asset_id": "9", "side": "SELL"},
    ],
}


def test_parse_e6() -> None:
    assert [parse_e6(x) for x in (".48", "0.48", "5", 5, "219.217767", "", None, "-0.5", "1e-6")] == \
        [480_000, 480_000, 5 * E6, 5 * E6, 219_217_767, 0, 0, -500_000, 1]


def test_taker_fill_with_computed_fee() -> None:
    [f] = fills_from_trade(TRADE, "key-a")
    assert (f.trade_id, f.order_id, f.side, f.price_e6, f.size_e6) == ("t1", "0xtaker", "BUY", 500_000, 10 * E6)
    assert f.fee_e6 == taker_fee_e6(10 * E6, 500_000, 70_000) == 175_000   # 10 * 0.07 * 0.25
    assert f.ts_ms == 1_700_000_000_000


def test_maker_view_takes_only_our_maker_orders() -> None:
    maker_view = {**TRADE, "trader_side": "MAKER", "owner": "key-a"}
    [f] = fills_from_trade(maker_view, "key-a")
    assert (f.trade_id, f.order_id, f.side, f.size_e6, f.fee_e6) == ("t1:0xm2", "0xm2", "SELL", 4 * E6, 0)
    assert [x.order_id for x in fills_from_trade(maker_view, "other", address="0xb")] == ["0xm1"]
    ms = {**TRADE, "match_time": "1700000000123", "fee": "0.01"}
    [g] = fills_from_trade(ms, "key-a")
    assert g.ts_ms == 1_700_000_000_123 and g.fee_e6 == 10_000


def test_open_order_and_post_results() -> None:
    o = open_order_from_json({"id": "0x1", "market": "0xm", "asset_id": "9", "side": "buy", "price": "0.4",
                              "original_size": "10", "size_matched": "2.5", "status": "LIVE"})
    assert (o.side, o.remaining_e6, o.status) == ("BUY", 7_500_000, "live")
    ok = post_result_from_json("0xh", 200, {"success": True, "orderID": "0xh", "status": "matched",
                                            "makingAmount": "5", "takingAmount": "10", "tradeIDs": ["t"]})
    assert ok.ok and ok.making_e6 == 5 * E6 and ok.trade_ids == ("t",)
    bad = post_result_from_json("0xh", 400, {"error": "not enough balance"})
    assert not bad.ok and bad.definite and bad.error == "not enough balance"
    unknown = post_result_from_json("0xh", 502, "<html>")
    assert not unknown.ok and not unknown.definite


def test_token_bucket_refills_at_the_documented_rate() -> None:
    now = [0.0]
    b = TokenBucket(3_500, 10.0, clock=lambda: now[0])
    for _ in range(3_500):
        b.take()
    assert b.wait_time() == 1 / 350
    now[0] += 1.0
    assert b.wait_time(350) == 0 and b.wait_time(351) > 0
    assert CLOB_LIMITS[("POST", "/order")] == [(3_500, 10.0), (36_000, 600.0)]


async def test_limiter_blocks_an_endpoint_not_the_others() -> None:
    now = [100.0]
    lim = RateLimiter(limits={("POST", "/order"): [(2, 10.0)]}, clock=lambda: now[0])
    await lim.acquire("POST", "/order")
    await lim.acquire("POST", "/order")
    assert lim.delay("POST", "/order") == 5.0               # 1 token per 5 s
    lim.block("DELETE", "/order", 30)
    assert lim.delay("DELETE", "/order") == 30 and lim.delay("GET", "/data/orders") == 0
    waiter = asyncio.ensure_future(lim.acquire("POST", "/order"))
    await asyncio.sleep(0)
    assert not waiter.done()
    await lim.acquire("GET", "/data/orders")                # not held up by the waiting POST
    now[0] += 5
    await asyncio.wait_for(waiter, 1)


def test_backoff() -> None:
    b = Backoff(base_s=0.1, cap_s=1.0)
    assert all(0 <= b.delay(a) <= min(1.0, 0.1 * 2 ** a) for a in range(10))
    assert b.delay(3, retry_after=2.0) == 2.0
