"""kopf wiring: watches feed the cache, workers reconcile bots from it.

kopf runs the operator's lifecycle and watches TradingBots and Secrets; its readiness gate holds
their event handlers until both initial listings are in the cache. The owned kinds (Deployments,
pods, ConfigMaps...) are listed and watched by watch.py, which costs a fraction of kopf's per-event
machinery at fleet scale; workers wait until those initial lists are in the cache too. The first
reconcile of a bot therefore sees its existing Deployment etc. and re-applies nothing after a restart.
No kopf state is stored on the objects (no finalizers, no annotations): every reconcile starts
from the observed state, which is what makes it safe to kill the operator at any point.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from botfleet_operator import api, hashkey, kubeconfig, memdump, metrics
from botfleet_operator.apiclient import ApiClient
from botfleet_operator.cache import BotKey, Cache, WorkQueue
from botfleet_operator.conditions import BotReport, parse_report
from botfleet_operator.health import Health
from botfleet_operator.kube import ApiKube, Kube
from botfleet_operator.kubeconfig import Connection
from botfleet_operator.reconcile import UP_TO_DATE_MARK, Result, Snapshot, reconcile
from botfleet_operator.resources import (
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
    MANAGER,
    METRICS_PORT,
    Settings,
)
from botfleet_operator.tenancy import LABEL_SECRET_BOTS
from botfleet_operator.watch import Deliver, Watchers

log = logging.getLogger("botfleet.operator")

# (group, version, plural, kind) of the owned kinds and of the pods/jobs the operator observes.
OWNED: list[tuple[str, str, str, str]] = [
    ("", "v1", "serviceaccounts", "ServiceAccount"),
    ("", "v1", "configmaps", "ConfigMap"),
    ("", "v1", "services", "Service"),
    ("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    ("", "v1", "pods", "Pod"),
    ("apps", "v1", "deployments", "Deployment"),
    ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
    ("batch", "v1", "cronjobs", "CronJob"),
    ("batch", "v1", "jobs", "Job"),
    ("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
]


@dataclass
class OperatorOptions:
    namespaces: list[str] = field(default_factory=list)
    dev: bool = False
    metrics_port: int = 8080
    health_port: int = 8081
    leader_election: bool = True
    lease_namespace: str = "default"
    lease_name: str = "botfleet-operator"
    lease_timing: Any = None  # leader.Timing; None: its defaults (15 s / 10 s / 2 s)
    identity: str = ""
    workers: int = 32
    verbose: bool = False
    kubeconfig: str | None = None  # None: $KUBECONFIG, ~/.kube/config, else the service account
    resync_seconds: float = 300.0
    bot_status_seconds: float = 30.0


class Controller:
    """The state shared by the kopf handlers and the workers of one operator process."""

    def __init__(self, kube: Kube, settings: Settings, workers: int = 32, resync_seconds: float = 300.0,
                 health: Health | None = None, bot_status_seconds: float = 30.0,
                 watch_owned: Callable[[Deliver], Watchers] | None = None) -> None:
        self.kube = kube
        # The owned kinds' list+watch (watch.py); without it (unit tests) the cache is fed directly.
        self.watch_owned = watch_owned
        self.watchers: Watchers | None = None
        self.synced = asyncio.Event()
        self.health = health or Health()
        self.bot_status_seconds = bot_status_seconds
        self.bot_status_port = METRICS_PORT
        self._rechecks: dict[BotKey, float] = {}  # bot -> when its pending re-check is due (loop time)
        self.reports: dict[BotKey, dict[str, BotReport]] = {}  # bot -> pod -> what its /status said
        self.settings = settings
        self.cache = Cache()
        self.queue: WorkQueue | None = None
        self.workers = workers
        self.resync_seconds = resync_seconds
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile")
        self.tasks: list[asyncio.Task[None]] = []

    def enqueue(self, key: BotKey | None) -> None:
        if key is not None and self.queue is not None and key in self.cache.bots:
            self.queue.add(key)

    def deliver(self, obj: dict[str, Any], deleted: bool) -> None:
        """An owned object's change, from its watch: into the cache, and its bot marked dirty."""
        self.enqueue(self.cache.put_owned(obj, deleted))

    async def start(self) -> None:
        self.queue = WorkQueue()
        if self.watch_owned is not None:
            self.watchers = self.watch_owned(self.deliver)
            self.synced = self.watchers.synced
            await self.watchers.start()
        else:
            self.synced.set()
        self.tasks = [asyncio.create_task(self._worker(i)) for i in range(self.workers)]
        self.tasks.append(asyncio.create_task(self._resync()))
        # The fleet counts and per-bot series, made from the cache at each scrape (metrics.py).
        metrics.track_bots(self.cache.bodies)
        self.tasks.append(asyncio.create_task(self._heartbeat()))
        if self.bot_status_seconds > 0:
            self.tasks.append(asyncio.create_task(self._poll_bot_status()))

    async def stop(self) -> None:
        if self.watchers is not None:
            await self.watchers.stop()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def _worker(self, n: int) -> None:
        assert self.queue is not None
        loop = asyncio.get_running_loop()
        # A bot's first reconcile must see the objects it already has (no re-creates after a restart).
        await self.synced.wait()
        while True:
            key = await self.queue.get()
            failed = False
            try:
                snapshot = self.cache.snapshot(key)
                if snapshot is not None:
                    snapshot.reports = list(self.reports.get(key, {}).values())
                    started = time.perf_counter()
                    result = await loop.run_in_executor(
                        self.executor, reconcile, snapshot, self.kube, self.settings, datetime.now(UTC))
                    metrics.DURATION.observe(time.perf_counter() - started)
                    for kind, _ in result.applied:
                        metrics.APPLIES.labels(kind=kind).inc()
                    failed = result.retry
                    if result.errors:
                        metrics.ERRORS.inc()
                        log.warning("reconcile %s/%s: %s", key[0], key[1], "; ".join(result.errors))
                    metrics.RECONCILES.labels(result="error" if failed else "success").inc()
                    absorb(self.cache, key, snapshot, result)
                    if result.recheck_after is not None and not result.retry:
                        self._recheck(key, result.recheck_after)
            except Exception:  # a bug must not kill the worker: log it, retry with backoff
                log.exception("reconcile %s/%s crashed", key[0], key[1])
                metrics.ERRORS.inc()
                metrics.RECONCILES.labels(result="error").inc()
                failed = True
            delay = self.queue.done(key, failed)
            if delay is not None:
                self.queue.add_after(key, delay)
            metrics.QUEUE.set(len(self.queue))

    def _recheck(self, key: BotKey, delay: float) -> None:
        """One pending re-check per bot, however often it is reconciled meanwhile: the earliest asked for."""
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        if key in self._rechecks and self._rechecks[key] <= due:
            return
        self._rechecks[key] = due

        def fire() -> None:
            if self._rechecks.get(key) == due:  # else an earlier one replaced it, and fired or will
                del self._rechecks[key]
                self.enqueue(key)
        loop.call_later(delay, fire)

    async def _resync(self) -> None:
        """Periodic re-check of every bot (time-based conditions like RotationDue, lost events)."""
        while True:
            await asyncio.sleep(self.resync_seconds * random.uniform(0.9, 1.1))
            for key in list(self.cache.bots):
                self.enqueue(key)

    async def _heartbeat(self) -> None:
        """Liveness of the event loop that runs the watches and the workers."""
        while True:
            self.health.beat("controller", max_age=60)
            await asyncio.sleep(5)

    async def _poll_bot_status(self) -> None:
        """Read every running bot pod's `GET /status` (kill switch, trading state) every interval.

        Why a poll and not the bot writing to the API: the bot holds a wallet key and has no
        Kubernetes token (automountServiceAccountToken: false); giving it `patch pods` would let a
        compromised bot edit its neighbours' pods. Its /status port is open to in-cluster clients
        already (Prometheus scrapes it). A pod that does not answer keeps its last report."""
        import aiohttp

        limit = asyncio.Semaphore(64)
        timeout = aiohttp.ClientTimeout(total=min(5.0, self.bot_status_seconds), sock_connect=2.0)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                pods = [(key, p) for key, table in list(self.cache.pods.items()) for p in list(table.values())
                        if _pollable(p)]
                live = {(key, p["metadata"]["name"]) for key, p in pods}
                for key in list(self.reports):  # forget pods that are gone
                    gone = [n for n in self.reports[key] if (key, n) not in live]
                    for n in gone:
                        if self.reports[key].pop(n).kill_switch:
                            self.enqueue(key)
                    if not self.reports[key]:
                        del self.reports[key]

                async def one(key: BotKey, pod: dict[str, Any]) -> None:
                    name = pod["metadata"]["name"]
                    async with limit:
                        try:
                            url = f"http://{pod['status']['podIP']}:{self.bot_status_port}/status"
                            async with session.get(url) as r:
                                report = parse_report(name, await r.json(content_type=None)) \
                                    if r.status == 200 else None
                        except (TimeoutError, aiohttp.ClientError, ValueError, OSError):
                            metrics.BOT_STATUS_READS.labels(result="error").inc()
                            return
                    metrics.BOT_STATUS_READS.labels(result="ok" if report is not None else "error").inc()
                    if report is None:
                        return
                    before = self.reports.get(key, {}).get(name)
                    self.reports.setdefault(key, {})[name] = report
                    if before != report:
                        if report.kill_switch or (before is not None and before.kill_switch):
                            log.info("bot %s/%s pod %s: kill switch %s", key[0], key[1], name,
                                     "tripped" if report.kill_switch else "reset")
                        self.enqueue(key)

                await asyncio.gather(*(one(key, p) for key, p in pods))
                await asyncio.sleep(self.bot_status_seconds)


