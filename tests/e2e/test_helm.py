"""The Helm chart against a real API server: server-side validation of everything it renders,
install (the operator Deployment becomes available), the operator reconciling a bot with nothing
but the chart's RBAC, upgrade, and a clean uninstall.

On the local control plane pods do not really run (kwok marks them Running and Ready), so the
operator that reconciles runs as a local process authenticated as the chart's ServiceAccount
(`cluster.operator_kubeconfig`): every API call it makes is authorised by the chart's ClusterRole
and Role alone.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.controlplane import OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT, Cluster
from tests.support.controlplane_wait import eventually
from tests.support.helm import CHART, KUBE_VERSION, helm_binary
from tests.support.prometheus import OPERATOR_JOB, dashboard_queries, prometheus_binary, running_prometheus

pytestmark = pytest.mark.skipif(helm_binary() is None, reason="no helm binary: tools/controlplane/build.sh builds it")

RELEASE = "botfleet"  # -> ServiceAccount botfleet-operator, the identity of cluster.operator_kubeconfig
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def helm(cluster: Cluster, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    cache = REPO / ".cache" / "helm-home"
    env = {**os.environ, "KUBECONFIG": str(cluster.admin_kubeconfig), "HELM_CONFIG_HOME": str(cache / "config"),
           "HELM_CACHE_HOME": str(cache / "cache"), "HELM_DATA_HOME": str(cache / "data")}
    proc = subprocess.run([helm_binary() or "helm", *args], input=input, capture_output=True, text=True, env=env,
                          timeout=600, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def get_json(cluster: Cluster, *args: str) -> Any:
    out = cluster.kubectl("get", "-o", "json", *args, check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def ready_status(cluster: Cluster, ns: str, name: str) -> str | None:
    bot = get_json(cluster, "tradingbot", "-n", ns, name)
    for c in ((bot or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == "Ready":
            return str(c["status"])
    return None


def _persistent_volumes(cluster: Cluster, count: int) -> None:
    """Static PVs for the bots' journal claims: the local control plane has no volume provisioner."""
    docs = [{"apiVersion": "v1", "kind": "PersistentVolume",
             "metadata": {"name": f"e2e-helm-pv-{i:02d}", "labels": {"botfleet.io/e2e": "helm"}},
             "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"],
                      "persistentVolumeReclaimPolicy": "Delete", "hostPath": {"path": f"/tmp/e2e-helm-pv-{i:02d}"}}}
            for i in range(count)]
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))


@contextlib.contextmanager
def operator_process(cluster: Cluster, log: Path) -> Iterator[int]:
    """The operator as the chart's ServiceAccount, with leader election in the release namespace."""
    metrics, health = _free_port(), _free_port()
    env = {**os.environ, "KUBECONFIG": str(cluster.operator_kubeconfig), "PYTHONUNBUFFERED": "1",
           "POD_NAMESPACE": OPERATOR_NAMESPACE, "POD_NAME": "e2e-helm-operator"}
    env.pop("BOTFLEET_SIM_URL", None)
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "botfleet_operator", "operator", "--all-namespaces",
                                 "--metrics-port", str(metrics), "--health-port", str(health)],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        def healthy() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"operator exited {proc.returncode}: {log.read_text(errors='replace')[-3000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz",
                                                                      timeout=2) as r:
                return r.status == 200
            return False

        eventually(healthy, "operator liveness", timeout=90)
        yield metrics
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def release(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    cluster.kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)
    # deploy/rbac/operator.yaml (applied by other e2e modules) has objects of the same names; Helm
    # refuses to take over objects it did not create.
    for kind, name in (("clusterrolebinding", "botfleet-operator"), ("clusterrole", "botfleet-operator")):
        cluster.kubectl("delete", kind, name, "--ignore-not-found", check=False)
    for kind, name in (("rolebinding", "botfleet-operator-leader-election"),
                       ("role", "botfleet-operator-leader-election"), ("serviceaccount", OPERATOR_SERVICE_ACCOUNT)):
        cluster.kubectl("delete", kind, name, "-n", OPERATOR_NAMESPACE, "--ignore-not-found", check=False)
    _persistent_volumes(cluster, 6)
    ns = f"e2e-helm-{uuid.uuid4().hex[:6]}"  # outlives single tests: the bots from values live here
    cluster.kubectl("create", "namespace", ns)
    state: dict[str, Any] = {"log": tmp_path_factory.mktemp("helm-operator") / "operator.log", "ns": ns}
    try:
        yield state
    finally:
        if "operator" in state:
            state["operator"].close()
        helm(cluster, "uninstall", RELEASE, "-n", OPERATOR_NAMESPACE, "--wait", check=False)
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        cluster.kubectl("delete", "pv", "-l", "botfleet.io/e2e=helm", "--wait=false", check=False)


