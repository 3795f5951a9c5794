"""`botfleet_api_requests_total` for every HTTP request a bot makes (CLOB, Gamma, Data API, news):
an aiohttp TraceConfig on the bot's client sessions, so no client code has to count anything."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import aiohttp

from bot_runtime.telemetry.metrics import BotMetrics

# Path segments that are identifiers (order hashes, token ids, uuids) would explode the label's
# cardinality: they become "{id}".
_ID_SEGMENT = re.compile(r"^(0x[0-9a-fA-F]{8,}|[0-9]{6,}|[0-9a-fA-F-]{20,})$")


def endpoint_label(method: str, path: str) -> str:
    """`GET /data/order/0xabc...` -> `GET /data/order/{id}`; the query string is dropped."""
    path = path.split("?", 1)[0] or "/"
    segs = ["{id}" if _ID_SEGMENT.match(s) else s for s in path.split("/")]
    return f"{method.upper()} {'/'.join(segs)}"


def code_class(status: int | None) -> str:
    return "error" if not status else f"{status // 100}xx"


def request_tracer(metrics: BotMetrics, bot: str, strategy: str) -> aiohttp.TraceConfig:
    tc = aiohttp.TraceConfig()

    async def on_end(_s: aiohttp.ClientSession, _c: SimpleNamespace, p: aiohttp.TraceRequestEndParams) -> None:
        metrics.api_requests.labels(bot, strategy, endpoint_label(p.method, p.url.path),
                                    code_class(p.response.status)).inc()

    async def on_exc(_s: aiohttp.ClientSession, _c: SimpleNamespace,
                     p: aiohttp.TraceRequestExceptionParams) -> None:
        metrics.api_requests.labels(bot, strategy, endpoint_label(p.method, p.url.path), "error").inc()

    tc.on_request_end.append(on_end)
    tc.on_request_exception.append(on_exc)
    return tc


def traced_session(metrics: BotMetrics, bot: str, strategy: str, **kwargs: Any) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(trace_configs=[request_tracer(metrics, bot, strategy)], **kwargs)