def _resource_is(group: str, plural: str) -> Callable[[Any], bool]:
    return lambda resource: (resource.group, resource.plural) == (group, plural)


def absorb(cache: Cache, key: BotKey, snapshot: Snapshot, result: Result) -> None:
    """Put what a reconcile learnt from the API server into the cache, never over newer watch data."""
    for obj in result.objects:
        # Objects we just created: cache them now, so that a reconcile triggered before
        # their watch events arrive does not create them again. Never overwrite what
        # the watch delivered: it may already be newer than our write's answer.
        cache.put_owned(obj, deleted=False, only_if_absent=True)
    for obj in result.refreshed:
        # A direct read found the cache stale: take it, unless the watch delivered
        # something else for that object meanwhile (then that is at least as new).
        cache.replace_owned_if_unchanged(obj, snapshot.owned)
    for obj in snapshot.owned.values():
        if UP_TO_DATE_MARK in obj:
            cache.compact_if_unchanged(key, obj)
    cached = cache.bots.get(key)
    if result.stored is not None and cached is not None and \
            cached.rv == _rv(snapshot.bot):
        # Our own (conditional) write and nothing newer arrived since the snapshot:
        # the stored object is the newest version until its watch event arrives.
        cache.put_bot(result.stored, written=True)


def _rv(obj: dict[str, Any]) -> str | None:
    return (obj.get("metadata") or {}).get("resourceVersion")


