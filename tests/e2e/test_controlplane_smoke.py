"""The control plane behaves like a real cluster in the ways the operator relies on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from botfleet_tools.devcluster.manifests import crd_names, manifest_files
from tests.support.controlplane import CRDS_DIR, OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT, Cluster
from tests.support.controlplane_wait import eventually


def get_json(cluster: Cluster, *args: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)
    return loaded


def apply(cluster: Cluster, obj: dict[str, Any], *extra: str, check: bool = True) -> Any:
    return cluster.kubectl("apply", *extra, "-f", "-", input=json.dumps(obj), check=check)


def test_repo_crds_are_installed_and_served(cluster: Cluster) -> None:
    names = crd_names(manifest_files(CRDS_DIR))
    if not names:
        pytest.skip("crds/ holds no CustomResourceDefinition yet")
    for name in names:
        crd = get_json(cluster, "crd", name)
        established = [c for c in crd["status"]["conditions"] if c["type"] == "Established"]
        assert established and established[0]["status"] == "True", name
        plural = crd["spec"]["names"]["plural"]
        cluster.kubectl("get", f"{plural}.{crd['spec']['group']}", "--all-namespaces")


def test_deployment_pod_runs_and_is_ready_on_the_fake_node(cluster: Cluster, namespace: str) -> None:
    labels = {"app": "smoke"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "smoke", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                # kwok never pulls the image: any name works.
                "spec": {"containers": [{"name": "main", "image": "example.invalid/smoke:1"}]},
            },
        },
    }
    apply(cluster, deployment)
    cluster.kubectl("rollout", "status", "deployment/smoke", "-n", namespace, "--timeout=90s")
    pods = get_json(cluster, "pods", "-n", namespace, "-l", "app=smoke")["items"]
    assert len(pods) == 1
    pod = pods[0]
    assert pod["spec"]["nodeName"] == "kwok-node-0" or cluster.mode != "local"
    assert pod["status"]["phase"] == "Running"
    ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert ready["Ready"] == "True"


def test_job_pod_succeeds(cluster: Cluster, namespace: str) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "smoke-job", "namespace": namespace},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox:1.36", "command": ["true"]}],
                }
            },
        },
    }
    apply(cluster, job)
    cluster.kubectl("wait", "--for=condition=Complete", "job/smoke-job", "-n", namespace, "--timeout=90s")
    pods = get_json(cluster, "pods", "-n", namespace, "-l", "job-name=smoke-job")["items"]
    assert [p["status"]["phase"] for p in pods] == ["Succeeded"]


def test_server_side_apply_tracks_field_owners_and_conflicts(cluster: Cluster, namespace: str) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "namespace": namespace},
          "data": {"risk": "low"}}
    apply(cluster, cm, "--server-side", "--field-manager=alice")
    cm["data"] = {"risk": "high"}
    conflict = apply(cluster, cm, "--server-side", "--field-manager=bob", check=False)
    assert conflict.returncode != 0
    assert "conflict" in conflict.stderr.lower()
    apply(cluster, cm, "--server-side", "--field-manager=bob", "--force-conflicts")
    live = get_json(cluster, "configmap", "ssa", "-n", namespace, "--show-managed-fields")
    assert live["data"] == {"risk": "high"}
    owners = {m["manager"] for m in live["metadata"]["managedFields"] if "f:data" in json.dumps(m)}
    assert owners == {"bob"}


def test_garbage_collector_deletes_owned_objects(cluster: Cluster, namespace: str) -> None:
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner", "namespace": namespace}}
    apply(cluster, owner)
    uid = get_json(cluster, "configmap", "owner", "-n", namespace)["metadata"]["uid"]
    owned = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "owned",
            "namespace": namespace,
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}],
        },
    }
    apply(cluster, owned)
    cluster.kubectl("delete", "configmap", "owner", "-n", namespace)

    def owned_gone() -> bool:
        got = cluster.kubectl("get", "configmap", "owned", "-n", namespace, check=False)
        return got.returncode != 0 and "NotFound" in got.stderr

    eventually(owned_gone, "the garbage collector to delete the owned ConfigMap", timeout=60)


CEL_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.smoke.botfleet.io"},
    "spec": {
        "group": "smoke.botfleet.io",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [{
            "name": "v1",
            "served": True,
            "storage": True,
            "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {"spec": {
                    "type": "object",
                    "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
                    "x-kubernetes-validations": [
                        {"rule": "self.min <= self.max", "message": "spec.min must not exceed spec.max"}
                    ],
                }},
            }},
        }],
    },
}


def test_crd_cel_rule_rejects_a_bad_object(cluster: Cluster, namespace: str) -> None:
    apply(cluster, CEL_CRD, "--server-side")
    cluster.kubectl("wait", "--for=condition=Established", "crd/widgets.smoke.botfleet.io", "--timeout=60s")

    def widget(lo: int, hi: int) -> dict[str, Any]:
        return {"apiVersion": "smoke.botfleet.io/v1", "kind": "Widget",
                "metadata": {"name": f"w-{lo}-{hi}", "namespace": namespace}, "spec": {"min": lo, "max": hi}}

    # The CRD is Established a moment before its schema is enforced everywhere: retry the good one.
    eventually(lambda: apply(cluster, widget(1, 2), check=False).returncode == 0, "a valid Widget", 30)
    bad = apply(cluster, widget(3, 2), check=False)
    assert bad.returncode != 0
    assert "spec.min must not exceed spec.max" in bad.stderr
    assert cluster.kubectl("get", "widget", "w-3-2", "-n", namespace, check=False).returncode != 0


def test_operator_identity_has_only_what_rbac_grants(cluster: Cluster, namespace: str) -> None:
    as_operator = cluster.operator_kubeconfig

    def can(verb: str, resource: str) -> str:
        out = cluster.kubectl("auth", "can-i", verb, resource, "-n", namespace, kubeconfig=as_operator,
                              check=False)
        return out.stdout.strip()

    assert can("list", "pods") == "no"
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "operator-view", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        # A ServiceAccount subject: the operator's certificate carries that ServiceAccount's user name.
        "subjects": [{"kind": "ServiceAccount", "name": OPERATOR_SERVICE_ACCOUNT,
                      "namespace": OPERATOR_NAMESPACE}],
    }
    apply(cluster, binding)
    eventually(lambda: can("list", "pods") == "yes", "the RoleBinding to take effect", 30)
    assert can("delete", "pods") == "no"


def test_kubeconfig_for_user_authenticates_as_that_user(cluster: Cluster) -> None:
    path = cluster.kubeconfig_for_user("smoke-user", ["smoke-group"])
    review = json.loads(cluster.kubectl("auth", "whoami", "-o", "json", kubeconfig=path).stdout)
    info = review["status"]["userInfo"]
    assert info["username"] == "smoke-user"
    assert "smoke-group" in info["groups"]
