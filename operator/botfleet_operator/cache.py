"""In-memory view of the watched objects (fed by kopf watch events) and the work queue.

Level-based: a watch event never carries "what to do", it only marks a bot dirty; a worker then
reconciles the bot from the latest cached state. Many events for one bot collapse into one
reconcile, and one bot is never reconciled by two workers at once.

Slim: objects are stored without `metadata.managedFields` (often the largest part of an object) and
the last-applied annotation; Jobs without their spec, pods as what conditions and the /status poll read
(no spec, a part of metadata and status), owned objects other than Deployments without their status:
only what reconcile compares and conditions read. An owned object found up to date is compacted
further (`compact`). A new version that changes nothing of that (its digest is kept on the cached
copy) is stored but queues no reconcile. Echoes: the watch event of
an object the operator itself just wrote (same resourceVersion as the write's answer) updates the
cache but does not queue the bot again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from botfleet_operator.api import GROUP, KIND, SpecError, TradingBot
from botfleet_operator.reconcile import UP_TO_DATE_MARK, Snapshot
from botfleet_operator.resources import ANN_DESIRED_HASH, LABEL_BOT
from botfleet_operator.secrets import SecretView, referenced_secrets, view_of

Obj = dict[str, Any]
BotKey = tuple[str, str]  # (namespace, name)
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def slim(body: Obj) -> Obj:
    """What the operator keeps of a watched object (see the module docstring)."""
    meta = {k: v for k, v in body.get("metadata", {}).items() if k != "managedFields"}
    if _LAST_APPLIED in (meta.get("annotations") or {}):
        meta["annotations"] = {k: v for k, v in meta["annotations"].items() if k != _LAST_APPLIED}
    # Never a reconcile's mark: a version is found up to date by comparing it (reconcile.up_to_date).
    out = {k: v for k, v in body.items() if k != "metadata" and k not in _INTERNAL}
    out["metadata"] = meta
    kind = body.get("kind")
    if kind == "Pod":
        out.pop("spec", None)
        out["metadata"] = _known_metadata(meta)
        out["status"] = _pod_status(body.get("status") or {})
    elif kind == "Job":
        out.pop("spec", None)
    elif kind == "Deployment":
        out["status"] = _deployment_status(body)
    elif kind != "TradingBot":
        out.pop("status", None)
    return out


# A digest of what the operator reads of an owned object (`slim`, its known metadata, never the
# resourceVersion), kept on the cached copy: a new version with the same digest (a Deployment's
# condition timestamps, a claim's bind annotations, ...) is stored but queues no reconcile. At 1,000
# bots that was a third of the ~25 watch events per new bot, each a full reconcile.
_DIGEST = "_botfleetDigest"
# A digest of all that makes a version up to date or not (all but its status and resourceVersion):
# a new version with the same one as a version found up to date is up to date too, without being
# compared again, so it is kept compacted from the start (a Deployment's ~5 status changes while it
# rolls out no longer make it whole until the bot's next reconcile).
_SPEC = "_botfleetSpecDigest"
_INTERNAL = frozenset({UP_TO_DATE_MARK, _DIGEST, _SPEC})


def _digest(body: Obj) -> bytes:
    meta = _known_metadata(body.get("metadata") or {})
    meta.pop("resourceVersion", None)
    rest = {k: v for k, v in body.items() if k != "metadata" and k not in _INTERNAL}
    return _json_digest([meta, rest])


def _json_digest(value: Any) -> bytes:
    return hashlib.blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


def _spec_digest(body: Obj) -> bytes:
    # Also left out: what only the cluster sets and no desired object has, so that it never decides
    # whether an object is up to date (reconcile.is_subset compares the desired object's fields):
    # annotations other than the desired-state hash (a Deployment's revision, a claim's bind marks;
    # the operator sets no other) and the volume a claim was bound to. Those arrive while a fleet is
    # created, and each made the object whole again until the bot's next reconcile.
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k not in ("resourceVersion", "annotations")}
    meta["annotations"] = ((body.get("metadata") or {}).get("annotations") or {}).get(ANN_DESIRED_HASH)
    rest = {k: v for k, v in body.items() if k not in ("metadata", "status") and k not in _INTERNAL}
    if body.get("kind") == "PersistentVolumeClaim" and "volumeName" in (rest.get("spec") or {}):
        rest["spec"] = {k: v for k, v in rest["spec"].items() if k != "volumeName"}
    return _json_digest([meta, rest])


# The metadata the operator reads of a pod, or of an owned object once it is up to date: identity
# and version, owners (pruning, adoption checks), labels (which bot, which component), and of the
# annotations only the desired-state hash. At 1,000 bots the rest (the Deployment's revision, the
# pod's config and secrets hashes, generateName...) came to megabytes.
_METADATA = ("name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
             "deletionTimestamp", "labels", "ownerReferences")


def _known_metadata(meta: Obj) -> Obj:
    out = {k: meta[k] for k in _METADATA if k in meta}
    desired = (meta.get("annotations") or {}).get(ANN_DESIRED_HASH)
    if desired is not None:
        out["annotations"] = {ANN_DESIRED_HASH: desired}
    return out


_CONTAINER_STATUS = ("name", "state", "lastState", "restartCount")


def _pod_status(st: Obj) -> Obj:
    """What conditions.pod_problem and the kill-switch poll read of a pod's status."""
    out = {k: st[k] for k in ("phase", "podIP", "conditions") if k in st}
    for key in ("initContainerStatuses", "containerStatuses"):
        if key in st:
            out[key] = [{k: cs[k] for k in _CONTAINER_STATUS if k in cs} for cs in st[key] or []]
    return out


