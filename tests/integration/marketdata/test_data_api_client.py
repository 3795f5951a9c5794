"""The venue's Data API client against a local HTTP server: query shape, order, parsing and the
request-accounting hooks (what botfleet_api_requests_total / api_errors_total are fed from)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot_runtime.venue.polymarket.data_api import (
    ACTIVITY,
    LEADERBOARD,
    DataApiClient,
    DataApiParseError,
    DataApiTrade,
    parse_trade,
)

W = "0x" + "ab" * 20


class Hooks:
    def __init__(self) -> None:
        self.responses: list[tuple[str, int]] = []
        self.errors: list[tuple[str, str]] = []

    def on_response(self, endpoint: str, status: int) -> None:
        self.responses.append((endpoint, status))

    def on_error(self, endpoint: str, kind: str) -> None:
        self.errors.append((endpoint, kind))


def trade(ts: int, **kw: Any) -> dict[str, Any]:
    return {"proxyWallet": W, "type": "TRADE", "side": "BUY", "asset": "tok", "conditionId": "0xm",
            "size": "10", "price": "0.42", "usdcSize": 4.2, "timestamp": ts, "transactionHash": f"0x{ts}", **kw}


def test_parse_trade_reads_the_wire_item() -> None:
    assert parse_trade(trade(1_700_000_000)) == DataApiTrade(W, "BUY", "tok", "0xm", 420_000, 10_000_000,
                                                              4_200_000, 1_700_000_000_000, "0x1700000000")
    no_usd = parse_trade(trade(1_700_000_000_123, usdcSize=None, side="sell"))  # ms pass through
    assert no_usd is not None and no_usd.usd_e6 == 4_200_000 and no_usd.side == "SELL"
    assert no_usd.ts_ms == 1_700_000_000_123
    assert parse_trade(trade(1, type="REDEEM")) is None
    with pytest.raises(DataApiParseError, match="'size'"):
        parse_trade(trade(1, size=None))


async def test_activity_and_leaderboard_queries_order_and_hooks() -> None:
    queries: list[tuple[str, dict[str, str]]] = []
    answer: dict[str, Any] = {"status": 200}

    async def activity(request: web.Request) -> web.Response:
        queries.append((request.path, dict(request.query)))
        if answer["status"] != 200:
            return web.Response(status=answer["status"], text="busy")
        return web.json_response([trade(30), "junk", trade(10), trade(20)])

    async def leaderboard(request: web.Request) -> web.Response:
        queries.append((request.path, dict(request.query)))
        return web.json_response([{"proxyWallet": W.upper().replace("0X", "0x")}, {"wallet": "0x" + "cd" * 20},
                                  {"proxyWallet": "nope"}, "junk"])

    app = web.Application()
    app.router.add_get("/activity", activity)
    app.router.add_get("/v1/leaderboard", leaderboard)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/"  # type: ignore[union-attr]
    hooks = Hooks()
    try:
        async with aiohttp.ClientSession() as http:
            api = DataApiClient(http, url, hooks=hooks)
            items = await api.activity(W, 5, limit=100)
            top = await api.leaderboard(3)
            answer["status"] = 503
            with pytest.raises(RuntimeError, match="HTTP 503"):
                await api.activity(W, 31)
        dead = DataApiClient(aiohttp.ClientSession(), url, hooks=hooks)
        await dead._session.close()
        with pytest.raises(RuntimeError):  # a closed session: no response at all
            await dead.activity(W, 0)
    finally:
        await runner.cleanup()
    assert [i["timestamp"] for i in items] == [10, 20, 30]  # oldest first, non-objects dropped
    assert top == [W, "0x" + "cd" * 20]
    assert queries == [("/activity", {"user": W, "type": "TRADE", "start": "5", "limit": "100"}),
                       ("/v1/leaderboard", {"limit": "3"}),
                       ("/activity", {"user": W, "type": "TRADE", "start": "31", "limit": "100"})]
    assert hooks.responses == [(ACTIVITY, 200), (LEADERBOARD, 200), (ACTIVITY, 503)]
    assert hooks.errors == [(ACTIVITY, "RuntimeError"), (ACTIVITY, "RuntimeError")]
