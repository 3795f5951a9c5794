"""Authenticated CLOB endpoints: API keys, orders, cancels, order/trade queries, heartbeats; faults."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot_runtime.venue.polymarket.constants import CHAIN_ID, TRADING_DISABLED_MESSAGE
from bot_runtime.venue.polymarket.fills import terms_of

from .auth import ApiCreds, AuthError, verify_l1, verify_l2
from .book import Order
from .engine import OrderRejected
from .orders import OrderPayloadError, SignedOrderV2, parse_order
from .units import fmt
from .wire import order_json, trade_json

if TYPE_CHECKING:
    from .exchange import SimExchange

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ORDER_PATHS = {("POST", "/order"), ("POST", "/orders")}
CANCEL_PATHS = {("DELETE", "/order"), ("DELETE", "/orders"), ("DELETE", "/cancel-all"),
                ("DELETE", "/cancel-market-orders")}
CANCEL_ONLY_MSG = "Trading is currently cancel-only. New orders are not accepted, but cancels are allowed."


def err(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def fault_middleware(sim: SimExchange) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_sim"):  # admin lives on its own listener: a plain 404 here, never faulted
            return await handler(request)
        f = sim.faults
        if request.path.startswith("/ws/"):  # only an `errors` fault naming the websocket path
            if f.hit(f.errors, request.path):
                return err(500, "Internal Server Error")
            return await handler(request)
        if sim.rate_limiter is not None:
            client = request.headers.get("POLY_API_KEY") or request.remote or "?"
            if not sim.rate_limiter.allow(client, request.method, request.path):
                return err(429, "Too Many Requests")
        if f.hit(f.slow):
            await asyncio.sleep(f.slow.value)
        if f.hit(f.rate_limit):
            return err(429, "Too Many Requests")
        if f.hit(f.errors, request.path):
            return err(500, "Internal Server Error")
        key = (request.method, request.path)
        if (key in ORDER_PATHS or key in CANCEL_PATHS) and f.hit(f.trading_disabled):
            return err(503, TRADING_DISABLED_MESSAGE)
        if key in ORDER_PATHS and f.hit(f.cancel_only):
            return err(503, CANCEL_ONLY_MSG)
        return await handler(request)

    return middleware


def to_engine_order(so: SignedOrderV2, order_id: str, creds: ApiCreds, order_type: str, post_only: bool,
                    tick: int, market: str, now: int) -> Order:
    """The signed order as the exchange reads it (the shared rules: `fills.terms_of`): a market
    BUY spends makerAmount dollars up to the price maker/taker implies."""
    try:
        t = terms_of(so.side, order_type, so.maker_amount, so.taker_amount, tick)
    except ValueError as exc:
        raise OrderPayloadError(f"Invalid order payload: {exc}") from None
    return Order(id=order_id, owner=creds.api_key, maker=so.maker, token=so.token_id, market=market,
                 side=so.side, price=t.limit_e6, size=t.shares_e6, order_type=order_type,  # type: ignore[arg-type]
                 created_ms=now, post_only=post_only, expiration=so.expiration, max_cost=t.budget_e6,
                 account=creds.address.lower())


def _signed_for(so: SignedOrderV2, exchange: str, chain_id: int) -> bool:
    """Does the order's signature recover to its signer under `chain_id` (to name the mistake)?"""
    try:
        return so.recover_signer(exchange, chain_id) == so.signer.lower()
    except (OrderPayloadError, ValueError):
        return False


