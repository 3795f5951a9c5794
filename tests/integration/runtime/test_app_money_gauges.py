"""The money a person watches, exported by a running bot: PnL since UTC midnight (what the kill
switch compares) and the limits the risk engine enforces, in /status and as gauges (the fleet table
and `botfleet fleet status` read them)."""

from __future__ import annotations

import asyncio
from typing import Any

from bot_runtime.app import BotApp
from bot_runtime.contract.config import BotConfig, Endpoints
from bot_runtime.credentials import CredentialsReader


async def test_pnl_today_and_limits_are_exported(start_sim: Any, tmp_path: Any) -> None:
    sim = await start_sim(seed=5, scenario="static", speed=1.0)
    config = BotConfig.model_validate({
        "name": "money", "strategy": "arbhunter", "endpoints": Endpoints.for_sim(sim.url).model_dump(),
        "journal": {"url": f"sqlite:///{tmp_path}/journal.sqlite"},
        "limits": {"maxDailyLossUsd": 75, "maxTotalExposureUsd": 1500}})
    app = BotApp(config, CredentialsReader(None, env={}), sync_timeout_s=5)
    await app.start()
    reg = app.metrics.registry
    labels = {"bot": "money", "strategy": "arbhunter"}
    try:
        for _ in range(100):  # the gauge loop runs about once a second
            if reg.get_sample_value("botfleet_limit_usd", {**labels, "limit": "maxDailyLossUsd"}) is not None:
                break
            await asyncio.sleep(0.1)
        assert reg.get_sample_value("botfleet_limit_usd", {**labels, "limit": "maxDailyLossUsd"}) == 75
        assert reg.get_sample_value("botfleet_limit_usd", {**labels, "limit": "maxTotalExposureUsd"}) == 1500
        assert reg.get_sample_value("botfleet_pnl_today_usd", labels) == 0
        assert reg.get_sample_value("process_resident_memory_bytes") > 10 * 2**20
        status = app.status()
        assert status["pnlTodayUsd"] == 0 and status["limits"]["maxDailyLossUsd"] == 75
    finally:
        assert await app.stop() is True
        await sim.stop()
