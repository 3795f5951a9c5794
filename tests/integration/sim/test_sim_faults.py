"""Faults on demand, through the Python API and the admin endpoint."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

import tests.support.sim as _support
from botfleet_tools.sim import ApiCreds, SimExchange
from botfleet_tools.sim.auth import l2_headers

signed_order_body = _support.signed_order_body


async def req(sim: SimExchange, method: str, path: str, body: Any = None,
              creds: ApiCreds | None = None) -> tuple[int, Any]:
    if path.startswith("/_sim/"):  # the admin listener, with its token
        return await _support.admin(sim, method, path, body)
    text = json.dumps(body, separators=(",", ":")) if body is not None else ""
    headers = l2_headers(creds, method, path, text) if creds else {}
    async with aiohttp.ClientSession() as s, s.request(method, sim.url + path, data=text or None,
                                                        headers=headers) as r:
        return r.status, await r.json()


async def test_rate_limit_and_errors_then_clear(static_sim: SimExchange) -> None:
    token = static_sim.markets[0].yes_token
    status, body = await req(static_sim, "POST", "/_sim/faults", {"rate_limit": {"seconds": 60}})
    assert status == 200 and body["rate_limit"]["active"]
    assert await req(static_sim, "GET", f"/book?token_id={token}") == (429, {"error": "Too Many Requests"})
    assert (await req(static_sim, "GET", "/_sim/state"))[0] == 200  # admin is never faulted
    static_sim.faults.clear()
    static_sim.faults.set_errors(seconds=60)
    assert (await req(static_sim, "GET", f"/book?token_id={token}"))[0] == 500
    await req(static_sim, "POST", "/_sim/faults", {"clear": True})
    assert (await req(static_sim, "GET", f"/book?token_id={token}"))[0] == 200


async def test_fractional_rate_limit_hits_some_requests(static_sim: SimExchange) -> None:
    static_sim.faults.set_rate_limit(fraction=0.5)
    codes = [(await req(static_sim, "GET", "/time"))[0] for _ in range(40)]
    assert {200, 429} == set(codes)


async def test_cancel_only_blocks_orders_not_cancels(static_sim: SimExchange, sim_creds: ApiCreds) -> None:
    spec = static_sim.markets[0]
    _, placed = await req(static_sim, "POST", "/order",
                          signed_order_body(sim_creds, spec.yes_token, "BUY", 0.05, 5), sim_creds)
    static_sim.faults.set_cancel_only(seconds=60)
    status, body = await req(static_sim, "POST", "/order",
                             signed_order_body(sim_creds, spec.yes_token, "BUY", 0.04, 5), sim_creds)
    assert status == 503 and "cancel-only" in body["error"]
    status, body = await req(static_sim, "DELETE", "/order", {"orderID": placed["orderID"]}, sim_creds)
    assert status == 200 and body["canceled"] == [placed["orderID"]]
    static_sim.faults.clear()
    static_sim.faults.set_trading_disabled(seconds=60)
    assert (await req(static_sim, "DELETE", "/cancel-all", None, sim_creds))[0] == 503
    assert (await req(static_sim, "GET", f"/book?token_id={spec.yes_token}"))[0] == 200


async def test_unknown_fault_is_rejected_by_name(static_sim: SimExchange) -> None:
    status, body = await req(static_sim, "POST", "/_sim/faults", {"rate_limt": {}})
    assert status == 400 and "rate_limt" in body["error"]


async def test_drop_connections_then_reconnect_and_resubscribe(static_sim: SimExchange) -> None:
    token = static_sim.markets[0].yes_token
    sub = json.dumps({"assets_ids": [token], "type": "market"})
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(static_sim.ws_url + "/market") as ws:
            await ws.send_str(sub)
            assert json.loads((await ws.receive(timeout=10)).data)[0]["event_type"] == "book"
            await req(static_sim, "POST", "/_sim/faults", {"drop_ws": True})
            msg = await ws.receive(timeout=10)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
        async with s.ws_connect(static_sim.ws_url + "/market") as ws:
            await ws.send_str(sub)
            assert json.loads((await ws.receive(timeout=10)).data)[0]["asset_id"] == token


async def test_stale_feed_keeps_the_socket_alive_but_silent() -> None:
    sim = await _support.start_sim(seed=3, scenario="demo", speed=0)
    try:
        token = sim.markets[0].yes_token
        async with aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url + "/market") as ws:
            await ws.send_str(json.dumps({"assets_ids": [token], "type": "market"}))
            await ws.receive(timeout=10)
            sim.faults.set_stale_feed()
            for _ in range(100):
                await sim.step()
            await ws.send_str("PING")
            assert (await ws.receive(timeout=10)).data == "PONG"  # alive, and nothing came before PONG
            sim.faults.clear()
            for _ in range(100):
                await sim.step()
            await ws.send_str("PING")
            frames = []
            while (msg := await ws.receive(timeout=10)).data != "PONG":
                frames.append(json.loads(msg.data))
            assert frames
    finally:
        await sim.stop()


async def test_slow_responses(static_sim: SimExchange) -> None:
    static_sim.faults.set_slow(0.05, seconds=60)
    assert (await req(static_sim, "GET", "/time"))[0] == 200
    assert static_sim.faults.status()["slow"]["delay_ms"] == 50


async def test_enforced_rate_limits_answer_429() -> None:
    sim = await _support.start_sim(seed=1, scenario="static", speed=0, enforce_rate_limits=True,
                                   rate_limit_scale=0.01)
    try:
        token = sim.markets[0].yes_token
        codes = [(await req(sim, "GET", f"/book?token_id={token}"))[0] for _ in range(20)]
        assert codes[:15] == [200] * 15 and set(codes[15:]) == {429}
        assert (await req(sim, "GET", f"/tick-size?token_id={token}"))[0] == 200
    finally:
        await sim.stop()