def add_trading_routes(app: web.Application, sim: SimExchange) -> None:
    eng = sim.engine
    r = app.router

    async def l2(request: web.Request) -> tuple[ApiCreds, str]:
        body = await request.text()
        try:
            creds = verify_l2(request.headers, request.method, request.path, body, sim.keys,
                              now_s=int(time.time()), max_age_s=sim.config.check_l2_timestamp_s)
        except AuthError as exc:
            raise web.HTTPUnauthorized(text=json.dumps({"error": str(exc)}), content_type="application/json") from exc
        return creds, body

    def l1(request: web.Request) -> tuple[str, int]:
        try:
            return verify_l1(request.headers, sim.config.chain_id)
        except AuthError as exc:
            raise web.HTTPUnauthorized(text=json.dumps({"error": str(exc)}), content_type="application/json") from exc

    # ----- API keys -----
    async def create_key(request: web.Request) -> web.Response:
        address, nonce = l1(request)
        try:
            creds = sim.create_api_key(address, nonce)
        except KeyError:
            return err(400, "Could not create api key: one exists for this address and nonce; "
                            "use GET /auth/derive-api-key or another POLY_NONCE")
        return web.json_response(creds.as_json())

    async def derive_key(request: web.Request) -> web.Response:
        address, nonce = l1(request)
        creds = sim.keys.derive(address, nonce)
        if creds is None:
            return err(400, "Could not derive api key!")
        return web.json_response(creds.as_json())

    async def list_keys(request: web.Request) -> web.Response:
        creds, _ = await l2(request)
        return web.json_response({"apiKeys": sim.keys.keys_for(creds.address)})

    async def delete_key(request: web.Request) -> web.Response:
        creds, _ = await l2(request)
        sim.keys.delete(creds.api_key)
        return web.json_response("OK")

    r.add_post("/auth/api-key", create_key)
    r.add_get("/auth/derive-api-key", derive_key)
    r.add_get("/auth/api-keys", list_keys)
    r.add_delete("/auth/api-key", delete_key)

    # ----- orders -----
    def place(body: Any, creds: ApiCreds) -> tuple[int, dict[str, Any]]:
        """One order body -> (http status, response). Never raises for bad input."""
        if not isinstance(body, dict) or "order" not in body:
            return 400, {"error": "Invalid order payload: expected {\"order\": {...}, \"owner\": ..., \"orderType\": ...}"}
        order_type = str(body.get("orderType", "GTC")).upper()
        post_only = bool(body.get("postOnly", False))
        if body.get("owner") != creds.api_key:
            return 400, {"error": "the order owner has to be the owner of the API KEY"}
        try:
            so = parse_order(body["order"])
        except OrderPayloadError as exc:
            return 400, {"error": str(exc)}
        spec = eng.token_market.get(so.token_id)
        if spec is None:
            return 400, {"error": f"Invalid order payload: unknown tokenId {so.token_id}"}
        if so.signature_type not in (0, 1, 2):
            return 400, {"error": f"signature type {so.signature_type} is not supported by the simulator: use "
                                  "0 (EOA), 1 (POLY_PROXY) or 2 (POLY_GNOSIS_SAFE)"}
        chain_id = sim.config.chain_id
        order_id = so.order_hash(spec.exchange, chain_id)
        try:
            signer = so.recover_signer(spec.exchange, chain_id)
        except (OrderPayloadError, ValueError) as exc:
            return 400, {"error": f"invalid signature: {exc}"}
        if signer != so.signer.lower():
            if chain_id != CHAIN_ID and _signed_for(so, spec.exchange, CHAIN_ID):
                return 400, {"error": f"invalid signature: signed for Polygon (chain id {CHAIN_ID}); this "
                                      f"simulator accepts chain id {chain_id} only"}
            return 400, {"error": "invalid signature: it does not recover to the order signer (check the "
                                  "exchange address: neg-risk markets sign for the NegRisk exchange)"}
        if so.signer.lower() != creds.address.lower():
            return 400, {"error": "the order signer address has to be the address of the API KEY"}
        if so.signature_type == 0 and so.maker.lower() != so.signer.lower():
            return 400, {"error": "invalid order: with signatureType 0 (EOA) maker must equal signer"}
        now = int(time.time() * 1000)
        try:
            order = to_engine_order(so, order_id, creds, order_type, post_only, spec.tick, spec.condition_id, now)
            if not spec.accepting_orders:
                raise OrderRejected("the market is not accepting orders", "MARKET_NOT_ACCEPTING_ORDERS")
            if order_id in sim.delayed:
                raise OrderRejected(f"order {order_id} is invalid. Duplicated.", "INVALID_ORDER_DUPLICATED")
            if not post_only and order_id not in eng.seen_order_ids and sim.faults.hit(sim.faults.delayed):
                eng.validate(order)
                # matching deferred (as on sports markets): answered `delayed`, matched later, and
                # then filled or killed by the book as it is then
                sim.delay_order(order, sim.faults.delayed.value)
                return 200, {"success": True, "errorMsg": "", "orderID": order_id, "status": "delayed",
                             "makingAmount": "0", "takingAmount": "0", "tradeIDs": [], "transactionsHashes": []}
            sim.compete(order)
            result = eng.submit(order)
        except OrderPayloadError as exc:
            return 400, {"error": str(exc)}
        except OrderRejected as exc:
            return 400, {"error": exc.message, "errorCode": exc.code, "orderID": order_id, "success": False}
        finally:
            sim._emit(now)
        return 200, {
            "success": True, "errorMsg": "", "orderID": result.order.id, "status": result.status,
            "makingAmount": fmt(result.making_amount), "takingAmount": fmt(result.taking_amount),
            "tradeIDs": [f.id for f in result.fills],
            "transactionsHashes": [f.transaction_hash for f in result.fills],
        }

    def _json(body: str) -> Any:
        try:
            return json.loads(body) if body else None
        except ValueError as exc:
            raise web.HTTPBadRequest(text=json.dumps({"error": "Invalid payload: body is not JSON"}),
                                     content_type="application/json") from exc

    async def entry_latency() -> None:
        """Order-entry latency: the time an order takes to reach the matching engine (a competing
        taker that is faster acts in it: `SimExchange.compete`)."""
        if sim.faults.order_latency.on(time.monotonic()) and sim.faults.order_latency.value > 0:
            await asyncio.sleep(sim.faults.order_latency.value)

    async def post_order(request: web.Request) -> web.Response:
        creds, body = await l2(request)
        await entry_latency()
        status, out = place(_json(body), creds)
        return web.json_response(out, status=status)

    async def post_orders(request: web.Request) -> web.Response:
        creds, body = await l2(request)
        items = _json(body)
        if not isinstance(items, list) or not items:
            return err(400, "Invalid payload: send a JSON list of order bodies")
        if len(items) > 15:
            return err(400, "Too many orders in one request: at most 15")
        await entry_latency()
        out = []
        for item in items:
            status, res = place(item, creds)
            if status != 200:
                res = {"success": False, "errorMsg": res.get("error", ""), "orderID": res.get("orderID", ""),
                       "status": "", "makingAmount": "", "takingAmount": ""}
            out.append(res)
        return web.json_response(out)

    def _cancel_ids(ids: list[str], creds: ApiCreds) -> dict[str, Any]:
        now = int(time.time() * 1000)
        canceled, not_canceled = [], {}
        for oid in ids:
            reason = eng.cancel(str(oid), creds.address.lower(), now)
            if reason is None:
                canceled.append(oid)
            else:
                not_canceled[oid] = reason
        sim._emit(now)
        return {"canceled": canceled, "not_canceled": not_canceled}

    async def cancel_one(request: web.Request) -> web.Response:
        creds, body = await l2(request)
        data = _json(body)
        if not isinstance(data, dict) or not data.get("orderID"):
            return err(400, "Invalid payload: send {\"orderID\": \"0x...\"}")
        return web.json_response(_cancel_ids([data["orderID"]], creds))

    async def cancel_many(request: web.Request) -> web.Response:
        creds, body = await l2(request)
        data = _json(body)
        if not isinstance(data, list):
            return err(400, "Invalid payload: send a JSON list of order ids")
        return web.json_response(_cancel_ids([str(x) for x in data], creds))

    async def cancel_all(request: web.Request) -> web.Response:
        creds, _ = await l2(request)
        now = int(time.time() * 1000)
        done = eng.cancel_where(creds.address.lower(), now)
        sim._emit(now)
        return web.json_response({"canceled": done, "not_canceled": {}})

    async def cancel_market(request: web.Request) -> web.Response:
        creds, body = await l2(request)
        data = _json(body) or {}
        if not isinstance(data, dict):
            return err(400, "Invalid payload: send {\"market\": ..., \"asset_id\": ...}")
        now = int(time.time() * 1000)
        done = eng.cancel_where(creds.address.lower(), now, market=data.get("market") or None,
                                token=data.get("asset_id") or None)
        sim._emit(now)
        return web.json_response({"canceled": done, "not_canceled": {}})

    r.add_post("/order", post_order)
    r.add_post("/orders", post_orders)
    r.add_delete("/order", cancel_one)
    r.add_delete("/orders", cancel_many)
    r.add_delete("/cancel-all", cancel_all)
    r.add_delete("/cancel-market-orders", cancel_market)

    # ----- queries -----
    from .http_public import _cursor, _page

    async def get_orders(request: web.Request) -> web.Response:
        creds, _ = await l2(request)
        q = request.query
        items = [order_json(o, eng) for o in eng.open_orders(creds.address.lower())
                 if (not q.get("market") or o.market == q["market"])
                 and (not q.get("asset_id") or o.token == q["asset_id"]) and (not q.get("id") or o.id == q["id"])]
        return web.json_response(_page(items, _cursor(request), 500))

    async def get_order(request: web.Request) -> web.Response:
        creds, _ = await l2(request)
        oid = request.match_info["order_id"]
        held = sim.delayed.get(oid)
        if held is not None and held.account == creds.address.lower():
            return web.json_response(order_json(held, eng) | {"status": "DELAYED"})
        order = eng.orders.get(oid)
        if order is None or order.account != creds.address.lower():
            return err(404, "order not found")
        return web.json_response(order_json(order, eng))

    async def get_trades(request: web.Request) -> web.Response:
        creds, _ = await l2(request)
        q = request.query
        account = creds.address.lower()
        items = []
        for fill in eng.ledger:
            taker = eng.orders.get(fill.taker_order_id)
            maker = eng.orders.get(fill.maker_order_id)
            if taker is not None and taker.account == account:
                view = taker.owner
            elif maker is not None and maker.account == account:
                view = maker.owner
            else:
                continue
            if (q.get("id") and fill.id != q["id"]) or (q.get("market") and fill.market != q["market"]) \
                    or (q.get("asset_id") and fill.token != q["asset_id"]):
                continue
            ts = fill.ts_ms // 1000
            if (q.get("after") and ts <= int(q["after"])) or (q.get("before") and ts >= int(q["before"])):
                continue
            status, updated = sim.trade_status.get(fill.id, ("MATCHED", ts))
            items.append(trade_json(fill, status, view, updated))
        return web.json_response(_page(items, _cursor(request), 500))

    async def balance_allowance(request: web.Request) -> web.Response:
        creds, _ = await l2(request)
        w = eng.wallet(creds.address)
        token = request.query.get("token_id")
        if request.query.get("asset_type", "COLLATERAL").upper() == "CONDITIONAL" and token:
            bal = w.positions.get(token, 0)
        else:
            bal = w.usdc
        big = str(2**256 - 1)
        return web.json_response({"balance": str(bal), "allowances": {"exchange": big}, "allowance": big})

    async def heartbeat(request: web.Request) -> web.Response:
        creds, body = await l2(request)
        data = _json(body) or {}
        account = creds.address.lower()
        sent = (data.get("heartbeat_id") if isinstance(data, dict) else None) or ""
        current = sim.heartbeat_ids.get(account, "")
        # A chain: each heartbeat sends the id the previous answer gave; an empty id starts a new
        # chain, an unknown one is refused with the id the exchange expects.
        if sent and sent != current:
            return web.json_response({"error": "Invalid Heartbeat ID", "heartbeat_id": current}, status=400)
        sim.heartbeats[account] = time.monotonic()
        sim.heartbeat_chain[account] = sim.heartbeat_chain.get(account, 0) + 1 if sent else 1
        sim.heartbeat_ids[account] = hb_id = str(uuid.uuid4())
        return web.json_response({"heartbeat_id": hb_id, "status": "ok"})

    r.add_get("/data/orders", get_orders)
    r.add_get("/data/order/{order_id}", get_order)
    r.add_get("/data/trades", get_trades)
    r.add_get("/balance-allowance", balance_allowance)
    r.add_get("/balance-allowance/update", balance_allowance)
    r.add_post("/v1/heartbeats", heartbeat)
    r.add_post("/heartbeats", heartbeat)
