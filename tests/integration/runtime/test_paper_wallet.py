"""A paper bot never signs with the wallet Secret (docs/security.md, finding 12).

`botfleet run` in paper mode against the real simulator, with a known wallet key in its Secret
volume AND its environment, and that wallet's CLOB API credentials in the credentials Secret. The
simulator records every request it receives. Checked as a compromised simulator would use them:
no request carries the wallet's address or API key, every order and L1 auth header recovers to
the bot's paper address for the simulator's chain id and to nobody for Polygon's (137), the paper
address is the same after a restart (kept beside the journal, 0600), and neither the wallet key
nor the paper key is in any output.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from eth_account import Account

from bot_runtime.contract.config import SIM_CHAIN_ID, Endpoints
from bot_runtime.execution.paper_wallet import PAPER_KEY_FILE
from bot_runtime.venue.polymarket.constants import CHAIN_ID
from botfleet_tools.sim import SimConfig, SimExchange
from botfleet_tools.sim.auth import AuthError, verify_l1
from botfleet_tools.sim.orders import parse_order
from tests.integration.runtime.test_run_sigterm import RUN, free_port, wait_ready, write_secret

# Test-only wallet (never used anywhere real): the real wallet a paper bot must not use.
WALLET_KEY = "0x" + "6d" * 32
WALLET = Account.from_key(WALLET_KEY).address
ORDER_PATHS = ("/order", "/orders")


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: str


def recorder(log: list[Seen]) -> Any:
    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.text() if request.can_read_body else ""  # cached: the handler reads it again
        log.append(Seen(request.method, request.path, dict(request.headers), body))
        return await handler(request)

    return record


async def run_bot(config_path: Path, env: dict[str, str], port: int, sim: SimExchange, seen: list[Seen],
                  wait_orders: bool) -> str:
    """One run of the bot until ready (and, if asked, until it posted an order), then SIGTERM;
    returns everything it printed."""
    proc = await asyncio.create_subprocess_exec(*RUN, "--config", str(config_path), env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await wait_ready(port, proc, timeout=120)
        deadline = time.monotonic() + 120
        while wait_orders and not any(s.method == "POST" and s.path in ORDER_PATHS for s in seen):
            assert proc.returncode is None and time.monotonic() < deadline, "the bot never posted an order"
            await asyncio.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = out.decode(errors="replace") + err.decode(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    return text


def events(text: str, name: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            ev = json.loads(line)
            if ev.get("event", "").startswith(name):
                out.append(ev)
    return out


def forms(secret: str) -> list[str]:
    bare = secret[2:] if secret.startswith("0x") else secret
    return [secret, bare, base64.b64encode(secret.encode()).decode(), base64.b64encode(bare.encode()).decode()]


@pytest.mark.timeout(400)
async def test_a_paper_bot_never_signs_with_the_wallet_and_keeps_its_paper_identity(tmp_path: Path) -> None:
    seen: list[Seen] = []
    sim = SimExchange(SimConfig(seed=4, scenario="arb", speed=2.0))  # the simulator's own chain id
    sim.app.middlewares.append(recorder(seen))
    await sim.start(host="127.0.0.1", port=0)
    try:
        wallet_api = sim.create_api_key(WALLET)  # the real wallet's API credentials, as an operator has them
        secrets_dir = tmp_path / "secrets"
        write_secret(secrets_dir / "wallet", {"PRIVATE_KEY": WALLET_KEY})
        write_secret(secrets_dir / "credentials", {"CLOB_API_KEY": wallet_api.api_key, "CLOB_SECRET": wallet_api.secret,
                                                   "CLOB_PASSPHRASE": wallet_api.passphrase})
        port = free_port()
        data = tmp_path / "data"
        config = {"name": "paper-wallet", "strategy": "arbhunter", "mode": "paper", "riskProfile": "aggressive",
                  "endpoints": {**Endpoints.for_sim(sim.url).model_dump(), "chainId": CHAIN_ID},  # 137 in the config
                  "journal": {"url": f"sqlite:///{data / 'journal.sqlite'}"},
                  "telemetry": {"port": port, "logLevel": "debug"}, "credentialsDir": str(secrets_dir)}
        (tmp_path / "config.json").write_text(json.dumps(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTFLEET_", "CLOB_", "PRIVATE_KEY"))}
        env["PRIVATE_KEY"] = WALLET_KEY  # the environment too (a local run)

        first = await run_bot(tmp_path / "config.json", env, port, sim, seen, wait_orders=True)
        key_file = data / PAPER_KEY_FILE
        paper_key = key_file.read_text().strip()
        paper = Account.from_key(paper_key).address
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        second = await run_bot(tmp_path / "config.json", env, port, sim, seen, wait_orders=False)  # a restart
    finally:
        await sim.stop()

    # the same paper identity on both runs, never the wallet
    ready = [events(t, "EXECUTION READY") for t in (first, second)]
    assert [[e["address"] for e in r] for r in ready] == [[paper], [paper]]
    assert paper.lower() != WALLET.lower()
    assert all(r[0]["chain_id"] == SIM_CHAIN_ID and r[0]["paper_wallet"] is True for r in ready)
    # the wallet Secret is named as ignored once per run, never its value
    for text in (first, second):
        warned = events(text, "paper mode ignores the wallet Secret")
        assert len(warned) == 1 and "PRIVATE_KEY" in warned[0]["ignored"] and "CLOB_API_KEY" in warned[0]["ignored"]

    # what a compromised simulator holds: nothing of the wallet, nothing valid on Polygon
    signed = [s for s in seen if "POLY_SIGNATURE" in s.headers or "poly_signature" in s.headers]
    assert signed, "the bot never authenticated"
    assert not [s.path for s in seen if WALLET.lower() in json.dumps(s.headers).lower() + s.body.lower()]
    assert not [s.path for s in seen if wallet_api.api_key in json.dumps(s.headers) + s.body]
    l1 = [s for s in signed if s.path.startswith("/auth/") and "POLY_API_KEY" not in s.headers]
    assert len(l1) >= 2, [s.path for s in signed]  # each run derived its API credentials
    for s in l1:
        assert verify_l1(s.headers) == (paper, 0)
        with pytest.raises(AuthError):
            verify_l1(s.headers, chain_id=CHAIN_ID)
    orders = [o["order"] for s in seen if s.method == "POST" and s.path in ORDER_PATHS
              for o in (json.loads(s.body) if s.path == "/orders" else [json.loads(s.body)])]
    assert orders, "the bot never posted an order"
    for raw in orders:
        so = parse_order(raw)
        exchange = sim.engine.token_market[so.token_id].exchange
        assert so.signer.lower() == so.maker.lower() == paper.lower()
        assert so.recover_signer(exchange) == paper.lower()           # SIM_CHAIN_ID, the sim's default
        assert so.recover_signer(exchange, CHAIN_ID) != paper.lower()  # worthless on Polygon

    by_wallet = [s for s in signed if s.headers.get("POLY_ADDRESS", "").lower() == WALLET.lower()] + [
        o for o in orders if WALLET.lower() in (str(o.get("signer", "")).lower(), str(o.get("maker", "")).lower())]
    # neither key in any output (plain, bare hex, base64)
    leaks = [f[:8] for k in (WALLET_KEY, paper_key) for f in forms(k) if f in first + second]
    print("PAPER WALLET", {"requests": len(seen), "signed": len(signed), "l1": len(l1), "orders": len(orders),
                           "signed_by_wallet": len(by_wallet), "leaks": len(leaks)})
    assert by_wallet == []
    assert not leaks, leaks
