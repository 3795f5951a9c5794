"""ClobHttpExchange: the CLOB over aiohttp with L2 auth, against Polymarket or `botfleet sim`.

Retries: GET and cancels (idempotent) are retried on 5xx, network errors and 429 with backoff.
A POST /order is never retried blindly: a 429 is a definite "not accepted" and the very same
signed order (same hash: the exchange deduplicates) is re-sent after the backoff, within a short
deadline; any other failure returns `definite=False` and the executor reconciles by order hash.
A 503 (paused / cancel-only) stops order placement for a while; cancels still go out.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import orjson
import structlog

from bot_runtime.types import Fill
from bot_runtime.venue.polymarket.auth import ApiCreds, l2_headers
from bot_runtime.venue.polymarket.clob import (
    CancelOnly,
    CancelResult,
    ClobObserver,
    ExchangeError,
    NullClobObserver,
    OpenOrder,
    PostResult,
    RateLimited,
    fills_from_trade,
    open_order_from_json,
    post_result_from_json,
)
from bot_runtime.venue.polymarket.order_lane import OrderLane
from bot_runtime.venue.polymarket.ratelimit import Backoff, RateLimiter
from bot_runtime.venue.polymarket.signing import SignedOrder

log = structlog.get_logger()

END_CURSOR = "LTE="
MAX_BATCH = 15  # orders per POST /orders
_LANE_PATHS = ("/order", "/orders")


def _retry_after(resp: Any) -> float | None:
    raw = resp.headers.get("Retry-After")
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


class ClobHttpExchange:
    def __init__(self, base_url: str, address: str, creds: Callable[[], ApiCreds], *,
                 session: aiohttp.ClientSession | None = None, limiter: RateLimiter | None = None,
                 backoff: Backoff | None = None, observer: ClobObserver | None = None,
                 max_attempts: int = 4, post_deadline_s: float = 1.0, cancel_only_pause_s: float = 5.0,
                 timeout_s: float = 10.0, use_batch: bool = True, order_lane: bool = True) -> None:
        self.base_url = base_url.rstrip("/")
        self.address = address
        self._creds = creds  # a callable: rotated credentials are picked up on the next request
        self._session = session
        self._own_session = session is None
        self.limiter = limiter or RateLimiter()
        self.backoff = backoff or Backoff()
        self.observer: ClobObserver = observer or NullClobObserver()
        self.max_attempts = max_attempts
        self.post_deadline_s = post_deadline_s
        self.cancel_only_pause_s = cancel_only_pause_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.cancel_only_until = 0.0   # monotonic; no new orders before this
        self.use_batch = use_batch
        self._heartbeat_id = ""         # the chain of POST /v1/heartbeats
        self._strikes: dict[tuple[str, str], int] = {}   # consecutive 429s per endpoint
        # order placement on warm keep-alive connections of its own (order_lane.py); None: aiohttp
        self.lane = OrderLane(self.base_url, timeout_s=timeout_s) if order_lane else None

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=60),
                json_serialize=lambda o: json.dumps(o, separators=(",", ":")))
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self.lane is not None:
            await self.lane.close()
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def _send(self, method: str, path: str, body: str | None = None,
                    params: dict[str, str] | None = None) -> tuple[int, Any, Any]:
        """One request (rate limited, signed). Returns (status, parsed body, response)."""
        bucket = "/data/order/" if path.startswith("/data/order/") else path   # one bucket for all ids
        await self.limiter.acquire(method, bucket)
        creds = self._creds()
        headers = l2_headers(self.address, creds, method, path, body, int(time.time()))
        headers["Content-Type"] = "application/json"
        lane = self.lane
        if lane is not None:
            if path in _LANE_PATHS and body is not None and not params:
                answer = await lane.request(method, path, list(headers.items()), body.encode())
                if answer is not None:
                    self.observer.on_api_request(f"{method} {path}", answer.status)
                    return self._answered(method, path, bucket, answer.status,
                                          answer.body.decode("utf-8", "replace"), answer)
            else:
                lane.warm()  # the first requests (start-up reconcile) open it before any order
        session = await self._http()
        async with session.request(method, self.base_url + path, data=body.encode() if body else None,
                                   headers=headers, params=params) as resp:
            text = await resp.text()
            return self._answered(method, path, bucket, resp.status, text, resp)

    def _answered(self, method: str, path: str, bucket: str, status: int, text: str,
                  resp: Any) -> tuple[int, Any, Any]:
        try:
            parsed: Any = json.loads(text) if text else None
        except ValueError:
            parsed = text
        key = (method, bucket)
        # Consecutive 429s and server errors back off exponentially (or as Retry-After says): a
        # failing exchange must not see one POST /order per opportunity (503 has its own pause).
        if status == 429 or (status >= 500 and status != 503):
            strikes = self._strikes.get(key, 0)
            self._strikes[key] = strikes + 1
            self.limiter.block(method, bucket, self.backoff.delay(strikes, _retry_after(resp)))
        elif status < 500:
            self._strikes.pop(key, None)
        if status >= 400:
            self.observer.on_api_error(f"{method} {path}", status)
        return status, parsed, resp

    async def _idempotent(self, method: str, path: str, body: str | None = None,
                          params: dict[str, str] | None = None, attempts: int | None = None) -> Any:
        """GET / DELETE: retried on 429, 5xx and network errors (but not on 503 for cancels)."""
        last: ExchangeError | None = None
        for attempt in range(attempts or self.max_attempts):
            try:
                status, parsed, resp = await self._send(method, path, body, params)
            except (TimeoutError, aiohttp.ClientError) as exc:
                self.observer.on_api_error(f"{method} {path}", 0)
                last = ExchangeError(f"{method} {path}", 0, f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(self.backoff.delay(attempt))
                continue
            if status == 200:
                return parsed
            message = parsed.get("error", str(parsed)) if isinstance(parsed, dict) else str(parsed)
            if status == 429:
                last = RateLimited(f"{method} {path}", status, message)
                continue  # the limiter holds the next attempt back
            if status == 503:
                raise CancelOnly(f"{method} {path}", status, message)
            if status >= 500:
                last = ExchangeError(f"{method} {path}", status, message)
                await asyncio.sleep(self.backoff.delay(attempt, _retry_after(resp)))
                continue
            raise ExchangeError(f"{method} {path}", status, message)
        assert last is not None
        raise last

    # -- orders ---------------------------------------------------------------------------------
    async def post_orders(self, orders: Sequence[SignedOrder]) -> list[PostResult]:
        """All legs at once: one POST /orders (batch, at most 15) for a group, POST /order for one."""
        if self.use_batch and 1 < len(orders) <= MAX_BATCH:
            return await self._post_batch(orders)
        return list(await asyncio.gather(*(self._post_one(o) for o in orders)))

    async def _post_batch(self, orders: Sequence[SignedOrder]) -> list[PostResult]:
        if time.monotonic() < self.cancel_only_until:
            return [PostResult(o.order_hash, False, error="cancel_only", http_status=503) for o in orders]
        owner = self._creds().api_key
        body = orjson.dumps([o.body(owner) for o in orders]).decode()  # = json.dumps compact, ensure_ascii=False
        deadline = time.monotonic() + self.post_deadline_s
        while True:
            try:
                status, parsed, _resp = await self._send("POST", "/orders", body)
            except (TimeoutError, aiohttp.ClientError) as exc:
                self.observer.on_api_error("POST /orders", 0)
                return [PostResult(o.order_hash, False, error=f"{type(exc).__name__}: {exc}", http_status=0,
                                   definite=False) for o in orders]
            if status == 429 and time.monotonic() + self.limiter.delay("POST", "/orders") < deadline:
                continue  # refused as a whole: the same signed orders may go again
            if status == 503:
                self.cancel_only_until = time.monotonic() + self.cancel_only_pause_s
                log.warning("exchange is cancel-only or paused: placement stopped", pause_s=self.cancel_only_pause_s)
                return [PostResult(o.order_hash, False, error="cancel_only", http_status=503) for o in orders]
            if status == 200 and isinstance(parsed, list) and len(parsed) == len(orders):
                return [post_result_from_json(o.order_hash, 200, item) for o, item in zip(orders, parsed, strict=True)]
            return [post_result_from_json(o.order_hash, status, parsed) for o in orders]

    async def _post_one(self, order: SignedOrder) -> PostResult:
        if time.monotonic() < self.cancel_only_until:
            return PostResult(order.order_hash, False, error="cancel_only", http_status=503)
        body = order.body_json(self._creds().api_key)
        deadline = time.monotonic() + self.post_deadline_s
        attempt = 0
        while True:
            try:
                status, parsed, _resp = await self._send("POST", "/order", body)
            except (TimeoutError, aiohttp.ClientError) as exc:
                # The request may or may not have reached the exchange: reconcile, never resend here.
                self.observer.on_api_error("POST /order", 0)
                return PostResult(order.order_hash, False, error=f"{type(exc).__name__}: {exc}", http_status=0,
                                  definite=False)
            if status == 429 and time.monotonic() + self.limiter.delay("POST", "/order") < deadline:
                attempt += 1  # not accepted: the same signed order may go again after the backoff
                log.info("rate limited, retrying order", order_hash=order.order_hash, attempt=attempt)
                continue
            if status == 503:
                self.cancel_only_until = time.monotonic() + self.cancel_only_pause_s
                log.warning("exchange is cancel-only or paused: placement stopped",
                            pause_s=self.cancel_only_pause_s)
            result = post_result_from_json(order.order_hash, status, parsed)
            if status == 503:
                return PostResult(order.order_hash, False, error="cancel_only", http_status=503)
            return result

    async def cancel(self, order_ids: Sequence[str]) -> CancelResult:
        if not order_ids:
            return CancelResult()
        body = json.dumps(list(order_ids), separators=(",", ":"))
        return _cancel_result(await self._idempotent("DELETE", "/orders", body))

    async def cancel_all(self) -> CancelResult:
        return _cancel_result(await self._idempotent("DELETE", "/cancel-all"))

    async def _paged(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = "MA=="
        while cursor != END_CURSOR:
            page = await self._idempotent("GET", path, params={**params, "next_cursor": cursor})
            if isinstance(page, list):  # some deployments answer a bare list
                return out + page
            out.extend(page.get("data") or [])
            cursor = page.get("next_cursor") or END_CURSOR
        return out

    async def open_orders(self) -> list[OpenOrder]:
        return [open_order_from_json(d) for d in await self._paged("/data/orders", {})]

    async def get_order(self, order_id: str) -> OpenOrder | None:
        try:
            d = await self._idempotent("GET", f"/data/order/{order_id}")
        except ExchangeError as exc:
            if exc.status in (400, 404):
                return None
            raise
        return open_order_from_json(d) if isinstance(d, dict) and d.get("id") else None

    async def trades(self, since_s: int = 0) -> list[Fill]:
        params = {"after": str(since_s - 1)} if since_s > 0 else {}
        owner = self._creds().api_key
        fills: list[Fill] = []
        for t in await self._paged("/data/trades", params):
            fills.extend(fills_from_trade(t, owner, self.address))
        return fills

    async def heartbeat(self) -> None:
        """Chain heartbeats: each one sends the id the previous answer returned. A 400 means the
        exchange does not know our id (expired, or the exchange restarted): start a new chain."""
        hb_id = self._heartbeat_id
        for attempt in range(2):
            body = json.dumps({"heartbeat_id": hb_id}, separators=(",", ":"))
            try:
                # One attempt: the next beat is the retry, and a beat must not outlast its period.
                parsed = await self._idempotent("POST", "/v1/heartbeats", body, attempts=1)
            except ExchangeError as exc:
                if exc.status != 400 or attempt or not hb_id:
                    raise
                hb_id = ""
                continue
            self._heartbeat_id = str(parsed.get("heartbeat_id") or "") if isinstance(parsed, dict) else ""
            return


def _cancel_result(d: Any) -> CancelResult:
    if not isinstance(d, dict):
        return CancelResult()
    return CancelResult(canceled=[str(x) for x in d.get("canceled") or []],
                        not_canceled={str(k): str(v) for k, v in (d.get("not_canceled") or {}).items()})
