"""The `/_sim/*` admin endpoints: on their own listener, behind a bearer token (issue 15, finding 10).

Attempts (docs/security.md#findings): reach the admin endpoints on the trading port, without a token,
with a wrong token (as long as the right one, and a prefix of it), with another auth scheme.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import tests.support.sim as _support
from botfleet_tools.sim import SimExchange
from botfleet_tools.sim.cli import run_sim

ADMIN_PATHS = [("GET", "/_sim/state"), ("POST", "/_sim/faults"), ("POST", "/_sim/api-keys"),
               ("POST", "/_sim/wallets"), ("GET", "/_sim/orders"), ("POST", "/_sim/step")]


async def status_of(url: str, method: str, headers: dict[str, str] | None = None,
                    body: Any = None) -> tuple[int, dict[str, str]]:
    async with aiohttp.ClientSession() as s, s.request(method, url, headers=headers or {}, json=body) as r:
        return r.status, dict(r.headers)


@pytest.mark.parametrize(("method", "path"), ADMIN_PATHS)
async def test_admin_is_not_served_on_the_trading_port(static_sim: SimExchange, method: str, path: str) -> None:
    status, _ = await status_of(static_sim.url + path, method, static_sim.admin_headers(), {"clear": True})
    assert status == 404
    static_sim.faults.set_rate_limit(seconds=60)  # still a 404, not a fault's answer
    status, _ = await status_of(static_sim.url + path, method, static_sim.admin_headers(), {"clear": True})
    assert status == 404
    assert static_sim.admin_port != static_sim.port


@pytest.mark.parametrize(("method", "path"), ADMIN_PATHS)
async def test_admin_refuses_a_missing_or_wrong_token(static_sim: SimExchange, method: str, path: str) -> None:
    token, step = static_sim.admin_token, static_sim.scenario.step_no
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    for headers in ({}, {"Authorization": f"Bearer {wrong}"}, {"Authorization": f"Bearer {token[:8]}"},
                    {"Authorization": "Bearer "}, {"Authorization": f"Basic {token}"}, {"X-Token": token}):
        status, got = await status_of(static_sim.admin_url + path, method, headers, {"address": "0x" + "ab" * 20})
        assert status == 401, headers
        assert got["WWW-Authenticate"].startswith("Bearer")
    # no refused request reached its handler: no wallet funded or key minted, no step taken
    assert ("0x" + "ab" * 20) not in static_sim.engine.wallets and static_sim.scenario.step_no == step


async def test_admin_works_with_the_token(static_sim: SimExchange) -> None:
    status, body = await _support.admin(static_sim, "POST", "/_sim/faults", {"rate_limit": {"seconds": 60}})
    assert status == 200 and body["rate_limit"]["active"]
    status, body = await _support.admin(static_sim, "POST", "/_sim/wallets", {"address": "0x" + "cd" * 20,
                                                                             "usdc": 5})
    assert status == 200 and body["usdc"] == 5
    assert (await _support.admin(static_sim, "GET", "/_sim/state"))[0] == 200
    assert static_sim.admin_url.startswith("http://127.0.0.1:")  # loopback unless told otherwise


async def test_a_given_token_is_used_and_a_short_one_refused() -> None:
    sim = await _support.start_sim(seed=1, scenario="static", speed=0, admin_token="a-token-of-my-own-choice")
    try:
        assert (await status_of(sim.admin_url + "/_sim/state", "GET",
                                {"Authorization": "Bearer a-token-of-my-own-choice"}))[0] == 200
        assert "a-token-of-my-own-choice" not in repr(sim.config)
    finally:
        await sim.stop()
    with pytest.raises(ValueError, match="admin_token must be at least 16"):
        await _support.start_sim(admin_token="short")
    # two simulators never share a generated token
    a, b = SimExchange(), SimExchange()
    assert a.admin_token != b.admin_token and len(a.admin_token) >= 40


async def test_cli_writes_the_generated_token_to_a_private_file_never_to_stdout(
        capsys: Any, tmp_path: Path) -> None:
    stop = asyncio.Event()
    path = tmp_path / "admin.token"
    path.write_text("old")
    path.chmod(0o644)
    task = asyncio.create_task(run_sim("127.0.0.1", 0, "static", 1, 0.0, stop=stop, admin_token_file=path))
    ready: dict[str, Any] = {}
    for _ in range(400):
        await asyncio.sleep(0.05)
        out = capsys.readouterr().out
        if out:
            ready = json.loads(out.splitlines()[0])
            break
    token = path.read_text()
    try:
        assert ready["admin_token_file"] == str(path) and ready["admin_token"] == "generated"
        assert token not in out and len(token) >= 40
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        headers = {"Authorization": f"Bearer {token}"}
        assert (await status_of(ready["admin_url"] + "/_sim/state", "GET", headers))[0] == 200
        assert (await status_of(ready["url"] + "/_sim/state", "GET", headers))[0] == 404
    finally:
        stop.set()
        await task
    assert path.exists()  # the caller's file stays; only a temp file of our own is removed


async def test_cli_default_token_file_is_removed_at_exit(capsys: Any) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(run_sim("127.0.0.1", 0, "static", 1, 0.0, stop=stop))
    ready: dict[str, Any] = {}
    for _ in range(400):
        await asyncio.sleep(0.05)
        out = capsys.readouterr().out
        if out:
            ready = json.loads(out.splitlines()[0])
            break
    path = Path(ready["admin_token_file"])
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        headers = {"Authorization": f"Bearer {path.read_text()}"}
        assert (await status_of(ready["admin_url"] + "/_sim/state", "GET", headers))[0] == 200
    finally:
        stop.set()
        await task
    assert not path.exists()
