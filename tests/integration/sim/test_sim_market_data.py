"""Market data over real HTTP and websocket clients: Gamma, REST books, the market channel."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import aiohttp
from py_clob_client_v2.utilities import generate_orderbook_summary_hash, parse_raw_orderbook_summary

from botfleet_tools.sim import SimExchange

# Loaded by path in conftest.py (the `tests` package name is shadowed by a dependency).
from tests.support.sim import start_sim


async def get(url: str, **params: str) -> Any:
    async with aiohttp.ClientSession() as s, s.get(url, params=params) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_gamma_markets_and_events_have_polymarket_shapes(static_sim: SimExchange) -> None:
    markets = await get(static_sim.url + "/gamma/markets")
    assert len(markets) == len(static_sim.markets)
    m = markets[0]
    tokens = json.loads(m["clobTokenIds"])
    assert tokens == [static_sim.markets[0].yes_token, static_sim.markets[0].no_token]
    assert json.loads(m["outcomes"]) == ["Yes", "No"] and len(json.loads(m["outcomePrices"])) == 2
    for key in ("conditionId", "negRisk", "orderPriceMinTickSize", "orderMinSize", "feesEnabled", "category",
                "acceptingOrders", "enableOrderBook", "active", "closed"):
        assert key in m
    one = await get(static_sim.url + "/gamma/markets", condition_ids=m["conditionId"])
    assert [x["id"] for x in one] == [m["id"]]
    events = await get(static_sim.url + "/gamma/events")
    negrisk = [e for e in events if e["negRisk"]]
    assert len(negrisk) == 1 and len(negrisk[0]["markets"]) == 4
    assert all(mk["negRiskMarketID"] == negrisk[0]["negRiskMarketID"] for mk in negrisk[0]["markets"])
    assert len(events) == len(static_sim.markets) - 4 + 1


async def test_rest_book_best_last_with_a_hash_the_sdk_accepts(static_sim: SimExchange) -> None:
    spec = static_sim.markets[0]
    book = await get(static_sim.url + "/book", token_id=spec.yes_token)
    bids = [Decimal(b["price"]) for b in book["bids"]]
    asks = [Decimal(a["price"]) for a in book["asks"]]
    assert bids == sorted(bids) and asks == sorted(asks, reverse=True)
    assert bids[-1] < asks[-1]
    summary = parse_raw_orderbook_summary(book)
    assert generate_orderbook_summary_hash(summary) == book["hash"]
    assert book["tick_size"] == "0.01" and book["min_order_size"] == "5" and book["neg_risk"] is False
    assert (await get(static_sim.url + "/tick-size", token_id=spec.yes_token)) == {"minimum_tick_size": 0.01}
    assert (await get(static_sim.url + "/neg-risk", token_id=spec.yes_token)) == {"neg_risk": False}
    fee = await get(static_sim.url + "/fee-rate", token_id=spec.yes_token)
    assert fee == {"base_fee": round(spec.fee_rate * 10_000)}
    async with aiohttp.ClientSession() as s:
        async with s.post(static_sim.url + "/books", json=[{"token_id": t} for t in spec.tokens]) as r:
            assert [b["asset_id"] for b in await r.json()] == list(spec.tokens)
        async with s.get(static_sim.url + "/book", params={"token_id": "42"}) as r:
            assert r.status == 404 and "error" in await r.json()


def apply(book: dict[str, dict[str, dict[Decimal, Decimal]]], frame: Any) -> int:
    """Apply one market-channel frame to local books (asset -> side -> price -> size)."""
    n = 0
    for ev in frame if isinstance(frame, list) else [frame]:
        if ev["event_type"] == "book":
            book[ev["asset_id"]] = {"BUY": {Decimal(x["price"]): Decimal(x["size"]) for x in ev["bids"]},
                                    "SELL": {Decimal(x["price"]): Decimal(x["size"]) for x in ev["asks"]}}
        elif ev["event_type"] == "price_change":
            for ch in ev["price_changes"]:
                side = book[ch["asset_id"]][ch["side"]]
                if Decimal(ch["size"]) == 0:
                    side.pop(Decimal(ch["price"]), None)
                else:
                    side[Decimal(ch["price"])] = Decimal(ch["size"])
                n += 1
            for ch in ev["price_changes"]:  # best_bid / best_ask: the state after the whole event
                levels = book[ch["asset_id"]]
                assert Decimal(ch["best_bid"]) == max(levels["BUY"], default=Decimal(0))
                assert Decimal(ch["best_ask"]) == min(levels["SELL"], default=Decimal(0))
    return n


async def drain_until_pong(ws: aiohttp.ClientWebSocketResponse, local: dict) -> int:
    """Everything the server sent before our PING arrives before its PONG."""
    await ws.send_str("PING")
    n = 0
    while True:
        msg = await ws.receive(timeout=10)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        if msg.data == "PONG":
            return n
        n += apply(local, json.loads(msg.data))


async def test_websocket_book_plus_price_changes_equals_rest_book() -> None:
    sim = await start_sim(seed=4, scenario="demo", speed=0)
    try:
        tokens = [t for m in sim.markets for t in m.tokens]
        local: dict[str, dict[str, dict[Decimal, Decimal]]] = {}
        async with aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url + "/market") as ws:
            await ws.send_str(json.dumps({"assets_ids": tokens, "type": "market", "custom_feature_enabled": True}))
            first = json.loads((await ws.receive(timeout=10)).data)
            assert isinstance(first, list) and {e["event_type"] for e in first} == {"book"}
            apply(local, first)
            changes = 0
            for _ in range(300):
                await sim.step()
            changes += await drain_until_pong(ws, local)
            assert changes > 300 and sim.ledger  # books moved and whales traded
            for token in tokens:
                async with s.get(sim.url + "/book", params={"token_id": token}) as r:
                    rest = await r.json()
                assert local[token]["BUY"] == {Decimal(x["price"]): Decimal(x["size"]) for x in rest["bids"]}
                assert local[token]["SELL"] == {Decimal(x["price"]): Decimal(x["size"]) for x in rest["asks"]}
    finally:
        await sim.stop()


async def test_subscribe_operations_and_event_kinds() -> None:
    sim = await start_sim(seed=2, scenario="demo", speed=0)
    try:
        spec = sim.markets[0]
        async with aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url + "/market") as ws:
            await ws.send_str("PING")
            assert (await ws.receive(timeout=10)).data == "PONG"
            await ws.send_str(json.dumps({"assets_ids": [spec.yes_token], "type": "market",
                                          "custom_feature_enabled": True}))
            assert json.loads((await ws.receive(timeout=10)).data)[0]["asset_id"] == spec.yes_token
            await ws.send_str(json.dumps({"assets_ids": [spec.no_token], "operation": "subscribe"}))
            assert json.loads((await ws.receive(timeout=10)).data)[0]["asset_id"] == spec.no_token
            kinds: set[str] = set()
            seen: set[str] = set()
            for _ in range(200):
                await sim.step()
            sim.set_tick_size(spec.condition_id, "0.001")
            await sim.flush()
            await ws.send_str("PING")
            while (msg := await ws.receive(timeout=10)).data != "PONG":
                frame = json.loads(msg.data)
                for ev in frame if isinstance(frame, list) else [frame]:
                    kinds.add(ev["event_type"])
                    seen.update(c["asset_id"] for c in ev.get("price_changes", []))
                    seen.add(ev.get("asset_id", spec.yes_token))
            assert {"price_change", "best_bid_ask", "tick_size_change"} <= kinds
            assert seen <= set(spec.tokens)
            await ws.send_str(json.dumps({"assets_ids": list(spec.tokens), "operation": "unsubscribe"}))
            await ws.send_str("PING")
            assert (await ws.receive(timeout=10)).data == "PONG"
            for _ in range(50):
                await sim.step()
            await ws.send_str("PING")
            assert (await ws.receive(timeout=10)).data == "PONG"  # nothing in between once unsubscribed
    finally:
        await sim.stop()


async def test_market_resolution_is_announced_and_pays_out() -> None:
    sim = await start_sim(seed=2, scenario="static", speed=0)
    try:
        spec = sim.markets[0]
        holder = "0x" + "ab" * 20
        sim.add_wallet(holder, 0, {spec.yes_token: 7, spec.no_token: 3})
        async with aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url + "/market") as ws:
            await ws.send_str(json.dumps({"assets_ids": [spec.yes_token], "type": "market",
                                          "custom_feature_enabled": True}))
            await ws.receive(timeout=10)
            payouts = sim.resolve_market(spec.condition_id, spec.yes_token)
            await sim.flush()
            await ws.send_str("PING")
            events = []
            while (msg := await ws.receive(timeout=10)).data != "PONG":
                frame = json.loads(msg.data)
                events.extend(frame if isinstance(frame, list) else [frame])
        resolved = [e for e in events if e["event_type"] == "market_resolved"]
        assert resolved and resolved[0]["winning_asset_id"] == spec.yes_token
        assert sim.balance(holder) == 7 and payouts[holder] == 7_000_000
        (gm,) = await get(sim.url + "/gamma/markets", condition_ids=spec.condition_id)
        assert gm["closed"] is True and gm["acceptingOrders"] is False
        assert await get(sim.url + "/gamma/markets", closed="false") and all(
            not m["closed"] for m in await get(sim.url + "/gamma/markets", closed="false"))
    finally:
        await sim.stop()


async def test_background_stepping_moves_the_books(sim: SimExchange) -> None:
    tokens = [t for m in sim.markets for t in m.tokens]
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url + "/market") as ws:
        await ws.send_str(json.dumps({"assets_ids": tokens, "type": "market"}))
        assert isinstance(json.loads((await ws.receive(timeout=10)).data), list)
        kinds: set[str] = set()
        while "price_change" not in kinds:
            frame = json.loads((await ws.receive(timeout=10)).data)
            kinds.update(e["event_type"] for e in (frame if isinstance(frame, list) else [frame]))
    assert sim.scenario.step_no > 1
