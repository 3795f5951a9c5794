"""`botfleet demo --duration 15 --report r.json --no-ui` as a real process: every registered strategy
trades against the simulator, one /metrics port serves them all, and the report is valid."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from botfleet_tools.demo.configs import order_strategies
from botfleet_tools.demo.runner import registered_strategies

DEMO = [sys.executable, "-c", "import typer; from botfleet_tools.demo import demo_command; typer.run(demo_command)"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
async def test_demo_report(tmp_path: Path) -> None:
    report_path = tmp_path / "r.json"
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *DEMO, "--duration", "15", "--report", str(report_path), "--no-ui", "--metrics-port", str(port),
        "--log-file", str(tmp_path / "demo.log"), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    strategies = registered_strategies()
    scraped = ""
    try:
        deadline = time.monotonic() + 120
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline and proc.returncode is None:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                        scraped = await r.text()
                    if all(f'botfleet_build_info{{bot="demo-{s}"' in scraped for s in strategies):
                        break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.5)
        out, err = await asyncio.wait_for(proc.communicate(), 180)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, (out + err).decode()[-3000:]
    for s in strategies:  # one port, every bot
        assert f'botfleet_build_info{{bot="demo-{s}"' in scraped
    report = json.loads(report_path.read_text())
    assert report["duration_s"] >= 15
    assert [b["strategy"] for b in report["bots"]] == order_strategies(strategies) and strategies
    for bot in report["bots"]:
        assert bot["name"] == f"demo-{bot['strategy']}"
        assert isinstance(bot["pnl_usd"], float)
        assert set(bot["latency_us"]) >= {"p50", "p99"}
        assert bot["error"] == "", bot
        assert bot["opportunities"] > 0 and bot["orders"] > 0, bot
    assert "summary:" in out.decode()
