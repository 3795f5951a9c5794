"""The order lane: its HTTP/1.1 response parser, and requests against a hand-written server on
loopback (exact request bytes, keep-alive reuse, reconnect after the server closes, timeouts)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from bot_runtime.venue.polymarket.order_lane import OrderLane, _Parser


def _feed_bytewise(p: _Parser, data: bytes) -> None:
    for i in range(len(data)):
        p.feed(data[i:i + 1])


def test_content_length_in_fragments() -> None:
    p = _Parser()
    _feed_bytewise(p, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n[1,2,3]")
    assert p.done and p.status == 200 and bytes(p.body) == b"[1,2,3]" and p.keep_alive
    assert p.headers["content-type"] == "application/json"


def test_chunked_with_extension_and_trailers() -> None:
    p = _Parser()
    _feed_bytewise(p, b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"4;ext=1\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\nX-Trailer: y\r\n\r\n")
    assert p.done and p.status == 400 and bytes(p.body) == b'{"a":1}'


def test_chunked_without_trailers_and_100_continue() -> None:
    p = _Parser()
    p.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
    assert p.done and p.status == 201 and bytes(p.body) == b"ok" and not p.buf


def test_read_until_close_and_connection_close() -> None:
    p = _Parser()
    p.feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart")
    assert not p.done and not p.keep_alive
    p.feed(b" two")
    assert p.finish_on_close() and bytes(p.body) == b"part two"
    q = _Parser()
    q.feed(b"HTTP/1.0 204 No Content\r\n\r\n")
    assert q.done and q.status == 204 and not q.keep_alive  # HTTP/1.0: not reused


@pytest.mark.parametrize("bad", [b"SPDY/3 200 OK\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n",
                                 b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                                 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"])
def test_malformed_responses_raise_client_errors(bad: bytes) -> None:
    with pytest.raises(aiohttp.ClientPayloadError):
        _Parser().feed(bad)


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _server(handler: Handler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/prefix"


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    return head, await reader.readexactly(length)


async def _until(cond: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_requests_reuse_one_warm_connection() -> None:
    seen: list[tuple[bytes, bytes]] = []
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            try:
                head, body = await _read_request(reader)
            except asyncio.IncompleteReadError:
                break
            seen.append((head, body))
            answer = b'{"ok":' + str(len(seen)).encode() + b"}"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer))
            await writer.drain()
        writer.close()

    server, url = await _server(handler)
    lane = OrderLane(url, size=1)
    try:
        assert await lane.request("POST", "/orders", [], b"[]") is None  # cold: nothing sent
        await _until(lambda: lane.idle() is not None, "the warm connection")
        r1 = await lane.request("POST", "/orders", [("POLY_API_KEY", "k"), ("Content-Type", "application/json")],
                                b'[{"a":1}]')
        r2 = await lane.request("POST", "/order", [], b"{}")
        assert r1 is not None and r2 is not None
        assert (r1.status, r1.body, r2.body) == (200, b'{"ok":1}', b'{"ok":2}')
        assert r1.headers.get("Content-Length") == "8" == r1.headers["content-length"]  # like aiohttp's
        head, body = seen[0]
        assert head.startswith(b"POST /prefix/orders HTTP/1.1\r\n") and body == b'[{"a":1}]'
        assert b"\r\nPOLY_API_KEY: k\r\n" in head and b"\r\nContent-Length: 9\r\n" in head
        assert b"\r\nHost: 127.0.0.1:" in head
        assert connections == 1
    finally:
        await lane.close()
        server.close()
        await server.wait_closed()


async def test_server_close_is_an_error_then_the_lane_warms_again() -> None:
    calls = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await _read_request(reader)
            writer.close()  # the request arrived, no answer: outcome unknown to the client
            return
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    server, url = await _server(handler)
    lane = OrderLane(url, size=1)
    try:
        lane.warm()
        await _until(lambda: lane.idle() is not None, "the first connection")
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await lane.request("POST", "/order", [], b"{}")
        assert lane.idle() is None
        await lane.request("POST", "/order", [], b"{}")   # None: cold again, asks for a connection
        await _until(lambda: lane.idle() is not None, "a new connection")
        r = await lane.request("POST", "/order", [], b"{}")
        assert r is not None and r.body == b"ok"
    finally:
        await lane.close()
        server.close()
        await server.wait_closed()


async def test_timeout_aborts_the_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await reader.read()  # never answers

    server, url = await _server(handler)
    lane = OrderLane(url, size=1, timeout_s=0.2)
    try:
        lane.warm()
        await _until(lambda: lane.idle() is not None, "the connection")
        with pytest.raises(TimeoutError):
            await lane.request("POST", "/order", [], b"{}")
        assert lane.idle() is None  # a late answer must never be read as the next request's
    finally:
        await lane.close()
        server.close()
        await server.wait_closed()


def test_bad_urls_and_header_injection() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        OrderLane("ws://example.com")
    lane = OrderLane("https://clob.example.com")
    assert lane.port == 443
    with pytest.raises(ValueError, match="line break"):
        lane.build("POST", "/order", [("X", "a\r\nInjected: 1")], b"")


async def test_refused_connect_backs_off() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lane = OrderLane(f"http://127.0.0.1:{port}", size=1)
    assert await lane.request("POST", "/order", [], b"{}") is None
    await _until(lambda: lane._connecting == 0, "the failed connect")
    assert lane._retry_at > 0 and not lane._conns
    lane.warm()
    assert lane._connecting == 0  # no new attempt inside the back-off: GETs keep calling warm()
    await lane.close()
