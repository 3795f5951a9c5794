"""A warm HTTP/1.1 lane for order placement: keep-alive connections opened ahead of time, one
request written with a single `transport.write` of bytes built in one go.

Why not aiohttp for this one request: its client builds a request object, a URL, a header multidict,
a payload, a timer and trace contexts per call (~200-300 us of Python on the hot path, measured in
docs/benchmarks.md). Everything else (GETs, cancels, heartbeats) stays on aiohttp.

Scope, deliberately small: HTTP/1.1 over TCP or TLS, no pipelining (one request per connection at a
time), responses with Content-Length, chunked transfer encoding, or read-until-close; no
redirects, no compression (we do not ask for it). `request()` never waits for a connection: when
none is idle it returns None and the caller takes its ordinary path, so a cold or broken lane costs
nothing but its own speed. Network failures raise aiohttp's exception types, so callers treat
them exactly as failures of the aiohttp path (for a POST: outcome unknown, reconcile by hash).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import aiohttp
import structlog
from aiohttp.http import SERVER_SOFTWARE

log = structlog.get_logger()

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
CONNECT_RETRY_S = 5.0            # after a failed connect, orders use aiohttp this long


class Headers(dict[str, str]):
    """Response headers under lower-case names, looked up case-insensitively (as aiohttp's:
    `headers.get("Retry-After")` works)."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)


class LaneResponse:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = Headers(headers)   # the parser stores lower-case names
        self.body = body


