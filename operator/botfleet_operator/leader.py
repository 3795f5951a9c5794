"""Leader election with a coordination.k8s.io Lease, so two operator replicas never both act.

The standby replica waits until the Lease expires; the leader renews it every `renew` seconds and
exits the process when it cannot renew before the Lease expires (as controller-runtime does): a
replica that may have lost leadership must not keep writing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from botfleet_operator.kube import ApiKube, KubeError
from botfleet_operator.metrics import LEADER

log = logging.getLogger("botfleet.operator.leader")
LEASE_NAME = "botfleet-operator"


def _micro(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def can_take(lease: dict[str, Any] | None, identity: str, now: datetime) -> bool:
    """Pure: may `identity` take or keep this Lease at `now`?"""
    if lease is None:
        return True
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    if not holder or holder == identity:
        return True
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    duration = int(spec.get("leaseDurationSeconds") or 15)
    return renewed is None or now > renewed + timedelta(seconds=duration)


class LeaderElector:
    def __init__(self, kube: ApiKube, namespace: str, identity: str = "", duration: int = 15,
                 renew: float = 5.0, on_lost: Callable[[], None] | None = None) -> None:
        self.kube = kube
        self.namespace = namespace
        self.identity = identity or f"{socket.gethostname()}-{os.getpid()}"
        self.duration = duration
        self.renew = renew
        self.on_lost = on_lost or (lambda: os._exit(1))
        self._stop = threading.Event()

    def _try(self) -> bool:
        now = datetime.now(UTC)
        lease = self.kube.get_lease(self.namespace, LEASE_NAME)
        if not can_take(lease, self.identity, now):
            return False
        spec = {"holderIdentity": self.identity, "leaseDurationSeconds": self.duration, "renewTime": _micro(now)}
        if lease is None:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": LEASE_NAME, "namespace": self.namespace},
                    "spec": {**spec, "acquireTime": _micro(now), "leaseTransitions": 0}}
            self.kube.write_lease(body, create=True)
            return True
        old = lease.get("spec") or {}
        if old.get("holderIdentity") != self.identity:
            spec["acquireTime"] = _micro(now)
            spec["leaseTransitions"] = int(old.get("leaseTransitions") or 0) + 1  # type: ignore[assignment]
        lease["spec"] = {**old, **spec}
        self.kube.write_lease(lease, create=False)  # resourceVersion in metadata: optimistic concurrency
        return True

    def acquire(self) -> None:
        """Block until this replica leads, then keep renewing in a background thread."""
        while True:
            try:
                if self._try():
                    break
            except KubeError as exc:
                log.info("lease not acquired yet: %s", exc)
            time.sleep(min(self.renew, 2.0))
        LEADER.set(1)
        log.info("leading as %s (lease %s/%s)", self.identity, self.namespace, LEASE_NAME)
        threading.Thread(target=self._renew_loop, name="lease-renew", daemon=True).start()

    def _renew_loop(self) -> None:
        last_ok = time.monotonic()
        while not self._stop.wait(self.renew):
            try:
                if self._try():
                    last_ok = time.monotonic()
                    continue
                log.error("lease %s taken by another replica: stopping", LEASE_NAME)
            except KubeError as exc:
                log.warning("lease renewal failed: %s", exc)
                if time.monotonic() - last_ok < self.duration - self.renew:
                    continue
                log.error("could not renew the lease for %ss: stopping", self.duration)
            LEADER.set(0)
            self.on_lost()
            return

    def stop(self) -> None:
        self._stop.set()
