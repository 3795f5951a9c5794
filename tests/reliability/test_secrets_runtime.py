"""Secrets in the runtime: a live bot (`botfleet run`, a real process) trades against the simulated
exchange (live mode, the simulator's chain id: only a live bot uses the wallet and the credentials
Secret) with a known wallet key and API credentials, at debug log level, through a 500-error
window and a credential rotation. Every log line, the metrics, /status and the journal file are
scanned for the key and the credentials (old and new): zero occurrences.
"""

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
import pytest

from bot_runtime.contract.config import Endpoints
from bot_runtime.venue.polymarket.signing import OrderSigner

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

PRIVATE_KEY = "0x" + "7c" * 32   # test-only
RUN = [sys.executable, "-c", "import typer; from bot_runtime.run import run_command; typer.run(run_command)"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_secret(folder: Path, data: dict[str, str], stamp: str) -> None:
    """Kubernetes Secret volume layout, updated atomically as the kubelet does (..data swap)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"..{stamp}"
    target.mkdir()
    for k, v in data.items():
        (target / k).write_text(v)
    tmp = folder / "..data_tmp"
    tmp.symlink_to(target.name)
    os.replace(tmp, folder / "..data")
    for k in data:
        if not (folder / k).is_symlink():
            (folder / k).symlink_to(f"..data/{k}")


def _needles(*values: str) -> list[str]:
    out = []
    for v in values:
        out.append(v)
        if v.startswith("0x"):
            out.append(v[2:])
    return out


async def test_no_secret_in_bot_logs_metrics_status_or_journal(start_sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim = await start_sim(seed=4, scenario="arb", speed=2.0)
    signer = OrderSigner(PRIVATE_KEY)
    api = sim.create_api_key(signer.address)
    secrets_dir = tmp_path / "secrets"
    _write_secret(secrets_dir / "wallet", {"PRIVATE_KEY": PRIVATE_KEY}, "2026_11_25_00_00_00.1")
    _write_secret(secrets_dir / "credentials", {"CLOB_API_KEY": api.api_key, "CLOB_SECRET": api.secret,
                                                "CLOB_PASSPHRASE": api.passphrase}, "2026_11_25_00_00_00.1")
    port = _free_port()
    journal = tmp_path / "data" / "journal.sqlite"
    config = {"name": "secret-scan", "strategy": "arbhunter", "mode": "live", "riskProfile": "aggressive",
              "endpoints": Endpoints.for_sim(sim.url).model_dump(), "journal": {"url": f"sqlite:///{journal}"},
              "telemetry": {"port": port, "logLevel": "debug"}, "credentialsDir": str(secrets_dir)}
    (tmp_path / "config.json").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTFLEET_", "CLOB_", "PRIVATE_KEY"))}
    proc = await asyncio.create_subprocess_exec(*RUN, "--config", str(tmp_path / "config.json"), env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    scraped: list[str] = []
    rotated = None
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 120
            while True:
                assert proc.returncode is None and time.monotonic() < deadline, "the bot never became ready"
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.3)
            await asyncio.sleep(4)                     # trades on the arb scenario's dislocations
            sim.faults.set_errors(seconds=2)           # error paths log too
            await asyncio.sleep(3)
            rotated = sim.create_api_key(signer.address)   # a new API key, as `botfleet rotate-credentials` does
            _write_secret(secrets_dir / "credentials", {"CLOB_API_KEY": rotated.api_key, "CLOB_SECRET": rotated.secret,
                                                        "CLOB_PASSPHRASE": rotated.passphrase}, "2026_11_25_00_01_00.2")
            await asyncio.sleep(4)
            for path in ("/metrics", "/status", "/healthz", "/readyz"):
                async with http.get(f"http://127.0.0.1:{port}{path}") as r:
                    scraped.append(await r.text())
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await sim.stop()
    logs = out.decode(errors="replace") + err.decode(errors="replace")
    journal_bytes = b"".join(p.read_bytes() for p in journal.parent.glob("journal.sqlite*"))
    assert rotated is not None
    needles = _needles(PRIVATE_KEY, api.api_key, api.secret, api.passphrase, rotated.api_key, rotated.secret,
                       rotated.passphrase)
    where = {"logs": logs, "http": "\n".join(scraped), "journal": journal_bytes.decode("latin-1")}
    leaks = [(w, n[:6]) for w, text in where.items() for n in needles if n in text]
    events = [json.loads(line).get("event") for line in out.decode().splitlines() if line.startswith("{")]
    print("RUNTIME SECRETS SCAN", {"log_lines": len(logs.splitlines()), "events": len(events),
                                   "journal_bytes": len(journal_bytes), "leaks": len(leaks)})
    assert proc.returncode == 0, logs[-2000:]
    assert not leaks, leaks
    assert len(logs.splitlines()) > 20   # the scan had something to scan
