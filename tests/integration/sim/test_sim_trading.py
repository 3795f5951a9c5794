"""Orders, auth and the user channel over real HTTP/websocket clients, including py-clob-client-v2."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from eth_account import Account
from py_clob_client_v2 import ClobClient
from py_clob_client_v2.clob_types import MarketOrderArgsV2, OrderArgsV2, OrderPayload, OrderType
from py_clob_client_v2.exceptions import PolyApiException

import tests.support.sim as _support
from botfleet_tools.sim import ApiCreds, SimExchange
from botfleet_tools.sim.auth import l2_headers

TEST_ADDRESS: str = _support.TEST_ADDRESS
TEST_PRIVATE_KEY: str = _support.TEST_PRIVATE_KEY
signed_order_body = _support.signed_order_body


def best_ask_of(sim: SimExchange, token: str) -> float:
    ask = sim.engine.books[token].best_ask()
    assert ask is not None
    return ask / 1e6


async def call(sim: SimExchange, creds: ApiCreds | None, method: str, path: str, body: Any = None,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    text = json.dumps(body, separators=(",", ":")) if body is not None else ""
    hdrs = dict(headers) if headers is not None else (l2_headers(creds, method, path, text) if creds else {})
    async with aiohttp.ClientSession() as s, s.request(method, sim.url + path, data=text or None,
                                                        headers=hdrs) as r:
        return r.status, await r.json()


async def test_post_order_rests_then_fills_and_shows_in_orders_and_trades(static_sim: SimExchange,
                                                                          sim_creds: ApiCreds) -> None:
    spec = static_sim.markets[0]
    best_ask = best_ask_of(static_sim, spec.yes_token)
    body = signed_order_body(sim_creds, spec.yes_token, "BUY", round(best_ask - 0.05, 2), 10)
    status, res = await call(static_sim, sim_creds, "POST", "/order", body)
    assert status == 200 and res["success"] and res["status"] == "live" and res["orderID"].startswith("0x")
    status, page = await call(static_sim, sim_creds, "GET", "/data/orders")
    assert [o["id"] for o in page["data"]] == [res["orderID"]] and page["next_cursor"] == "LTE="
    taker = signed_order_body(sim_creds, spec.yes_token, "BUY", best_ask, 10)
    status, res2 = await call(static_sim, sim_creds, "POST", "/order", taker)
    assert status == 200 and res2["status"] == "matched" and res2["takingAmount"] == "10"
    assert res2["transactionsHashes"] and len(res2["tradeIDs"]) == 1
    status, trades = await call(static_sim, sim_creds, "GET", "/data/trades")
    (trade,) = trades["data"]
    assert trade["id"] == res2["tradeIDs"][0] and trade["taker_order_id"] == res2["orderID"]
    assert trade["transaction_hash"] and trade["trader_side"] == "TAKER" and trade["price"] == f"{best_ask:g}"
    fill = static_sim.ledger[-1]
    assert fill.taker.lower() == TEST_ADDRESS.lower() and fill.fee > 0


async def test_same_signed_order_twice_is_a_duplicate(static_sim: SimExchange, sim_creds: ApiCreds) -> None:
    spec = static_sim.markets[1]
    body = signed_order_body(sim_creds, spec.yes_token, "BUY", 0.05, 10)
    assert (await call(static_sim, sim_creds, "POST", "/order", body))[0] == 200
    status, res = await call(static_sim, sim_creds, "POST", "/order", body)
    assert status == 400 and "Duplicated" in res["error"] and res["errorCode"] == "INVALID_ORDER_DUPLICATED"
    assert len(static_sim.engine.open_orders(TEST_ADDRESS.lower())) == 1


async def test_hmac_auth_rejects(static_sim: SimExchange, sim_creds: ApiCreds) -> None:
    body = {"orderID": "0x1"}
    text = json.dumps(body, separators=(",", ":"))
    good = l2_headers(sim_creds, "DELETE", "/order", text)
    assert (await call(static_sim, None, "DELETE", "/order", body, headers=good))[0] == 200
    for bad in ({**good, "POLY_SIGNATURE": good["POLY_SIGNATURE"][:-4] + "AAA="},
                {**good, "POLY_PASSPHRASE": "nope"},
                {**good, "POLY_API_KEY": "00000000-0000-0000-0000-000000000000"},
                {k: v for k, v in good.items() if k != "POLY_TIMESTAMP"},
                {**good, "POLY_ADDRESS": Account.create().address},
                l2_headers(sim_creds, "DELETE", "/orders", text)):
        status, res = await call(static_sim, None, "DELETE", "/order", body, headers=bad)
        assert status == 401 and "error" in res
    assert sim_creds.secret not in json.dumps(res)


async def test_signature_and_signer_checks(static_sim: SimExchange, sim_creds: ApiCreds) -> None:
    negrisk = next(m for m in static_sim.markets if m.neg_risk)
    wrong_domain = signed_order_body(sim_creds, negrisk.yes_token, "BUY", 0.02, 10, neg_risk=False)
    status, res = await call(static_sim, sim_creds, "POST", "/order", wrong_domain)
    assert status == 400 and "invalid signature" in res["error"]
    right = signed_order_body(sim_creds, negrisk.yes_token, "BUY", 0.02, 10, neg_risk=True)
    assert (await call(static_sim, sim_creds, "POST", "/order", right))[0] == 200
    other_key = "0x" + "33" * 32
    foreign = signed_order_body(sim_creds, negrisk.yes_token, "BUY", 0.02, 10, neg_risk=True, private_key=other_key)
    status, res = await call(static_sim, sim_creds, "POST", "/order", foreign)
    assert status == 400 and "address of the API KEY" in res["error"]
    tampered = signed_order_body(sim_creds, negrisk.yes_token, "BUY", 0.02, 10, neg_risk=True)
    tampered["order"]["makerAmount"] = str(int(tampered["order"]["makerAmount"]) + 1)
    assert (await call(static_sim, sim_creds, "POST", "/order", tampered))[0] == 400
    not_owner = {**right, "owner": "someone-else"}
    assert "owner" in (await call(static_sim, sim_creds, "POST", "/order", not_owner))[1]["error"]


async def test_order_validation_errors_over_http(static_sim: SimExchange) -> None:
    poor = Account.from_key(TEST_PRIVATE_KEY).address
    creds = static_sim.create_api_key(poor)
    static_sim.engine.wallet(poor).usdc = 1_000_000  # 1 pUSD
    spec = static_sim.markets[2]
    cases = [
        (signed_order_body(creds, spec.yes_token, "BUY", 0.10, 50), "not enough balance"),
        (signed_order_body(creds, spec.yes_token, "SELL", 0.90, 5), "not enough balance"),
        (signed_order_body(creds, spec.yes_token, "BUY", 0.10, 4), "lower than the minimum"),
        (signed_order_body(creds, spec.yes_token, "BUY", 0.105, 5, tick_size="0.001"), "tick size"),
    ]
    for body, message in cases:
        status, res = await call(static_sim, creds, "POST", "/order", body)
        assert status == 400 and message in res["error"], res
    best_ask = best_ask_of(static_sim, spec.yes_token)
    static_sim.add_wallet(poor, 100)
    crossing = signed_order_body(creds, spec.yes_token, "BUY", best_ask, 5, post_only=True)
    status, res = await call(static_sim, creds, "POST", "/order", crossing)
    assert status == 400 and "crosses book" in res["error"]
    fok = signed_order_body(creds, spec.yes_token, "BUY", best_ask, 10_000, order_type="FOK")
    static_sim.add_wallet(poor, 20_000)
    status, res = await call(static_sim, creds, "POST", "/order", fok)
    assert status == 400 and "FOK orders are fully filled or killed" in res["error"]
    batch = [signed_order_body(creds, spec.yes_token, "BUY", 0.02, 5),
             signed_order_body(creds, spec.yes_token, "BUY", 0.025, 5, tick_size="0.001")]
    status, res = await call(static_sim, creds, "POST", "/orders", batch)
    assert status == 200 and [r["success"] for r in res] == [True, False]


async def test_cancels(static_sim: SimExchange, sim_creds: ApiCreds) -> None:
    a, b = static_sim.markets[0], static_sim.markets[1]
    ids: list[str] = []
    for spec in (a, a, b):
        status, res = await call(static_sim, sim_creds, "POST", "/order",
                                 signed_order_body(sim_creds, spec.yes_token, "BUY", 0.03, 5 + len(ids)))
        ids.append(res["orderID"])
    status, res = await call(static_sim, sim_creds, "DELETE", "/order", {"orderID": ids[0]})
    assert res == {"canceled": [ids[0]], "not_canceled": {}}
    status, res = await call(static_sim, sim_creds, "DELETE", "/orders", [ids[0], "0xnope"])
    assert res["canceled"] == [] and set(res["not_canceled"]) == {ids[0], "0xnope"}
    status, res = await call(static_sim, sim_creds, "DELETE", "/cancel-market-orders", {"market": b.condition_id})
    assert status == 200 and res["canceled"] == [ids[2]]
    status, res = await call(static_sim, sim_creds, "DELETE", "/cancel-all")
    assert status == 200 and res["canceled"] == [ids[1]]
    assert static_sim.engine.open_orders(TEST_ADDRESS.lower()) == []


async def test_user_channel_order_and_trade_events(static_sim: SimExchange, sim_creds: ApiCreds) -> None:
    spec = static_sim.markets[0]
    best_ask = best_ask_of(static_sim, spec.yes_token)
    async with aiohttp.ClientSession() as s, s.ws_connect(static_sim.ws_url + "/user") as ws:
        await ws.send_str(json.dumps({"auth": {"apiKey": sim_creds.api_key, "secret": sim_creds.secret,
                                               "passphrase": sim_creds.passphrase},
                                      "markets": [spec.condition_id], "type": "user"}))
        await ws.send_str("PING")
        assert (await ws.receive(timeout=10)).data == "PONG"
        _status, res = await call(static_sim, sim_creds, "POST", "/order",
                                 signed_order_body(sim_creds, spec.yes_token, "BUY", 0.05, 5))
        await call(static_sim, sim_creds, "POST", "/order",
                   signed_order_body(sim_creds, spec.yes_token, "BUY", best_ask, 5))
        await call(static_sim, sim_creds, "DELETE", "/order", {"orderID": res["orderID"]})
        events: list[dict[str, Any]] = []
        while not any(e.get("status") == "CONFIRMED" for e in events):
            events.append(json.loads((await ws.receive(timeout=10)).data))
        orders = [(e["type"], e["id"]) for e in events if e["event_type"] == "order"]
        assert ("PLACEMENT", res["orderID"]) in orders and ("CANCELLATION", res["orderID"]) in orders
        statuses = [e["status"] for e in events if e["event_type"] == "trade"]
        assert statuses == ["MATCHED", "MINED", "CONFIRMED"]
    async with aiohttp.ClientSession() as s, s.ws_connect(static_sim.ws_url + "/user") as ws:
        await ws.send_str(json.dumps({"auth": {"apiKey": sim_creds.api_key, "secret": "wrong",
                                               "passphrase": sim_creds.passphrase}, "type": "user"}))
        assert "error" in json.loads((await ws.receive(timeout=10)).data)
        assert (await ws.receive(timeout=10)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_key_rotation_keeps_the_account(static_sim: SimExchange, sim_creds: ApiCreds) -> None:
    spec = static_sim.markets[0]
    _, res = await call(static_sim, sim_creds, "POST", "/order",
                        signed_order_body(sim_creds, spec.yes_token, "BUY", 0.05, 5))
    new = static_sim.create_api_key(TEST_ADDRESS)
    assert new.api_key != sim_creds.api_key and new.nonce == 1
    status, keys = await call(static_sim, new, "GET", "/auth/api-keys")
    assert status == 200 and set(keys["apiKeys"]) == {sim_creds.api_key, new.api_key}
    assert (await call(static_sim, sim_creds, "DELETE", "/auth/api-key"))[0] == 200
    assert (await call(static_sim, sim_creds, "GET", "/data/orders"))[0] == 401
    status, page = await call(static_sim, new, "GET", "/data/orders")
    assert status == 200 and [o["id"] for o in page["data"]] == [res["orderID"]]


async def test_heartbeat_dead_man_switch_cancels() -> None:
    sim = await _support.start_sim(seed=1, scenario="static", speed=0, heartbeat_timeout_s=0.5,
                                   chain_id=_support.PYCLOB_CHAIN_ID)
    try:
        creds = sim.create_api_key(TEST_ADDRESS)
        spec = sim.markets[0]
        await call(sim, creds, "POST", "/order", signed_order_body(creds, spec.yes_token, "BUY", 0.05, 5))
        status, res = await call(sim, creds, "POST", "/v1/heartbeats", {"heartbeat_id": ""})
        assert status == 200 and res["status"] == "ok" and res["heartbeat_id"]
        for _ in range(100):
            if not sim.engine.open_orders(TEST_ADDRESS.lower()):
                break
            await asyncio.sleep(0.1)
        assert sim.engine.open_orders(TEST_ADDRESS.lower()) == []
    finally:
        await sim.stop()


async def test_py_clob_client_v2_talks_to_the_sim_unchanged(static_sim: SimExchange) -> None:
    spec = static_sim.markets[0]
    negrisk = next(m for m in static_sim.markets if m.neg_risk)

    def session() -> dict[str, Any]:
        client = ClobClient(host=static_sim.url, chain_id=137, key=TEST_PRIVATE_KEY)
        creds = client.create_or_derive_api_key()
        client.set_api_creds(creds)
        again = ClobClient(host=static_sim.url, chain_id=137, key=TEST_PRIVATE_KEY).create_or_derive_api_key()
        out: dict[str, Any] = {"derived_same": again.api_key == creds.api_key}
        book = client.get_order_book(spec.yes_token)
        ask = float(book["asks"][-1]["price"])
        out["hash_ok"] = client.get_order_book_hash(dict(book)) == book["hash"]
        out["gtc"] = client.create_and_post_order(OrderArgsV2(token_id=spec.yes_token, price=round(ask - 0.05, 2),
                                                              size=10, side="BUY"))
        out["negrisk"] = client.create_and_post_order(OrderArgsV2(token_id=negrisk.yes_token, price=0.02, size=10,
                                                                  side="BUY"))
        out["fok"] = client.create_and_post_market_order(
            MarketOrderArgsV2(token_id=spec.yes_token, amount=5, side="BUY"), order_type=OrderType.FOK)
        out["open"] = len(client.get_open_orders())
        out["trades"] = client.get_trades()
        out["cancel"] = client.cancel_order(OrderPayload(orderID=out["gtc"]["orderID"]))
        out["cancel_all"] = client.cancel_all()
        try:
            client.create_and_post_market_order(MarketOrderArgsV2(token_id=spec.yes_token, amount=10**6, price=0.99,
                                                                  side="BUY"), order_type=OrderType.FOK)
        except PolyApiException as exc:
            out["reject"] = exc.status_code
        return out

    out = await asyncio.get_running_loop().run_in_executor(None, session)
    assert out["derived_same"] and out["hash_ok"]
    assert out["gtc"]["status"] == "live" and out["negrisk"]["status"] == "live"
    assert out["fok"]["status"] == "matched" and float(out["fok"]["makingAmount"]) == pytest.approx(5, abs=1e-4)
    assert out["open"] == 2 and len(out["trades"]) == 1
    assert out["cancel"]["canceled"] == [out["gtc"]["orderID"]]
    assert out["cancel_all"]["canceled"] == [out["negrisk"]["orderID"]]
    assert out["reject"] == 400