def test_everything_rendered_passes_server_side_validation(cluster: Cluster, release: dict[str, Any],
                                                           namespace: str) -> None:
    values = {"bots": [{"name": "arb-dry", "namespace": namespace,
                        "spec": {"strategy": "arbhunter", "mode": "paper", "riskProfile": "conservative"}},
                       {"name": "mimic-dry", "namespace": namespace,
                        "spec": {"strategy": "elitemimic", "params": {"copyRatio": 0.3}}}]}
    rendered = helm(cluster, "template", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, "--kube-version", KUBE_VERSION,
                    "--values", "-",
                    input=json.dumps(values)).stdout
    out = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=rendered)
    kinds = {line.split("/")[0] for line in out.stdout.splitlines()}
    assert {"deployment.apps", "clusterrole.rbac.authorization.k8s.io", "configmap",
            "tradingbot.botfleet.io"} <= kinds, out.stdout
    # The CRD's own validation (CEL) runs server-side too: a live bot without a wallet is refused.
    bad = {"bots": [{"name": "live-nowallet", "namespace": namespace, "spec": {"strategy": "arbhunter", "mode": "live"}}]}
    rendered = helm(cluster, "template", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, "--kube-version", KUBE_VERSION,
                    "--values", "-",
                    input=json.dumps(bad)).stdout
    refused = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=rendered,
                              check=False)
    assert refused.returncode != 0 and "walletSecretRef" in refused.stderr


