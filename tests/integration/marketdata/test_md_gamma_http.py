"""GammaClient against a small loopback HTTP server: retries, pagination guard, /events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

import tests.support.marketdata_ws as md_ws
from bot_runtime.venue.polymarket.gamma import GammaClient, GammaError, MarketFilter


def _market(i: int, **kw: Any) -> dict[str, Any]:
    return {"conditionId": f"0x{i:064x}", "question": f"Q{i}", "slug": f"m{i}", "clobTokenIds": json.dumps([f"{i}1", f"{i}2"]),
            "active": True, "closed": False, "enableOrderBook": True, "acceptingOrders": True, **kw}


class Gamma:
    def __init__(self) -> None:
        self.markets = [_market(i) for i in range(7)] + [_market(100, closed=True), _market(101, acceptingOrders=False)]
        self.calls: list[dict[str, Any]] = []
        self.throttle = 0

    async def markets_h(self, request: web.Request) -> web.Response:
        self.calls.append(dict(request.query))
        if self.throttle > 0:
            self.throttle -= 1
            return web.json_response({"error": "rate limited"}, status=429, headers={"Retry-After": "0"})
        off, lim = int(request.query["offset"]), int(request.query["limit"])
        return web.json_response(self.markets[off : off + lim])

    async def broken_h(self, request: web.Request) -> web.Response:
        return web.json_response(self.markets[:2])  # ignores offset

    async def clob_market_h(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        if cid.endswith("c9"):  # 201: no fee data here; /fee-rate answers
            return web.json_response({"t": [], "mts": 0.01})
        return web.json_response({"t": [], "fd": {"r": 0.072, "e": 1}})

    async def fee_rate_h(self, request: web.Request) -> web.Response:
        return web.json_response({"base_fee": 250})

    async def event_one_h(self, request: web.Request) -> web.Response:
        eid = request.match_info["id"]
        if eid != "e1":
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response({"id": "e1", "negRisk": True, "enableNegRisk": True, "negRiskAugmented": False,
                                  "markets": [_market(200), _market(201), _market(202, closed=True)]})

    async def events_h(self, request: web.Request) -> web.Response:
        ev = {"id": "e1", "slug": "who", "negRisk": True, "negRiskMarketID": "0xg",
              "tags": [{"slug": "politics", "label": "Politics"}],
              "markets": [_market(200, negRisk=None, feesEnabled=True), _market(201, negRisk=None, feesEnabled=True)]}
        off = int(request.query["offset"])
        return web.json_response([ev][off:])


@pytest_asyncio.fixture
async def gamma() -> AsyncIterator[tuple[Gamma, str]]:
    g = Gamma()
    app = web.Application()
    app.router.add_get("/markets", g.markets_h)
    app.router.add_get("/broken/markets", g.broken_h)
    app.router.add_get("/events", g.events_h)
    app.router.add_get("/events/{id}", g.event_one_h)
    app.router.add_get("/clob-markets/{cid}", g.clob_market_h)
    app.router.add_get("/fee-rate", g.fee_rate_h)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield g, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_paginates_filters_and_retries_429(gamma: tuple[Gamma, str]) -> None:
    g, url = gamma
    g.throttle = 2
    async with GammaClient(url, page_size=3) as client:
        markets = await client.markets()
    assert [m.slug for m in markets] == [f"m{i}" for i in range(7)]  # closed / not accepting dropped
    offsets = [c["offset"] for c in g.calls]
    assert offsets == ["0", "0", "0", "3", "6", "9"]  # two throttled tries, 3 full pages, an empty one
    assert g.calls[-1]["active"] == "true" and g.calls[-1]["closed"] == "false"


async def test_max_markets_and_untradable_kept_on_request(gamma: tuple[Gamma, str]) -> None:
    _, url = gamma
    async with GammaClient(url, page_size=4) as client:
        assert len(await client.markets(MarketFilter(max_markets=2))) == 2
        everything = await client.markets(MarketFilter(tradable_only=False))
    assert len(everything) == 9


async def test_broken_pagination_is_an_error(gamma: tuple[Gamma, str]) -> None:
    _, url = gamma
    async with GammaClient(url + "/broken", page_size=2) as client:
        with pytest.raises(GammaError, match="pagination"):
            await client.markets()


async def test_persistent_429_gives_up_with_a_clear_error(gamma: tuple[Gamma, str]) -> None:
    g, url = gamma
    g.throttle = 100
    async with GammaClient(url, max_retries=2) as client:
        with pytest.raises(GammaError, match="HTTP 429 after 3 tries"):
            await client.markets()


async def test_event_markets(gamma: tuple[Gamma, str]) -> None:
    _, url = gamma
    async with GammaClient(url) as client:
        ms = await client.event_markets()
    assert [m.slug for m in ms] == ["m200", "m201"]
    assert all(m.neg_risk and m.neg_risk_market_id == "0xg" and m.fee_rate == 0.04 for m in ms)
    assert ms[0].event_slug == "who"


async def test_fee_rate_comes_from_the_exchange_not_the_category(gamma: tuple[Gamma, str]) -> None:
    """Category "politics" says 4%; the exchange's fee data says 7.2% (and 2.5% via /fee-rate)."""
    _, url = gamma
    async with GammaClient(url) as client:
        ms = await client.event_markets()
        assert [m.fee_rate for m in ms] == [0.04, 0.04]  # the category guess, before asking
        ms = await client.fill_fee_rates(ms, url)
    assert [m.fee_rate for m in ms] == [0.072, 0.025] and all(m.fee_exponent == 1 for m in ms)


