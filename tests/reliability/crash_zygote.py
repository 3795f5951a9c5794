"""Zygote of the crash-safety test: imports the runtime once, then forks one trading child per cycle.

Forking a warm interpreter costs milliseconds, where starting a fresh one costs seconds on a loaded
2-core machine: that is what lets 200 kill -9 cycles fit in the suite's time.

Protocol (line-delimited JSON): the test writes one command per cycle on stdin; the zygote forks a
child that runs `trade(cmd)`, waits for it and answers `{"cycle": n, "signal": s, "code": c}` on
stdout. The child dies by SIGKILL: either from its crash hook at the n-th passage of a named point
of the executor ("after_journal", "after_send"), or from a timer thread at a random moment (which
can land anywhere: signing, journal writes, mid-HTTP, fill recording, the start-up reconcile).
Credentials come in the environment (T_PRIVATE_KEY, T_API_KEY, T_SECRET, T_PASSPHRASE).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import threading
from typing import Any

from bot_runtime.contract.config import SIM_CHAIN_ID
from bot_runtime.contract.params import Limits
from bot_runtime.execution.executor import Executor
from bot_runtime.execution.journal import open_journal
from bot_runtime.execution.risk import RiskEngine
from bot_runtime.types import OrderIntent
from bot_runtime.venue.polymarket.auth import ApiCreds
from bot_runtime.venue.polymarket.clob_http import ClobHttpExchange
from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.ratelimit import Backoff
from bot_runtime.venue.polymarket.signing import OrderSigner

# Wide money limits: the test is about crash safety, not about the risk engine saying no.
LIMITS = Limits(maxOrderUsd=100, maxPositionPerMarketUsd=1_000_000, maxTotalExposureUsd=1_000_000,
                maxDailyLossUsd=1_000_000, maxOpenOrders=40)


def build(url: str, journal_url: str, crash_hook: Any = None) -> Executor:
    """The executor as the runtime wires it for paper trading against a simulator."""
    creds = ApiCreds(os.environ["T_API_KEY"], os.environ["T_SECRET"], os.environ["T_PASSPHRASE"])
    signer = OrderSigner(os.environ["T_PRIVATE_KEY"], chain_id=SIM_CHAIN_ID)  # what the simulator verifies
    exchange = ClobHttpExchange(url, signer.address, lambda: creds, backoff=Backoff(base_s=0.02, cap_s=0.2),
                                cancel_only_pause_s=0.5)
    journal = open_journal(journal_url)
    return Executor(exchange, signer, journal, RiskEngine(LIMITS, journal), crash_hook=crash_hook)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _intents(rng: random.Random, m: dict[str, Any]) -> list[OrderIntent]:
    """One random order group: FOK taker buys (one or both legs), resting GTC bids, partial GTCs."""
    tick = m["tick"]

    def leg(token: str, price: int, size: int, kind: str) -> OrderIntent:
        return OrderIntent(market=m["market"], token_id=token, side="BUY", price_e6=price, size_e6=size,
                           order_type=kind, tick_size_e6=tick)  # type: ignore[arg-type]

    r = rng.random()
    size = rng.choice([5, 6, 8, 10]) * E6
    if r < 0.45:
        tok, ask = rng.choice([(m["yes"], m["yes_ask"]), (m["no"], m["no_ask"])])
        return [leg(tok, ask, size, "FOK")]
    if r < 0.65:  # two legs in one batch POST /orders
        return [leg(m["yes"], m["yes_ask"], size, "FOK"), leg(m["no"], m["no_ask"], size, "FOK")]
    if r < 0.85:  # rests below the bid
        return [leg(m["yes"], m["yes_bid"] - rng.randint(1, 4) * tick, size, "GTC")]
    # crosses at the ask: fills what is there, possibly rests the rest
    return [leg(m["no"], m["no_ask"], rng.choice([20, 40, 80]) * E6, "GTC")]


async def trade(cmd: dict[str, Any]) -> None:
    rng = random.Random(cmd["seed"])
    passes = {"n": 0}

    def hook(name: str) -> None:
        if cmd["mode"] == "hook" and name == cmd["point"]:
            passes["n"] += 1
            if passes["n"] == cmd["nth"]:
                _die()

    if cmd["mode"] == "timer_early":  # may land in the start-up reconcile of the previous crash
        threading.Timer(cmd["delay_ms"] / 1000, _die).start()
    ex = build(cmd["url"], cmd["journal"], hook)
    await ex.start(resend_unsent=True)
    if cmd["mode"] == "timer":
        threading.Timer(cmd["delay_ms"] / 1000, _die).start()
    for _ in range(cmd["max_groups"]):
        if rng.random() < 0.1:
            await ex.cancel_all("crash test")
        else:
            await ex.submit(_intents(rng, cmd["market"]))
    await ex.sync_fills()


def run_child(cmd: dict[str, Any]) -> None:
    log = os.open(cmd["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    try:
        asyncio.run(trade(cmd))
    except BaseException as exc:  # a crash that is not ours: report it through the exit code
        print(f"child error: {type(exc).__name__}: {exc}", flush=True)
        os._exit(3)
    os._exit(0)


def main() -> None:
    for line in sys.stdin:
        cmd = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run_child(cmd)
        _, status = os.waitpid(pid, 0)
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        print(json.dumps({"cycle": cmd["cycle"], "signal": sig, "code": code}), flush=True)


if __name__ == "__main__":
    main()
