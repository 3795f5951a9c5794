"""Crash safety: kill -9 the executor at random points of order submission, 200 times, while it
trades against the simulated exchange; after every restart the journal must agree with the
exchange: zero duplicate orders, zero unknown orders, zero lost fills, positions equal.

One simulator lives for the whole test; the trading processes are forked from a warm zygote
(crash_zygote.py) so that a cycle costs well under a second. Figures: docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from collections import Counter
from pathlib import Path

import pytest
from crash_checks import compare
from crash_zygote import build

from botfleet_tools.sim.units import UNIT

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

CYCLES = int(os.environ.get("BOTFLEET_CRASH_CYCLES", "200"))
ZYGOTE = Path(__file__).with_name("crash_zygote.py")


def _command(cycle: int, rng: random.Random, sim, tmp: Path) -> dict:  # type: ignore[no-untyped-def]
    spec = next(m for m in sim.markets if not m.neg_risk)
    yes, no = sim.engine.top(spec.yes_token), sim.engine.top(spec.no_token)
    mode = ("hook", "hook", "timer", "timer", "timer_early")[cycle % 5]
    return {
        "cycle": cycle, "seed": rng.randrange(1 << 30), "url": sim.url, "log": str(tmp / "children.log"),
        "journal": f"sqlite:///{tmp}/journal.sqlite", "mode": mode, "max_groups": 40,
        "point": rng.choice(["after_journal", "after_send"]), "nth": rng.randint(1, 4),
        # timer: anywhere in the first few order groups; early: also inside the start-up reconcile
        "delay_ms": rng.uniform(1, 250) if mode == "timer" else rng.uniform(0, 150),
        "market": {"market": spec.condition_id, "yes": spec.yes_token, "no": spec.no_token, "tick": spec.tick,
                   "yes_ask": yes.best_ask, "no_ask": no.best_ask, "yes_bid": yes.best_bid},
    }


async def test_kill9_during_submission_never_duplicates_loses_or_forgets(static_sim, sim_creds, test_key,
                                                                         tmp_path: Path) -> None:
    sim = static_sim
    env = {**os.environ, "T_API_KEY": sim_creds.api_key, "T_SECRET": sim_creds.secret,
           "T_PASSPHRASE": sim_creds.passphrase, "T_PRIVATE_KEY": test_key,
           "PYTHONPATH": os.pathsep.join([str(ZYGOTE.parent), str(Path(__file__).parents[2])])}
    for k in ("T_API_KEY", "T_SECRET", "T_PASSPHRASE", "T_PRIVATE_KEY"):
        os.environ.setdefault(k, env[k])  # the in-process verifier builds the same executor
    zygote = await asyncio.create_subprocess_exec(sys.executable, str(ZYGOTE), env=env,
                                                  stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert zygote.stdin is not None and zygote.stdout is not None
    rng = random.Random(20261125)
    outcomes: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    address = ""
    try:
        for cycle in range(CYCLES):
            await sim.step()  # the market makers refill what the last cycle took
            cmd = _command(cycle, rng, sim, tmp_path)
            zygote.stdin.write((json.dumps(cmd) + "\n").encode())
            await zygote.stdin.drain()
            line = await asyncio.wait_for(zygote.stdout.readline(), timeout=60)
            assert line, "the zygote died"
            res = json.loads(line)
            assert res["signal"] == 9 or res["code"] == 0, \
                (res, (tmp_path / "children.log").read_text()[-3000:])
            outcomes[f"{cmd['mode']}:{'killed' if res['signal'] == 9 else 'survived'}"] += 1

            # Restart: a fresh executor on the same journal reconciles with the exchange.
            ex = build(sim.url, cmd["journal"])
            address = ex.signer.address
            report = await ex.start(resend_unsent=True)
            totals["verifier_new_fills"] += report.new_fills
            await ex.sync_fills(0)
            rows = ex.journal.orders()
            wallet = sim.engine.wallet(address)
            mine = [o for o in sim.engine.orders.values() if not o.internal and o.maker.lower() == address.lower()]
            diff = compare(rows, ex.journal.fills(), mine, sim.ledger,
                           {t: n * 1_000_000 // UNIT for t, n in wallet.positions.items() if n}, address)
            await ex.exchange.close()
            await ex.close()
            ex.journal.close()
            assert not diff, f"cycle {cycle} ({cmd['mode']}): {diff}"
    finally:
        if zygote.stdin is not None:
            zygote.stdin.close()
        try:
            await asyncio.wait_for(zygote.wait(), timeout=10)
        except TimeoutError:
            zygote.kill()
    statuses = Counter(r.status for r in rows)
    from bot_runtime.execution.journal import open_journal

    journal = open_journal(f"sqlite:///{tmp_path}/journal.sqlite")
    for e in journal.events("reconciled"):  # every restart, the children's and the verifier's
        for k in ("unsent", "resent", "new_fills", "filled", "canceled"):
            totals[f"reconcile_{k}"] += int(e.data.get(k, 0))
    journal.close()
    fills = len([f for f in sim.ledger if address.lower() in (f.taker.lower(), f.maker.lower())])
    summary = {"cycles": CYCLES, "outcomes": dict(outcomes), **totals, "journal_orders": len(rows),
               "statuses": dict(statuses), "ledger_fills": fills}
    print("CRASH SAFETY", json.dumps(summary, sort_keys=True))
    assert sum(v for k, v in outcomes.items() if k.endswith("killed")) >= CYCLES * 0.6, outcomes
    assert fills > CYCLES, summary  # the children really traded