async def test_event_outcomes_from_gamma_events(gamma: tuple[Gamma, str]) -> None:
    """`/events/{id}`: the unresolved outcomes of the event, so a set is built only when all are here."""
    from bot_runtime.venue.polymarket.gamma import complete_negrisk_events, market_from_gamma

    _, url = gamma
    # as `/markets` gives them: the parent event is named, its outcomes are not
    ms = [market_from_gamma(_market(i, negRisk=True, negRiskMarketID="0xg", events=[{"id": "e1"}]))
          for i in (200, 201)]
    assert complete_negrisk_events(ms) == {}  # outcome list unknown: no set
    async with GammaClient(url) as client:
        ms = await client.annotate_events(ms)
    assert ms[0].event_outcome_ids == (f"0x{200:064x}", f"0x{201:064x}")  # 202 is resolved
    assert [m.slug for m in complete_negrisk_events(ms)["0xg"]] == ["m200", "m201"]
    assert complete_negrisk_events(ms[:1]) == {}


async def test_record_keeps_frames_byte_for_byte(gamma: tuple[Gamma, str], tmp_path: Any) -> None:
    """Odd spacing, ".48" prices, arrays and unknown events are taped exactly as sent."""
    import asyncio

    from bot_runtime.marketdata.tape import iter_tape
    from botfleet_tools.record import record

    g, url = gamma
    g.markets = [_market(1)]
    frames = [
        '[{"event_type": "book", "asset_id": "11", "market": "0x1", "bids": [{"price": ".48", "size": "30"}], '
        '"asks": [], "timestamp": "1757908890000", "hash": "0x0"}]',
        '{ "event_type" : "price_change" , "market":"0x1","price_changes":[{"asset_id":"11","price":"0.5",'
        '"size":"200","side":"BUY"}],"timestamp":"1757908892351"}',
        '{"event_type":"something_new","x":[1,2,{"y":"é"}]}',
        "not json at all",
    ]
    async with md_ws.ReplayMarketServer(lambda assets: frames) as srv:
        stop = asyncio.Event()
        tape = tmp_path / "tape.jsonl"
        task = asyncio.create_task(record(tape, ws_url=srv.url, gamma_url=url, duration_s=30, stop=stop))
        # the recorder flushes every second
        await md_ws.wait_for(lambda: task.done() or (tape.exists() and tape.read_bytes().count(b"\n") >= 4),
                             15, "4 taped frames")
        stop.set()
        summary = await task
    assert summary.frames == 4 and summary.bad_frames == 1
    assert tape.read_bytes() == "".join(f + "\n" for f in frames).encode()
    assert [f.raw.decode() for f in iter_tape(tape)] == frames
    assert srv.received[0] == {"assets_ids": ["11", "12"], "type": "market", "custom_feature_enabled": True}
