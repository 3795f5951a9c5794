"""Readiness follows the exchange: a bot whose exchange keeps failing reports why, then recovers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import bot_runtime.app_execution as app_execution
from bot_runtime.app import BotApp
from bot_runtime.contract.config import BotConfig, Endpoints
from bot_runtime.credentials import CredentialsReader


async def wait_for(cond, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.2)


async def test_exchange_errors_make_the_bot_unready(start_sim, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_execution, "SYNC_FAILURES_NOT_READY", 2)
    monkeypatch.setattr(app_execution, "FILL_SYNC_INTERVAL_S", 0.3)
    sim = await start_sim(seed=9, scenario="static", speed=1.0)
    config = BotConfig.model_validate({
        "name": "ready", "strategy": "arbhunter", "endpoints": Endpoints.for_sim(sim.url).model_dump(),
        "journal": {"url": f"sqlite:///{tmp_path / 'journal.sqlite'}"}})
    app = BotApp(config, CredentialsReader(None, env={}), sync_timeout_s=5)
    await app.start()
    try:
        await wait_for(lambda: app.readiness() == [])
        sim.faults.set_errors()  # every request answers 5xx until cleared
        await wait_for(lambda: any("exchange failing" in r for r in app.readiness()))
        sim.faults.clear()
        await wait_for(lambda: app.readiness() == [])
    finally:
        sim.faults.clear()
        await app.stop()
        await sim.stop()
