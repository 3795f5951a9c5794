"""Two operator replicas against a real control plane (issue 12): the standby answers its health
probes while it waits for the Lease, and a leader stopped with SIGTERM hands the Lease over.

Both replicas watch one fresh namespace and share a Lease of their own (`--lease-name`), so they
never touch the bots of other e2e modules.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.controlplane import OPERATOR_NAMESPACE, Cluster
from tests.support.controlplane_wait import eventually
from tests.support.operator_replica import Replica

REPO = Path(__file__).resolve().parents[2]
RBAC = REPO / "deploy" / "rbac" / "operator.yaml"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def replicas(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[tuple[Replica, Replica, str]]:
    cluster.kubectl("apply", "-f", str(RBAC))
    lease = f"e2e-ha-{uuid.uuid4().hex[:6]}"
    a = Replica(cluster, "replica-a", namespace, lease, tmp_path / "a.log")
    b: Replica | None = None
    try:
        eventually(lambda: a.get("/leader") == 200, "replica-a leads", timeout=90)
        b = Replica(cluster, "replica-b", namespace, lease, tmp_path / "b.log")
        yield a, b, lease
    finally:
        for r in (a, b):
            if r is not None:
                r.stop()
        cluster.kubectl("delete", "lease", lease, "-n", OPERATOR_NAMESPACE, "--ignore-not-found", check=False)


def _holder(cluster: Cluster, lease: str) -> str:
    r = cluster.kubectl("get", "lease", lease, "-n", OPERATOR_NAMESPACE, "-o", "json", check=False)
    return str(json.loads(r.stdout)["spec"].get("holderIdentity") or "") if r.returncode == 0 else ""


def _bot(cluster: Cluster, namespace: str, name: str) -> None:
    doc = {"apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot", "metadata": {"name": name},
           "spec": {"strategy": "arbhunter"}}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(doc))


def _has_status(cluster: Cluster, namespace: str, name: str) -> bool:
    r = cluster.kubectl("get", "tradingbot", name, "-n", namespace, "-o", "json", check=False)
    return r.returncode == 0 and bool((json.loads(r.stdout).get("status") or {}).get("conditions"))


def test_standby_is_alive_and_ready_while_the_leader_leads(cluster: Cluster, namespace: str,
                                                           replicas: tuple[Replica, Replica, str]) -> None:
    a, b, lease = replicas
    # Before the fix, the standby blocked in acquire() and served nothing: /healthz never answered.
    eventually(lambda: b.get("/healthz") == 200, "the standby's liveness endpoint answers 200", timeout=60)
    assert b.get("/readyz") == 200          # ready to take over
    assert b.get("/leader") == 503
    assert a.get("/healthz") == 200 and a.get("/readyz") == 200 and a.get("/leader") == 200
    assert _holder(cluster, lease) == "replica-a"
    _bot(cluster, namespace, "ha-one")      # the leader acts
    eventually(lambda: _has_status(cluster, namespace, "ha-one"), "the leader reconciled the bot", timeout=90)
    assert "reconcile" not in b.log.read_text(errors="replace").lower()  # the standby wrote nothing


def test_sigterm_releases_the_lease_and_the_standby_takes_over(cluster: Cluster, namespace: str,
                                                               replicas: tuple[Replica, Replica, str]) -> None:
    a, b, lease = replicas
    eventually(lambda: b.get("/readyz") == 200, "the standby is ready", timeout=60)
    started = time.monotonic()
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(60) == 0
    assert "released lease" in a.log.read_text(errors="replace")
    eventually(lambda: _holder(cluster, lease) == "replica-b", "the standby holds the Lease", timeout=60)
    eventually(lambda: b.get("/leader") == 200, "the standby leads", timeout=30)
    takeover = time.monotonic() - started
    _bot(cluster, namespace, "ha-two")
    eventually(lambda: _has_status(cluster, namespace, "ha-two"), "the new leader reconciles", timeout=90)
    print(f"TAKEOVER after SIGTERM: {takeover:.1f}s (lease duration 15s)")