class _Parser:
    """Incremental HTTP/1.1 response parser for one response at a time."""

    def __init__(self, head_request: bool = False) -> None:
        self.buf = bytearray()
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.mode = ""                # "", "length", "chunked", "close"
        self.remaining = 0
        self.keep_alive = True
        self.done = False
        self._head = head_request

    def feed(self, data: bytes) -> None:
        self.buf += data
        while not self.done:
            if not self.mode:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buf) > MAX_HEADER_BYTES:
                        raise aiohttp.ClientPayloadError("response headers too large")
                    return
                self._head_parsed(bytes(self.buf[:end]))
                del self.buf[:end + 4]
                continue
            if self.mode == "length":
                take = min(self.remaining, len(self.buf))
                self.body += self.buf[:take]
                del self.buf[:take]
                self.remaining -= take
                if self.remaining == 0:
                    self.done = True
                return
            if self.mode == "chunked":
                if not self._chunk():
                    return
                continue
            if self.mode == "close":
                self.body += self.buf
                self.buf.clear()
                if len(self.body) > MAX_BODY_BYTES:
                    raise aiohttp.ClientPayloadError("response body too large")
                return

    def _head_parsed(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise aiohttp.ClientPayloadError(f"bad status line {lines[0][:80]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200:  # 100 Continue and friends: the real answer follows
            return
        self.status, self.headers = status, headers
        conn = headers.get("connection", "").lower()
        self.keep_alive = parts[0] == "HTTP/1.1" and "close" not in conn
        if self._head or status in (204, 304):
            self.mode, self.done = "length", True
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self.mode = "chunked"
        elif "content-length" in headers:
            try:
                self.remaining = int(headers["content-length"])
            except ValueError:
                raise aiohttp.ClientPayloadError("bad Content-Length") from None
            if not 0 <= self.remaining <= MAX_BODY_BYTES:
                raise aiohttp.ClientPayloadError(f"Content-Length {self.remaining} out of range")
            self.mode = "length"
            self.done = self.remaining == 0
        else:
            self.mode, self.keep_alive = "close", False

    def _chunk(self) -> bool:
        """Consume one chunk (or the last one and its trailers); False: need more bytes."""
        end = self.buf.find(b"\r\n")
        if end < 0:
            return False
        size_text = bytes(self.buf[:end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise aiohttp.ClientPayloadError(f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:  # the last chunk, then optional trailers, then an empty line
            trailer_end = self.buf.find(b"\r\n\r\n", end)
            if trailer_end < 0:
                return False
            del self.buf[:trailer_end + 4]
            self.done = True
            return True
        if len(self.buf) < end + 2 + size + 2:
            return False
        self.body += self.buf[end + 2:end + 2 + size]
        del self.buf[:end + 2 + size + 2]
        if len(self.body) > MAX_BODY_BYTES:
            raise aiohttp.ClientPayloadError("response body too large")
        return True

    def finish_on_close(self) -> bool:
        """The peer closed: a read-until-close body is complete then."""
        if self.mode == "close":
            self.done = True
        return self.done


class _Conn(asyncio.Protocol):
    def __init__(self, lane: OrderLane) -> None:
        self.lane = lane
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.closed = False
        self.opened_at = self.last_used = time.monotonic()
        self._parser: _Parser | None = None
        self._waiter: asyncio.Future[LaneResponse] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        p, w = self._parser, self._waiter
        if p is None or w is None or w.done():
            self._abort()  # bytes nobody asked for: the connection is out of step
            return
        try:
            p.feed(data)
        except aiohttp.ClientError as exc:
            w.set_exception(exc)
            self._abort()
            return
        if p.done:
            self._complete(p, w)

    def eof_received(self) -> bool | None:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        p, w = self._parser, self._waiter
        if w is not None and not w.done():
            if p is not None and p.finish_on_close():
                self._complete(p, w)
            else:
                w.set_exception(aiohttp.ServerDisconnectedError(f"connection lost: {exc}" if exc else None))
        self.lane._lost(self)

    def _complete(self, p: _Parser, w: asyncio.Future[LaneResponse]) -> None:
        self._parser = self._waiter = None
        self.busy = False
        self.last_used = time.monotonic()
        w.set_result(LaneResponse(p.status, p.headers, bytes(p.body)))
        if not p.keep_alive or p.buf:
            self._abort()

    def _abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def send(self, data: bytes, head: bool) -> asyncio.Future[LaneResponse]:
        assert self.transport is not None
        self.busy = True
        self._parser = _Parser(head)
        self._waiter = asyncio.get_running_loop().create_future()
        self.lane.write(self.transport, data)
        return self._waiter


class OrderLane:
    """`size` warm connections to one origin; see the module docstring."""

    def __init__(self, base_url: str, *, size: int = 2, timeout_s: float = 10.0, max_idle_s: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        u = urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"order lane: base URL {base_url!r} must be http:// or https://host")
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.prefix = u.path.rstrip("/")
        default_port = self.port == (443 if u.scheme == "https" else 80)
        self._host_header = (self.host if default_port else f"{self.host}:{self.port}").encode("idna")
        self._ssl: ssl.SSLContext | None = None
        if u.scheme == "https":
            self._ssl = ssl_context or ssl.create_default_context()
            self._ssl.set_alpn_protocols(["http/1.1"])
        self.size = size
        self.timeout_s = timeout_s
        # a connection idle this long may have been dropped by a proxy: refreshed, not used
        self.max_idle_s = max_idle_s
        self._conns: list[_Conn] = []
        self._connecting = 0
        self._retry_at = 0.0
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.write: Callable[[asyncio.Transport, bytes], None] = _write   # the benchmark stamps here

    # -- connections ----------------------------------------------------------------------------
    def warm(self) -> None:
        """Open connections up to `size`, in the background (needs a running loop)."""
        if self._closed or time.monotonic() < self._retry_at:
            return
        for _ in range(self.size - len(self._conns) - self._connecting):
            self._connecting += 1
            t = asyncio.get_running_loop().create_task(self._connect())
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def _connect(self) -> None:
        try:
            _, conn = await asyncio.wait_for(asyncio.get_running_loop().create_connection(
                lambda: _Conn(self), self.host, self.port, ssl=self._ssl,
                server_hostname=self.host if self._ssl else None), self.timeout_s)
        except (OSError, TimeoutError) as exc:
            if time.monotonic() >= self._retry_at:
                log.info("order lane: connect failed, orders use the ordinary client", error=str(exc),
                         retry_s=CONNECT_RETRY_S)
            self._retry_at = time.monotonic() + CONNECT_RETRY_S
            return
        finally:
            self._connecting -= 1
        if self._closed:
            conn._abort()
            return
        self._conns.append(conn)

    def _lost(self, conn: _Conn) -> None:
        with contextlib.suppress(ValueError):
            self._conns.remove(conn)
        # the server closed an idle connection (or we retired it): have the next one ready before
        # the next order; a server that drops connections at once is not reconnected in a loop
        if not self._closed and time.monotonic() - conn.opened_at > 1.0:
            self.warm()

    def idle(self) -> _Conn | None:
        now = time.monotonic()
        for c in self._conns:
            if not c.busy and not c.closed:
                if now - c.last_used > self.max_idle_s:
                    c._abort()          # the replacement is warmed below
                    continue
                return c
        return None

    async def close(self) -> None:
        self._closed = True
        for t in list(self._tasks):
            t.cancel()
        for c in list(self._conns):
            c._abort()
        self._conns.clear()

    # -- requests -------------------------------------------------------------------------------
    def build(self, method: str, path: str, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
        lines = [f"{method} {self.prefix}{path} HTTP/1.1".encode(), b"Host: " + self._host_header,
                 _USER_AGENT, b"Accept: */*", b"Accept-Encoding: identity",
                 b"Content-Length: " + str(len(body)).encode()]
        for k, v in headers:
            if "\r" in v or "\n" in v or "\r" in k or "\n" in k:
                raise ValueError(f"order lane: header {k!r} contains a line break")
            lines.append(f"{k}: {v}".encode("latin-1"))
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    async def request(self, method: str, path: str, headers: Sequence[tuple[str, str]],
                      body: bytes) -> LaneResponse | None:
        """One request on an idle warm connection; None (nothing sent) when there is none."""
        conn = self.idle()
        if conn is None:
            self.warm()
            return None
        data = self.build(method, path, headers, body)
        fut = conn.send(data, method == "HEAD")   # the bytes are on the socket when this returns
        if len(self._conns) < self.size:
            self.warm()
        try:
            return await asyncio.wait_for(fut, self.timeout_s)
        except TimeoutError:
            conn._abort()
            raise
        except asyncio.CancelledError:
            conn._abort()  # a half-read response would confuse the next request
            raise


_USER_AGENT = f"User-Agent: {SERVER_SOFTWARE}".encode()  # what aiohttp sends: the exchange sees one client


def _write(transport: asyncio.Transport, data: bytes) -> None:
    transport.write(data)
