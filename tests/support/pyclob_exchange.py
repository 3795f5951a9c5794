"""PyClobClientExchange: the official py-clob-client-v2 behind our `Exchange` interface.

Its calls are synchronous (httpx): each runs in a worker thread, never on the event loop.
Orders are signed by our signer (proved identical to the client's) and posted with the client's
own L2 headers and HTTP stack. `post_order` itself is not used for the hot path because it then
polls trades for up to 30 s to resolve transaction hashes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import structlog
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import ApiCreds as ClientCreds
from py_clob_client_v2.clob_types import TradeParams
from py_clob_client_v2.exceptions import PolyApiException

from bot_runtime.execution.observer import ExecutionObserver, NullObserver
from bot_runtime.types import Fill
from bot_runtime.venue.polymarket.auth import ApiCreds
from bot_runtime.venue.polymarket.clob import (
    CancelResult,
    ExchangeError,
    OpenOrder,
    PostResult,
    fills_from_trade,
    open_order_from_json,
    post_result_from_json,
)
from bot_runtime.venue.polymarket.signing import SignedOrder

log = structlog.get_logger()
T = TypeVar("T")


def _error(exc: PolyApiException) -> tuple[int, str]:
    msg = exc.error_msg
    if isinstance(msg, dict):
        msg = msg.get("error") or json.dumps(msg)
    return exc.status_code or 0, str(msg)


class PyClobClientExchange:
    def __init__(self, host: str, private_key: str, creds: Callable[[], ApiCreds], *, chain_id: int = 137,
                 signature_type: int = 0, funder: str | None = None,
                 observer: ExecutionObserver | None = None) -> None:
        self._creds = creds
        first = creds()
        self.client = ClobClient(host, chain_id=chain_id, key=private_key,
                                 creds=ClientCreds(first.api_key, first.secret, first.passphrase),
                                 signature_type=signature_type, funder=funder)
        self.host = self.client.host
        self.observer = observer or NullObserver()
        self.cancel_only_until = 0.0

    def _refresh_creds(self) -> None:
        c = self._creds()
        if self.client.creds is None or self.client.creds.api_key != c.api_key \
                or self.client.creds.api_secret != c.secret:
            self.client.set_api_creds(ClientCreds(c.api_key, c.secret, c.passphrase))

    async def _call(self, endpoint: str, fn: Callable[..., T], *args: Any) -> T:
        def run() -> T:
            self._refresh_creds()
            return fn(*args)

        try:
            return await asyncio.to_thread(run)
        except PolyApiException as exc:
            status, msg = _error(exc)
            self.observer.on_api_error(endpoint, status)
            raise ExchangeError(endpoint, status, msg) from None

    async def post_orders(self, orders: Sequence[SignedOrder]) -> list[PostResult]:
        return list(await asyncio.gather(*(self._post_one(o) for o in orders)))

    def _post_sync(self, order: SignedOrder) -> Any:
        self._refresh_creds()
        creds = self.client.creds
        assert creds is not None
        serialized = order.body_json(creds.api_key)
        headers = self.client._l2_headers("POST", "/order", body=order.body(creds.api_key),
                                          serialized_body=serialized)
        return self.client._post(f"{self.host}/order", headers=headers, data=serialized)

    async def _post_one(self, order: SignedOrder) -> PostResult:
        if time.monotonic() < self.cancel_only_until:
            return PostResult(order.order_hash, False, error="cancel_only", http_status=503)
        try:
            body = await asyncio.to_thread(self._post_sync, order)
        except PolyApiException as exc:
            status, msg = _error(exc)
            self.observer.on_api_error("POST /order", status)
            if status == 503:
                self.cancel_only_until = time.monotonic() + 5.0
                return PostResult(order.order_hash, False, error="cancel_only", http_status=503)
            # status None/0: the request may have reached the exchange; the executor reconciles
            return PostResult(order.order_hash, False, error=msg, http_status=status,
                              definite=0 < status < 500)
        return post_result_from_json(order.order_hash, 200, body)

    async def cancel(self, order_ids: Sequence[str]) -> CancelResult:
        if not order_ids:
            return CancelResult()
        d = await self._call("DELETE /orders", self.client.cancel_orders, list(order_ids))
        return CancelResult(list(d.get("canceled") or []), dict(d.get("not_canceled") or {}))

    async def cancel_all(self) -> CancelResult:
        d = await self._call("DELETE /cancel-all", self.client.cancel_all)
        return CancelResult(list(d.get("canceled") or []), dict(d.get("not_canceled") or {}))

    async def open_orders(self) -> list[OpenOrder]:
        return [open_order_from_json(d) for d in await self._call("GET /data/orders", self.client.get_open_orders)]

    async def get_order(self, order_id: str) -> OpenOrder | None:
        try:
            d = await self._call("GET /data/order", self.client.get_order, order_id)
        except ExchangeError as exc:
            if exc.status in (400, 404):
                return None
            raise
        return open_order_from_json(d) if isinstance(d, dict) and d.get("id") else None

    async def trades(self, since_s: int = 0) -> list[Fill]:
        params = TradeParams(after=since_s - 1) if since_s > 0 else None
        items = await self._call("GET /data/trades", self.client.get_trades, params)
        owner = self._creds().api_key
        address = self.client.get_address()
        return [f for t in items for f in fills_from_trade(t, owner, address)]

    async def heartbeat(self) -> None:
        await self._call("POST /v1/heartbeats", self.client.post_heartbeat)

    async def close(self) -> None:
        pass
