"""Market-data freshness in a running bot, against the simulator.

- a quiet but connected feed keeps its books tradable (PINGs after 1 s of silence prove the
  connection), also past ArbHunter's 2 s maxBookAgeMs, and a quiet exchange is not a stall;
- a feed that answers PING but delivers no data while the exchange trades (sim fault `stale`)
  makes every book untradable: orders are refused (`stale_data`), /readyz answers 503, the age
  gauge grows; when data resumes the books are rebuilt and the bot is ready again.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import aiohttp

from bot_runtime.app import BotApp
from bot_runtime.contract.config import BotConfig, Endpoints
from bot_runtime.credentials import CredentialsReader
from bot_runtime.telemetry.server import TelemetryServer
from bot_runtime.types import Opportunity, OrderIntent
from bot_runtime.venue.polymarket.ws import WsSettings, wall_ms

STALL_S = 1.0
MOVING = {"move_prob": 0.9, "size_noise_prob": 0.9, "jump_prob": 0.0, "whales": 0, "dislocation_every": (0, 0)}


async def wait_for(cond, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def _app(sim: Any, tmp_path: Path, name: str) -> BotApp:
    config = BotConfig.model_validate({
        "name": name, "strategy": "arbhunter", "endpoints": Endpoints.for_sim(sim.url).model_dump(),
        "journal": {"url": f"sqlite:///{tmp_path / 'journal.sqlite'}"}})

    def settings(cfg: BotConfig) -> WsSettings:
        return WsSettings(url=cfg.endpoints.wsMarketUrl, rest_url=cfg.endpoints.clobUrl, stall_after_s=STALL_S,
                          backoff_min_s=0.05, backoff_max_s=0.5)

    return BotApp(config, CredentialsReader(None, env={}), sync_timeout_s=10, ws_settings=settings)


def _far_bid(sim: Any) -> tuple[OrderIntent, Opportunity]:
    spec = next(m for m in sim.markets if not m.neg_risk)
    intent = OrderIntent(market=spec.condition_id, token_id=spec.yes_token, side="BUY", price_e6=20_000,
                         size_e6=10_000_000, order_type="GTC")
    return intent, Opportunity(ts_ms=0, market=spec.condition_id, kind="test", edge=0.0)


async def test_quiet_connected_books_stay_fresh(start_sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim = await start_sim(seed=4, scenario="static", speed=0)
    app = _app(sim, tmp_path, "quiet")
    await app.start()
    try:
        store = app.store
        tokens = list(store.books)
        max_age = app.strategy.p.maxBookAgeMs
        links = {}
        for t in tokens:
            link = store.link_of(t)
            assert link is not None, t
            links[id(link)] = link
        # no market data for longer than ArbHunter's book-age limit
        await wait_for(lambda: all(wall_ms() - lk.data_ms > max_age + 1000 for lk in links.values()))
        ages = [store.book_age_ms(t, wall_ms()) for t in tokens]
        assert all(a is not None and a <= max_age for a in ages), ages
        assert app.readiness() == []
        intent, opp = _far_bid(sim)
        [res] = await app.submit([intent], opp)
        assert res.status == "live", res

        # an exchange that is quiet (nothing trades) while its feed says nothing is not stalled
        sim.faults.set_stale_feed()
        await asyncio.sleep(4 * STALL_S)
        assert app.ws is not None and app.ws.stalled_shards == 0
        assert app.readiness() == []
    finally:
        sim.faults.clear()
        await app.stop()
        await sim.stop()


async def test_stalled_feed_halts_orders_and_readiness(start_sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim = await start_sim(seed=6, scenario="demo", speed=0, scenario_params=MOVING)
    app = _app(sim, tmp_path, "stall")
    stop = asyncio.Event()

    async def exchange_trades() -> None:
        while not stop.is_set():
            await sim.step()
            await asyncio.sleep(0.1)

    stepper = asyncio.create_task(exchange_trades())
    server = TelemetryServer(app.metrics.registry, [app], host="127.0.0.1", port=0)
    await app.start()
    port = await server.start()
    labels = {"bot": "stall", "strategy": "arbhunter"}

    async def readyz(http: aiohttp.ClientSession) -> tuple[int, Any]:
        async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
            return r.status, await r.json()

    try:
        async with aiohttp.ClientSession() as http:
            await wait_for(lambda: app.readiness() == [])
            assert (await readyz(http))[0] == 200
            account = app.execution.executor.signer.address.lower()

            sim.faults.set_stale_feed()  # PING still gets PONG, no data while the books move
            assert app.ws is not None
            await wait_for(lambda: app.ws is not None and app.ws.stalled_shards == app.ws.shard_count)
            sent_before = sum(1 for o in sim.engine.orders.values() if o.account == account)
            status, body = await readyz(http)
            assert status == 503 and any("stalled" in r for r in body["reasons"]["stall"]), body
            assert all(app.store.book_age_ms(t, wall_ms()) is None for t in app.store.books)
            intent, opp = _far_bid(sim)
            [res] = await app.submit([intent], opp)
            assert res.status == "rejected" and res.error == "stale_data", res
            await wait_for(lambda: (app.metrics.registry.get_sample_value(
                "botfleet_market_data_age_seconds", labels) or 0.0) > STALL_S)
            assert sum(1 for o in sim.engine.orders.values() if o.account == account) == sent_before

            sim.faults.clear()  # data resumes: the books are rebuilt, trading resumes
            await wait_for(lambda: all(app.store.book_age_ms(t, wall_ms()) is not None for t in app.store.books))
            await wait_for(lambda: app.readiness() == [])
            assert (await readyz(http))[0] == 200
            [res] = await app.submit([intent], opp)
            assert res.status == "live", res
    finally:
        sim.faults.clear()
        stop.set()
        with contextlib.suppress(Exception):
            await stepper
        await server.stop()
        await app.stop()
        await sim.stop()