def test_install_then_operator_reconciles_under_chart_rbac(cluster: Cluster, release: dict[str, Any]) -> None:
    namespace = release["ns"]
    crd = "tradingbots.botfleet.io"
    # The cluster fixture applied crds/ with kubectl, as a cluster installed before the CRD became a
    # chart template would have it: Helm refuses to take it over until it is adopted as documented
    # (docs/operations.md#upgrades).
    refused = helm(cluster, "install", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, "--dry-run=server", check=False)
    assert refused.returncode != 0 and crd in refused.stderr
    cluster.kubectl("label", "crd", crd, "app.kubernetes.io/managed-by=Helm", "--overwrite")
    cluster.kubectl("annotate", "crd", crd, f"meta.helm.sh/release-name={RELEASE}",
                    f"meta.helm.sh/release-namespace={OPERATOR_NAMESPACE}", "--overwrite")
    # An operator run by hand before kept its HMAC key here (operator/hashkey.py): the chart takes that
    # key over, so that moving to the chart changes no bot's digest and rolls no bot.
    standalone = base64.b64encode(b"key-of-the-operator-that-was-run-by-hand-0123456789").decode()
    cluster.kubectl("apply", "-n", OPERATOR_NAMESPACE, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "botfleet-standalone-hash-key"},
        "data": {"key": standalone}}))
    try:
        proc = helm(cluster, "install", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, "--wait", "--timeout", "5m")
    finally:  # the cluster is shared with later test files, whose hand-run operators would use it
        cluster.kubectl("delete", "secret", "-n", OPERATOR_NAMESPACE, "botfleet-standalone-hash-key", check=False)
    assert get_json(cluster, "crd", crd)["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert get_json(cluster, "secret", "-n", OPERATOR_NAMESPACE, "botfleet-operator-hash-key")["data"]["key"] == standalone
    assert "kubectl get tradingbots -A" in proc.stdout  # NOTES
    dep = get_json(cluster, "deployment", "-n", OPERATOR_NAMESPACE, "botfleet-operator")
    assert dep["status"].get("availableReplicas") == 2
    sa = get_json(cluster, "serviceaccount", "-n", OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT)
    assert sa["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"

    release["operator"] = contextlib.ExitStack()
    metrics_port = release["operator"].enter_context(operator_process(cluster, release["log"]))
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({
        "apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot", "metadata": {"name": "arb"},
        "spec": {"strategy": "arbhunter", "mode": "paper", "riskProfile": "conservative"}}))
    eventually(lambda: ready_status(cluster, namespace, "arb") == "True", "TradingBot arb Ready=True", timeout=180)
    lease = get_json(cluster, "lease", "-n", OPERATOR_NAMESPACE, "botfleet-operator")
    assert lease["spec"]["holderIdentity"] == "e2e-helm-operator"
    release["metrics_port"] = metrics_port
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    assert "botfleet_operator_reconciles_total" in text
    # Nothing was refused by RBAC on the way (a write into a namespace another test is deleting is
    # refused too, as "forbidden ... being terminated": that is not RBAC).
    refused = [line for line in release["log"].read_text(errors="replace").lower().splitlines()
               if "forbidden" in line and "being terminated" not in line]
    assert refused == []


@pytest.mark.skipif(prometheus_binary() is None, reason="prometheus missing (apt-get install prometheus)")
def test_operator_dashboard_against_the_real_operator(release: dict[str, Any]) -> None:
    """Prometheus scrapes the operator that just reconciled; every operator panel has data."""
    if "metrics_port" not in release:
        pytest.skip("install failed")
    target = f"127.0.0.1:{release['metrics_port']}"
    with running_prometheus({OPERATOR_JOB: [(target, {"namespace": OPERATOR_NAMESPACE})]}) as prom:
        assert prom.wait_until('botfleet_operator_bots{condition="Ready", status="True"} > 0', timeout=60)
        empty = [q.panel for q in dashboard_queries() if q.dashboard == "operator"
                 if not prom.wait_until(q.expr, timeout=30)]
        assert not empty


def test_upgrade_changes_the_operator_and_adds_bots_from_values(cluster: Cluster, release: dict[str, Any]) -> None:
    if "operator" not in release:
        pytest.skip("install failed")
    namespace = release["ns"]
    values = {"operator": {"workers": 8},
              "bots": [{"name": "arb-values", "namespace": namespace,
                        "spec": {"strategy": "arbhunter", "mode": "paper"}}]}
    helm(cluster, "upgrade", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, "--reuse-values", "--values", "-",
         "--wait", "--timeout", "5m", input=json.dumps(values))
    history = json.loads(helm(cluster, "history", RELEASE, "-n", OPERATOR_NAMESPACE, "-o", "json").stdout)
    assert [h["status"] for h in history] == ["superseded", "deployed"]
    dep = get_json(cluster, "deployment", "-n", OPERATOR_NAMESPACE, "botfleet-operator")
    assert "--workers=8" in dep["spec"]["template"]["spec"]["containers"][0]["args"]
    eventually(lambda: ready_status(cluster, namespace, "arb-values") == "True",
               "TradingBot arb-values (from values) Ready=True", timeout=180)
    release["values_bot"] = True


def test_uninstall_removes_everything_of_the_release(cluster: Cluster, release: dict[str, Any]) -> None:
    if "operator" not in release:
        pytest.skip("install failed")
    helm(cluster, "uninstall", RELEASE, "-n", OPERATOR_NAMESPACE, "--wait", "--timeout", "5m")
    left = cluster.kubectl("get", "deploy,sa,svc,cm,role,rolebinding,pdb", "-n", OPERATOR_NAMESPACE,
                           "-l", f"app.kubernetes.io/instance={RELEASE}", "-o", "name").stdout.split()
    assert left == []
    cluster_wide = cluster.kubectl("get", "clusterrole,clusterrolebinding", "-l",
                                   f"app.kubernetes.io/instance={RELEASE}", "-o", "name").stdout.split()
    assert cluster_wide == []
    assert helm(cluster, "list", "-n", OPERATOR_NAMESPACE, "-q").stdout.strip() == ""
    ns = release["ns"]
    if release.get("values_bot"):  # the bot created from values is gone, its owned objects garbage-collected
        eventually(lambda: get_json(cluster, "tradingbot", "-n", ns, "arb-values") is None,
                   "TradingBot arb-values deleted", timeout=60)
        eventually(lambda: get_json(cluster, "deployment", "-n", ns, "arb-values") is None,
                   "Deployment arb-values garbage-collected", timeout=120)
    # The CRD stays (resource-policy keep): bots created with kubectl survive an uninstall.
    assert get_json(cluster, "crd", "tradingbots.botfleet.io") is not None
    assert get_json(cluster, "tradingbot", "-n", ns, "arb") is not None
