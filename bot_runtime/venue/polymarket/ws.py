"""CLOB market-channel websocket client: sharded connections feeding a BookSink.

Each shard is one connection carrying at most `max_assets_per_conn` assets (Polymarket
allows 500). A shard keeps itself alive with a text `PING` every 10 s (and after 1 s of
silence, so a quiet connection still proves its books current well within a strategy's
book-age limit), declares the connection dead after 30 s without a PONG (or any frame),
reconnects with jittered exponential backoff and resubscribes; its books are marked
not-synced from the drop until their next `book` snapshot.

Stalled feeds: a connection that answers PING but delivers no data for `stall_after_s`
while the exchange is known to be trading (another connection got data meanwhile, or the
exchange's REST books differ from ours, or REST does not answer) is marked stalled: its books
are untradable (`BookSink.book_age_ms` is None) until data resumes and they are rebuilt, or a
re-probe every `stall_recheck_s` finds the exchange quiet (REST books equal ours): then the stall
was an artefact of an outage (a probe that could not tell), the stall is cleared and the books
are refreshed from REST. A quiet market therefore recovers without waiting for data it will not
send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson
import websockets
from websockets.asyncio.client import ClientConnection, connect

from bot_runtime.venue.polymarket.constants import WS_MARKET_URL
from bot_runtime.venue.polymarket.frames import FrameError, parse_book

log = logging.getLogger(__name__)

MAX_ASSETS_PER_CONNECTION = 500
MAX_BOOKS_PER_REQUEST = 500  # POST /books limit



class FeedLink:
    """Liveness of one websocket connection, shared by the books it carries (times: local ms).

    Written by the websocket client (O(1) per frame), read by the book store (`BookStore.book_age_ms`).
    """

    __slots__ = ("data_ms", "heard_ms", "stalled")

    def __init__(self) -> None:
        self.heard_ms = 0  # last frame of any kind (data or PONG)
        self.data_ms = 0  # last market-data frame
        self.stalled = False  # PONGs but no data while the exchange trades: nothing here is current


class _SyncedBook(Protocol):
    synced: bool

    def levels(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]: ...


class BookSink(Protocol):
    """What the market websocket client needs of the bot's book store (BookStore implements it);
    the venue does not import the store."""

    @property
    def books(self) -> Mapping[str, _SyncedBook]: ...
    def add_desync_listener(self, fn: Callable[[str], None]) -> None: ...
    def apply_raw(self, raw: str | bytes, recv_ms: int | None = None) -> set[str]: ...
    def apply_rest_books(self, items: Iterable[Any], recv_ms: int) -> set[str]: ...
    def attach(self, asset_ids: Iterable[str], link: FeedLink) -> None: ...
    def detach(self, asset_ids: Iterable[str]) -> None: ...
    def invalidate(self, asset_ids: Iterable[str]) -> None: ...
    def remove_assets(self, asset_ids: Iterable[str]) -> None: ...
    def touch(self, asset_ids: Iterable[str], now_ms: int) -> None: ...
    def track(self, asset_ids: Iterable[str]) -> None: ...

def wall_ms() -> int:
    """The clock the store's freshness is measured on: pass the same to `is_fresh`."""
    return time.time_ns() // 1_000_000


def backoff_delay(attempt: int, lo: float, hi: float, rnd: float) -> float:
    """Delay before reconnect number `attempt` (0-based): uniform in [lo, min(hi, lo*2^(attempt+1))].

    Full jitter spreads the reconnects of many bots after an exchange-side drop;
    `rnd` in [0, 1) comes from the caller so the function stays pure.
    """
    cap = min(hi, lo * (2 ** min(attempt + 1, 30)))
    return lo + (cap - lo) * rnd


# Messages are str: websockets sends bytes as BINARY frames, which servers ignore.
def subscribe_message(asset_ids: Sequence[str], custom_feature_enabled: bool = True) -> str:
    return orjson.dumps(
        {"assets_ids": list(asset_ids), "type": "market", "custom_feature_enabled": custom_feature_enabled}
    ).decode()


