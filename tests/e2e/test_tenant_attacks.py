"""A tenant who may only create TradingBots in their namespace, attacking (issue 15).

The tenant is a real identity (a client certificate) bound to a Role with TradingBot rights in one
namespace and nothing else; the operator runs with the ClusterRole of deploy/rbac/operator.yaml
bound in that namespace only (what the chart renders with `operator.watchNamespaces`). Each
attempt of the issue is made as the tenant would make it, and must be refused at admission or
reported in status with nothing applied: no object adopted, no Secret read or mounted that its
owner did not opt in, no key in the operator's log. `docs/security.md` counts these attempts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.controlplane import OPERATOR_NAMESPACE, Cluster
from tests.support.controlplane_wait import eventually
from tests.support.operator_replica import Replica

REPO = Path(__file__).resolve().parents[2]
RBAC = REPO / "deploy" / "rbac" / "operator.yaml"
DB_PASSWORD = "tenant-e2e-db-password-7f3a9c"          # a Secret value never meant for bots
WALLET_KEY = "0x" + "7e" * 32                          # test-only wallet key

pytestmark = pytest.mark.timeout(600)


@dataclass
class Tenant:
    cluster: Cluster
    namespace: str
    kubeconfig: Path
    operator: Replica

    def kubectl(self, *args: str, input: str | None = None) -> Any:
        return self.cluster.kubectl(*args, input=input, check=False, kubeconfig=self.kubeconfig)

    def apply_bot(self, name: str, **spec: Any) -> Any:
        doc = {"apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot", "metadata": {"name": name},
               "spec": {"strategy": "arbhunter", **spec}}
        return self.kubectl("apply", "-n", self.namespace, "-f", "-", input=json.dumps(doc))


def _admin_json(cluster: Cluster, *args: str) -> Any:
    r = cluster.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(r.stdout) if r.returncode == 0 else None


def _apply(cluster: Cluster, namespace: str, doc: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(doc))


@pytest.fixture
def tenant(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[Tenant]:
    cluster.kubectl("apply", "-f", str(RBAC))
    tag = uuid.uuid4().hex[:6]
    # The tenant: TradingBots in this namespace, their status and Events; no Secrets, no pods.
    user = f"tenant-{tag}"
    _apply(cluster, namespace, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "tradingbot-author"},
        "rules": [{"apiGroups": ["botfleet.io"], "resources": ["tradingbots"],
                   "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
                  {"apiGroups": ["botfleet.io"], "resources": ["tradingbots/status"], "verbs": ["get"]},
                  {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list"]}]})
    _apply(cluster, namespace, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "tradingbot-author"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tradingbot-author"},
        "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]})
    # The operator: its ClusterRole bound in this namespace only (chart: operator.watchNamespaces),
    # plus its leader-election Role.
    op_user = f"ns-operator-{tag}"
    _apply(cluster, namespace, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "botfleet-operator"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "botfleet-operator"},
        "subjects": [{"kind": "User", "name": op_user, "apiGroup": "rbac.authorization.k8s.io"}]})
    _apply(cluster, OPERATOR_NAMESPACE, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": f"lease-{tag}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "botfleet-operator-leader-election"},
        "subjects": [{"kind": "User", "name": op_user, "apiGroup": "rbac.authorization.k8s.io"}]})
    pvs = [{"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": f"e2e-tn-{tag}-{i}", "labels": {"botfleet.io/e2e": tag}},
            "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Delete", "hostPath": {"path": f"/tmp/e2e-tn-{tag}-{i}"}}}
           for i in range(4)]
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": pvs}))
    log = tmp_path / "operator.log"
    op = Replica(cluster, f"tenant-op-{tag}", namespace, f"e2e-tenant-{tag}", log,
                 kubeconfig=cluster.kubeconfig_for_user(op_user))
    try:
        eventually(lambda: op.get("/leader") == 200, "the operator leads", timeout=90)
        yield Tenant(cluster, namespace, cluster.kubeconfig_for_user(user), op)
    finally:
        op.stop()
        cluster.kubectl("delete", "pv", "-l", f"botfleet.io/e2e={tag}", "--wait=false", check=False)
        cluster.kubectl("delete", "rolebinding", f"lease-{tag}", "-n", OPERATOR_NAMESPACE, check=False)
        text = log.read_text(errors="replace")
        for leaked in (DB_PASSWORD, WALLET_KEY[2:]):
            assert leaked not in text, "a Secret value reached the operator's log"


def _conditions(t: Tenant, name: str) -> dict[str, dict[str, Any]]:
    r = t.kubectl("get", "tradingbot", name, "-n", t.namespace, "-o", "json")
    if r.returncode != 0:
        return {}
    return {c["type"]: c for c in (json.loads(r.stdout).get("status") or {}).get("conditions") or []}


def _refused(t: Tenant, name: str, reason: str, text: str) -> dict[str, Any]:
    """Wait for Degraded=True with `reason` naming `text`, as the tenant reads it."""
    def probe() -> dict[str, Any] | None:
        c = _conditions(t, name).get("Degraded")
        return c if c and c["status"] == "True" and c["reason"] == reason and text in c["message"] else None
    return eventually(probe, f"{name}: Degraded={reason} naming {text!r}", timeout=90)


def _nothing_applied(t: Tenant, name: str) -> None:
    for kind in ("deployment", "configmap", "serviceaccount", "networkpolicy", "cronjob"):
        assert _admin_json(t.cluster, kind, name, "-n", t.namespace) is None, f"{kind} {name} was created"


def test_the_tenant_reaches_nothing_but_tradingbots(tenant: Tenant) -> None:
    t = tenant
    _apply(t.cluster, t.namespace, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
                                    "stringData": {"PASSWORD": DB_PASSWORD}})
    for verb, what in (("get", "secrets"), ("create", "pods"), ("create", "deployments"), ("create", "jobs"),
                       ("create", "networkpolicies"), ("create", "roles"), ("patch", "tradingbots")):
        sub = ["--subresource=status"] if what == "tradingbots" else []
        r = t.kubectl("auth", "can-i", verb, what, *sub, "-n", t.namespace)
        assert r.stdout.strip() == "no", f"the tenant may {verb} {what}"
    assert "Forbidden" in t.kubectl("get", "secret", "db", "-n", t.namespace).stderr
    r = t.kubectl("apply", "-n", "default", "-f", "-", input=json.dumps(
        {"apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot", "metadata": {"name": "elsewhere"},
         "spec": {"strategy": "arbhunter"}}))
    assert r.returncode != 0 and "Forbidden" in r.stderr


def test_env_that_redirects_keys_or_loads_code_is_refused_at_admission(tenant: Tenant) -> None:
    for name, value in (("OPENAI_BASE_URL", "https://llm.attacker.example/v1"), ("HTTPS_PROXY", "http://attacker:3128"),
                        ("PYTHONSTARTUP", "/tmp/x.py"), ("LD_PRELOAD", "/tmp/x.so")):
        r = tenant.apply_bot("envbot", env=[{"name": name, "value": value}])
        assert r.returncode != 0 and "spec.env" in r.stderr, (name, r.stderr)
    _nothing_applied(tenant, "envbot")


def test_an_outside_image_runs_nowhere(tenant: Tenant) -> None:
    assert tenant.apply_bot("miner", image="evil.example.net/miner:1").returncode == 0
    _refused(tenant, "miner", "NotAllowed", "spec.image 'evil.example.net/miner:1' is not allowed")
    _nothing_applied(tenant, "miner")


def test_a_chosen_llm_endpoint_gets_no_key(tenant: Tenant) -> None:
    assert tenant.apply_bot("leaky", strategy="polyai", params={"llmBaseUrl": "https://llm.attacker.example/v1"}
                            ).returncode == 0
    _refused(tenant, "leaky", "NotAllowed", "spec.params.llmBaseUrl")
    _nothing_applied(tenant, "leaky")


def test_scheduling_onto_every_node_is_refused(tenant: Tenant) -> None:
    """A toleration of every taint (no key) or of the control plane is refused by `kubectl apply`
    itself (the CRD's rules; the operator re-checks bots stored under an older CRD: unit tests)."""
    for name, tolerations, needle in (
            ("everywhere", [{"operator": "Exists"}], "without one it tolerates every taint"),
            ("on-cp", [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}],
             "bots may not run on control-plane nodes")):
        proc = tenant.apply_bot(name, tolerations=tolerations)
        assert proc.returncode != 0 and needle in proc.stderr, proc.stderr
        assert _admin_json(tenant.cluster, "tradingbot", name, "-n", tenant.namespace) is None
        _nothing_applied(tenant, name)


