"""`botfleet run` as a real process against the simulator: credentials from a Secret-like volume,
telemetry over HTTP, SIGTERM cancels the open orders and exits 0, and no secret reaches the logs.

A paper bot signs with its paper key (beside the journal), never with the wallet Secret: the test
plants that key as a previous run would have left it and places the bot's resting orders with it."""

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

from bot_runtime.contract.config import SIM_CHAIN_ID, Endpoints
from bot_runtime.execution.paper_wallet import PAPER_KEY_FILE
from bot_runtime.types import OrderIntent
from bot_runtime.venue.polymarket.auth import ApiCreds
from bot_runtime.venue.polymarket.clob_http import ClobHttpExchange
from bot_runtime.venue.polymarket.signing import OrderSigner

# Test-only keys (never used anywhere real): the wallet Secret's, and the bot's paper key.
PRIVATE_KEY = "0x" + "4b" * 32
PAPER_KEY = "0x" + "4c" * 32
RUN = [sys.executable, "-c", "import typer; from bot_runtime.run import run_command; typer.run(run_command)"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def plant_paper_key(data_dir: Path, key: str) -> OrderSigner:
    """The paper key a previous run of the bot left beside its journal; its signer (sim chain id)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / PAPER_KEY_FILE
    path.write_text(key + "\n")
    path.chmod(0o600)
    return OrderSigner(key, chain_id=SIM_CHAIN_ID)


def write_secret(folder: Path, data: dict[str, str]) -> None:
    """Kubernetes Secret volume layout: ..data -> timestamped dir, KEY -> ..data/KEY."""
    target = folder / "..2026_11_25_00_00_00.000000001"
    target.mkdir(parents=True)
    for k, v in data.items():
        (target / k).write_text(v)
    (folder / "..data").symlink_to(target.name)
    for k in data:
        (folder / k).symlink_to(f"..data/{k}")


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


async def test_sigterm_cancels_open_orders_and_exits_0(start_sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # static books: the bot finds nothing to trade, so the open orders are exactly the two below
    sim = await start_sim(seed=1, scenario="static", speed=1.0)
    try:
        await _scenario(sim, tmp_path)
    finally:
        await sim.stop()


async def _scenario(sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    signer = plant_paper_key(tmp_path / "data", PAPER_KEY)
    api = sim.create_api_key(signer.address)
    creds = ApiCreds(api.api_key, api.secret, api.passphrase)
    # two resting orders on the bot's (paper) account, placed before it starts (as after a restart)
    exchange = ClobHttpExchange(sim.url, signer.address, lambda: creds)
    spec = sim.markets[0]
    ts = int(time.time() * 1000)
    intents = [OrderIntent(market=spec.condition_id, token_id=tok, side="BUY", price_e6=20_000, size_e6=10_000_000)
               for tok in (spec.yes_token, spec.no_token)]
    posted = await exchange.post_orders([signer.sign(i, f"pre-{n}", ts) for n, i in enumerate(intents)])
    assert all(p.ok and p.status == "live" for p in posted), posted
    assert len(await exchange.open_orders()) == 2

    secrets_dir = tmp_path / "secrets"
    write_secret(secrets_dir / "wallet", {"PRIVATE_KEY": PRIVATE_KEY})
    write_secret(secrets_dir / "credentials", {"OPENAI_API_KEY": "sk-test-only-" + "7" * 20})
    port = free_port()
    config = {"name": "sigterm-bot", "strategy": "arbhunter", "mode": "paper",
              "endpoints": Endpoints.for_sim(sim.url).model_dump(),
              "journal": {"url": f"sqlite:///{tmp_path / 'data' / 'journal.sqlite'}"},
              "telemetry": {"port": port, "logLevel": "debug"}, "credentialsDir": str(secrets_dir)}
    (tmp_path / "config.json").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTFLEET_", "CLOB_", "PRIVATE_KEY"))}
    proc = await asyncio.create_subprocess_exec(*RUN, "--config", str(tmp_path / "config.json"), env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await wait_ready(port, proc)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/status") as r:
                status = await r.json()
            async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                metrics = await r.text()
            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                assert r.status == 200
        assert status["name"] == "sigterm-bot" and status["execution"] == "sim" and status["ready"] is True
        assert status["openOrders"] == 2  # reconciled from the exchange at start
        assert [ln for ln in metrics.splitlines() if ln.startswith("botfleet_open_orders{")] == [
            'botfleet_open_orders{bot="sigterm-bot",strategy="arbhunter"} 2.0']
        assert "botfleet_credential_age_seconds" in metrics
        # every HTTP request is counted by endpoint and status class (reconcile listed the open orders)
        assert ('botfleet_api_requests_total{bot="sigterm-bot",code="2xx",endpoint="GET /data/orders",'
                'strategy="arbhunter"}') in metrics
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = out.decode() + err.decode()
    assert proc.returncode == 0, text[-3000:]
    assert await exchange.open_orders() == []
    await exchange.close()
    events = [json.loads(line)["event"] for line in out.decode().splitlines() if line.startswith("{")]
    assert "BOT STOPPING" in events and "BOT STOPPED" in events and "CANCELED ALL" in events
    # secrets never printed, though the bot logged at debug level
    for secret in (PRIVATE_KEY, PRIVATE_KEY[2:], PAPER_KEY, PAPER_KEY[2:], api.secret, api.passphrase):
        assert text.count(secret) == 0
