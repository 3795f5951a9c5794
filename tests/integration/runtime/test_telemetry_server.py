"""/metrics, /healthz, /readyz and /status over real HTTP on loopback."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot_runtime.telemetry.metrics import BotMetrics
from bot_runtime.telemetry.server import TelemetryServer


@dataclass
class FakeBot:
    name: str
    not_ready: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "strategy": "arbhunter", "paused": False}

    def readiness(self) -> list[str]:
        return self.not_ready

    def liveness(self) -> list[str]:
        return self.dead


async def test_endpoints() -> None:
    metrics = BotMetrics()
    metrics.orders.labels("b1", "arbhunter", "filled").inc(3)
    bot = FakeBot("b1", not_ready=["market data stale (12.0s)"])
    server = TelemetryServer(metrics.registry, [bot], host="127.0.0.1", port=0)
    port = await server.start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/metrics") as r:
                text = await r.text()
                assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
                assert 'botfleet_orders_total{bot="b1",outcome="filled",strategy="arbhunter"} 3.0' in text
            async with http.get(f"{base}/healthz") as r:
                assert r.status == 200 and (await r.json())["status"] == "ok"
            async with http.get(f"{base}/readyz") as r:
                body = await r.json()
                assert r.status == 503 and body["reasons"] == {"b1": ["market data stale (12.0s)"]}
            bot.not_ready = []
            async with http.get(f"{base}/readyz") as r:
                assert r.status == 200 and (await r.json())["ready"] is True
            async with http.get(f"{base}/status") as r:
                assert (await r.json())["name"] == "b1"
            bot.dead = ["main task died: RuntimeError"]
            async with http.get(f"{base}/healthz") as r:
                assert r.status == 503
            server.add_source(FakeBot("b2"))
            async with http.get(f"{base}/status") as r:
                assert [b["name"] for b in (await r.json())["bots"]] == ["b1", "b2"]
    finally:
        await server.stop()


async def test_not_ready_without_bots() -> None:
    server = TelemetryServer(BotMetrics().registry, [], host="127.0.0.1", port=0)
    port = await server.start()
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as r:
            assert r.status == 503
    finally:
        await server.stop()
