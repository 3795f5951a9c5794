"""The Helm chart on the real node (issue 13 scenario 1): the operator runs in containers from the
imported image, reaches the API server through the `kubernetes` Service, and its bots run too.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.controlplane import OPERATOR_NAMESPACE, Cluster
from tests.support.controlplane_wait import eventually
from tests.support.helm import CHART, helm_binary
from tests.support.realnode import RealCluster, simulator

pytestmark = [pytest.mark.timeout(900),
              pytest.mark.skipif(helm_binary() is None, reason="no helm binary: tools/controlplane/build.sh builds it")]

RELEASE = "botfleet"
REPO = Path(__file__).resolve().parents[3]
OPERATOR_PODS = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=operator"


def helm(cluster: Cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    home = Path(os.environ.get("BOTFLEET_CACHE", REPO / ".cache")) / "helm-home"
    env = {**os.environ, "KUBECONFIG": str(cluster.admin_kubeconfig), "HELM_CONFIG_HOME": str(home / "config"),
           "HELM_CACHE_HOME": str(home / "cache"), "HELM_DATA_HOME": str(home / "data")}
    proc = subprocess.run([helm_binary() or "helm", *args], capture_output=True, text=True, env=env, timeout=600,
                          check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def get_json(cluster: Cluster, *args: str) -> Any:
    out = cluster.kubectl("get", "-o", "json", *args, check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def operator_pods(cluster: Cluster) -> list[dict[str, Any]]:
    pods = get_json(cluster, "pods", "-n", OPERATOR_NAMESPACE, "-l", OPERATOR_PODS)["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def holder(cluster: Cluster) -> str | None:
    lease = get_json(cluster, "lease", "-n", OPERATOR_NAMESPACE, "botfleet-operator")
    return (lease or {}).get("spec", {}).get("holderIdentity")


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def healthz(pod: dict[str, Any], port: int = 8081) -> int:
    """GET /healthz of an operator pod from the host (which routes to the node's pod range)."""
    try:
        with urllib.request.urlopen(f"http://{pod['status']['podIP']}:{port}/healthz", timeout=3) as r:
            return int(r.status)
    except OSError:
        return 0


@pytest.fixture
def chart_release(real_cluster: RealCluster) -> Iterator[str]:
    """A clean slate for the release (other modules apply deploy/rbac/operator.yaml, whose objects
    have the chart's names: Helm does not adopt them); yields the simulator's URL for simUrl."""
    c = real_cluster.cluster
    c.kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)
    for kind, name in (("clusterrolebinding", "botfleet-operator"), ("clusterrole", "botfleet-operator")):
        c.kubectl("delete", kind, name, "--ignore-not-found", check=False)
    for kind, name in (("rolebinding", "botfleet-operator-leader-election"),
                       ("role", "botfleet-operator-leader-election"), ("serviceaccount", "botfleet-operator"),
                       ("lease", "botfleet-operator")):
        c.kubectl("delete", kind, name, "-n", OPERATOR_NAMESPACE, "--ignore-not-found", check=False)
    with simulator(real_cluster.host_ip) as sim_url:
        try:
            yield sim_url
        finally:
            helm(c, "uninstall", RELEASE, "-n", OPERATOR_NAMESPACE, "--wait", "--timeout", "2m", check=False)


def test_operator_in_a_container_reconciles_a_bot_that_runs(real_cluster: RealCluster, chart_release: str,
                                                           real_ns: str) -> None:
    """One replica (the leader): installed with --wait, reaching the API server in-cluster, under
    the chart's RBAC; the bot it creates runs and becomes Ready through its readiness probe."""
    c = real_cluster.cluster
    helm(c, "install", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, "--set", "operator.replicas=1",
         "--set", f"operator.simUrl={chart_release}", "--set", "crds.enabled=false", "--wait", "--timeout", "4m")
    (pod,) = operator_pods(c)
    assert pod["spec"]["nodeName"] == real_cluster.node.name and is_ready(pod)
    assert healthz(pod) == 200
    # Ready means healthy, not leading (a standby is Ready too): the Lease follows shortly.
    eventually(lambda: holder(c) == pod["metadata"]["name"], "the only replica holds the Lease", timeout=120)
    c.kubectl("apply", "-n", real_ns, "-f", "-", input=json.dumps({
        "apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot", "metadata": {"name": "arb"},
        "spec": {"strategy": "arbhunter", "mode": "paper", "riskProfile": "conservative"}}))

    def bot_ready() -> bool:
        bot = get_json(c, "tradingbot", "arb", "-n", real_ns) or {}
        conds = {x["type"]: x for x in (bot.get("status") or {}).get("conditions") or []}
        return conds.get("Ready", {}).get("status") == "True"

    eventually(bot_ready, "TradingBot arb Ready (reconciled by the operator in its container)", timeout=300)
    (bot_pod,) = get_json(c, "pods", "-n", real_ns, "-l", "botfleet.io/bot=arb")["items"]
    assert bot_pod["spec"]["nodeName"] == real_cluster.node.name and is_ready(bot_pod)
    logs = c.kubectl("logs", "-n", OPERATOR_NAMESPACE, pod["metadata"]["name"]).stdout
    # Nothing refused by RBAC (a namespace of an earlier test being deleted refuses events: not RBAC).
    denied = [line for line in logs.splitlines() if "forbidden" in line.lower() and "being terminated" not in line]
    assert not denied, denied


def test_two_replicas_install_wait_upgrade_rolls_standby_healthy(real_cluster: RealCluster,
                                                                 chart_release: str) -> None:
    """The chart's default: two replicas, one leading. Both Ready (the standby answers /healthz:
    issue 12), and an upgrade replaces both one at a time (maxUnavailable: 0) with a new leader."""
    c = real_cluster.cluster
    helm(c, "install", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, "--set", "operator.replicas=2",
         "--set", f"operator.simUrl={chart_release}", "--set", "crds.enabled=false", "--wait", "--timeout", "2m")
    pods = operator_pods(c)
    assert len(pods) == 2 and all(is_ready(p) and p["spec"]["nodeName"] == real_cluster.node.name for p in pods)
    leader = eventually(lambda: holder(c), "a replica holds the Lease", timeout=120)
    (standby,) = [p for p in pods if p["metadata"]["name"] != leader]
    assert healthz(standby) == 200
    before = {p["metadata"]["uid"] for p in pods}
    helm(c, "upgrade", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, "--reuse-values",
         "--set", "operator.workers=8", "--wait", "--timeout", "3m")
    after = operator_pods(c)
    assert len(after) == 2 and not before & {p["metadata"]["uid"] for p in after}  # both replaced
    assert all("--workers=8" in p["spec"]["containers"][0]["args"] and is_ready(p) for p in after)
    eventually(lambda: holder(c) in {p["metadata"]["name"] for p in after}, "a new replica leads", timeout=120)