def test_a_bot_named_after_the_namespaces_policy_adopts_nothing(tenant: Tenant) -> None:
    t = tenant
    _apply(t.cluster, t.namespace, {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                                    "metadata": {"name": "default-deny"},
                                    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}})
    before = _admin_json(t.cluster, "networkpolicy", "default-deny", "-n", t.namespace)
    assert t.apply_bot("default-deny").returncode == 0
    _refused(t, "default-deny", "OwnershipConflict", f"NetworkPolicy {t.namespace}/default-deny already exists")
    assert _conditions(t, "default-deny")["Ready"]["reason"] == "OwnershipConflict"
    after = _admin_json(t.cluster, "networkpolicy", "default-deny", "-n", t.namespace)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert "ownerReferences" not in after["metadata"]
    for kind in ("deployment", "configmap", "serviceaccount"):
        assert _admin_json(t.cluster, kind, "default-deny", "-n", t.namespace) is None
    # Deleting the bot leaves the policy alone (no owner reference for garbage collection to follow).
    assert t.kubectl("delete", "tradingbot", "default-deny", "-n", t.namespace).returncode == 0
    eventually(lambda: _admin_json(t.cluster, "tradingbot", "default-deny", "-n", t.namespace) is None, "bot gone")
    assert _admin_json(t.cluster, "networkpolicy", "default-deny", "-n", t.namespace) is not None