# What reconcile and conditions read of an owned object once it is known to be up to date: its
# identity and owner (pruning, adoption checks), the desired-state hash and the mark (up_to_date),
# and of the Deployment its replicas and status counts (Ready).
_DEPLOYMENT_STATUS = ("observedGeneration", "replicas", "availableReplicas", "updatedReplicas", "readyReplicas")


def _deployment_status(body: Obj) -> Obj:
    st = body.get("status") or {}
    return {k: st[k] for k in _DEPLOYMENT_STATUS if k in st}


def compact(body: Obj) -> Obj:
    out = {k: body[k] for k in ("apiVersion", "kind", UP_TO_DATE_MARK, _DIGEST, _SPEC) if k in body}
    out["metadata"] = _known_metadata(body.get("metadata") or {})
    if body.get("kind") == "Deployment":
        if "replicas" in (body.get("spec") or {}):
            out["spec"] = {"replicas": body["spec"]["replicas"]}
        out["status"] = _deployment_status(body)
    return out


def _rv(body: Obj) -> str | None:
    return (body.get("metadata") or {}).get("resourceVersion")


def _referenced_secrets(body: Obj) -> set[str]:
    """The Secrets a TradingBot references; none while its spec does not parse (reconcile reports it)."""
    try:
        return referenced_secrets(TradingBot.parse(body).spec)
    except SpecError:
        return set()


@dataclass(frozen=True, slots=True)
class CachedBot:
    """A TradingBot as the cache keeps it: its slim JSON, decoded afresh for each reconcile (which
    may then change its copy) and each scrape. At 1,000 bots the decoded bodies were ~10 MB of
    small dicts and strings for the ~5 times each is read while the fleet is created."""

    rv: str | None
    spec_digest: bytes
    deleting: bool
    raw: bytes

    @classmethod
    def of(cls, body: Obj) -> CachedBot:
        meta = body.get("metadata") or {}
        return cls(rv=meta.get("resourceVersion"), deleting=bool(meta.get("deletionTimestamp")),
                   spec_digest=_json_digest(body.get("spec")),
                   raw=orjson.dumps(slim(body)))

    def body(self) -> Obj:
        decoded: Obj = orjson.loads(self.raw)
        return decoded


