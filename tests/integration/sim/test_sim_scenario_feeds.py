"""Scenario output seen through the APIs: whales in the Data API, dislocations in the books, the CLI."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

import tests.support.sim as _support
from botfleet_tools.sim.cli import run_sim
from botfleet_tools.sim.units import UNIT


async def get(url: str, **params: str) -> Any:
    async with aiohttp.ClientSession() as s, s.get(url, params=params) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_whale_trades_in_data_api_trades_and_activity() -> None:
    sim = await _support.start_sim(seed=8, scenario="whales", speed=0)
    try:
        for _ in range(100):
            await sim.step()
        whale = sim.scenario.whale_wallets[0]
        trades = await get(sim.url + "/data-api/trades", user=whale, limit="1000")
        expected = [f for f in sim.ledger if f.taker == whale]
        assert trades and len(trades) == len(expected)
        t = trades[0]
        for key in ("proxyWallet", "side", "asset", "conditionId", "size", "price", "timestamp",
                    "transactionHash", "outcome", "outcomeIndex"):
            assert key in t
        assert t["proxyWallet"] == whale and t["transactionHash"] == expected[-1].transaction_hash
        activity = await get(sim.url + "/data-api/activity", user=whale, type="TRADE", limit="1000")
        assert {a["type"] for a in activity} == {"TRADE"} and all(a["usdcSize"] > 0 for a in activity)
        assert len(activity) >= len(trades)
        assert abs(activity[0]["usdcSize"] - activity[0]["size"] * activity[0]["price"]) < 1e-5
        positions = await get(sim.url + "/data-api/positions", user=whale)
        assert positions and all(p["proxyWallet"] == whale for p in positions)
    finally:
        await sim.stop()


async def test_dislocations_are_visible_in_the_books_when_injected() -> None:
    sim = await _support.start_sim(seed=5, scenario="arb", speed=0)
    try:
        tokens = [t for m in sim.markets for t in m.tokens]
        async with aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url + "/market") as ws:
            await ws.send_str(json.dumps({"assets_ids": tokens, "type": "market"}))
            await ws.receive(timeout=10)
            checked = 0
            for _ in range(200):
                before = len(sim.scenario.dislocations)
                await sim.step()
                await ws.send_str("PING")
                frames = []
                while (msg := await ws.receive(timeout=10)).data != "PONG":
                    frame = json.loads(msg.data)
                    frames.extend(frame if isinstance(frame, list) else [frame])
                if len(sim.scenario.dislocations) == before:
                    continue
                d = sim.scenario.dislocations[-1]
                asks = [sim.engine.books[a].best_ask() for a in d.assets]
                assert all(a is not None for a in asks)
                assert abs(1 - sum(asks) / UNIT - d.edge) < 1e-9  # type: ignore[arg-type]
                # The frames of that step carry the dislocation's timestamp and its best asks.
                seen = {c["asset_id"]: float(c["best_ask"]) for f in frames if f["event_type"] == "price_change"
                        and f["timestamp"] == str(d.ts_ms) for c in f["price_changes"]}
                assert [seen[a] for a in d.assets] == d.prices
                checked += 1
        assert checked >= 5
        status, listed = await _support.admin(sim, "GET", "/_sim/dislocations")
        assert status == 200
        assert [x["ts_ms"] for x in listed] == [d.ts_ms for d in sim.scenario.dislocations]
    finally:
        await sim.stop()


async def test_run_sim_serves_until_stopped(capsys: Any) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(run_sim("127.0.0.1", 0, "static", 1, 0.0, stop=stop))
    ready: dict[str, Any] = {}
    for _ in range(400):
        await asyncio.sleep(0.05)
        out = capsys.readouterr().out
        if out:
            ready = json.loads(out.splitlines()[0])
            break
    assert ready["event"] == "SIM READY" and ready["markets"] == 10
    assert await get(ready["url"] + "/ok") == "OK"
    assert len(await get(ready["gamma"] + "/markets")) == 10
    stop.set()
    sim = await task
    assert sim.url == ready["url"]


async def test_news_jumps_served_newsapi_style() -> None:
    sim = await _support.start_sim(seed=3, scenario="demo", speed=0, scenario_params={"jump_prob": 0.05})
    try:
        for _ in range(60):
            await sim.step()
        assert sim.scenario.news
        async with aiohttp.ClientSession() as s:
            async with s.get(sim.url + "/newsapi/v2/everything", params={"q": "sim"}) as r:
                assert r.status == 401 and (await r.json())["code"] == "apiKeyMissing"
            headers = {"X-Api-Key": "anything"}
            async with s.get(sim.url + "/newsapi/v2/everything", params={"q": "", "pageSize": "100"},
                             headers=headers) as r:
                body = await r.json()
            assert body["status"] == "ok" and body["totalResults"] == len(sim.scenario.news)
            latest = sim.scenario.news[-1]
            assert body["articles"][0]["title"] == latest.headline()
            word = max(latest.question.rstrip("?").split(), key=len)
            async with s.get(sim.url + "/newsapi/v2/everything", params={"q": word}, headers=headers) as r:
                matched = (await r.json())["articles"]
            assert matched and all(word.lower() in a["title"].lower() for a in matched)
    finally:
        await sim.stop()
