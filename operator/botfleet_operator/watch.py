"""Lean list+watch of the kinds the operator owns (Deployments, pods, ConfigMaps...), into the cache.

Why not kopf for these: at 300 bots kopf's per-event machinery (causes, handler invocation, a logger
and a worker task per object, a diff base) was a third of the operator's CPU, and its JSON decoding
another seventh, for events whose only job is to update a cache entry and mark a bot dirty
(docs/benchmarks.md#3-operator-at-scale). kopf still runs the operator's lifecycle and the
TradingBot and Secret handlers; this module does what client-go's reflector does for one kind:

- LIST (paginated, server-side label selector), then WATCH from the list's resourceVersion with
  bookmarks, resumed from the last version seen after a disconnect or a server timeout;
- a relist when the server says the version is too old (410 Gone), objects missing from the new
  list delivered as deletions;
- `synced` set once every kind's first list is in the cache: workers wait for it, so a bot's first
  reconcile sees the objects it already has.

The decisions (what a list or an event does to the cache) are pure functions of `Reflected`; the
`Watcher` is the HTTP shell around them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

from botfleet_operator import decode
from botfleet_operator.kubeconfig import Connection

log = logging.getLogger("botfleet.operator")
Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)
Deliver = Callable[[Obj, bool], None]  # (object, deleted)

WATCH_SECONDS = 600          # the server ends each watch after this; it is resumed at once
RETRY_SECONDS = (0.5, 30.0)  # backoff between failed attempts: first, cap
# What aiohttp reads ahead of us per stream (it pauses the socket at twice this: a backlog waits in the
# kernel). Lines are split here (`lines`), not by aiohttp's reader: that one refuses lines over twice
# its buffer, so an event of up to ~1.5 MiB (etcd's limit) needed a 4 MiB buffer; and reading a chunk
# of many events at once cost less than aiohttp's line by line (0.047 -> 0.036 operator CPU-s per bot
# at 1,000 bots, docs/benchmarks.md).
READ_BUFSIZE = 64 * 2**10


class Gone(Exception):
    """The resourceVersion asked for is no longer in the server's history: list again."""


@dataclass
class Reflected:
    """What one kind's watch has delivered: the key and resourceVersion of every live object."""

    kind: str
    api_version: str = "v1"
    # key -> (resourceVersion, labels): the labels name the bot a deletion found by a relist belongs to
    versions: dict[Key, tuple[str, dict[str, str]]] = field(default_factory=dict)
    resource_version: str = ""

    def listed(self, items: Iterable[Obj], resource_version: str) -> list[tuple[Obj, bool]]:
        """A full list: every item (changed or new) as an update, every object no longer listed as a
        deletion. Unchanged items are skipped: a relist after a long outage is not 1,000 reconciles."""
        out: list[tuple[Obj, bool]] = []
        seen: dict[Key, tuple[str, dict[str, str]]] = {}
        for item in items:
            # A list's items carry neither: without them an object never equals its desired state
            # (reconcile.is_subset compares apiVersion and kind too) and is applied again and again.
            item.setdefault("apiVersion", self.api_version)
            item.setdefault("kind", self.kind)
            meta = item["metadata"]
            key, rv = (meta.get("namespace", ""), meta["name"]), meta.get("resourceVersion", "")
            seen[key] = (rv, meta.get("labels") or {})
            if self.versions.get(key, ("",))[0] != rv:
                out.append((item, False))
        for key in sorted(self.versions.keys() - seen.keys()):
            gone = {"namespace": key[0], "name": key[1], "labels": self.versions[key][1]}
            out.append(({"apiVersion": self.api_version, "kind": self.kind, "metadata": gone}, True))
        self.versions = seen
        self.resource_version = resource_version
        return out

    def event(self, event: Obj) -> tuple[Obj, bool] | None:
        """One watch event: (object, deleted) to deliver, or None (a bookmark). Raises Gone for the
        server's 410, RuntimeError for another error event."""
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone(obj.get("message", ""))
            raise RuntimeError(f"watch {self.kind}: {obj.get('code')} {obj.get('message')}")
        meta = obj.get("metadata") or {}
        if meta.get("resourceVersion"):
            self.resource_version = meta["resourceVersion"]
        if kind == "BOOKMARK":
            return None
        obj.setdefault("apiVersion", self.api_version)
        obj.setdefault("kind", self.kind)
        key = (meta.get("namespace", ""), meta.get("name", ""))
        if kind == "DELETED":
            self.versions.pop(key, None)
            return obj, True
        self.versions[key] = (meta.get("resourceVersion", ""), meta.get("labels") or {})
        return obj, False


