"""A tiny market-channel websocket server for client tests the simulator cannot stage
(a peer that stops answering PING, frames replayed verbatim from a tape)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve


class ReplayMarketServer:
    """On each subscription sends `frames_for(assets)` verbatim; answers `PING` with `PONG`
    while `answer_ping` is true. Records every message it receives."""

    def __init__(self, frames_for: Callable[[list[str]], list[str]] | None = None) -> None:
        self.frames_for = frames_for or (lambda assets: [])
        self.answer_ping = True
        self.received: list[Any] = []  # decoded subscription messages, in order
        self.pings = 0
        self.connections = 0
        self.open: set[ServerConnection] = set()
        self._server: Server | None = None
        self.url = ""

    async def start(self) -> str:
        self._server = await serve(self._handle, "127.0.0.1", 0, ping_interval=None)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/ws/market"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def drop_all(self) -> None:
        for ws in list(self.open):
            with contextlib.suppress(Exception):
                await ws.close(code=1011, reason="dropped by test")

    async def send_all(self, frame: str) -> None:
        for ws in list(self.open):
            with contextlib.suppress(Exception):
                await ws.send(frame)

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        self.open.add(ws)
        try:
            async for msg in ws:
                text = msg if isinstance(msg, str) else msg.decode()
                if text == "PING":
                    self.pings += 1
                    if self.answer_ping:
                        await ws.send("PONG")
                    continue
                body = json.loads(text)
                self.received.append(body)
                if body.get("operation", "subscribe") == "subscribe":
                    for frame in self.frames_for([str(a) for a in body.get("assets_ids", [])]):
                        await ws.send(frame)
        except Exception:  # a client that vanishes mid-send is normal here
            pass
        finally:
            self.open.discard(ws)

    async def __aenter__(self) -> ReplayMarketServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def wait_for(cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll `cond` until true; fails the test with `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)
