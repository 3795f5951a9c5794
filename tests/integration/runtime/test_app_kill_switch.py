"""A running bot honours a persisted kill switch (no orders, gauge 1) and applies an operator reset
request written by `botfleet kill-switch reset`; its /status says so in the shape the operator reads
(botfleet_operator.conditions.parse_report: Ready=False KillSwitchTripped)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from bot_runtime.app import BotApp
from bot_runtime.app_execution import KILL_RESET_REQUEST_KEY
from bot_runtime.contract.config import BotConfig, Endpoints
from bot_runtime.contract.params import Limits
from bot_runtime.credentials import CredentialsReader
from bot_runtime.execution.journal import SqliteJournal
from bot_runtime.execution.risk import RiskEngine
from bot_runtime.types import Opportunity, OrderIntent
from botfleet_operator.conditions import BotReport, parse_report


def _as_operator_sees_it(status: dict[str, Any]) -> BotReport | None:
    return parse_report("ks-app-0", json.loads(json.dumps(status, default=str)))  # over the wire: JSON


async def wait_for(cond, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.1)


async def test_kill_switch_survives_restart_and_reset_request(start_sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim = await start_sim(seed=5, scenario="static", speed=1.0)
    db = tmp_path / "journal.sqlite"
    j = SqliteJournal(db)
    RiskEngine(Limits.model_validate({}), j).trip("daily_loss", "test")
    j.close()
    config = BotConfig.model_validate({
        "name": "ks-app", "strategy": "arbhunter", "endpoints": Endpoints.for_sim(sim.url).model_dump(),
        "journal": {"url": f"sqlite:///{db}"}})
    app = BotApp(config, CredentialsReader(None, env={}), sync_timeout_s=5)
    await app.start()
    labels = {"bot": "ks-app", "strategy": "arbhunter"}

    def gauge() -> float | None:
        return app.metrics.registry.get_sample_value("botfleet_kill_switch_tripped", labels)

    try:
        await wait_for(lambda: gauge() == 1)
        spec = sim.markets[0]
        intent = OrderIntent(market=spec.condition_id, token_id=spec.yes_token, side="BUY", price_e6=20_000,
                             size_e6=10_000_000)
        res = await app.submit([intent], Opportunity(ts_ms=0, market=spec.condition_id, kind="test", edge=0.0))
        assert res[0].status == "rejected" and res[0].error == "kill_switch"
        report = _as_operator_sees_it(app.status())
        assert report is not None and report.kill_switch and report.kill_reason
        await asyncio.to_thread(app.execution.journal.kv_set, KILL_RESET_REQUEST_KEY, {"by": "carol"})
        # applied by the fill-sync loop (every 2 s); a loaded machine may need several seconds more
        await wait_for(lambda: not app.execution.executor.risk.tripped)
        await wait_for(lambda: gauge() == 0)
        assert app.status()["killSwitch"] == {"tripped": False, "reason": ""}
        assert _as_operator_sees_it(app.status()) == BotReport(pod="ks-app-0", kill_switch=False)
    finally:
        assert await app.stop() is True
        await sim.stop()
