"""`botfleet run` SIGKILLed (no chance to cancel anything): the exchange's dead-man switch, armed by
the bot's heartbeats, cancels its resting orders within the exchange's timeout."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp

from bot_runtime.contract.config import Endpoints
from bot_runtime.types import OrderIntent
from bot_runtime.venue.polymarket.auth import ApiCreds
from bot_runtime.venue.polymarket.clob_http import ClobHttpExchange
from tests.integration.runtime.test_run_sigterm import plant_paper_key

PRIVATE_KEY = "0x" + "5c" * 32  # test-only key: the wallet, which a paper bot ignores
PAPER_KEY = "0x" + "5d" * 32    # test-only: the bot's paper key
RUN = [sys.executable, "-c", "import typer; from bot_runtime.run import run_command; typer.run(run_command)"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(port: int, proc: asyncio.subprocess.Process, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert proc.returncode is None, "bot exited before becoming ready"
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)
    raise AssertionError("bot did not become ready")


async def test_sigkilled_bot_has_its_orders_canceled_by_the_exchange(  # type: ignore[no-untyped-def]
        start_sim, tmp_path: Path) -> None:
    sim = await start_sim(seed=2, scenario="static", speed=1.0)  # Polymarket's 10 s dead-man timeout
    signer = plant_paper_key(tmp_path / "data", PAPER_KEY)  # the bot's paper identity (never the wallet's)
    api = sim.create_api_key(signer.address)
    creds = ApiCreds(api.api_key, api.secret, api.passphrase)
    exchange = ClobHttpExchange(sim.url, signer.address, lambda: creds)
    spec = next(m for m in sim.markets if not m.neg_risk)
    intents = [OrderIntent(market=spec.condition_id, token_id=tok, side="BUY", price_e6=20_000, size_e6=10_000_000)
               for tok in (spec.yes_token, spec.no_token)]
    ts = int(time.time() * 1000)
    posted = await exchange.post_orders([signer.sign(i, f"pre-{n}", ts) for n, i in enumerate(intents)])
    assert all(p.ok and p.status == "live" for p in posted), posted

    port = free_port()
    config = {"name": "deadman-bot", "strategy": "arbhunter", "mode": "paper",
              "endpoints": Endpoints.for_sim(sim.url).model_dump(),
              "journal": {"url": f"sqlite:///{tmp_path / 'data' / 'journal.sqlite'}"},
              "telemetry": {"port": port}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTFLEET_", "CLOB_", "PRIVATE_KEY"))}
    env.update({"PRIVATE_KEY": PRIVATE_KEY})  # ignored in paper mode
    proc = await asyncio.create_subprocess_exec(*RUN, "--config", str(tmp_path / "config.json"), env=env,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await wait_ready(port, proc)
        assert signer.address.lower() in sim.heartbeats, "the bot arms the dead-man switch"
        assert len(await exchange.open_orders()) == 2  # the running bot keeps its orders
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        assert len(await exchange.open_orders()) == 2  # nobody canceled them on the way out
        deadline = time.monotonic() + 60
        while await exchange.open_orders():
            assert time.monotonic() < deadline, "the exchange never canceled the dead bot's orders"
            await asyncio.sleep(0.5)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await exchange.close()
        await sim.stop()