def operation_message(asset_ids: Sequence[str], operation: str) -> str:
    if operation not in ("subscribe", "unsubscribe"):
        raise ValueError(f"operation must be 'subscribe' or 'unsubscribe', got {operation!r}")
    return orjson.dumps({"assets_ids": list(asset_ids), "operation": operation}).decode()


def plan_shards(current: Sequence[set[str]], new_assets: Iterable[str], per_conn: int) -> list[list[str]]:
    """Assign new assets to shards: fill existing shards' free room first, then open new ones.

    Returns one list per shard (existing shards first, then new shards); pure, for tests.
    """
    out: list[list[str]] = [[] for _ in current]
    pending = list(dict.fromkeys(new_assets))
    i = 0
    for k, assets in enumerate(current):
        room = per_conn - len(assets)
        if room > 0 and i < len(pending):
            out[k] = pending[i : i + room]
            i += len(out[k])
    while i < len(pending):
        out.append(pending[i : i + per_conn])
        i += per_conn
    return out


class MarketDataHooks:
    """Callbacks for telemetry and recording; override what you need (all are no-ops).

    They run on the reader's hot path: keep them cheap and never let them raise.
    """

    def on_connect(self, shard_id: int) -> None: ...

    def on_disconnect(self, shard_id: int, reason: str) -> None: ...

    def on_reconnect(self, shard_id: int) -> None: ...

    def on_frame(self, n_bytes: int) -> None: ...

    def on_raw_frame(self, raw: bytes, recv_ms: int) -> None: ...

    def on_frame_error(self, error: FrameError) -> None: ...

    def on_resync(self, asset_ids: list[str], source: str) -> None: ...


@dataclass(slots=True)
class WsSettings:
    url: str = WS_MARKET_URL
    max_assets_per_conn: int = MAX_ASSETS_PER_CONNECTION
    ping_interval_s: float = 10.0
    pong_timeout_s: float = 30.0
    backoff_min_s: float = 1.0
    # capped low so a connection is back within ~5 s of the exchange (docs/reliability.md's recovery
    # bound); full jitter still spreads a fleet's reconnects over the window
    backoff_max_s: float = 5.0
    open_timeout_s: float = 10.0
    custom_feature_enabled: bool = True
    # CLOB REST base for `POST /books` rebuilds after a desync; None: resubscribe instead
    rest_url: str | None = None
    resync_delay_s: float = 0.05  # gathers desyncs of one burst into one request
    # data resuming after this much silence on a live connection (a stalled feed that kept
    # answering PING) rebuilds the shard's books: updates may have been lost. None: never
    resync_after_silence_s: float | None = 30.0
    # PING as soon as a connection was silent this long (a PONG proves its books current);
    # None: only the keep-alive PING every ping_interval_s
    idle_ping_s: float | None = 1.0
    # PONGs but no data for this long while the exchange trades: the connection's books are
    # stale. None: never declared stalled
    stall_after_s: float | None = 5.0
    stall_probe_assets: int = 50  # books compared over REST to tell "quiet" from "stalled"
    # a stalled connection is probed again this often: a quiet market is found quiet once REST
    # answers again, and its stall cleared (data resuming clears it at once anyway)
    stall_recheck_s: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_assets_per_conn <= MAX_ASSETS_PER_CONNECTION:
            raise ValueError(
                f"max_assets_per_conn must be 1..{MAX_ASSETS_PER_CONNECTION}, got {self.max_assets_per_conn}"
            )
        if self.backoff_min_s <= 0 or self.backoff_max_s < self.backoff_min_s:
            raise ValueError("backoff_min_s must be > 0 and backoff_max_s >= backoff_min_s")
        if self.ping_interval_s <= 0 or self.pong_timeout_s <= self.ping_interval_s:
            raise ValueError("ping_interval_s must be > 0 and pong_timeout_s > ping_interval_s")
        if self.idle_ping_s is not None and self.idle_ping_s <= 0:
            raise ValueError(f"idle_ping_s must be > 0 or None, got {self.idle_ping_s}")
        if self.stall_after_s is not None and self.stall_after_s <= 0:
            raise ValueError(f"stall_after_s must be > 0 or None (off), got {self.stall_after_s}")
        if self.stall_probe_assets < 1:
            raise ValueError(f"stall_probe_assets must be >= 1, got {self.stall_probe_assets}")
        if self.stall_recheck_s <= 0:
            raise ValueError(f"stall_recheck_s must be > 0, got {self.stall_recheck_s}")


