"""Public HTTP endpoints: CLOB market data, Gamma metadata and the Data API."""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot_runtime.venue.polymarket.fees import rate_bps

from .markets import MarketSpec, clob_market, clob_market_info, gamma_event, gamma_market
from .units import fmt, to_float
from .wire import book_json, data_api_item

if TYPE_CHECKING:
    from .exchange import SimExchange

END_CURSOR = "LTE="


def err(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _token(request: web.Request, sim: SimExchange) -> str:
    token = request.query.get("token_id") or request.match_info.get("token_id", "")
    if not token:
        raise web.HTTPBadRequest(text=json.dumps({"error": "Invalid token id: pass ?token_id=<token id>"}),
                                 content_type="application/json")
    if token not in sim.engine.books:
        raise web.HTTPNotFound(text=json.dumps({"error": "No orderbook exists for the requested token id"}),
                               content_type="application/json")
    return token


def _cursor(request: web.Request) -> int:
    raw = request.query.get("next_cursor") or "MA=="
    if raw == END_CURSOR:
        return -1
    try:
        return int(base64.b64decode(raw).decode() or 0)
    except ValueError:
        return 0


def _page(items: list[Any], offset: int, limit: int) -> dict[str, Any]:
    if offset < 0:
        return {"data": [], "next_cursor": END_CURSOR, "limit": limit, "count": 0}
    chunk = items[offset:offset + limit]
    nxt = offset + limit
    cursor = base64.b64encode(str(nxt).encode()).decode() if nxt < len(items) else END_CURSOR
    return {"data": chunk, "next_cursor": cursor, "limit": limit, "count": len(chunk)}


def _bool(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.lower() in ("1", "true", "yes")


def add_public_routes(app: web.Application, sim: SimExchange) -> None:
    eng = sim.engine
    r = app.router

    async def ok(_: web.Request) -> web.Response:
        return web.json_response("OK")

    async def server_time(_: web.Request) -> web.Response:
        return web.json_response(int(time.time()))

    async def version(_: web.Request) -> web.Response:
        return web.json_response({"version": 2})

    async def book(request: web.Request) -> web.Response:
        return web.json_response(book_json(eng, _token(request, sim), int(time.time() * 1000)))

    async def books(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            tokens = [str(item["token_id"]) for item in body]
        except (ValueError, TypeError, KeyError):
            return err(400, "Invalid payload: send a JSON list of {\"token_id\": \"...\"}")
        if len(tokens) > 500:
            return err(400, "Payload exceeds the limit: at most 500 token ids per request")
        ts = int(time.time() * 1000)
        return web.json_response([book_json(eng, t, ts) for t in tokens if t in eng.books])

    async def price(request: web.Request) -> web.Response:
        token = _token(request, sim)
        side = request.query.get("side", "").upper()
        if side not in ("BUY", "SELL"):
            return err(400, "Invalid side: pass side=BUY or side=SELL")
        b = eng.books[token]
        p = b.best_bid() if side == "BUY" else b.best_ask()
        if p is None:
            return err(404, "No orderbook exists for the requested token id")
        return web.json_response({"price": fmt(p)})

    async def midpoint(request: web.Request) -> web.Response:
        b = eng.books[_token(request, sim)]
        bb, ba = b.best_bid(), b.best_ask()
        if bb is None or ba is None:
            return err(404, "No orderbook exists for the requested token id")
        return web.json_response({"mid": fmt((bb + ba) // 2)})

    async def spread(request: web.Request) -> web.Response:
        b = eng.books[_token(request, sim)]
        bb, ba = b.best_bid(), b.best_ask()
        if bb is None or ba is None:
            return err(404, "No orderbook exists for the requested token id")
        return web.json_response({"spread": fmt(ba - bb)})

    async def last_trade(request: web.Request) -> web.Response:
        token = _token(request, sim)
        p = eng.last_trade.get(token)
        return web.json_response({"price": fmt(p) if p is not None else "0.5", "side": ""})

    async def tick_size(request: web.Request) -> web.Response:
        return web.json_response({"minimum_tick_size": to_float(eng.market_of(_token(request, sim)).tick)})

    async def neg_risk(request: web.Request) -> web.Response:
        return web.json_response({"neg_risk": eng.market_of(_token(request, sim)).neg_risk})

    async def fee_rate(request: web.Request) -> web.Response:
        spec = eng.market_of(_token(request, sim))
        return web.json_response({"base_fee": rate_bps(spec.fee_rate)})

    def _by_condition(request: web.Request) -> MarketSpec:
        cid = request.match_info["condition_id"]
        spec = eng.markets.get(cid)
        if spec is None:
            raise web.HTTPNotFound(text=json.dumps({"error": f"market {cid} not found"}),
                                   content_type="application/json")
        return spec

    async def clob_markets(request: web.Request) -> web.Response:
        items = [clob_market(m, sim.tops(m)) for m in sim.markets]
        return web.json_response(_page(items, _cursor(request), 500))

    async def clob_market_one(request: web.Request) -> web.Response:
        spec = _by_condition(request)
        return web.json_response(clob_market(spec, sim.tops(spec)))

    async def market_by_token(request: web.Request) -> web.Response:
        spec = eng.market_of(_token(request, sim))
        return web.json_response({"condition_id": spec.condition_id, "primary_token_id": spec.yes_token,
                                  "secondary_token_id": spec.no_token})

    async def clob_market_info_h(request: web.Request) -> web.Response:
        return web.json_response(clob_market_info(_by_condition(request)))

    for path, handler in [("/", ok), ("/ok", ok), ("/time", server_time), ("/version", version),
                          ("/book", book), ("/price", price), ("/midpoint", midpoint), ("/spread", spread),
                          ("/last-trade-price", last_trade), ("/tick-size", tick_size),
                          ("/neg-risk", neg_risk), ("/fee-rate", fee_rate), ("/fee-rate/{token_id}", fee_rate),
                          ("/markets", clob_markets), ("/markets/{condition_id}", clob_market_one),
                          ("/markets-by-token/{token_id}", market_by_token),
                          ("/clob-markets/{condition_id}", clob_market_info_h)]:
        r.add_get(path, handler)
    r.add_post("/books", books)

    # ----- Gamma -----
    def _gamma_markets(request: web.Request) -> list[dict[str, Any]]:
        q = request.query
        out = []
        ids = set(q.getall("id", []))
        slugs = set(q.getall("slug", []))
        cids = set(q.getall("condition_ids", []))
        tokens = set(q.getall("clob_token_ids", []))
        active, closed = _bool(q.get("active")), _bool(q.get("closed"))
        for m in sim.markets:
            if (ids and m.id not in ids) or (slugs and m.slug not in slugs) or (cids and m.condition_id not in cids):
                continue
            if tokens and not (tokens & set(m.tokens)):
                continue
            if (active is not None and m.active != active) or (closed is not None and m.closed != closed):
                continue
            out.append(gamma_market(m, sim.tops(m)))
        return out

    def _limit_offset(request: web.Request, items: list[Any], default: int = 500) -> list[Any]:
        try:
            limit = int(request.query.get("limit", default))
            offset = int(request.query.get("offset", 0))
        except ValueError as exc:
            raise web.HTTPBadRequest(text=json.dumps({"error": "limit and offset must be integers"}),
                                     content_type="application/json") from exc
        return items[offset:offset + limit]

    async def gamma_markets(request: web.Request) -> web.Response:
        return web.json_response(_limit_offset(request, _gamma_markets(request)))

    async def gamma_market_one(request: web.Request) -> web.Response:
        mid = request.match_info["id"]
        for m in sim.markets:
            if m.id == mid or m.slug == mid:
                return web.json_response(gamma_market(m, sim.tops(m)))
        return err(404, f"market {mid} not found")

    def _events() -> list[dict[str, Any]]:
        by_id = {m.id: m for m in sim.markets}
        out = []
        for e in sim.scenario.events:
            mk = [gamma_market(by_id[i], sim.tops(by_id[i])) for i in e.market_ids]
            out.append(gamma_event(e, mk))
        # Binary markets are events of one market, as on Polymarket.
        grouped = {i for e in sim.scenario.events for i in e.market_ids}
        for m in sim.markets:
            if m.id not in grouped:
                out.append({"id": "e" + m.id, "slug": m.slug, "title": m.question, "category": m.category,
                            "negRisk": False, "negRiskMarketID": None, "enableNegRisk": False,
                            "active": m.active, "closed": m.closed, "markets": [gamma_market(m, sim.tops(m))]})
        return out

    async def gamma_events(request: web.Request) -> web.Response:
        q = request.query
        ids, slugs = set(q.getall("id", [])), set(q.getall("slug", []))
        active, closed = _bool(q.get("active")), _bool(q.get("closed"))
        items = [e for e in _events()
                 if (not ids or e["id"] in ids) and (not slugs or e["slug"] in slugs)
                 and (active is None or e["active"] == active) and (closed is None or e["closed"] == closed)]
        return web.json_response(_limit_offset(request, items))

    async def gamma_event_one(request: web.Request) -> web.Response:
        eid = request.match_info["id"]
        for e in _events():
            if e["id"] == eid or e["slug"] == eid:
                return web.json_response(e)
        return err(404, f"event {eid} not found")

    r.add_get("/gamma/markets", gamma_markets)
    r.add_get("/gamma/markets/{id}", gamma_market_one)
    r.add_get("/gamma/events", gamma_events)
    r.add_get("/gamma/events/{id}", gamma_event_one)

    # ----- Data API -----
    def _data_items(request: web.Request, activity: bool) -> list[dict[str, Any]]:
        q = request.query
        user = (q.get("user") or "").lower()
        markets = set(filter(None, ",".join(q.getall("market", [])).split(",")))
        side = (q.get("side") or "").upper()
        taker_only = _bool(q.get("takerOnly"))
        taker_only = True if taker_only is None else taker_only
        if activity:
            types = set(filter(None, ",".join(q.getall("type", [])).upper().split(",")))
            if types and "TRADE" not in types:
                return []
            taker_only = False
        start, end = q.get("start"), q.get("end")
        items = []
        for fill in reversed(eng.ledger):
            ts = fill.ts_ms // 1000
            if (start and ts < int(start)) or (end and ts > int(end)):
                continue
            if markets and fill.market not in markets:
                continue
            roles = [False] if taker_only else [False, True]
            for as_maker in roles:
                wallet = fill.maker if as_maker else fill.taker
                if user and wallet.lower() != user:
                    continue
                item = data_api_item(fill, eng, as_maker, activity)
                if side and item["side"] != side:
                    continue
                items.append(item)
        return items

    def _paged(request: web.Request, items: list[Any], default: int) -> list[Any]:
        try:
            limit = min(int(request.query.get("limit", default)), 10_000)
            offset = int(request.query.get("offset", 0))
        except ValueError as exc:
            raise web.HTTPBadRequest(text=json.dumps({"error": "limit and offset must be integers"}),
                                     content_type="application/json") from exc
        return items[offset:offset + limit]

    async def data_trades(request: web.Request) -> web.Response:
        return web.json_response(_paged(request, _data_items(request, False), 100))

    async def data_activity(request: web.Request) -> web.Response:
        return web.json_response(_paged(request, _data_items(request, True), 100))

    async def data_positions(request: web.Request) -> web.Response:
        user = request.query.get("user", "")
        if not user:
            return err(400, "user is required: pass ?user=<wallet address>")
        w = eng.wallets.get(user.lower())
        out = []
        for token, shares in sorted((w.positions if w else {}).items()):
            if shares <= 0 or token not in eng.token_market:
                continue
            spec = eng.market_of(token)
            outcome, idx = spec.outcome_of(token)
            top = eng.top(token)
            cur = to_float(top.best_bid) if top.best_bid is not None else 0.0
            out.append({"proxyWallet": w.address if w else user, "asset": token, "conditionId": spec.condition_id,
                        "size": to_float(shares), "curPrice": cur, "currentValue": round(cur * to_float(shares), 6),
                        "outcome": outcome, "outcomeIndex": idx, "title": spec.question, "slug": spec.slug,
                        "negativeRisk": spec.neg_risk})
        return web.json_response(out)

    # ----- NewsAPI-shaped headlines of the scenario's news jumps -----
    async def news(request: web.Request) -> web.Response:
        if not (request.headers.get("X-Api-Key") or request.query.get("apiKey")):
            return web.json_response({"status": "error", "code": "apiKeyMissing",
                                      "message": "Your API key is missing: send it in the X-Api-Key header."},
                                     status=401)
        words = [w.lower() for w in (request.query.get("q") or "").replace('"', " ").split() if len(w) > 2
                 and w.upper() not in ("AND", "OR", "NOT")]
        try:
            size = max(1, min(100, int(request.query.get("pageSize", 20))))
        except ValueError:
            size = 20
        items = []
        for ev in reversed(sim.scenario.news):
            text = (ev.headline() + " " + ev.category).lower()
            if words and not any(w in text for w in words):
                continue
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ev.ts_ms / 1000))
            items.append({"source": {"id": None, "name": "Sim Wire"}, "author": "botfleet sim",
                          "title": ev.headline(),
                          "description": f"{ev.question} moved {ev.delta:+.2f} to {ev.fair:.2f} on the news.",
                          "url": f"https://sim.invalid/news/{ev.market}/{ev.ts_ms}", "urlToImage": None,
                          "publishedAt": when, "content": ev.headline()})
        return web.json_response({"status": "ok", "totalResults": len(items), "articles": items[:size]})

    r.add_get("/newsapi/v2/everything", news)
    r.add_get("/newsapi/v2/top-headlines", news)

    r.add_get("/data-api/trades", data_trades)
    r.add_get("/data-api/activity", data_activity)
    r.add_get("/data-api/positions", data_positions)