async def lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The non-blank lines of a stream read in chunks of any size; a line may span many chunks (no
    length limit, unlike aiohttp's own reader). A last line without its newline is an event cut off
    by a dropped connection: not delivered, so the watch resumes from the version before it."""
    buf = bytearray()
    async for chunk in chunks:
        buf += chunk
        end = buf.rfind(b"\n")
        if end < 0:
            continue
        for line in bytes(buf[:end]).split(b"\n"):
            if line.strip():
                yield line
        del buf[:end + 1]


class Watcher:
    """Lists and watches one kind (in one namespace, or all) and hands each change to `deliver`."""

    def __init__(self, session: aiohttp.ClientSession, conn: Connection, path: str, kind: str,
                 selector: str, deliver: Deliver, on_event: Callable[[str], None] | None = None,
                 api_version: str = "v1") -> None:
        self.session, self.conn, self.path, self.selector = session, conn, path, selector
        self.state = Reflected(kind, api_version)
        self.deliver = deliver
        self.on_event = on_event
        self.listed = asyncio.Event()

    async def _get(self, params: dict[str, str], timeout: float) -> aiohttp.ClientResponse:
        url = f"{self.conn.server}{self.path}?{urlencode(params)}"
        # The token is read for each request: a rotated token file or a renewed exec credential.
        headers = {"Accept": "application/json", **await asyncio.to_thread(self.conn.headers)}
        response = await self.session.get(url, headers=headers,
                                          timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=30))
        if response.status == 401:
            self.conn.expire()  # renewed before the next attempt
        if response.status == 410:
            response.release()
            raise Gone(self.path)
        if response.status >= 400:
            body = (await response.text())[:300]
            response.release()
            raise RuntimeError(f"{self.state.kind} {self.path}: HTTP {response.status}: {body}")
        return response

    async def list(self) -> None:
        items: list[Obj] = []
        params = {"labelSelector": self.selector, "limit": "500"}
        while True:
            response = await self._get(params, 120)
            async with response:
                page = decode.loads(await response.read())
            items += page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
            params = {**params, "continue": token}
        for obj, deleted in self.state.listed(items, (page.get("metadata") or {}).get("resourceVersion", "")):
            self.deliver(obj, deleted)
        self.listed.set()

    async def watch(self) -> None:
        params = {"labelSelector": self.selector, "watch": "true", "allowWatchBookmarks": "true",
                  "resourceVersion": self.state.resource_version, "timeoutSeconds": str(WATCH_SECONDS)}
        response = await self._get(params, WATCH_SECONDS + 60)
        async with response:
            async for line in lines(response.content.iter_any()):
                change = self.state.event(decode.loads(line))
                if change is not None:
                    if self.on_event is not None:
                        self.on_event(self.state.kind)
                    self.deliver(*change)

    async def run(self) -> None:
        """List, then watch for ever; relist on 410, back off on errors."""
        failures = 0
        need_list = True
        while True:
            try:
                if need_list:
                    await self.list()
                    need_list = False
                started = asyncio.get_running_loop().time()
                await self.watch()
                failures = 0
                if asyncio.get_running_loop().time() - started < 1.0:
                    await asyncio.sleep(1.0)  # a server ending watches at once must not get a tight loop
            except asyncio.CancelledError:
                raise
            except Gone:
                need_list = True
            except Exception as exc:  # a watch must never die: the cache would go stale
                failures += 1
                delay = min(RETRY_SECONDS[1], RETRY_SECONDS[0] * 2 ** (failures - 1)) * random.uniform(0.8, 1.2)
                log.warning("watch %s %s failed (%s: %s); again in %.1fs", self.state.kind, self.path,
                            type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)


class Watchers:
    """One `Watcher` per owned kind and namespace; `synced` once all have listed."""

    def __init__(self, conn: Connection, kinds: Iterable[tuple[str, str, str, str]],
                 namespaces: list[str], selector: str, deliver: Deliver,
                 on_event: Callable[[str], None] | None = None) -> None:
        self.conn = conn
        self.specs = [(group, version, plural, kind) for group, version, plural, kind in kinds]
        self.namespaces = namespaces
        self.selector = selector
        self.deliver = deliver
        self.on_event = on_event
        self.synced = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    def _paths(self) -> list[tuple[str, str, str]]:
        """(path, kind, apiVersion) of each list+watch."""
        out = []
        for group, version, plural, kind in self.specs:
            base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
            api_version = f"{group}/{version}" if group else version
            for ns in self.namespaces or [""]:
                out.append((f"{base}/namespaces/{ns}/{plural}" if ns else f"{base}/{plural}", kind, api_version))
        return out

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(ssl=self.conn.ssl_context(), limit=0)
        self._session = aiohttp.ClientSession(connector=connector, read_bufsize=READ_BUFSIZE)
        watchers = [Watcher(self._session, self.conn, path, kind, self.selector, self.deliver, self.on_event,
                            api_version) for path, kind, api_version in self._paths()]
        self._tasks = [asyncio.create_task(w.run(), name=f"watch {w.path}") for w in watchers]

        async def all_listed() -> None:
            await asyncio.gather(*(w.listed.wait() for w in watchers))
            self.synced.set()
            log.info("watching %d owned kinds: initial lists in the cache", len(self.specs))
        self._tasks.append(asyncio.create_task(all_listed()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
