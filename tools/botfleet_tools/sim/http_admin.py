"""`/_sim/*`: control of the simulator over HTTP (faults, wallets, keys, inspection) for other processes.

Served by a listener of its own (`admin_url`, loopback by default), never on the trading port: whoever
reaches a paper bot's exchange must not be able to rewrite its market or mint API keys. Every request
carries `Authorization: Bearer <admin token>`, compared in constant time.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .units import fmt

if TYPE_CHECKING:
    from .exchange import SimExchange


UNAUTHORIZED = ("missing or wrong bearer token: send 'Authorization: Bearer <token>' (the token of "
                "`botfleet sim --admin-token-file`, BOTFLEET_SIM_ADMIN_TOKEN or SimExchange.admin_token)")


def bearer_auth(token: str) -> Any:
    """Middleware: 401 unless the request's bearer token is `token`."""
    expected = token.encode()

    @web.middleware
    async def middleware(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # compare_digest: the time taken does not tell how many leading characters were right
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            return web.json_response({"error": UNAUTHORIZED}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="botfleet-sim-admin"'})
        return await handler(request)

    return middleware


def build_admin_app(sim: SimExchange) -> web.Application:
    """The admin listener's application: token check, then the `/_sim/*` routes."""
    app = web.Application(middlewares=[bearer_auth(sim.admin_token)])
    add_admin_routes(app, sim)
    return app


def add_admin_routes(app: web.Application, sim: SimExchange) -> None:
    r = app.router

    async def _body(request: web.Request) -> dict[str, Any]:
        try:
            data = await request.json() if request.can_read_body else {}
        except ValueError as exc:
            raise web.HTTPBadRequest(text=json.dumps({"error": "body is not JSON"}),
                                     content_type="application/json") from exc
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text=json.dumps({"error": "body must be a JSON object"}),
                                     content_type="application/json")
        return data

    async def faults_post(request: web.Request) -> web.Response:
        try:
            sim.faults.apply(await _body(request))
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(sim.faults.status())

    async def faults_get(_: web.Request) -> web.Response:
        return web.json_response(sim.faults.status())

    async def wallets_post(request: web.Request) -> web.Response:
        data = await _body(request)
        if "address" not in data:
            return web.json_response({"error": "address is required: {\"address\": \"0x...\", \"usdc\": 1000}"},
                                     status=400)
        sim.add_wallet(str(data["address"]), float(data.get("usdc", 0)), data.get("positions"))
        return web.json_response({"address": data["address"], "usdc": sim.balance(str(data["address"]))})

    async def wallet_get(request: web.Request) -> web.Response:
        w = sim.engine.wallet(request.match_info["address"])
        return web.json_response({"address": w.address, "usdc": fmt(w.usdc),
                                  "positions": {t: fmt(s) for t, s in w.positions.items() if s}})

    async def api_keys_post(request: web.Request) -> web.Response:
        data = await _body(request)
        if "address" not in data:
            return web.json_response({"error": "address is required"}, status=400)
        creds = sim.create_api_key(str(data["address"]))
        return web.json_response(creds.as_json())

    async def dislocations(_: web.Request) -> web.Response:
        return web.json_response([d.as_dict() for d in sim.scenario.dislocations])

    async def mispricings(_: web.Request) -> web.Response:
        return web.json_response([d.as_dict() for d in sim.scenario.mispricings])

    async def news(_: web.Request) -> web.Response:
        return web.json_response([n.as_dict() for n in sim.scenario.news])

    async def ledger(_: web.Request) -> web.Response:
        return web.json_response([f.as_dict() for f in sim.ledger])

    async def orders(request: web.Request) -> web.Response:
        """Every API order the engine holds, or one wallet's (``?maker=0x...``): id, status, shape."""
        maker = request.query.get("maker", "").lower()
        return web.json_response([
            {"id": o.id, "maker": o.maker, "status": o.status, "side": o.side, "token": o.token,
             "order_type": o.order_type, "price": fmt(o.price), "size": fmt(o.size), "created_ms": o.created_ms}
            for o in sim.engine.orders.values() if not o.internal and (not maker or o.maker.lower() == maker)])

    async def step(_: web.Request) -> web.Response:
        await sim.step()
        return web.json_response({"step": sim.scenario.step_no})

    async def state(_: web.Request) -> web.Response:
        return web.json_response({
            "scenario": sim.config.scenario, "seed": sim.config.seed, "step": sim.scenario.step_no,
            "markets": len(sim.markets), "fills": len(sim.ledger), "open_orders": len(sim.engine.open_orders()),
            "market_ws": len(sim.market_hub.conns), "user_ws": len(sim.user_hub.conns),
            "faults": sim.faults.status()})

    r.add_post("/_sim/faults", faults_post)
    r.add_get("/_sim/faults", faults_get)
    r.add_post("/_sim/wallets", wallets_post)
    r.add_get("/_sim/wallets/{address}", wallet_get)
    r.add_post("/_sim/api-keys", api_keys_post)
    r.add_get("/_sim/dislocations", dislocations)
    r.add_get("/_sim/mispricings", mispricings)
    r.add_get("/_sim/news", news)
    r.add_get("/_sim/ledger", ledger)
    r.add_get("/_sim/orders", orders)
    r.add_post("/_sim/step", step)
    r.add_get("/_sim/state", state)
