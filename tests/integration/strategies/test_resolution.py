"""Resolved markets read from Gamma (a missed `market_resolved`): predictions and copies get scored."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from aiohttp import web

from bot_runtime.venue.polymarket.gamma import GammaClient, GammaError, winner_from_gamma


def gamma(cid: str, closed: bool, prices: list[str]) -> dict[str, Any]:
    return {"conditionId": cid, "closed": closed, "outcomePrices": json.dumps(prices),
            "clobTokenIds": json.dumps([cid + "-yes", cid + "-no"])}


def test_winner_from_gamma() -> None:
    assert winner_from_gamma(gamma("a", True, ["1", "0"])) == "a-yes"
    assert winner_from_gamma(gamma("a", True, ["0", "1"])) == "a-no"
    assert winner_from_gamma(gamma("a", False, ["1", "0"])) is None  # not closed yet
    assert winner_from_gamma(gamma("a", True, ["0.5", "0.5"])) is None  # closed, not decided (e.g. 50-50)
    assert winner_from_gamma({"closed": True, "outcomePrices": "oops", "clobTokenIds": "[]"}) is None


async def test_gamma_client_reads_resolutions_and_one_market_by_condition_id() -> None:
    seen: list[list[tuple[str, str]]] = []

    async def markets(request: web.Request) -> web.Response:
        seen.append(list(request.query.items()))
        ids = request.query.getall("condition_ids")
        if ids == ["boom"]:
            return web.Response(status=500, text="upstream down")
        data = {"m1": gamma("m1", True, ["0", "1"]), "m2": gamma("m2", False, ["0.6", "0.4"])}
        return web.json_response([data[i] for i in ids if i in data])

    app = web.Application()
    app.router.add_get("/markets", markets)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as http:
            gamma_client = GammaClient(f"http://127.0.0.1:{port}", session=http, max_retries=0)
            got = await gamma_client.resolutions(["m2", "m1", "m3"], batch=2)
            assert seen[0] == [("condition_ids", "m1"), ("condition_ids", "m2"), ("closed", "true")]
            assert seen[1] == [("condition_ids", "m3"), ("closed", "true")]
            one = await gamma_client.market("m1")
            unknown = await gamma_client.market("m9")
            assert seen[2:] == [[("condition_ids", "m1")], [("condition_ids", "m9")]]
            seen.clear()
            try:  # an error answer raises (the strategies count it and ask again later)
                await gamma_client.resolutions(["boom"])
                raise AssertionError("a 500 from Gamma must raise")
            except GammaError as e:
                assert "HTTP 500" in str(e)
            assert len(seen) == 1  # max_retries=0: one attempt
    finally:
        await runner.cleanup()
    assert got == {"m1": "m1-no"}
    assert one is not None and one.condition_id == "m1" and one.yes_token_id == "m1-yes" and one.closed
    assert unknown is None


async def test_polyai_and_elitemimic_score_markets_gamma_reports_closed(tmp_path: Any) -> None:
    from bot_runtime.contract.config import BotConfig
    from bot_runtime.marketdata.store import BookStore
    from bot_runtime.strategies import get_strategy
    from bot_runtime.strategies.base import StrategyContext

    async def markets(request: web.Request) -> web.Response:
        return web.json_response([gamma(i, True, ["1", "0"]) for i in request.query.getall("condition_ids")])

    app = web.Application()
    app.router.add_get("/markets", markets)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def submit(intents: Any, opp: Any) -> list[Any]:
        return []

    try:
        async with aiohttp.ClientSession() as http:
            strategies: list[Any] = []
            for name in ("polyai", "elitemimic"):
                cfg = BotConfig.model_validate({"name": "r", "strategy": name})
                ctx = StrategyContext(config=cfg, params=cfg.strategy_params(), books=BookStore(), markets={},
                                      submit=submit, clock=lambda: 0, http=http, gamma_url=url,
                                      state_dir=str(tmp_path))
                strategies.append(get_strategy(name)(ctx))
            ai: Any = strategies[0]
            mimic: Any = strategies[1]
            ai.accuracy.predict("m1", 0.9, "m1-yes")   # right
            ai.accuracy.predict("m2", 0.2, "m2-yes")   # wrong: YES won
            await ai.check_resolutions()
            assert (ai.accuracy.correct, ai.accuracy.wrong) == (1, 1) and ai.accuracy.predictions == {}
            mimic.copies["m3"] = [("BUY", "m3-yes"), ("BUY", "m3-no")]
            await mimic.check_resolutions()
            assert mimic.outcomes == {"win": 1, "loss": 1}
            await ai.stop()
    finally:
        await runner.cleanup()