class Cache:
    def __init__(self) -> None:
        self.bots: dict[BotKey, CachedBot] = {}
        self.secrets: dict[BotKey, SecretView] = {}
        self.owned: dict[BotKey, dict[tuple[str, str], Obj]] = defaultdict(dict)  # bot -> (kind, name) -> obj
        self.pods: dict[BotKey, dict[str, Obj]] = defaultdict(dict)
        self.jobs: dict[BotKey, dict[str, Obj]] = defaultdict(dict)
        self._secret_users: dict[BotKey, set[BotKey]] = defaultdict(set)  # secret -> bots using it
        self._bot_secrets: dict[BotKey, set[BotKey]] = {}
        self._changed_secrets: set[BotKey] = set()
        # resourceVersions of the operator's own writes, to recognise their watch events (echoes).
        # Not popped on sight: kopf calls the index handler and then the event handler per event.
        self._written: dict[tuple[str, str, str], str] = {}  # (namespace, kind, name) -> rv
        self._bot_written: dict[BotKey, str] = {}
        # Our write's answer, found up to date, for an object the cache already held (an update):
        # (namespace, kind, name) -> (its spec digest, its mark), for the watch event that follows.
        self._answer_marks: dict[tuple[str, str, str], tuple[bytes, str]] = {}

    # TradingBots --------------------------------------------------------------------------
    def put_bot(self, body: Obj, written: bool = False) -> BotKey:
        """Store a TradingBot; `written`: it is the answer to our own (status) write."""
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if written and _rv(body):
            self._bot_written[key] = str(_rv(body))
        before = self.bots.get(key)
        cached = self.bots[key] = CachedBot.of(body)
        # The referenced Secrets follow the spec: a new version with the same spec (a status write,
        # ~4 per new bot) is not parsed again for them.
        if before is None or before.spec_digest != cached.spec_digest or key not in self._bot_secrets:
            self._index_secrets(key, {(key[0], s) for s in _referenced_secrets(body)})
        return key

    def bodies(self) -> Iterator[Obj]:
        """Every TradingBot, decoded one at a time (the metrics read each once per scrape)."""
        for cached in list(self.bots.values()):
            yield cached.body()

    def bot_event(self, body: Obj) -> BotKey | None:
        """A watched TradingBot: stored (unless that version is already), returns its key, or None
        for the echo of our own status write."""
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        rv = _rv(body)
        cached = self.bots.get(key)
        if rv is None or cached is None or cached.rv != rv:
            self.put_bot(body)
        return None if rv is not None and self._bot_written.get(key) == rv else key

    def drop_bot(self, key: BotKey) -> None:
        self.bots.pop(key, None)
        self._bot_written.pop(key, None)
        self._index_secrets(key, set())

    def _index_secrets(self, bot: BotKey, secrets: set[BotKey]) -> None:
        for old in self._bot_secrets.get(bot, set()) - secrets:
            self._secret_users[old].discard(bot)
        for new in secrets:
            self._secret_users[new].add(bot)
        self._bot_secrets[bot] = secrets

    # Secrets: only their views are kept ---------------------------------------------------
    def put_secret(self, body: Obj) -> set[BotKey]:
        """Store the view; the bots using the Secret when its data changed (since `take_changed`)."""
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        view = view_of(body)
        if self.secrets.get(key) != view:
            self._changed_secrets.add(key)
        self.secrets[key] = view
        return set(self._secret_users.get(key, ())) if key in self._changed_secrets else set()

    def take_changed(self, key: BotKey) -> set[BotKey]:
        if key not in self._changed_secrets:
            return set()
        self._changed_secrets.discard(key)
        return set(self._secret_users.get(key, ()))

    def drop_secret(self, key: BotKey) -> set[BotKey]:
        self.secrets.pop(key, None)
        self._changed_secrets.discard(key)
        return set(self._secret_users.get(key, ()))

    # Owned objects, pods and jobs ----------------------------------------------------------
    @staticmethod
    def owner_of(body: Obj) -> BotKey | None:
        """The bot an object belongs to: its bot label, else the TradingBot that controls it (a
        label removed by hand must reach the bot's reconcile, which puts it back)."""
        meta = body["metadata"]
        bot = (meta.get("labels") or {}).get(LABEL_BOT)
        if not bot:
            bot = next((r.get("name") for r in meta.get("ownerReferences") or []
                        if r.get("controller") and r.get("kind") == KIND
                        and str(r.get("apiVersion", "")).startswith(f"{GROUP}/")), None)
        return (meta["namespace"], bot) if bot else None

    def put_owned(self, body: Obj, deleted: bool, only_if_absent: bool = False) -> BotKey | None:
        """Store a watched object (or, with `only_if_absent`, the answer to our own write); the bot it
        belongs to, or None when it needs no reconcile (not a bot's, or the echo of our write)."""
        bot = self.owner_of(body)
        if bot is None:
            return None
        # Our write's answer, found up to date by the reconcile that wrote it (reconcile.reconcile).
        answer_mark = body.get(UP_TO_DATE_MARK) if only_if_absent else None
        body = slim(body)
        kind, name = body["kind"], body["metadata"]["name"]
        written = (bot[0], kind, name)
        echo = False
        if only_if_absent:
            if _rv(body):
                self._written[written] = str(_rv(body))
        elif deleted:
            self._written.pop(written, None)
            self._answer_marks.pop(written, None)
        else:
            echo = _rv(body) is not None and self._written.get(written) == _rv(body)
        table: dict[Any, Obj]
        if kind == "Pod":
            table, ident = self.pods[bot], name
        elif kind == "Job":
            table, ident = self.jobs[bot], name
            self.owned[bot].pop((kind, name), None)
        else:
            table, ident = self.owned[bot], (kind, name)
        if deleted:
            table.pop(ident, None)
            return bot
        if only_if_absent and ident in table:
            watched = table[ident]
            if answer_mark is None:
                return bot
            answer_spec = _spec_digest(body)
            if watched.get(_SPEC) == answer_spec:
                # The watch delivered our write before the reconcile finished: that version has the
                # answer's content (status aside), so it is up to date as well. Without this, a new
                # bot's objects stayed whole until its next reconcile, which waits behind every new
                # bot's first one while a fleet is created (~4,000 objects, ~35 MB, at 1,000 bots).
                if UP_TO_DATE_MARK not in watched:
                    table[ident] = compact({**watched, UP_TO_DATE_MARK: answer_mark})
            else:
                # An update: its watch event usually follows, and gets the mark if it has this content.
                self._answer_marks[written] = (answer_spec, answer_mark)
            return bot
        body[_DIGEST] = _digest(body)
        seen = table.get(ident)
        if seen is not None and seen.get(_DIGEST) == body[_DIGEST] and not only_if_absent:
            # Nothing the operator reads changed: keep what it knows of the object (compacted, found
            # up to date: the same content is still up to date) at the new version, and queue nothing.
            table[ident] = {**seen, "metadata": {**seen["metadata"], "resourceVersion": _rv(body)}}
            return None
        if kind not in ("Pod", "Job"):
            body[_SPEC] = _spec_digest(body)
            mark = answer_mark or (seen.get(UP_TO_DATE_MARK) if seen is not None and seen.get(_SPEC) == body[_SPEC]
                                   else None)
            # The next version after our write's answer: if it is the answer's content, it is up to
            # date; if not, the answer's mark no longer applies to anything.
            pending = None if only_if_absent else self._answer_marks.pop(written, None)
            if mark is None and pending is not None and pending[0] == body[_SPEC]:
                mark = pending[1]
            if mark is not None:
                body[UP_TO_DATE_MARK] = mark
                body = compact(body)
        table[ident] = body
        return None if echo else bot

    def replace_owned_if_unchanged(self, body: Obj, seen: dict[tuple[str, str], Obj]) -> None:
        """Store `body` (a direct read) if the cache still holds what the reconcile saw (`seen`)."""
        bot = self.owner_of(body)
        if bot is None:
            return
        ident = (body["kind"], body["metadata"]["name"])
        if self.owned[bot].get(ident) is seen.get(ident):
            self.owned[bot][ident] = slim(body)

    def compact_if_unchanged(self, bot: BotKey, seen: Obj) -> None:
        """A reconcile found `seen` up to date (it carries the mark): keep only what later
        reconciles read of that version, if the cache still holds it. Its next version arrives whole."""
        ident = (seen.get("kind"), (seen.get("metadata") or {}).get("name"))
        table = self.owned.get(bot)
        if table is not None and table.get(ident) is seen:  # type: ignore[arg-type]
            table[ident] = compact(seen)  # type: ignore[index]

    def snapshot(self, key: BotKey) -> Snapshot | None:
        cached = self.bots.get(key)
        if cached is None or cached.deleting:
            return None
        body = cached.body()
        ns = key[0]
        secrets = {name: self.secrets[(ns, name)] for name in _referenced_secrets(body) if (ns, name) in self.secrets}
        return Snapshot(
            bot=body, secrets=secrets, owned=dict(self.owned.get(key, {})),
            pods=list(self.pods.get(key, {}).values()), jobs=list(self.jobs.get(key, {}).values()))


class WorkQueue:
    """Deduplicating queue: a key is queued at most once and processed by one worker at a time."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[BotKey] = asyncio.Queue()
        self._queued: set[BotKey] = set()
        self._active: set[BotKey] = set()
        self._dirty: set[BotKey] = set()
        self._failures: dict[BotKey, int] = {}

    def add(self, key: BotKey) -> None:
        if key in self._queued:
            return
        if key in self._active:
            self._dirty.add(key)
            return
        self._queued.add(key)
        self._queue.put_nowait(key)

    def add_after(self, key: BotKey, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self.add, key)

    async def get(self) -> BotKey:
        key = await self._queue.get()
        self._queued.discard(key)
        self._active.add(key)
        return key

    def done(self, key: BotKey, failed: bool = False) -> float | None:
        """Finish `key`; returns the retry delay when it failed (exponential, capped at 60 s)."""
        self._active.discard(key)
        delay = None
        if failed:
            n = self._failures[key] = self._failures.get(key, 0) + 1
            delay = min(60.0, 0.5 * 2 ** (n - 1))
        else:
            self._failures.pop(key, None)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)
        return delay

    def __len__(self) -> int:
        return self._queue.qsize()