def test_a_rotator_named_after_a_privileged_service_account_gets_nothing(tenant: Tenant) -> None:
    t = tenant
    _apply(t.cluster, t.namespace, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ci-rotator"}})
    for name, data in (("ci-wallet", {"PRIVATE_KEY": WALLET_KEY}), ("ci-creds", {"OPENAI_API_KEY": "x"})):
        _apply(t.cluster, t.namespace, {"apiVersion": "v1", "kind": "Secret", "stringData": data,
                                        "metadata": {"name": name, "labels": {"botfleet.io/bots": "ci"}}})
    assert t.apply_bot("ci", mode="live", walletSecretRef={"name": "ci-wallet"},
                       credentialsSecretRef={"name": "ci-creds"},
                       keyRotation={"schedule": "0 3 * * 0"}).returncode == 0
    _refused(t, "ci", "OwnershipConflict", f"ServiceAccount {t.namespace}/ci-rotator already exists")
    sa = _admin_json(t.cluster, "serviceaccount", "ci-rotator", "-n", t.namespace)
    assert "ownerReferences" not in sa["metadata"]
    for kind, name in (("cronjob", "ci-rotate"), ("role", "ci-rotator"), ("rolebinding", "ci-rotator"),
                       ("deployment", "ci")):
        assert _admin_json(t.cluster, kind, name, "-n", t.namespace) is None, f"{kind} {name} was created"


def test_secrets_their_owner_did_not_opt_in_are_never_used(tenant: Tenant) -> None:
    t = tenant
    _apply(t.cluster, t.namespace, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
                                    "stringData": {"OPENAI_API_KEY": DB_PASSWORD}})
    _apply(t.cluster, t.namespace, {"apiVersion": "v1", "kind": "Secret", "stringData": {"OPENAI_API_KEY": "y"},
                                    "metadata": {"name": "team-b", "labels": {"botfleet.io/bots": "other-bot"}}})
    before = _admin_json(t.cluster, "secret", "db", "-n", t.namespace)["metadata"]
    assert t.apply_bot("thief", credentialsSecretRef={"name": "db"}).returncode == 0
    _refused(t, "thief", "NotAllowed", "Secret db (spec.credentialsSecretRef) is not opted in")
    assert _conditions(t, "thief")["SecretsReady"]["reason"] == "SecretNotAllowed"
    assert t.apply_bot("thief2", credentialsSecretRef={"name": "team-b"}).returncode == 0
    _refused(t, "thief2", "NotAllowed", "Secret team-b (spec.credentialsSecretRef) is not opted in")
    for bot in ("thief", "thief2"):
        _nothing_applied(t, bot)
    after = _admin_json(t.cluster, "secret", "db", "-n", t.namespace)["metadata"]
    assert after["resourceVersion"] == before["resourceVersion"]  # not labelled, not touched
    # Its owner opts it in: the bot runs, with that Secret.
    t.cluster.kubectl("label", "secret", "db", "-n", t.namespace, "botfleet.io/bots=thief")
    eventually(lambda: _conditions(t, "thief").get("SecretsReady", {}).get("status") == "True", "opted in")
    eventually(lambda: _admin_json(t.cluster, "deployment", "thief", "-n", t.namespace), "the bot's Deployment")


def test_a_paper_bot_never_gets_the_wallet(tenant: Tenant) -> None:
    t = tenant
    _apply(t.cluster, t.namespace, {"apiVersion": "v1", "kind": "Secret", "stringData": {"PRIVATE_KEY": WALLET_KEY},
                                    "metadata": {"name": "paper-wallet", "labels": {"botfleet.io/bots": "paper"}}})
    assert t.apply_bot("paper", mode="paper", walletSecretRef={"name": "paper-wallet"}).returncode == 0
    dep = eventually(lambda: _admin_json(t.cluster, "deployment", "paper", "-n", t.namespace), "the bot's Deployment")
    pod = dep["spec"]["template"]["spec"]
    secrets = [v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v]
    assert "paper-wallet" not in secrets, secrets
    assert "paper-wallet" not in json.dumps(pod)
