"""A bot recovers from an exchange outage: ready again within RECOVERY_BOUND_S of the exchange
answering again, whatever the market's activity, the outage's length or the endpoint that failed.

Against the real simulator: its `errors` fault (500 on every request, or on named paths only; a
websocket path drops and refuses the market connections) is set for a fixed time, which the
simulator ends by itself. The bot must notice (a readiness reason appears where one must), and
after the fault window every outage state (stalled feed, heartbeat chain, sync failures, endpoint
backoff, dropped connections) must be gone: ready, books synced and, on a quiet market, equal to
the exchange's. The recovery time is measured from the end of the fault window and printed (`-s`);
the wait allows RECOVERY_WAIT_S (3x the bound: the machine may be loaded), so a bot that stays
unready (the old stall that only data could clear) fails, and the bound itself is checked from
the runtime's intervals in `test_recovery_bound_covers_every_recovery_path`.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import bot_runtime.app_execution as app_execution
from bot_runtime.app import BotApp
from bot_runtime.contract.config import BotConfig, Endpoints
from bot_runtime.credentials import CredentialsReader
from bot_runtime.venue.polymarket.ratelimit import Backoff
from bot_runtime.venue.polymarket.ws import WsSettings, books_differ, fetch_books

# The recovery bound (docs/reliability.md): each path back to ready takes at most one of
#   a stall recheck (WsSettings.stall_recheck_s, 2 s) + one POST /books,
#   a websocket reconnect (backoff capped at WsSettings.backoff_max_s, 5 s) + the snapshot,
#   an endpoint's backoff block (Backoff.cap_s, 5 s) then one fill-sync pass or heartbeat,
#   the next heartbeat (EXCHANGE_HEARTBEAT_INTERVAL_S, 5 s),
# and they run in parallel: 5 s plus request time, stated with margin as 10 s.
RECOVERY_BOUND_S = 10.0
RECOVERY_WAIT_S = 3 * RECOVERY_BOUND_S
STALL_S = 1.0      # a silent feed is probed after 1 s (default 5 s): a probe always meets the outage
SHORT_S, LONG_S = 3.0, 20.0   # LONG_S: past the dead-man timeout (10 s) and every backoff cap, with margin
MOVING = {"move_prob": 0.9, "size_noise_prob": 0.9, "jump_prob": 0.0, "whales": 0, "dislocation_every": (0, 0)}
FIGURES: dict[str, float] = {}


def test_recovery_bound_covers_every_recovery_path() -> None:
    ws = WsSettings()
    paths = {
        "stall recheck": ws.stall_recheck_s,
        "websocket reconnect backoff": ws.backoff_max_s,
        "endpoint backoff block": Backoff().cap_s,
        "heartbeat cadence": app_execution.EXCHANGE_HEARTBEAT_INTERVAL_S,
        "fill-sync cadence": app_execution.FILL_SYNC_INTERVAL_S,
    }
    slow = {k: v for k, v in paths.items() if v > RECOVERY_BOUND_S / 2}  # half the bound: request time
    assert not slow, f"a recovery path is slower than the stated bound allows: {slow}"


async def _watch(app: BotApp, seen: set[str], stop: asyncio.Event) -> None:
    """Every readiness reason the bot gave during the test (the first words of each)."""
    while not stop.is_set():
        for r in app.readiness():
            seen.add(r.split(":")[0])
        await asyncio.sleep(0.05)


async def _wait(cond: Any, timeout: float, what: str) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not cond():
        assert loop.time() - started < timeout, f"{what}: not reached in {timeout:.0f}s"
        await asyncio.sleep(0.05)
    return loop.time() - started


CASES = {
    # name: (scenario, outage seconds, fault paths (None: every HTTP request), a reason that must show)
    "quiet-short": ("static", SHORT_S, None, "market data stalled"),
    "quiet-long": ("static", LONG_S, None, "exchange heartbeat failing for"),
    "busy-short": ("demo", SHORT_S, None, None),
    "busy-long": ("demo", LONG_S, None, "exchange heartbeat failing for"),
    "quiet-books": ("static", LONG_S, ["/books", "/book"], "market data stalled"),
    "quiet-trades": ("static", LONG_S, ["/data/trades"], "exchange failing for"),
    "quiet-heartbeats": ("static", LONG_S, ["/v1/heartbeats"], "exchange heartbeat failing for"),
    "quiet-websocket": ("static", LONG_S, ["/ws/market"], "market data"),
    "busy-websocket": ("demo", LONG_S, ["/ws/market"], "market data"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_bot_is_ready_again_after_an_outage(case: str, start_sim, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    scenario, outage_s, paths, must_show = CASES[case]
    monkeypatch.setattr(app_execution, "SYNC_FAILURES_NOT_READY", 2)  # noticed sooner; recovery unchanged
    busy = scenario == "demo"
    sim = await start_sim(seed=9, scenario=scenario, speed=1.0, scenario_params=MOVING if busy else {})
    config = BotConfig.model_validate({
        "name": f"recover-{case}", "strategy": "arbhunter", "endpoints": Endpoints.for_sim(sim.url).model_dump(),
        "journal": {"url": f"sqlite:///{tmp_path / 'journal.sqlite'}"}})

    def settings(cfg: BotConfig) -> WsSettings:  # production settings but the stall limit
        return WsSettings(url=cfg.endpoints.wsMarketUrl, rest_url=cfg.endpoints.clobUrl, stall_after_s=STALL_S)

    app = BotApp(config, CredentialsReader(None, env={}), sync_timeout_s=10, ws_settings=settings)
    seen: set[str] = set()
    stop = asyncio.Event()
    await app.start()
    watcher = asyncio.create_task(_watch(app, seen, stop))
    try:
        await _wait(lambda: app.readiness() == [], RECOVERY_WAIT_S, "ready at start")
        seen.clear()
        sim.faults.set_errors(seconds=outage_s, paths=paths)
        await _wait(lambda: not sim.faults.errors.on(time.monotonic()), outage_s + 60, "fault window over")
        ws = app.ws
        assert ws is not None
        # ready, and every book rebuilt: /readyz alone tolerates unsynced books younger than 30 s,
        # so it can read ready between a reconnect and the snapshot that follows it
        recovered_s = await _wait(lambda: app.readiness() == [] and ws.all_synced(), RECOVERY_WAIT_S,
                                  f"ready again after the outage (reasons: {app.readiness()})")
        FIGURES[case] = recovered_s
        print(f"\n{case}: outage {outage_s:.0f}s, ready {recovered_s:.2f}s after it ended; seen {sorted(seen)}")
        if must_show:
            assert any(r.startswith(must_show) for r in seen), f"the outage went unnoticed: {sorted(seen)}"

        # no outage state left behind (a failure counted below the readiness threshold included)
        ex = app.execution
        await _wait(lambda: (ex.sync_failures, ex.heartbeat_failures, ws.stalled_shards) == (0, 0, 0)
                    and not ex.heartbeat_problem(), RECOVERY_WAIT_S,
                    f"outage state cleared ({ex.sync_failures}, {ex.heartbeat_failures}, {ws.stalled_shards})")
        assert ws.connected_shards == ws.shard_count  # (a busy market may desync a book any time)
        if not busy:  # a quiet exchange: our books are the exchange's, level for level
            async with aiohttp.ClientSession() as http:
                items = await fetch_books(http, sim.url, sorted(app.store.books))
            assert not books_differ(app.store, items)
    finally:
        stop.set()
        await watcher
        sim.faults.clear()
        await app.stop()
        await sim.stop()
