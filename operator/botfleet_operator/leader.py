"""Leader election with a coordination.k8s.io Lease, so two operator replicas never both act.

The rules are client-go's (k8s.io/client-go/tools/leaderelection), because they are what makes a
Lease safe without synchronized clocks:

- Expiry is measured by the *observer's own monotonic clock*: a standby remembers when it last saw
  the Lease record change and may take it only `leaseDurationSeconds` after that. The holder's
  `renewTime` is informational (written, never compared with this machine's wall clock).
- The leader renews every `retry` seconds; each request times out within what is left of the
  `renew_deadline` (< the lease duration). When no renewal succeeded for `renew_deadline`, counted
  from the *start* of the last successful request, the leader gives up (`on_lost`, by default the
  process exits, as controller-runtime does) before any standby can consider the Lease expired.
- Any failure of a renewal (API error, refused connection, timeout, a bug) is a failed attempt,
  never the silent end of the renew loop; a watchdog thread also checks the deadline, so a renew
  thread stuck anywhere cannot keep a replica acting past it.
- On a clean stop the leader releases the Lease (empty holder, duration 1 s) so that the standby
  takes over at its next retry instead of waiting for the expiry.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import urllib3

from botfleet_operator.apiclient import ApiClient
from botfleet_operator.kubeconfig import Connection
from botfleet_operator.metrics import LEADER, LEASE_RENEW_FAILURES

log = logging.getLogger("botfleet.operator.leader")
LEASE_NAME = "botfleet-operator"
Obj = dict[str, Any]


class LeaseConflict(Exception):
    """The Lease changed between our read and our write (HTTP 409): someone else wrote it."""


class Leases(Protocol):
    """The three Lease calls the elector makes; every call must return or raise within `timeout` s."""

    def get(self, timeout: float) -> Obj | None: ...
    def create(self, body: Obj, timeout: float) -> Obj: ...
    def update(self, body: Obj, timeout: float) -> Obj: ...  # raises LeaseConflict on 409


def _micro(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _record(lease: Obj | None) -> tuple[Any, ...] | None:
    """What a change of the Lease is judged by (client-go compares the whole record)."""
    if lease is None:
        return None
    spec = lease.get("spec") or {}
    return (spec.get("holderIdentity"), spec.get("leaseDurationSeconds"), spec.get("acquireTime"),
            spec.get("renewTime"), spec.get("leaseTransitions"))


@dataclass(frozen=True)
class Timing:
    duration: int = 15          # leaseDurationSeconds: how long a standby waits after the last change it saw
    renew_deadline: float = 10  # the leader gives up when it could not renew for this long (< duration)
    retry: float = 2.0          # pause between attempts (standby and leader)
    request_timeout: float = 5  # upper bound of one API request

    def __post_init__(self) -> None:
        if not 0 < self.retry < self.renew_deadline < self.duration:
            raise ValueError(f"leader election timing must satisfy 0 < retry ({self.retry}) < renew_deadline "
                             f"({self.renew_deadline}) < duration ({self.duration})")


class LeaderElector:
    def __init__(self, leases: Leases, identity: str = "", timing: Timing | None = None,
                 on_lost: Callable[[], None] | None = None, monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC),
                 heartbeat: Callable[[], None] | None = None, namespace: str = "", name: str = LEASE_NAME) -> None:
        self.leases = leases
        self.identity = identity or f"{socket.gethostname()}-{os.getpid()}"
        self.timing = timing or Timing()
        self.on_lost = on_lost or _exit_lost
        self.monotonic = monotonic
        self.wall = wall
        self.heartbeat = heartbeat or (lambda: None)
        self.namespace = namespace
        self.name = name
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._lease: Obj | None = None     # last Lease read or written by us (carries resourceVersion)
        self._renewed_at: float | None = None  # start of our last successful write; None: not leading
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._lock = threading.Lock()

    # ---- state --------------------------------------------------------------------------------
    @property
    def leading(self) -> bool:
        """True while this replica holds the Lease and is within its renew deadline."""
        with self._lock:
            at = self._renewed_at
        return at is not None and not self._lost.is_set() and \
            self.monotonic() - at < self.timing.renew_deadline

    def deadline_left(self) -> float:
        """Seconds left before the leader must give up (0 when not leading)."""
        with self._lock:
            at = self._renewed_at
        return 0.0 if at is None else max(0.0, at + self.timing.renew_deadline - self.monotonic())

    # ---- one attempt ----------------------------------------------------------------------------
    def try_acquire_or_renew(self, timeout: float | None = None) -> bool:
        """One attempt to take or keep the Lease. Raises on API/connection errors (callers count those)."""
        timeout = self.timing.request_timeout if timeout is None else timeout
        started = self.monotonic()
        lease = self.leases.get(timeout)
        now = self.monotonic()
        record = _record(lease)
        if record != self._observed:
            self._observed, self._observed_at = record, now
        wall = _micro(self.wall())
        mine = {"holderIdentity": self.identity, "leaseDurationSeconds": self.timing.duration, "renewTime": wall}
        if lease is None:
            body: Obj = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                         "metadata": {"name": self.name, "namespace": self.namespace},
                         "spec": {**mine, "acquireTime": wall, "leaseTransitions": 0}}
            try:
                written = self.leases.create(body, self._remaining(timeout, started))
            except LeaseConflict:
                return False  # another replica created it first
        else:
            spec = lease.get("spec") or {}
            holder = spec.get("holderIdentity") or ""
            if holder and holder != self.identity:
                duration = int(spec.get("leaseDurationSeconds") or self.timing.duration)
                if now < self._observed_at + duration:
                    return False  # held, and not expired by our own clock
            if holder != self.identity:
                mine["acquireTime"] = wall
                mine["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
            elif self._renewed_at is None:
                # Our own identity but we do not lead: a previous run of this replica (same pod name)
                # that died without releasing. Taking it back is safe: that process is gone.
                mine["acquireTime"] = wall
            body = {**lease, "spec": {**spec, **mine}}  # metadata.resourceVersion: optimistic concurrency
            try:
                written = self.leases.update(body, self._remaining(timeout, started))
            except LeaseConflict:
                if self._renewed_at is not None:
                    raise  # while leading, a conflict is one failed renewal (retried), as in client-go
                return False
        with self._lock:
            self._lease = written
            self._renewed_at = started
            self._observed, self._observed_at = _record(written), self.monotonic()
        return True

    def _remaining(self, timeout: float, started: float) -> float:
        return max(0.1, timeout - (self.monotonic() - started))

    # ---- loops --------------------------------------------------------------------------------
    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Block until this replica leads (True) or `stop` is set (False)."""
        stop = stop or self._stop
        while not stop.is_set():
            self.heartbeat()
            try:
                if self.try_acquire_or_renew():
                    LEADER.set(1)
                    log.info("leading as %s (lease %s/%s)", self.identity, self.namespace, self.name)
                    return True
            except Exception as exc:  # whatever failed, try again: a standby only waits
                log.info("lease not acquired yet: %s: %s", type(exc).__name__, exc)
            stop.wait(self.timing.retry)
        return False

    def renew_step(self) -> float:
        """One renewal attempt while leading; returns the pause before the next. Calls `on_lost` once
        when the deadline passes without a successful renewal or another replica holds the Lease."""
        self.heartbeat()
        if self._lost.is_set():
            return self.timing.retry
        left = self.deadline_left()
        if left <= 0:
            self._give_up(f"could not renew the lease within {self.timing.renew_deadline}s")
            return self.timing.retry
        try:
            if self.try_acquire_or_renew(timeout=min(self.timing.request_timeout, left)):
                return self.timing.retry
            self._give_up(f"lease {self.namespace}/{self.name} is held by another replica")
        except Exception as exc:  # every failure is a failed attempt, never the loop's end
            LEASE_RENEW_FAILURES.inc()
            log.warning("lease renewal failed (%.1fs left): %s: %s", self.deadline_left(), type(exc).__name__, exc)
            if self.deadline_left() <= 0:
                self._give_up(f"could not renew the lease within {self.timing.renew_deadline}s")
        return min(self.timing.retry, max(0.05, self.deadline_left()))

    def check_deadline(self) -> None:
        """The watchdog's check: gives up when the deadline passed, whatever the renew thread does."""
        with self._lock:
            leading = self._renewed_at is not None
        if leading and not self._lost.is_set() and self.deadline_left() <= 0:
            self._give_up(f"no lease renewal within {self.timing.renew_deadline}s (watchdog)")

    def _give_up(self, why: str) -> None:
        if self._stop.is_set() or self._lost.is_set():
            return
        self._lost.set()
        with self._lock:
            self._renewed_at = None
        LEADER.set(0)
        log.error("%s: stopping", why)
        self.on_lost()

    def start_renewing(self) -> None:
        """Background renewal plus the watchdog; call after `acquire` returned True."""
        def renew() -> None:
            while not self._stop.is_set() and not self._lost.is_set():
                pause = self.renew_step()
                self._stop.wait(pause)

        def watchdog() -> None:
            while not self._stop.wait(min(1.0, self.timing.retry)) and not self._lost.is_set():
                self.check_deadline()

        threading.Thread(target=renew, name="lease-renew", daemon=True).start()
        threading.Thread(target=watchdog, name="lease-watchdog", daemon=True).start()

    def release(self, timeout: float | None = None) -> bool:
        """Stop renewing and hand the Lease back (client-go's ReleaseOnCancel). True when released."""
        self._stop.set()
        with self._lock:
            lease, leading = self._lease, self._renewed_at is not None and not self._lost.is_set()
            self._renewed_at = None
        LEADER.set(0)
        if not leading or lease is None:
            return False
        wall = _micro(self.wall())
        spec = {**(lease.get("spec") or {}), "holderIdentity": "", "leaseDurationSeconds": 1,
                "renewTime": wall, "acquireTime": wall}
        try:
            self.leases.update({**lease, "spec": spec}, timeout or self.timing.request_timeout)
        except Exception as exc:  # the Lease then simply expires
            log.warning("could not release the lease (it will expire): %s: %s", type(exc).__name__, exc)
            return False
        log.info("released lease %s/%s", self.namespace, self.name)
        return True

    def stop(self) -> None:
        self._stop.set()


