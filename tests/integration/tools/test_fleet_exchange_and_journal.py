"""`botfleet fleet check` against the simulated exchange (real HTTP, the venue's auth rules), and
`botfleet trades` on a real journal: the parts of the fleet CLI that do not need a cluster."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from bot_runtime.cli import app as botfleet
from bot_runtime.contract.config import SIM_CHAIN_ID
from bot_runtime.execution.journal import open_journal
from bot_runtime.types import Fill
from botfleet_tools.fleet.auth import auth_check
from tests.support.sim import TEST_ADDRESS, TEST_PRIVATE_KEY, static_sim

__all__ = ["static_sim"]


async def test_check_accepts_real_credentials_and_refuses_wrong_ones(static_sim: Any) -> None:
    url = static_sim.url  # the check signs L1 for the chain id it is given: the simulator's own here
    ok, detail = await asyncio.to_thread(auth_check, url, SIM_CHAIN_ID, {"PRIVATE_KEY": TEST_PRIVATE_KEY}, {})
    assert ok and "no API key yet" in detail  # L1 signature valid, nothing to derive yet

    creds = static_sim.create_api_key(TEST_ADDRESS)
    good = {"CLOB_API_KEY": creds.api_key, "CLOB_SECRET": creds.secret, "CLOB_PASSPHRASE": creds.passphrase}
    ok, detail = await asyncio.to_thread(auth_check, url, SIM_CHAIN_ID, {"PRIVATE_KEY": TEST_PRIVATE_KEY}, good)
    assert ok and "(L2)" in detail
    ok, detail = await asyncio.to_thread(auth_check, url, SIM_CHAIN_ID, {"PRIVATE_KEY": TEST_PRIVATE_KEY}, {})
    assert ok and "no API key yet" not in detail  # now derivable

    wrong = good | {"CLOB_SECRET": "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="}
    ok, detail = await asyncio.to_thread(auth_check, url, SIM_CHAIN_ID, {"PRIVATE_KEY": TEST_PRIVATE_KEY}, wrong)
    assert not ok and "refused" in detail and "HTTP 401" in detail
    assert creds.secret not in detail and wrong["CLOB_SECRET"] not in detail and TEST_PRIVATE_KEY[2:] not in detail

    ok, detail = await asyncio.to_thread(auth_check, url, SIM_CHAIN_ID, {"PRIVATE_KEY": "0x1234"}, {})
    assert not ok and "PRIVATE_KEY must be a secp256k1 private key" in detail


def test_trades_command_exports_the_journal_s_fills_since_a_day(tmp_path: Path) -> None:
    journal_url = f"sqlite:///{tmp_path}/journal.sqlite"
    j = open_journal(journal_url)
    j.record_fills([Fill("t-old", "o1", "0xm", "111", "BUY", 400_000, 5_000_000, 0, 1_764_892_800_000),
                    Fill("t-new", "o2", "0xm", "222", "SELL", 600_000, 2_500_000, 1_000, 1_764_979_300_000)])
    j.close()
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"name": "arb", "strategy": "arbhunter", "journal": {"url": journal_url}}))
    res = CliRunner().invoke(botfleet, ["trades", "--since", "2025-12-06", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert len(lines) == 2 and lines[0].startswith("time,bot,strategy") and ",t-new," in lines[1]
    assert ",SELL,0.600000,2.500000,1.500000,0.001000," in lines[1]
    bad = CliRunner().invoke(botfleet, ["trades", "--since", "last tuesday", "--config", str(cfg)])
    assert bad.exit_code == 2 and "--since" in bad.output
