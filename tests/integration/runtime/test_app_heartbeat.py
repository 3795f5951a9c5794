"""The exchange's dead-man switch (`POST /v1/heartbeats`), against the simulator.

A running bot heartbeats, so its resting orders outlive the exchange's timeout; a bot that stops
heartbeating (its loop paused here, as a SIGKILLed or hung process would) has them canceled by the
exchange; a failed heartbeat is counted as `botfleet_api_errors_total{endpoint="heartbeat"}`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import bot_runtime.app_execution as app_execution
from bot_runtime.app import BotApp
from bot_runtime.contract.config import BotConfig, Endpoints
from bot_runtime.credentials import CredentialsReader
from bot_runtime.types import Opportunity, OrderIntent

TIMEOUT_S = 2.0   # the simulator's dead-man timeout, shortened from Polymarket's 10 s


async def wait_for(cond, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.1)


def _task(app: BotApp, name: str) -> asyncio.Task[object]:
    return next(t for t in app._tasks if t.get_name() == f"{app.name}:{name}")


async def test_resting_orders_live_while_heartbeating_and_die_when_it_stops(  # type: ignore[no-untyped-def]
        start_sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_execution, "EXCHANGE_HEARTBEAT_INTERVAL_S", TIMEOUT_S / 4)
    monkeypatch.setattr(app_execution, "DEAD_MAN_TIMEOUT_S", TIMEOUT_S)
    sim = await start_sim(seed=5, scenario="static", speed=0, heartbeat_timeout_s=TIMEOUT_S)
    config = BotConfig.model_validate({
        "name": "hb", "strategy": "arbhunter", "endpoints": Endpoints.for_sim(sim.url).model_dump(),
        "journal": {"url": f"sqlite:///{tmp_path / 'journal.sqlite'}"}})
    app = BotApp(config, CredentialsReader(None, env={}), sync_timeout_s=5)
    await app.start()
    labels = {"bot": "hb", "strategy": "arbhunter", "endpoint": "heartbeat"}
    try:
        account = app.execution.executor.signer.address.lower()
        assert account in sim.heartbeats, "the dead-man switch is armed before the strategy starts"
        spec = next(m for m in sim.markets if not m.neg_risk)
        intent = OrderIntent(market=spec.condition_id, token_id=spec.yes_token, side="BUY", price_e6=20_000,
                             size_e6=10_000_000, order_type="GTC")
        [res] = await app.submit([intent], Opportunity(ts_ms=0, market=spec.condition_id, kind="test", edge=0.0))
        assert res.status == "live", res
        # three dead-man windows go by: the heartbeat loop keeps the order alive
        await asyncio.sleep(3 * TIMEOUT_S)
        assert [o.id.lower() for o in sim.engine.open_orders(account)] == [res.order_id.lower()]

        # the bot stops heartbeating (a hung or SIGKILLed process): the exchange cancels its orders
        hb = _task(app, "exchange-heartbeat")
        hb.cancel()
        await asyncio.gather(hb, return_exceptions=True)
        await wait_for(lambda: not sim.engine.open_orders(account), timeout=10 * TIMEOUT_S)
        assert res.order_id.lower() in app.execution.executor.open_orders  # the bot does not know yet

        # the next heartbeat finds the lapse and forgets the orders the exchange canceled
        assert await app.execution.exchange_heartbeat()
        assert app.execution.executor.open_orders == {}
        row = await asyncio.to_thread(app.execution.journal.order_by_hash, res.order_id)
        assert row is not None and row.status == "canceled"

        # a failed heartbeat is counted under endpoint="heartbeat" and, once the exchange's
        # timeout has passed without a good one, makes the bot unready
        before = app.metrics.registry.get_sample_value(
            "botfleet_api_errors_total", {**labels, "kind": "server"}) or 0.0
        sim.faults.set_errors()
        assert not await app.execution.exchange_heartbeat()
        after = app.metrics.registry.get_sample_value("botfleet_api_errors_total", {**labels, "kind": "server"})
        assert after == before + 1
        app.execution.heartbeat_ok_at -= TIMEOUT_S + 1  # as if the failures had lasted that long
        assert any("exchange heartbeat failing" in r for r in app.readiness())
        sim.faults.clear()
        assert await app.execution.exchange_heartbeat()
        assert not any("heartbeat" in r for r in app.readiness())
    finally:
        sim.faults.clear()
        await app.stop()
        await sim.stop()
