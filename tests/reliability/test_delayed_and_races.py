"""The whole bot (ArbHunter) against the simulator's realism faults, then the crash-safety comparison:
the journal equals the exchange's ledger (no duplicate, lost or phantom fill, same positions, nothing
left pending) and no leg is naked without a journaled account of it.

- a delayed-fill storm: half the orders answered `delayed` and matched later, a faster competing
  taker, order-entry latency, frequent arbitrage over several levels;
- overlapping sets: a binary set and a neg-risk set that share one cheap YES level, with delayed
  matching holding the first execution open: only one set may trade the token.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from crash_checks import compare

from bot_runtime.app import BotApp
from bot_runtime.contract.config import BotConfig, Endpoints
from bot_runtime.credentials import CredentialsReader
from bot_runtime.execution.journal import SqliteJournal
from bot_runtime.venue.polymarket.constants import E6
from botfleet_tools.sim.units import UNIT
from tests.support.sim import start_sim

DUST_E6 = 1 * E6  # a market BUY's dollars are signed in whole cents: legs may differ by a cent's worth


async def _until(cond: Any, limit_s: float, what: str) -> None:
    end = time.monotonic() + limit_s
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _bot(sim: Any, tmp: Path, **params: Any) -> tuple[BotApp, Path]:
    db = tmp / "journal.sqlite"
    config = BotConfig.model_validate({
        "name": "arb-rel", "strategy": "arbhunter", "endpoints": Endpoints.for_sim(sim.url).model_dump(),
        "journal": {"url": f"sqlite:///{db}"}, "params": params})
    return BotApp(config, CredentialsReader(None, env={}), sync_timeout_s=10), db


async def _quiesce(app: BotApp) -> None:
    """No execution in flight and no order awaiting the exchange's final word."""
    ex = app.execution.executor
    strat: Any = app.strategy
    await _until(lambda: not ex._unresolved and len(strat.tasks) == 0, 60, "in-flight executions to settle")


def _check_ledger_and_naked_legs(sim: Any, db: Path, address: str) -> dict[str, int]:
    j = SqliteJournal(db)
    try:
        rows, fills = j.orders(), j.fills()
        wallet = sim.engine.wallet(address)
        mine = [o for o in sim.engine.orders.values() if not o.internal and o.maker.lower() == address.lower()]
        diff = compare(rows, fills, mine, sim.ledger, {t: n * E6 // UNIT for t, n in wallet.positions.items() if n},
                       address)
        assert not diff, diff
        # every arbitrage group: its legs end level, or the excess is journaled as a naked remainder
        naked: dict[str, int] = defaultdict(int)
        for ev in j.events("naked_remainder"):
            naked[ev.data["group"]] += int(ev.data["shares_e6"])
        groups: dict[str, list[Any]] = defaultdict(list)
        for r in rows:
            groups[r.group_id].append(r)
        stats = {"groups": 0, "unbalanced": 0}
        for gid, rs in groups.items():
            legs = [r for r in rs if r.intent.reason in ("arb:binary", "arb:negrisk")]
            if not legs:
                continue
            stats["groups"] += 1
            net = {r.intent.token_id: 0 for r in legs}
            for r in rs:
                if r.intent.token_id in net:
                    net[r.intent.token_id] += r.filled_size_e6 if r.intent.side == "BUY" else -r.filled_size_e6
            excess = max(net.values()) - min(net.values())
            if excess > DUST_E6:
                stats["unbalanced"] += 1
            assert excess <= naked[gid] + DUST_E6, (gid, net, naked[gid], [(r.intent.reason, r.status) for r in rs])
        return stats
    finally:
        j.close()


async def test_delayed_fill_storm_keeps_journal_equal_to_ledger(tmp_path: Path) -> None:
    sim = await start_sim(seed=21, scenario="arb", speed=2.0,
                          scenario_params={"dislocation_levels": 2, "dislocation_every": (5, 12)},
                          preset_faults=False)
    sim.faults.apply({"delayed": {"delay_ms": 300, "fraction": 0.5}, "order_latency": {"delay_ms": 30},
                      "competitor": {"latency_ms": 10, "fraction": 0.3, "share": 0.5}})
    app, db = _bot(sim, tmp_path, cooldownMs=0)
    await app.start()
    try:
        strat: Any = app.strategy
        await _until(lambda: sum(strat.results.values()) >= 8, 120, "eight arbitrage executions")
        sim.faults.clear()
        await _quiesce(app)
        results = dict(strat.results)
        address = app.execution.executor.signer.address
    finally:
        assert await app.stop() is True
    try:
        await asyncio.sleep(0)  # nothing pending now: stop() synced the last fills
        stats = _check_ledger_and_naked_legs(sim, db, address)
        print(f"storm: {stats}, results {results}, delayed {sim.delayed_total}, "
              f"competitor fills {sim.competitor_fills}")
        assert stats["groups"] >= 8 and results["won"] >= 1, (stats, results)
        assert sim.delayed_total >= 4 and sim.competitor_fills >= 1  # the storm really happened
    finally:
        await sim.stop()


async def test_overlapping_sets_never_buy_one_token_twice(tmp_path: Path) -> None:
    sim = await start_sim(seed=4, scenario="static", speed=0, preset_faults=False)
    app, db = _bot(sim, tmp_path, cooldownMs=0, minProfitThreshold=0.005)
    await app.start()
    try:
        strat: Any = app.strategy
        event = next(e for e in sim.scenario.events if e.neg_risk)
        specs = [m for m in sim.markets if m.neg_risk_market_id == event.neg_risk_market_id]
        target = specs[0]
        assert {"binary", "negrisk"} <= {s.kind for s in strat.sets if target.yes_token in s.tokens}
        others = [sim.engine.top(m.yes_token).best_ask for m in specs[1:]]
        no_ask = sim.engine.top(target.no_token).best_ask
        # the outcome's YES book becomes one cheap level that makes both sets arbitrage: binary
        # YES+NO and the event's YES sum (the market maker's quotes on it are pulled first)
        cheap = 20_000
        assert cheap + no_ask < 0.93 * E6 and cheap + sum(others) < 0.95 * E6
        sim.faults.set_delayed(0.3)  # the first execution stays open while the other set sees the level
        ts = int(time.time() * 1000)
        sim.engine.cancel_where("mm", ts, token=target.yes_token)
        sim._internal("mm", sim.scenario.mm_wallet, target.yes_token, "SELL", cheap, 30 * UNIT, "GTC", ts)
        sim._emit(ts)
        await sim.flush()
        await _until(lambda: sum(strat.results.values()) >= 1, 60, "the first execution")
        sim.faults.clear()
        await _quiesce(app)
        address = app.execution.executor.signer.address
        rows = app.execution.executor.journal.orders()
        arb_groups = {r.group_id for r in rows if r.intent.reason in ("arb:binary", "arb:negrisk")}
        yes_bought = sum(r.filled_size_e6 for r in rows
                         if r.intent.token_id == target.yes_token and r.intent.side == "BUY")
    finally:
        assert await app.stop() is True
    try:
        assert len(arb_groups) == 1, arb_groups  # the other set waited, then found the level gone
        assert yes_bought <= 30 * E6 + DUST_E6
        _check_ledger_and_naked_legs(sim, db, address)
    finally:
        await sim.stop()