class _Shard:
    __slots__ = ("assets", "connected", "data_seen", "id", "last_data", "last_heard", "link", "next_probe_ms",
                 "probing", "sent", "task", "wake", "ws")

    def __init__(self, shard_id: int) -> None:
        self.id = shard_id
        self.assets: set[str] = set()
        self.sent: set[str] = set()  # assets the live connection is subscribed to
        self.ws: ClientConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()
        self.connected = False
        self.last_heard = 0.0  # monotonic seconds, any frame or PONG
        self.last_data = 0.0  # monotonic seconds, market data only
        self.data_seen = False  # market data arrived on the current connection
        self.link = FeedLink()  # shared with the store: liveness of this connection's books
        self.probing = False  # a stall probe is in flight
        self.next_probe_ms = 0  # no new probe before this time (found quiet, or stalled: the recheck)


class MarketWsClient:
    """Keeps `store` current for the subscribed assets. Use `async with` or start()/stop()."""

    def __init__(
        self,
        store: BookSink,
        settings: WsSettings | None = None,
        hooks: MarketDataHooks | None = None,
        *,
        rng: random.Random | None = None,
        clock_ms: Callable[[], int] = wall_ms,
    ) -> None:
        self.store = store
        self.settings = settings or WsSettings()
        self.hooks = hooks or MarketDataHooks()
        self._rng = rng or random.Random()
        self._clock_ms = clock_ms
        self._shards: list[_Shard] = []
        self._shard_of: dict[str, _Shard] = {}
        self._closing = False
        self._pending_resync: set[str] = set()
        self._resync_task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        self.reconnects = 0
        self.connects = 0
        store.add_desync_listener(self._on_desync)

    # -- lifecycle -------------------------------------------------------------------
    async def start(self, asset_ids: Iterable[str] = ()) -> None:
        """Connect (again, after stop()) and subscribe to `asset_ids` as well."""
        self._closing = False
        for s in self._shards:
            if s.assets and (s.task is None or s.task.done()):
                s.task = asyncio.create_task(self._run_shard(s), name=f"md-shard-{s.id}")
        await self.subscribe(asset_ids)

    async def stop(self) -> None:
        self._closing = True
        tasks = [s.task for s in self._shards if s.task is not None]
        if self._resync_task is not None:
            tasks.append(self._resync_task)
        for s in self._shards:
            s.wake.set()
            if s.ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(s.ws.close(), 2)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> MarketWsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- state -----------------------------------------------------------------------
    @property
    def assets(self) -> set[str]:
        return set(self._shard_of)

    @property
    def shard_count(self) -> int:
        return len(self._shards)

    def shard_assets(self) -> list[set[str]]:
        return [set(s.assets) for s in self._shards]

    @property
    def connected_shards(self) -> int:
        return sum(1 for s in self._shards if s.connected)

    @property
    def stalled_shards(self) -> int:
        """Connections that answer PING but deliver no data while the exchange trades."""
        return sum(1 for s in self._shards if s.connected and s.link.stalled)

    def all_synced(self, asset_ids: Iterable[str] | None = None) -> bool:
        books = self.store.books
        ids = self._shard_of.keys() if asset_ids is None else asset_ids
        for a in ids:
            b = books.get(a)
            if b is None or not b.synced:
                return False
        return True

    async def wait_synced(self, asset_ids: Iterable[str] | None = None, timeout: float = 10.0) -> bool:
        """Wait until every (given) subscribed asset has a snapshot; False on timeout."""
        ids = list(self._shard_of if asset_ids is None else asset_ids)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.all_synced(ids):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # -- subscriptions ---------------------------------------------------------------
    async def subscribe(self, asset_ids: Iterable[str]) -> None:
        new = [a for a in dict.fromkeys(asset_ids) if a not in self._shard_of]
        if not new:
            return
        self.store.track(new)
        plan = plan_shards([s.assets for s in self._shards], new, self.settings.max_assets_per_conn)
        for k, chunk in enumerate(plan):
            if not chunk:
                continue
            if k >= len(self._shards):
                self._shards.append(_Shard(len(self._shards)))
            shard = self._shards[k]
            shard.assets.update(chunk)
            for a in chunk:
                self._shard_of[a] = shard
            self.store.attach(chunk, shard.link)
            if shard.ws is not None:
                await self._send_op(shard, chunk, "subscribe")
            if shard.task is None or shard.task.done():
                shard.task = asyncio.create_task(self._run_shard(shard), name=f"md-shard-{shard.id}")
            shard.wake.set()

    async def unsubscribe(self, asset_ids: Iterable[str], drop_books: bool = True) -> None:
        """Stop these assets. Their books are dropped (default) or kept, marked not synced."""
        by_shard: dict[int, list[str]] = {}
        for a in dict.fromkeys(asset_ids):
            shard = self._shard_of.pop(a, None)
            if shard is None:
                continue
            shard.assets.discard(a)
            by_shard.setdefault(shard.id, []).append(a)
        for sid, chunk in by_shard.items():
            shard = self._shards[sid]
            self.store.invalidate(chunk)
            self.store.detach(chunk)
            if shard.ws is not None:
                if shard.assets:
                    await self._send_op(shard, chunk, "unsubscribe")
                else:  # nothing left on this connection: close it, the task idles
                    with contextlib.suppress(Exception):
                        await shard.ws.close()
            shard.sent.difference_update(chunk)
        if drop_books:
            self.store.remove_assets(a for chunk in by_shard.values() for a in chunk)

    async def _send_op(self, shard: _Shard, chunk: list[str], op: str) -> None:
        ws = shard.ws
        if ws is None:
            return
        try:
            await ws.send(operation_message(chunk, op))
            if op == "subscribe":
                shard.sent.update(chunk)
        except websockets.ConnectionClosed:
            pass  # the shard reconnects and subscribes to its full asset set

    # -- the connection loop ---------------------------------------------------------
    async def _run_shard(self, shard: _Shard) -> None:
        st = self.settings
        attempt = 0
        ever_connected = False
        while not self._closing:
            if not shard.assets:
                shard.wake.clear()
                await shard.wake.wait()
                continue
            reason = "closed"
            shard.data_seen = False
            try:
                async with connect(
                    st.url,
                    ping_interval=None,  # Polymarket's keep-alive is the text PING below
                    max_size=None,  # a 500-asset initial dump can be many MB
                    max_queue=None,
                    open_timeout=st.open_timeout_s,
                    close_timeout=2,
                ) as ws:
                    subscribed = sorted(shard.assets)  # deterministic messages
                    await ws.send(subscribe_message(subscribed, st.custom_feature_enabled))
                    shard.sent = set(subscribed)
                    shard.ws = ws
                    # (un)subscribed while the first message was in flight
                    missed = [a for a in shard.assets if a not in shard.sent]
                    if missed:
                        await self._send_op(shard, missed, "subscribe")
                    extra = [a for a in subscribed if a not in shard.assets]
                    if extra:
                        await self._send_op(shard, extra, "unsubscribe")
                        shard.sent.difference_update(extra)
                    shard.connected = True
                    shard.last_heard = time.monotonic()
                    shard.last_data = shard.last_heard  # the subscription brings fresh snapshots
                    shard.link.heard_ms = shard.link.data_ms = self._clock_ms()
                    shard.link.stalled = False
                    shard.next_probe_ms = 0
                    self.connects += 1
                    if ever_connected:
                        self.reconnects += 1
                        self.hooks.on_reconnect(shard.id)
                    ever_connected = True
                    self.hooks.on_connect(shard.id)
                    pinger = asyncio.create_task(self._pinger(shard, ws))
                    try:
                        await self._read(shard, ws)
                    finally:
                        pinger.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await pinger
            except asyncio.CancelledError:
                raise
            except websockets.ConnectionClosed as e:
                reason = f"closed: {e}"
            except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as e:
                reason = f"{type(e).__name__}: {e}"
            except websockets.WebSocketException as e:
                reason = f"{type(e).__name__}: {e}"
            finally:
                shard.ws = None
                shard.sent = set()
                shard.link.stalled = False  # the books are unsynced until the next snapshot anyway
                self.store.invalidate(shard.assets)
                if shard.connected:
                    shard.connected = False
                    self.hooks.on_disconnect(shard.id, reason)
            if self._closing:
                break
            if shard.data_seen:  # the link worked: start the backoff from the bottom again
                attempt = 0
            delay = backoff_delay(attempt, st.backoff_min_s, st.backoff_max_s, self._rng.random())
            attempt += 1
            log.info("market ws shard %d down (%s); reconnect in %.2fs", shard.id, reason, delay)
            await asyncio.sleep(delay)

    async def _read(self, shard: _Shard, ws: ClientConnection) -> None:
        """Reads until the connection ends (ConnectionClosed)."""
        store = self.store
        hooks = self.hooks
        clock = self._clock_ms
        silence_limit = self.settings.resync_after_silence_s
        link = shard.link
        while True:
            raw = await ws.recv(decode=False)  # bytes: orjson parses them without a decode step
            mono = shard.last_heard = time.monotonic()
            now = clock()
            link.heard_ms = now  # any frame proves every earlier update on this connection arrived
            if raw == b"PONG":
                store.touch(shard.assets, now)
                continue
            if link.stalled:
                # updates were lost while the feed stalled: untrusted until rebuilt
                link.stalled = False
                log.warning("market ws shard %d: data resumed after a stall; rebuilding its books", shard.id)
                store.invalidate(shard.assets)
                self._request_resync(shard.assets)
            elif silence_limit is not None and mono - shard.last_data > silence_limit:
                log.warning("market ws shard %d: data resumed after %.1fs of silence; rebuilding its books",
                            shard.id, mono - shard.last_data)
                self._request_resync(shard.assets)
            link.data_ms = now
            shard.last_data = mono
            shard.data_seen = True
            hooks.on_frame(len(raw))
            hooks.on_raw_frame(raw, now)
            try:
                store.apply_raw(raw, now)
            except FrameError as e:
                log.warning("bad market frame on shard %d: %s", shard.id, e)
                hooks.on_frame_error(e)
            # recv() does not suspend while frames are queued: yield, so an order task a
            # listener just created runs now rather than after the whole backlog (~1 us)
            await asyncio.sleep(0)

    async def _pinger(self, shard: _Shard, ws: ClientConnection) -> None:
        st = self.settings
        idle = st.idle_ping_s
        tick = st.ping_interval_s if idle is None else min(st.ping_interval_s, idle / 4)
        last_ping = time.monotonic()
        probe: asyncio.Task[None] | None = None
        try:
            while True:
                await asyncio.sleep(tick)
                mono = time.monotonic()
                silent = mono - shard.last_heard
                if silent > st.pong_timeout_s:
                    log.warning("market ws shard %d: no PONG for %.1fs, dropping it", shard.id, silent)
                    ws.transport.abort()  # a dead peer would stall a closing handshake
                    return
                since_ping = mono - last_ping
                due = since_ping >= st.ping_interval_s - tick / 2 or (
                    idle is not None and silent >= idle and since_ping >= idle)
                if due:
                    last_ping = mono
                    try:
                        async with asyncio.timeout(st.ping_interval_s):  # not wait_for: see app_execution
                            await ws.send("PING")
                    except (websockets.ConnectionClosed, TimeoutError):
                        ws.transport.abort()
                        return
                if (self._stall_suspected(shard) or self._recheck_due(shard)) and not shard.probing:
                    shard.probing = True
                    probe = asyncio.create_task(self._probe_stall(shard))
        finally:
            if probe is not None and not probe.done():
                probe.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await probe

    # -- stalled feeds -------------------------------------------------------------------
    def _stall_suspected(self, shard: _Shard) -> bool:
        limit = self.settings.stall_after_s
        if limit is None or shard.link.stalled or not shard.connected or not shard.assets:
            return False
        now = self._clock_ms()
        return now >= shard.next_probe_ms and feed_silent(now, shard.link.data_ms, limit)

    def _recheck_due(self, shard: _Shard) -> bool:
        """A stalled connection still silent: time to ask whether the exchange trades at all."""
        return (shard.link.stalled and shard.connected and bool(shard.assets)
                and self._clock_ms() >= shard.next_probe_ms)

    async def _probe_stall(self, shard: _Shard) -> None:
        """Silent past the limit: stalled if the exchange is known to be trading, quiet otherwise.

        Also the recheck of a stalled connection: the same question, asked again every
        `stall_recheck_s`. Without it a stall declared while REST failed (an outage: "cannot tell"
        counts as trading) would last until the next data frame, which a quiet market never sends."""
        try:
            limit = self.settings.stall_after_s
            assert limit is not None
            recheck_ms = round(self.settings.stall_recheck_s * 1000)
            now = self._clock_ms()
            was_stalled = shard.link.stalled
            others_busy = any(s is not shard and s.connected and not feed_silent(now, s.link.data_ms, limit)
                              for s in self._shards)
            trading: bool | None = True if others_busy else await self._books_moved(shard)
            if trading is None:
                trading = True  # cannot tell: money safety says stale
            if was_stalled:
                if not shard.link.stalled:
                    pass  # data resumed meanwhile: `_read` cleared the stall and rebuilds the books
                elif trading:
                    shard.next_probe_ms = self._clock_ms() + recheck_ms
                else:
                    # REST equals our books: the feed is current and the market quiet. The books
                    # are refreshed from REST (stay tradable meanwhile: they were just verified).
                    shard.link.stalled = False
                    shard.next_probe_ms = now + round(limit * 1000)
                    log.warning("market ws shard %d: exchange quiet and its books equal ours; stall "
                                "cleared, %d books refreshed over REST", shard.id, len(shard.assets))
                    self._request_resync(shard.assets)
            elif trading and self._stall_suspected(shard):  # still silent after the probe
                shard.link.stalled = True
                shard.next_probe_ms = self._clock_ms() + recheck_ms
                log.warning("market ws shard %d: no market data for %.1fs while the exchange trades; "
                            "its %d books are stale", shard.id, (self._clock_ms() - shard.link.data_ms) / 1000,
                            len(shard.assets))
            elif not trading:
                # quiet, not stalled: look again after another full limit of silence
                shard.next_probe_ms = now + round(limit * 1000)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a failed probe must not take the connection down
            log.warning("market ws shard %d: stall probe failed: %s", shard.id, e)
        finally:
            shard.probing = False

    async def _books_moved(self, shard: _Shard) -> bool | None:
        """Do the exchange's REST books differ from ours? None: no REST endpoint or no answer."""
        if not self.settings.rest_url:
            return None
        books = self.store.books
        ids = sorted(a for a in shard.assets if a in books and books[a].synced)[: self.settings.stall_probe_assets]
        if not ids:
            return None
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            items = await fetch_books(self._http, self.settings.rest_url, ids)
        except (aiohttp.ClientError, TimeoutError, FrameError, ValueError) as e:
            log.warning("market ws shard %d: stall probe over REST failed: %s", shard.id, e)
            return None
        return books_differ(self.store, items)

    # -- resync after a desync ---------------------------------------------------------
    def _on_desync(self, asset_id: str) -> None:
        self._request_resync((asset_id,))

    def _request_resync(self, asset_ids: Iterable[str]) -> None:
        if self._closing:
            return
        self._pending_resync.update(a for a in asset_ids if a in self._shard_of)
        if self._pending_resync and (self._resync_task is None or self._resync_task.done()):
            with contextlib.suppress(RuntimeError):  # no running loop (store used offline)
                self._resync_task = asyncio.get_running_loop().create_task(self._resync_soon())

    async def _resync_soon(self) -> None:
        # loops: desyncs reported while a rebuild is in flight are handled by the next round
        while self._pending_resync and not self._closing:
            await asyncio.sleep(self.settings.resync_delay_s)
            ids = [a for a in self._pending_resync if a in self._shard_of]
            self._pending_resync.clear()
            if ids:
                await self._resync(ids)

    async def _resync(self, ids: list[str]) -> None:
        if self.settings.rest_url:
            try:
                await self.rebuild_from_rest(ids)
            except (aiohttp.ClientError, TimeoutError, FrameError, ValueError) as e:
                log.warning("REST book rebuild failed (%s); resubscribing instead", e)
            # a REST snapshot older than the stream's latest update is skipped by the store
            books = self.store.books
            ids = [a for a in ids if a in self._shard_of and a in books and not books[a].synced]
            if not ids:
                return
        # a fresh subscription makes the exchange send a new `book` snapshot in-stream
        by_shard: dict[int, list[str]] = {}
        for a in ids:
            by_shard.setdefault(self._shard_of[a].id, []).append(a)
        for sid, chunk in by_shard.items():
            shard = self._shards[sid]
            await self._send_op(shard, chunk, "unsubscribe")
            await self._send_op(shard, chunk, "subscribe")
        self.hooks.on_resync(ids, "resubscribe")

    async def rebuild_from_rest(self, asset_ids: Sequence[str]) -> set[str]:
        """Fetch snapshots with `POST /books` (500 per request) and apply them."""
        base = self.settings.rest_url
        if not base:
            raise ValueError("rest_url is not set: cannot rebuild books over REST")
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        touched = await fetch_and_apply_books(self._http, base, asset_ids, self.store, self._clock_ms)
        self.hooks.on_resync(list(asset_ids), "rest")
        return touched