def _pollable(pod: dict[str, Any]) -> bool:
    meta, st = pod["metadata"], pod.get("status") or {}
    return (meta.get("labels") or {}).get(LABEL_COMPONENT) == "bot" and not meta.get("deletionTimestamp") \
        and st.get("phase") == "Running" and bool(st.get("podIP"))


class NoDiffBase(kopf.DiffBaseStorage):
    """No diff base: the operator has only event and index handlers, which never read one, yet kopf
    builds one (a deep copy of the object) for every watch event: 11% of the operator's CPU at 300
    bots. Nothing is stored on the objects either way (no kopf annotations)."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def connection_info(conn: Connection) -> kopf.ConnectionInfo:
    """kopf's credentials: the very connection the operator's own requests use (kubeconfig.py)."""
    token = conn.authorization()  # renewed first when due: kopf asks again after a 401 or at expiry
    scheme, _, value = (token or "").partition(" ")
    return kopf.ConnectionInfo(
        server=conn.server, ca_data=conn.ca_pem, insecure=conn.insecure or None,
        certificate_data=conn.cert_pem, private_key_data=conn.key_pem,
        scheme=scheme if scheme == "Bearer" else None, token=value if scheme == "Bearer" else None,
        username=conn.username, password=conn.password, default_namespace=conn.namespace,
        expiration=conn.expiration())


def build_registry(ctl: Controller, opts: OperatorOptions, conn: Connection) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    async def _startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.peering.standalone = True              # one active replica is ensured by the Lease
        settings.scanning.disabled = True               # no CRD/namespace scanning: fewer permissions
        settings.posting.enabled = False                # we post our own, meaningful Events
        settings.watching.server_timeout = 600          # long watches: fewer re-lists at scale
        settings.watching.client_timeout = 660
        settings.watching.connect_timeout = 30
        settings.batching.batch_window = 0.05           # coalesce bursts of events per object
        # kopf keeps one worker task per object (with its queue and last event) until it has been idle
        # this long: a fleet created at once would keep one per TradingBot alive, for nothing.
        settings.batching.idle_timeout = 0.5
        settings.networking.request_timeout = 60
        settings.persistence.diffbase_storage = NoDiffBase()
        # Only the Secrets their owners opted in for bots, not every Secret of the cluster (Helm
        # releases, tokens...): the label is the opt-in (tenancy.py).
        settings.watching.label_selectors[_resource_is("", "secrets")] = LABEL_SECRET_BOTS
        await ctl.start()

    @kopf.on.login(registry=registry)
    def _login(**_: Any) -> kopf.ConnectionInfo | None:
        # A custom registry does not get kopf's default login handlers; ours is the operator's own
        # connection, so kopf and the writes are one identity. After a 401 kopf asks again: renew.
        conn.expire()
        return connection_info(conn)

    @kopf.on.cleanup(registry=registry)
    async def _cleanup(**_: Any) -> None:
        await ctl.stop()

    # TradingBots ----------------------------------------------------------------------------
    @kopf.index(api.GROUP, api.VERSION, api.PLURAL, registry=registry)
    async def _bot_index(body: kopf.Body, **_: Any) -> None:
        ctl.cache.put_bot(dict(body))

    @kopf.on.event(api.GROUP, api.VERSION, api.PLURAL, registry=registry)
    async def _bot_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        metrics.WATCH_EVENTS.labels(kind=api.KIND).inc()
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if event.get("type") == "DELETED":
            ctl.cache.drop_bot(key)
            return
        ctl.enqueue(ctl.cache.bot_event(dict(event["object"])))

    # Secrets: reduced to key names + digest on arrival -------------------------------------------
    @kopf.index("", "v1", "secrets", registry=registry)
    async def _secret_index(body: kopf.Body, **_: Any) -> None:
        # Index handlers run first for every event: the change is remembered and picked up by the
        # event handler below (which kopf holds until every initial listing is cached).
        ctl.cache.put_secret(dict(body))

    @kopf.on.event("", "v1", "secrets", registry=registry)
    async def _secret_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        users = ctl.cache.drop_secret(key) if event.get("type") == "DELETED" else ctl.cache.take_changed(key)
        for bot in users:
            ctl.enqueue(bot)

    # Owned objects, bot pods and Jobs: watch.py, started with the controller.
    return registry


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # kopf's per-object debug logs are noise at 1,000 bots; our own logs say what was done.
    logging.getLogger("kopf").setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def run(opts: OperatorOptions) -> None:
    """Blocking: run the operator until SIGINT/SIGTERM."""
    import faulthandler
    import signal
    import threading

    from prometheus_client import start_http_server

    from botfleet_operator.leader import ApiLeases, LeaderElector, Timing

    _configure_logging(opts.verbose)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>`: dump every stack
    memdump.install()
    conn = kubeconfig.load(opts.kubeconfig)
    kube = ApiKube(ApiClient(conn), identity=opts.identity or MANAGER)
    # Health first: a standby waiting for the Lease must answer its probes (issue 12).
    health = Health()
    for port, option, serve in ((opts.health_port, "--health-port", health.serve),
                                (opts.metrics_port, "--metrics-port",
                                 lambda p: start_http_server(p, registry=metrics.REGISTRY))):
        if not port:
            continue
        try:
            serve(port)
        except OSError as exc:  # another operator (or anything) on the port: say which, not a traceback
            log.error("cannot listen on port %d (%s): %s; stop what uses it or choose another port (%s N, 0 = off)",
                      port, option, exc.strerror or exc, option)
            raise SystemExit(2) from None
    elector: LeaderElector | None = None
    if opts.leader_election:
        timing = opts.lease_timing or Timing()
        elector = LeaderElector(
            ApiLeases(conn, opts.lease_namespace, opts.lease_name), opts.identity, timing,
            heartbeat=lambda: health.beat("leader-election", max_age=4 * (timing.retry + timing.request_timeout)),
            namespace=opts.lease_namespace, name=opts.lease_name)
        health.leading = lambda: elector is not None and elector.leading
        # Until kopf installs its own handlers: SIGTERM/SIGINT end the wait for the Lease cleanly.
        waiting = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: waiting.set())
        log.info("waiting for lease %s/%s as %s", opts.lease_namespace, opts.lease_name, elector.identity)
        if not elector.acquire(waiting):
            log.info("stopped before leading")
            return
        elector.start_renewing()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
    else:
        metrics.LEADER.set(1)
        health.leading = lambda: True
    def watch_owned(deliver: Deliver) -> Watchers:
        return Watchers(conn, OWNED, opts.namespaces, f"{LABEL_MANAGED_BY}={MANAGER}", deliver,
                        on_event=lambda kind: metrics.WATCH_EVENTS.labels(kind=kind).inc())

    settings = Settings.from_env()
    if not settings.hash_key:  # started by hand: the key is kept in a Secret of the operator's namespace
        try:
            settings = dataclasses.replace(settings, hash_key=hashkey.ensure(kube, opts.lease_namespace))
        except hashkey.HashKeyError as exc:
            log.error("%s", exc)
            if elector is not None:
                elector.release()
            raise SystemExit(2) from None
        log.info("HMAC key of the Secret digests: Secret %s/%s", opts.lease_namespace, hashkey.SECRET_NAME)
    ctl = Controller(kube, settings, workers=opts.workers, resync_seconds=opts.resync_seconds,
                     health=health, bot_status_seconds=opts.bot_status_seconds, watch_owned=watch_owned)
    registry = build_registry(ctl, opts, conn)
    log.info("botfleet operator starting (%s)", ", ".join(opts.namespaces) or "all namespaces")
    try:
        kopf.run(registry=registry, standalone=True, clusterwide=not opts.namespaces, namespaces=opts.namespaces)
    finally:
        health.stopping = True
        if elector is not None:
            _release_after_drain(ctl, elector)


def _release_after_drain(ctl: Controller, elector: Any) -> None:
    """Hand the Lease over only once no reconcile of ours can still write; else let it expire."""
    import threading

    drained = threading.Event()

    def drain() -> None:
        ctl.executor.shutdown(wait=True, cancel_futures=True)
        drained.set()

    threading.Thread(target=drain, name="drain", daemon=True).start()
    if drained.wait(max(0.0, elector.deadline_left() - 1.0)):
        elector.release()
    else:
        log.warning("reconciles still running at shutdown: not releasing the lease, it will expire")
        elector.stop()
