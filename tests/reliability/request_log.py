"""Count every HTTP request a CLOB client sends: through its aiohttp session (tracing) and through its
order lane (raw keep-alive writes that aiohttp never sees: the client reports them to its observer)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp


@dataclass
class Request:
    method: str
    path: str
    t: float                 # monotonic seconds when it went out
    status: int = 0          # 0: no response (timeout, connection error)


@dataclass
class RequestLog:
    requests: list[Request] = field(default_factory=list)

    def trace_config(self) -> aiohttp.TraceConfig:
        tc = aiohttp.TraceConfig()

        async def start(_s: Any, ctx: SimpleNamespace, params: aiohttp.TraceRequestStartParams) -> None:
            ctx.req = Request(params.method, params.url.path, time.monotonic())
            self.requests.append(ctx.req)

        async def end(_s: Any, ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams) -> None:
            ctx.req.status = params.response.status

        tc.on_request_start.append(start)
        tc.on_request_end.append(end)
        return tc

    def session(self, timeout_s: float = 10.0) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s),
                                     trace_configs=[self.trace_config()])

    # ClobObserver: the order lane's requests (answered; a lane request without an answer is resent
    # through the traced session, so it is counted there).
    def on_api_request(self, endpoint: str, status: int) -> None:
        method, _, path = endpoint.partition(" ")
        self.requests.append(Request(method, path, time.monotonic(), status))

    def on_api_error(self, endpoint: str, status: int) -> None:
        return None

    def select(self, method: str, path: str, since: float = 0.0, until: float = float("inf")) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path == path and since <= r.t < until]

    def max_in_window(self, method: str, path: str, window_s: float) -> int:
        """Most requests to one endpoint inside any sliding window of `window_s` seconds."""
        ts = sorted(r.t for r in self.select(method, path))
        best, j = 0, 0
        for i, t in enumerate(ts):
            while ts[j] <= t - window_s:
                j += 1
            best = max(best, i - j + 1)
        return best