def feed_silent(now_ms: int, data_ms: int, limit_s: float) -> bool:
    """No market data on a connection for longer than the stall limit (pure)."""
    return now_ms - data_ms > limit_s * 1000


def books_differ(store: BookSink, items: Iterable[Any]) -> bool:
    """Whether any REST book (`POST /books` item) has levels other than ours: the exchange moved
    while our feed said nothing. Unparseable items are ignored (pure)."""
    for d in items:
        if not isinstance(d, dict):
            continue
        try:
            ev = parse_book(d)
        except (FrameError, KeyError, TypeError, ValueError, AttributeError):
            continue
        b = store.books.get(ev.asset_id)
        if b is None:
            continue
        bids = sorted(ev.bids, key=lambda lv: -lv[0])
        asks = sorted(ev.asks, key=lambda lv: lv[0])
        if b.levels() != ([lv for lv in bids if lv[1]], [lv for lv in asks if lv[1]]):
            return True
    return False


async def fetch_books(session: aiohttp.ClientSession, base_url: str, asset_ids: Sequence[str]) -> list[Any]:
    """`POST /books` in chunks of 500; returns the raw book objects."""
    out: list[Any] = []
    url = base_url.rstrip("/") + "/books"
    for i in range(0, len(asset_ids), MAX_BOOKS_PER_REQUEST):
        body = [{"token_id": a} for a in asset_ids[i : i + MAX_BOOKS_PER_REQUEST]]
        async with session.post(url, json=body) as resp:
            resp.raise_for_status()
            data = orjson.loads(await resp.read())
        if not isinstance(data, list):
            raise FrameError(f"POST /books returned {type(data).__name__}, expected a list")
        out.extend(data)
    return out


async def fetch_and_apply_books(
    session: aiohttp.ClientSession,
    base_url: str,
    asset_ids: Sequence[str],
    store: BookSink,
    clock_ms: Callable[[], int] = wall_ms,
) -> set[str]:
    items = await fetch_books(session, base_url, asset_ids)
    return store.apply_rest_books(items, clock_ms())
