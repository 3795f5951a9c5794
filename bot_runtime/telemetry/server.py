"""The telemetry HTTP server of a bot process (one port, default 9100):

- `GET /metrics`: Prometheus text format of the process registry (all bots of the process);
- `GET /healthz`: liveness. Answering at all proves the event loop turns; 503 when a bot reports a
  fatal problem (its main task died). Kubernetes restarts the pod on repeated failures;
- `GET /readyz`: readiness. 200 when every bot has live, fresh market data, an open journal and
  is not halted by errors; 503 with the reasons otherwise;
- `GET /status`: a JSON summary (one bot: its object; several, as in the demo: `{"bots": [...]}`).

Nothing here mutates a bot: resetting a kill switch is `botfleet kill-switch reset` run in the pod,
so the metrics port (open to Prometheus by the NetworkPolicy) carries no admin surface.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from bot_runtime import __version__


class StatusSource(Protocol):
    """What a bot exposes to the server (implemented by BotApp)."""

    @property
    def name(self) -> str: ...

    def status(self) -> dict[str, Any]: ...

    def readiness(self) -> list[str]:
        """Reasons the bot is not ready; empty = ready."""
        ...

    def liveness(self) -> list[str]:
        """Reasons the process should be restarted; empty = alive."""
        ...


class LoopLagMonitor:
    """Measures how late the event loop wakes up (a blocked loop delays every order)."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.last_lag_s = 0.0
        self.max_lag_s = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(self.interval)
            lag = max(0.0, time.perf_counter() - t0 - self.interval)
            self.last_lag_s = lag
            self.max_lag_s = max(self.max_lag_s, lag)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


class TelemetryServer:
    def __init__(self, registry: CollectorRegistry, sources: Sequence[StatusSource] = (),
                 host: str = "0.0.0.0", port: int = 9100) -> None:  # all interfaces: Prometheus scrapes the pod IP
        self.registry = registry
        self.sources = list(sources)
        self.host = host
        self.port = port
        self.lag = LoopLagMonitor()
        self._runner: web.AppRunner | None = None
        self.started = time.time()

    def add_source(self, source: StatusSource) -> None:
        self.sources.append(source)

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/status", self._status)
        return app

    async def start(self) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._runner = web.AppRunner(self.build_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self.lag.start()
        return self.port

    async def stop(self) -> None:
        await self.lag.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- handlers -------------------------------------------------------------------
    async def _metrics(self, _request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        resp = web.Response(body=body)
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    def _problems(self, kind: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for s in self.sources:
            try:
                reasons = s.readiness() if kind == "ready" else s.liveness()
            except Exception as exc:  # a broken check is itself a reason
                reasons = [f"{kind} check failed: {type(exc).__name__}"]
            if reasons:
                out[s.name] = reasons
        return out

    async def _healthz(self, _request: web.Request) -> web.Response:
        problems = self._problems("alive")
        body = {"status": "ok" if not problems else "failing", "problems": problems,
                "loop_lag_ms": round(self.lag.last_lag_s * 1000, 3), "version": __version__}
        return web.json_response(body, status=200 if not problems else 503)

    async def _readyz(self, _request: web.Request) -> web.Response:
        problems = self._problems("ready")
        if not self.sources:
            problems = {"process": ["no bot started yet"]}
        body = {"ready": not problems, "reasons": problems}
        return web.json_response(body, status=200 if not problems else 503)

    async def _status(self, _request: web.Request) -> web.Response:
        statuses = []
        for s in self.sources:
            try:
                statuses.append(s.status())
            except Exception as exc:
                statuses.append({"name": s.name, "error": f"status failed: {type(exc).__name__}"})
        if len(statuses) == 1:
            return web.json_response(statuses[0], dumps=_dumps)
        return web.json_response({"version": __version__, "bots": statuses}, dumps=_dumps)


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, default=str)
