"""What the TradingBot says when its pod cannot run, and fleet-wide pause (issue 12 item 9), on a
real control plane: the scheduler marks the pod Unschedulable, the operator reports it in Ready.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.controlplane import Cluster
from tests.support.controlplane_wait import eventually
from tests.support.operator_replica import Replica

REPO = Path(__file__).resolve().parents[2]
RBAC = REPO / "deploy" / "rbac" / "operator.yaml"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def operator(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[Replica]:
    cluster.kubectl("apply", "-f", str(RBAC))
    # Volumes for the bots' journal claims (no provisioner here): an unbound claim would be the
    # scheduler's first complaint, before the node selector.
    tag = uuid.uuid4().hex[:6]
    pvs = [{"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": f"e2e-st-{tag}-{i}", "labels": {"botfleet.io/e2e": tag}},
            "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Delete", "hostPath": {"path": f"/tmp/e2e-st-{tag}-{i}"}}}
           for i in range(4)]
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": pvs}))
    op = Replica(cluster, "status-op", namespace, f"e2e-status-{tag}", tmp_path / "operator.log")
    try:
        eventually(lambda: op.get("/leader") == 200, "the operator leads", timeout=90)
        yield op
    finally:
        op.stop()
        cluster.kubectl("delete", "pv", "-l", f"botfleet.io/e2e={tag}", "--wait=false", check=False)


def _apply_bot(cluster: Cluster, namespace: str, name: str, labels: dict[str, str] | None = None,
               **spec: Any) -> None:
    doc = {"apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot",
           "metadata": {"name": name, "labels": labels or {}}, "spec": {"strategy": "arbhunter", **spec}}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(doc))


def _ready(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    r = cluster.kubectl("get", "tradingbot", name, "-n", namespace, "-o", "json", check=False)
    if r.returncode != 0:
        return None
    for c in (json.loads(r.stdout).get("status") or {}).get("conditions") or []:
        if c["type"] == "Ready":
            return c  # type: ignore[no-any-return]
    return None


def test_unschedulable_pod_is_reported_as_failed_scheduling(cluster: Cluster, namespace: str,
                                                            operator: Replica) -> None:
    _apply_bot(cluster, namespace, "nowhere", nodeSelector={"botfleet.io/e2e-no-such-node": "true"})

    def failed_scheduling() -> dict[str, Any] | None:
        c = _ready(cluster, namespace, "nowhere")
        # The scheduler's first word may be about the journal claim, still binding; the operator
        # reports each message as it is, and the node-selector one follows once the claim binds.
        return c if c and c["status"] == "False" and c["reason"] == "FailedScheduling" \
            and "node affinity/selector" in c["message"] else None

    c = eventually(failed_scheduling, "Ready=False FailedScheduling", timeout=120)
    assert "cannot be scheduled" in c["message"] and "node affinity/selector" in c["message"], c["message"]
    table = cluster.kubectl("get", "tb", "nowhere", "-n", namespace).stdout.splitlines()
    assert table[1].split()[4:6] == ["False", "FailedScheduling"]


def _fleet(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    """`botfleet fleet ...` as a user runs it (admin kubeconfig)."""
    env = {**os.environ, "KUBECONFIG": str(cluster.admin_kubeconfig)}
    return subprocess.run([sys.executable, "-m", "bot_runtime.cli", "fleet", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def _paused(cluster: Cluster, namespace: str, name: str) -> bool:
    r = cluster.kubectl("get", "tradingbot", name, "-n", namespace, "-o", "json")
    return bool(json.loads(r.stdout)["spec"].get("paused"))


def _replicas(cluster: Cluster, namespace: str, name: str) -> int | None:
    r = cluster.kubectl("get", "deployment", name, "-n", namespace, "-o", "json", check=False)
    return int(json.loads(r.stdout)["spec"]["replicas"]) if r.returncode == 0 else None


def test_fleet_pause_and_resume_by_label(cluster: Cluster, namespace: str, operator: Replica) -> None:
    for name, team in (("arb-1", "arb"), ("arb-2", "arb"), ("other", "ai")):
        _apply_bot(cluster, namespace, name, labels={"team": team})
    def replicas_are(name: str, want: int) -> bool:
        return _replicas(cluster, namespace, name) == want

    def ready_reason(name: str) -> str | None:
        return (_ready(cluster, namespace, name) or {}).get("reason")

    for name in ("arb-1", "arb-2", "other"):
        eventually(lambda n=name: replicas_are(n, 1), f"{name} deployed", timeout=120)  # type: ignore[misc]

    done = _fleet(cluster, "pause", "-l", "team=arb", "-n", namespace)
    assert done.returncode == 0, done.stderr
    assert [_paused(cluster, namespace, n) for n in ("arb-1", "arb-2", "other")] == [True, True, False]
    for name in ("arb-1", "arb-2"):
        eventually(lambda n=name: replicas_are(n, 0), f"{name} scaled to zero", timeout=120)  # type: ignore[misc]
        eventually(lambda n=name: ready_reason(n) == "Paused", f"{name} Ready reason Paused",  # type: ignore[misc]
                   timeout=120)
    assert _replicas(cluster, namespace, "other") == 1

    resumed = _fleet(cluster, "resume", "-l", "team=arb", "-n", namespace)
    assert resumed.returncode == 0, resumed.stderr
    assert not _paused(cluster, namespace, "arb-1") and not _paused(cluster, namespace, "arb-2")
    for name in ("arb-1", "arb-2"):
        eventually(lambda n=name: replicas_are(n, 1), f"{name} back to one replica", timeout=120)  # type: ignore[misc]
