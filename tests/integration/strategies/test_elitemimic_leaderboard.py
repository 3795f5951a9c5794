"""EliteMimic discovers wallets from the Data API leaderboard (`leaderboardTop`)."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from bot_runtime.contract.config import BotConfig
from bot_runtime.marketdata.store import BookStore
from bot_runtime.strategies import get_strategy
from bot_runtime.strategies.base import StrategyContext

A, B = "0x" + "aa" * 20, "0x" + "bb" * 20


async def test_leaderboard_wallets_are_added_to_the_watch_list() -> None:
    queries: list[dict[str, str]] = []

    async def leaderboard(request: web.Request) -> web.Response:
        queries.append(dict(request.query))
        return web.json_response([{"rank": 1, "proxyWallet": A.upper().replace("0X", "0x"), "pnl": 1e6},
                                  {"rank": 2, "proxyWallet": B}, {"rank": 3, "proxyWallet": "not-a-wallet"}])

    app = web.Application()
    app.router.add_get("/v1/leaderboard", leaderboard)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def submit(intents: Any, opp: Any) -> list[Any]:
        return []

    try:
        cfg = BotConfig.model_validate({"name": "m", "strategy": "elitemimic",
                                        "params": {"wallets": [B], "leaderboardTop": 3}})
        async with aiohttp.ClientSession() as http:
            ctx = StrategyContext(config=cfg, params=cfg.strategy_params(), books=BookStore(), markets={},
                                  submit=submit, http=http, data_api_url=url)
            s: Any = get_strategy("elitemimic")(ctx)
            await s._discover_leaderboard()
    finally:
        await runner.cleanup()
    assert s.wallets == [B, A]  # configured first, then new ones from the leaderboard, lower-cased, no repeats
    assert queries == [{"limit": "3"}]
