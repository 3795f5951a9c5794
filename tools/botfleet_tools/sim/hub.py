"""Websocket channels: market (public books) and user (authenticated orders and trades)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .auth import ApiCreds, ApiKeyStore

log = logging.getLogger("botfleet.sim.ws")


@dataclass(eq=False)
class MarketConn:
    ws: web.WebSocketResponse
    assets: set[str] = field(default_factory=set)
    custom: bool = False


@dataclass(eq=False)
class UserConn:
    ws: web.WebSocketResponse
    creds: ApiCreds
    markets: set[str] = field(default_factory=set)


def _dumps(frame: Any) -> str:
    return json.dumps(frame, separators=(",", ":"))


SEND_TIMEOUT_S = 5.0


async def _send(ws: web.WebSocketResponse, frame: Any) -> None:
    """Send one frame; a client that stops reading is disconnected rather than stalling the feed."""
    if ws.closed:
        return
    try:
        await asyncio.wait_for(ws.send_str(_dumps(frame)), SEND_TIMEOUT_S)
    except TimeoutError:
        log.warning("websocket client too slow: disconnecting it")
        with contextlib.suppress(Exception):
            await ws.close(code=1008, message=b"client too slow")
    except (ConnectionError, RuntimeError):
        pass


class MarketHub:
    """`/ws/market`. `snapshot(tokens)` returns book events for a (re)subscription."""

    def __init__(self, snapshot: Callable[[list[str]], list[dict[str, Any]]], known: Callable[[str], bool],
                 is_stale: Callable[[], bool]) -> None:
        self.conns: set[MarketConn] = set()
        self._snapshot = snapshot
        self._known = known
        self._is_stale = is_stale

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = MarketConn(ws)
        self.conns.add(conn)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                await self._on_text(conn, msg.data)
        finally:
            self.conns.discard(conn)
        return ws

    async def _on_text(self, conn: MarketConn, text: str) -> None:
        if text.strip().upper() == "PING":
            await conn.ws.send_str("PONG")
            return
        try:
            msg = json.loads(text)
            assets = [str(a) for a in (msg.get("assets_ids") or msg.get("asset_ids") or [])]
        except (ValueError, AttributeError):
            await _send(conn.ws, {"error": "invalid message: send JSON {\"assets_ids\": [...], \"type\": \"market\"}"})
            return
        op = msg.get("operation", "subscribe")
        if "custom_feature_enabled" in msg:
            conn.custom = bool(msg["custom_feature_enabled"])
        if op == "unsubscribe":
            conn.assets.difference_update(assets)
            return
        if op != "subscribe":
            await _send(conn.ws, {"error": f"unknown operation {op!r}: use subscribe or unsubscribe"})
            return
        new = [a for a in assets if self._known(a)]
        conn.assets.update(new)
        if new and not self._is_stale():
            await _send(conn.ws, self._snapshot(new))  # initial books arrive as one JSON array

    async def publish(self, events: list[tuple[dict[str, Any], set[str], bool]]) -> None:
        """events: (frame, assets it concerns, custom-feature-only). Frames are filtered per connection."""
        if self._is_stale() or not self.conns:
            return
        sends = []
        for conn in list(self.conns):
            for frame, assets, custom_only in events:
                if custom_only and not conn.custom:
                    continue
                if not (assets & conn.assets):
                    continue
                if frame.get("event_type") == "price_change" and not assets <= conn.assets:
                    frame = {**frame, "price_changes": [c for c in frame["price_changes"]
                                                        if c["asset_id"] in conn.assets]}
                out: Any = [frame] if frame.get("event_type") == "best_bid_ask" else frame
                sends.append(_send(conn.ws, out))
        if sends:
            await asyncio.gather(*sends)

    async def close_all(self, code: int = 1001, message: bytes = b"server closing") -> None:
        await asyncio.gather(*(c.ws.close(code=code, message=message) for c in list(self.conns)),
                             return_exceptions=True)


class UserHub:
    """`/ws/user`: first message carries {"auth": {apiKey, secret, passphrase}, "markets": [...]}."""

    def __init__(self, keys: ApiKeyStore) -> None:
        self.conns: set[UserConn] = set()
        self.sockets: set[web.WebSocketResponse] = set()  # authenticated or not
        self._keys = keys

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn: UserConn | None = None
        self.sockets.add(ws)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                if msg.data.strip().upper() == "PING":
                    await ws.send_str("PONG")
                    continue
                try:
                    body = json.loads(msg.data)
                except ValueError:
                    await _send(ws, {"error": "invalid JSON"})
                    continue
                if conn is None:
                    creds = self._auth(body.get("auth") or {})
                    if creds is None:
                        await _send(ws, {"error": "invalid auth: apiKey, secret and passphrase must match an API key"})
                        await ws.close(code=4001, message=b"invalid auth")
                        break
                    conn = UserConn(ws, creds, set(body.get("markets") or []))
                    self.conns.add(conn)
                elif body.get("operation") == "unsubscribe":
                    conn.markets.difference_update(body.get("markets") or [])
                else:
                    conn.markets.update(body.get("markets") or [])
        finally:
            self.sockets.discard(ws)
            if conn is not None:
                self.conns.discard(conn)
        return ws

    def _auth(self, auth: dict[str, Any]) -> ApiCreds | None:
        creds = self._keys.get(str(auth.get("apiKey", "")))
        if creds is None or auth.get("secret") != creds.secret or auth.get("passphrase") != creds.passphrase:
            return None
        return creds

    async def publish(self, account: str, market: str, frame: dict[str, Any]) -> None:
        """Send to every authenticated socket of this account (any of its API keys)."""
        sends = [_send(c.ws, frame) for c in list(self.conns)
                 if c.creds.address.lower() == account and (not c.markets or market in c.markets)]
        if sends:
            await asyncio.gather(*sends)

    async def close_all(self, code: int = 1001, message: bytes = b"server closing") -> None:
        await asyncio.gather(*(ws.close(code=code, message=message) for ws in list(self.sockets)),
                             return_exceptions=True)