def _exit_lost() -> None:
    # Another replica may act from now on: leave at once, without running cleanup that could write.
    logging.shutdown()
    os._exit(1)


class ApiLeases:
    """`Leases` over its own API client, with a per-request timeout and no retries.

    A separate pool from the reconcile traffic: renewals never queue behind reconciles."""

    def __init__(self, conn: Connection, namespace: str, name: str = LEASE_NAME) -> None:
        # urllib3 would otherwise retry connects 3 times, past our timeout: one attempt per call.
        self.api = ApiClient(conn, maxsize=2, retries=False)
        self.namespace = namespace
        self.name = name
        self.base = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"

    def _call(self, method: str, path: str, body: Obj | None, timeout: float) -> tuple[int, Obj]:
        # (connect, read) both bounded.
        status, raw = self.api.request(method, path, body, timeout=urllib3.Timeout(connect=min(timeout, 3.0),
                                                                                    read=timeout))
        result = json.loads(raw) if raw else {}
        return status, result if isinstance(result, dict) else {}

    def _check(self, status: int, result: Obj, what: str) -> Obj:
        if status == 409:
            raise LeaseConflict(what)
        if status >= 400:
            raise RuntimeError(f"{what}: HTTP {status}: {result.get('message', '')}")
        return result

    def get(self, timeout: float) -> Obj | None:
        status, result = self._call("GET", f"{self.base}/{self.name}", None, timeout)
        if status == 404:
            return None
        return self._check(status, result, f"get lease {self.namespace}/{self.name}")

    def create(self, body: Obj, timeout: float) -> Obj:
        status, result = self._call("POST", self.base, body, timeout)
        return self._check(status, result, f"create lease {self.namespace}/{self.name}")

    def update(self, body: Obj, timeout: float) -> Obj:
        status, result = self._call("PUT", f"{self.base}/{self.name}", body, timeout)
        return self._check(status, result, f"update lease {self.namespace}/{self.name}")
