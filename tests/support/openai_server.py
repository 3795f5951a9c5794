"""A local OpenAI-compatible HTTP server (aiohttp) for tests of the real `openai` client.

Serves POST /v1/chat/completions and /v1/embeddings with scripted answers and records every request
(path, headers, JSON body). Also serves NewsAPI's GET /v2/everything and records Supabase PostgREST
calls (/rest/v1/...) so one loopback server covers the AI layer's HTTP dependencies.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest_asyncio
from aiohttp import web


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeAI:
    """Scripted behaviour: set `chat_answer` (dict -> JSON content, or str content), `chat_status`, ..."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    chat_answer: Any = field(default_factory=lambda: {"probability": 0.8, "confidence": 85,
                                                       "rationale": "strong evidence"})
    chat_status: int = 200
    usage: tuple[int, int] = (120, 30)
    articles: list[dict[str, Any]] = field(default_factory=list)
    rpc_rows: list[dict[str, Any]] = field(default_factory=list)
    chat_hook: Callable[[dict[str, Any]], Any] | None = None

    def calls(self, path_part: str) -> list[Recorded]:
        return [r for r in self.requests if path_part in r.path]

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"


def _embedding(text: str, dim: int = 8) -> list[float]:
    h = hashlib.sha256(text.encode()).digest()
    return [(b - 128) / 128 for b in h[:dim]]


REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


def _reasoning_refusal(body: dict[str, Any]) -> str | None:
    """OpenAI's reasoning models refuse `max_tokens` and any non-default `temperature`."""
    name = str(body.get("model", "")).rsplit("/", 1)[-1]
    if not any(name == p or name.startswith(p + "-") for p in REASONING_PREFIXES):
        return None
    if "max_tokens" in body:
        return ("Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead.")
    if body.get("temperature", 1) != 1:
        return (f"Unsupported value: 'temperature' does not support {body['temperature']} with this model. "
                "Only the default (1) value is supported.")
    return None


def build_app(state: FakeAI) -> web.Application:
    async def record(request: web.Request) -> Any:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        state.requests.append(Recorded(request.method, request.path, dict(request.query),
                                       {k.lower(): v for k, v in request.headers.items()}, body))
        return body

    async def chat(request: web.Request) -> web.Response:
        body = await record(request)
        refusal = _reasoning_refusal(body)
        if refusal:  # as OpenAI answers a reasoning model sent chat-model parameters
            return web.json_response({"error": {"message": refusal, "type": "invalid_request_error",
                                                "code": "unsupported_parameter"}}, status=400)
        if state.chat_status != 200:
            return web.json_response({"error": {"message": "scripted failure", "type": "server_error"}},
                                     status=state.chat_status)
        answer = state.chat_hook(body) if state.chat_hook else state.chat_answer
        content = answer if isinstance(answer, str) else json.dumps(answer)
        pt, ct = state.usage
        return web.json_response({
            "id": f"chatcmpl-{len(state.requests)}", "object": "chat.completion", "created": 1_700_000_000,
            "model": body.get("model", ""),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
        })

    async def embeddings(request: web.Request) -> web.Response:
        body = await record(request)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return web.json_response({
            "object": "list", "model": body.get("model", ""),
            "data": [{"object": "embedding", "index": i, "embedding": _embedding(str(t))} for i, t in enumerate(inputs)],
            "usage": {"prompt_tokens": 10 * len(inputs), "total_tokens": 10 * len(inputs)},
        })

    async def news(request: web.Request) -> web.Response:
        await record(request)
        if not request.headers.get("X-Api-Key"):
            return web.json_response({"status": "error", "code": "apiKeyMissing"}, status=401)
        return web.json_response({"status": "ok", "totalResults": len(state.articles), "articles": state.articles})

    async def rest(request: web.Request) -> web.Response:
        await record(request)
        if "/rpc/" in request.path:
            return web.json_response(state.rpc_rows)
        return web.json_response([], status=201)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_get("/v2/everything", news)
    app.router.add_route("*", "/rest/v1/{tail:.*}", rest)
    return app


async def start_loopback(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve an aiohttp app on 127.0.0.1 and a free port: (runner to clean up, base URL)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def start_fake_ai() -> tuple[FakeAI, web.AppRunner]:
    state = FakeAI()
    runner, state.url = await start_loopback(build_app(state))
    return state, runner


@pytest_asyncio.fixture
async def fake_ai() -> AsyncIterator[FakeAI]:
    state, runner = await start_fake_ai()
    try:
        yield state
    finally:
        await runner.cleanup()
