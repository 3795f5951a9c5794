"""The Helm chart without a cluster: lint, render, validate against Kubernetes' schemas, and stay in
sync with crds/, deploy/rbac/, the dashboards generator and the alert rules."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.helm import (
    BOT_PODMONITOR_SELECTOR,
    CHART,
    REPO,
    HelmError,
    KubeSchemas,
    by_kind,
    crd_schema,
    helm,
    helm_binary,
    render,
)

needs_helm = pytest.mark.skipif(helm_binary() is None, reason="no helm binary: tools/controlplane/build.sh builds it")
MONITORING = ("--api-versions", "monitoring.coreos.com/v1")
EXAMPLE_BOTS: dict[str, Any] = {"bots": [
    {"name": "arb-paper", "spec": {"strategy": "arbhunter", "mode": "paper", "riskProfile": "conservative"}},
    {"name": "mimic", "namespace": "traders", "labels": {"team": "a"},
     "spec": {"strategy": "elitemimic", "params": {"copyRatio": 0.3}}},
]}


def _script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", f"botfleet_tools.generate.{name}", *args], capture_output=True,
                          text=True, check=False, cwd=REPO)


# ---- kept in sync (no helm needed) ----

def test_chart_crds_are_identical_to_crds_dir() -> None:
    src = sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
    assert src, "crds/ is empty: botfleet crd -o crds/tradingbots.botfleet.io.yaml"
    assert sorted(p.name for p in (CHART / "files" / "crds").glob("*.yaml")) == src, "run `make generate`"
    assert not (CHART / "crds").exists(), "Helm never upgrades a chart's crds/: the CRD is templates/crds.yaml"
    for name in src:
        assert (CHART / "files" / "crds" / name).read_bytes() == (REPO / "crds" / name).read_bytes(), \
            f"helm/botfleet/files/crds/{name} drifted from crds/{name}: run `make generate`"


def test_sync_script_check_passes() -> None:
    proc = _script("sync_chart", "--check")
    assert proc.returncode == 0, proc.stderr


def test_dashboards_match_generator() -> None:
    proc = _script("gen_dashboards", "--check")
    assert proc.returncode == 0, proc.stderr


def _deploy_rbac(kind: str) -> dict[str, Any]:
    for path in sorted((REPO / "deploy" / "rbac").glob("*.y*ml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == kind:
                return doc
    raise AssertionError(f"deploy/rbac/ has no {kind}")


# ---- rendering ----

@needs_helm
def test_helm_lint_strict() -> None:
    helm("lint", "--strict", str(CHART))
    values = json.dumps({**EXAMPLE_BOTS, "monitoring": {"serviceMonitor": {"force": True},
                                                         "prometheusRule": {"force": True}}})
    proc = subprocess.run([helm_binary() or "helm", "lint", "--strict", str(CHART), "--values", "-"], input=values,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_helm
@pytest.mark.parametrize(("values", "needle"), [
    ({"operator": {"replicas": -1}}, "replicas"),
    ({"operator": {"replica": 2}}, "replica"),
    ({"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
    ({"bots": [{"name": "Bad_Name", "spec": {"strategy": "arbhunter"}}]}, "name"),
    ({"bots": [{"name": "x", "spec": {"strategy": "hodl"}}]}, "strategy"),
    ({"monitoring": {"serviceMonitor": {"interval": "soon"}}}, "interval"),
])
def test_values_schema_rejects_bad_values_naming_the_field(values: dict[str, Any], needle: str) -> None:
    with pytest.raises(HelmError) as err:
        render(values=values)
    assert needle in str(err.value)


@needs_helm
def test_default_render_objects() -> None:
    objs = render()
    kinds = sorted({o["kind"] for o in objs})
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "CustomResourceDefinition", "Deployment",
                     "NetworkPolicy", "Pod", "PodDisruptionBudget", "Role", "RoleBinding", "Secret", "Service",
                     "ServiceAccount"]  # Secret: the operator's HMAC key (hashkey-secret.yaml)
    (test_pod,) = by_kind(objs, "Pod")
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    # No monitoring.coreos.com objects without that API (nor TradingBots without values).
    assert not by_kind(objs, "ServiceMonitor") and not by_kind(objs, "PrometheusRule")
    assert not by_kind(objs, "TradingBot")


@needs_helm
def test_operator_deployment_is_hardened_and_single_acting() -> None:
    (dep,) = by_kind(render(), "Deployment")
    spec = dep["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"][0] == "operator"
    assert "--leader-election" in c["args"] and "--all-namespaces" in c["args"]
    assert "--lease-namespace=botfleet-system" in c["args"]
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["BOTFLEET_BOT_IMAGE"]["value"] == c["image"]
    assert pod["serviceAccountName"] == "botfleet-operator"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    sc = c["securityContext"]
    assert sc == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # Distinct probes: liveness must not depend on leadership, a standby is ready to take over (issue 12).
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"metrics": 8080, "health": 8081}
    assert any(v["name"] == "tmp" and "emptyDir" in v for v in pod["volumes"])


@needs_helm
def test_watch_namespaces_and_no_leader_election() -> None:
    (dep,) = by_kind(render(values={"operator": {"watchNamespaces": ["a", "b"], "leaderElection": False}}),
                     "Deployment")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=a" in args and "--namespace=b" in args
    assert "--all-namespaces" not in args and "--no-leader-election" in args


@needs_helm
def test_watch_namespaces_grant_the_operator_nothing_elsewhere() -> None:
    """The operator's rights hold in the watched namespaces only: one RoleBinding each, no
    ClusterRoleBinding (a cluster-wide Secret read for an operator that manages two namespaces)."""
    objs = render(values={"operator": {"watchNamespaces": ["team-a", "team-b"]}})
    assert by_kind(objs, "ClusterRoleBinding") == []
    bound = {b["metadata"]["namespace"]: b for b in by_kind(objs, "RoleBinding") if b["roleRef"]["kind"] == "ClusterRole"}
    assert set(bound) == {"team-a", "team-b"}
    for b in bound.values():
        assert b["roleRef"]["name"] == "botfleet-operator"
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": "botfleet-operator", "namespace": "botfleet-system"}]
    everywhere = render()
    assert len(by_kind(everywhere, "ClusterRoleBinding")) == 1


@needs_helm
def test_rbac_matches_deploy_rbac() -> None:
    objs = render()
    (cr,) = by_kind(objs, "ClusterRole")
    (role,) = by_kind(objs, "Role")
    assert cr["rules"] == _deploy_rbac("ClusterRole")["rules"]
    assert role["rules"] == _deploy_rbac("Role")["rules"]
    assert role["metadata"]["namespace"] == "botfleet-system"
    for binding in by_kind(objs, "ClusterRoleBinding") + by_kind(objs, "RoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "botfleet-operator",
                                        "namespace": "botfleet-system"}]
    # Least privilege: delete only what pruning deletes (resources.PRUNABLE_KINDS), and no wildcard.
    prunable = {"serviceaccounts", "persistentvolumeclaims", "cronjobs", "roles", "rolebindings", "services"}
    for rule in cr["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        if "delete" in rule["verbs"]:
            assert set(rule["resources"]) <= prunable, rule


@needs_helm
def test_monitoring_objects_when_api_present_or_forced() -> None:
    for args, values in ((MONITORING, None),
                         ((), {"monitoring": {"serviceMonitor": {"force": True}, "prometheusRule": {"force": True}}})):
        objs = render(*args, values=values)
        sms = {o["metadata"]["name"]: o for o in by_kind(objs, "ServiceMonitor")}
        assert set(sms) == {"botfleet-operator"}
        op_ep = sms["botfleet-operator"]["spec"]["endpoints"][0]
        assert {"targetLabel": "job", "replacement": "botfleet-operator"} in op_ep["relabelings"]
        # Bots have no Service (3 objects per bot fewer for the control plane): a PodMonitor.
        (pm,) = by_kind(objs, "PodMonitor")
        assert pm["metadata"]["name"] == "botfleet-bots"
        bot_ep = pm["spec"]["podMetricsEndpoints"][0]
        # False: a tenant's image could forge series of another namespace's bot; the target's labels
        # (namespace, and bot/strategy from the operator's pod labels) must win.
        assert bot_ep["honorLabels"] is False and bot_ep["port"] == "metrics"
        assert {"targetLabel": "job", "replacement": "botfleet-bot"} in bot_ep["relabelings"]
        assert {"sourceLabels": ["__meta_kubernetes_pod_label_botfleet_io_bot"], "targetLabel": "bot"} \
            in bot_ep["relabelings"]
        assert pm["spec"]["namespaceSelector"] == {"any": True}
        # The bot's pod, never its backup/rotation Job pods (they carry the bot's label too).
        assert pm["spec"]["selector"]["matchLabels"] == BOT_PODMONITOR_SELECTOR  # what e2e tests select by
        selector = pm["spec"]["selector"]["matchLabels"].items()
        bot_pod, job_pods = _pod_labels_of_a_bot()
        assert selector <= bot_pod.items() and all(not selector <= labels.items() for labels in job_pods)
        (rule,) = by_kind(objs, "PrometheusRule")
        # With default values the PrometheusRule is the rules file a plain Prometheus loads.
        assert rule["spec"] == yaml.safe_load((CHART / "rules" / "botfleet.rules.yaml").read_text())
    disabled = render(*MONITORING, values={"monitoring": {"serviceMonitor": {"enabled": False},
                                                          "prometheusRule": {"enabled": False}}})
    assert not by_kind(disabled, "ServiceMonitor") and not by_kind(disabled, "PrometheusRule")
    assert not by_kind(disabled, "PodMonitor")


def _pod_labels_of_a_bot() -> tuple[dict[str, str], list[dict[str, str]]]:
    """(the bot pod's labels, its Job pods' labels) as the operator makes them for a live bot with
    backups and key rotation."""
    from botfleet_operator.api import TradingBot
    from botfleet_operator.resources import Settings, desired_objects
    from tests.unit.operator.tb_fixtures import bot
    tb = TradingBot.parse(bot("b1", mode="live", walletSecretRef={"name": "w"}, credentialsSecretRef={"name": "c"},
                              keyRotation={"schedule": "0 3 * * 0"}))
    objs = desired_objects(tb, Settings(image="img:1"), {})
    (dep,) = (o for o in objs if o["kind"] == "Deployment")
    jobs = [o["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"] for o in objs if o["kind"] == "CronJob"]
    assert len(jobs) == 2  # backup and rotation
    return dep["spec"]["template"]["metadata"]["labels"], jobs


@needs_helm
def test_operator_servicemonitor_keeps_the_per_bot_labels() -> None:
    """The operator's per-bot series carry the TradingBot's `namespace`; without honorLabels the
    Prometheus Operator renames it to `exported_namespace` (the target's namespace wins) and the
    per-bot alerts and the conditions table lose the bot's namespace."""
    objs = render(*MONITORING)
    sms = {o["metadata"]["name"]: o for o in by_kind(objs, "ServiceMonitor")}
    assert sms["botfleet-operator"]["spec"]["endpoints"][0].get("honorLabels") is True


@needs_helm
def test_dashboard_configmaps_for_grafana_sidecar() -> None:
    cms = [c for c in by_kind(render(), "ConfigMap") if c["metadata"]["labels"].get("grafana_dashboard") == "1"]
    files = sorted((CHART / "dashboards").glob("*.json"))
    assert len(cms) == len(files) == 5
    rendered = {k: json.loads(v) for c in cms for k, v in c["data"].items()}
    for f in files:
        assert rendered[f"botfleet-{f.stem}.json"] == json.loads(f.read_text())


@needs_helm
def test_bots_from_values_validate_against_the_crd() -> None:
    import jsonschema

    bots = by_kind(render(values=EXAMPLE_BOTS), "TradingBot")
    assert [(b["metadata"]["namespace"], b["metadata"]["name"]) for b in bots] == [
        ("botfleet-system", "arb-paper"), ("traders", "mimic")]
    assert bots[1]["metadata"]["labels"]["team"] == "a"
    # OpenAPI v3.0 schemas use draft-4 semantics (boolean exclusiveMinimum); CEL rules are checked
    # server-side in tests/e2e/test_helm.py.
    validator = jsonschema.Draft4Validator({**crd_schema(CHART / "files" / "crds" / "tradingbots.botfleet.io.yaml"),
                                            "required": ["spec"]})
    for bot in bots:
        validator.validate({"spec": bot["spec"]})
    bad = {"spec": {**bots[0]["spec"], "riskProfile": "yolo"}}
    assert any("yolo" in e.message for e in validator.iter_errors(bad))


@needs_helm
def test_rendered_objects_validate_against_kubernetes_schemas() -> None:
    schemas = KubeSchemas.load()
    if schemas is None:
        pytest.skip("k8s.io/kubernetes module source (OpenAPI spec) not in the Go module cache: "
                    "tools/controlplane/build.sh downloads it")
    objs = render(*MONITORING, values=EXAMPLE_BOTS)
    builtin = [o for o in objs if schemas.knows(o)]
    assert {o["kind"] for o in builtin} >= {"Deployment", "Service", "ClusterRole", "ConfigMap", "ServiceAccount"}
    errors = [e for o in builtin for e in schemas.errors(o)]
    assert not errors, "\n".join(errors)
    # Kinds the OpenAPI spec of Kubernetes does not cover are the CRD-backed ones only.
    assert {o["kind"] for o in objs if not schemas.knows(o)} == {"TradingBot", "ServiceMonitor", "PodMonitor",
                                                                  "PrometheusRule"}


@needs_helm
def test_schema_validation_catches_a_broken_object() -> None:
    """The validator itself: a misspelt field and a wrong type are reported."""
    schemas = KubeSchemas.load()
    if schemas is None:
        pytest.skip("k8s.io/kubernetes OpenAPI spec not available")
    (dep,) = by_kind(render(), "Deployment")
    dep["spec"]["replicas"] = "two"
    dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    errors = "\n".join(schemas.errors(dep))
    assert "replicas" in errors and "imagePullPolicyy" in errors


@needs_helm
def _notes(tmp_path: Path, *args: str, values: dict[str, Any] | None = None) -> str:
    """NOTES.txt rendered offline: a copy of the chart with a template that includes it in a ConfigMap
    (`helm install --dry-run` would need a cluster)."""
    chart = tmp_path / "botfleet"
    shutil.copytree(CHART, chart, dirs_exist_ok=True)
    (chart / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: |\n"
        '{{ include (print $.Template.BasePath "/NOTES.txt") . | indent 4 }}\n')
    (cm,) = render("--show-only", "templates/zz-notes.yaml", *args, chart=chart, values=values)
    return str(cm["data"]["notes"])


@needs_helm
def test_notes_tell_what_to_do_next(tmp_path: Path) -> None:
    notes = _notes(tmp_path, values={"bots": [{"name": "arb-paper", "spec": {"strategy": "arbhunter"}}]})
    assert "kubectl get tradingbots -A" in notes
    assert "rollout status deployment/botfleet-operator" in notes
    assert "botfleet-system/arb-paper (arbhunter, paper)" in notes
    assert "No ServiceMonitor" in notes and "rule_files" in notes
    with_monitoring = _notes(tmp_path, *MONITORING)
    assert "ServiceMonitors for the operator and the bots are installed" in with_monitoring
    assert "Alerts: PrometheusRule botfleet (2 groups)" in with_monitoring


# ---- chart conventions: CRD upgrades, helm test, security contexts, extras, alerts as values ----

@needs_helm
def test_the_crd_is_a_template_kept_on_uninstall_and_identical_to_crds_dir() -> None:
    (crd,) = by_kind(render(), "CustomResourceDefinition")
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    source = yaml.safe_load((REPO / "crds" / "tradingbots.botfleet.io.yaml").read_text())
    assert crd["spec"] == source["spec"] and crd["metadata"]["name"] == source["metadata"]["name"]
    assert not by_kind(render(values={"crds": {"enabled": False}}), "CustomResourceDefinition")


@needs_helm
def test_security_contexts_extras_and_topology_come_from_values() -> None:
    values = {"operator": {
        "podSecurityContext": {"runAsNonRoot": True, "runAsUser": None, "runAsGroup": None},
        "extraArgs": ["--verbose"], "extraVolumes": [{"name": "ca", "configMap": {"name": "corp-ca"}}],
        "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/corp-ca", "readOnly": True}],
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                       "whenUnsatisfiable": "ScheduleAnyway"}]}}
    (dep,) = by_kind(render(values=values), "Deployment")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}  # OpenShift
    assert c["args"][-1] == "--verbose"
    assert {"name": "ca", "configMap": {"name": "corp-ca"}} in pod["volumes"]
    assert {"name": "ca", "mountPath": "/etc/corp-ca", "readOnly": True} in c["volumeMounts"]
    (tsc,) = pod["topologySpreadConstraints"]
    assert tsc["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "operator"
    assert c["resources"]["requests"]["ephemeral-storage"] and c["resources"]["limits"]["ephemeral-storage"]


@needs_helm
def test_alert_thresholds_durations_severities_and_runbooks_are_values() -> None:
    values = {"monitoring": {"prometheusRule": {"force": True}, "alerts": {
        "apiErrorRate": 0.1, "marketDataStaleSeconds": 30, "credentialMaxAgeDays": 50,
        "runbookBaseUrl": "https://wiki.example.com/botfleet",
        "overrides": {"BotfleetBotNotReady": {"for": "30m", "severity": "critical"}}}}}
    (rule,) = by_kind(render(values=values), "PrometheusRule")
    rules = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert rules["BotfleetApiErrorRateHigh"]["expr"].rstrip().endswith(") > 0.1")
    assert "(botfleet_market_data_age_seconds) > 30" in rules["BotfleetMarketDataStale"]["expr"]
    assert "> 50 * 86400" in rules["BotfleetCredentialsOld"]["expr"]
    assert (rules["BotfleetBotNotReady"]["for"], rules["BotfleetBotNotReady"]["labels"]["severity"]) == ("30m", "critical")
    assert all(r["annotations"]["runbook_url"].startswith("https://wiki.example.com/botfleet/") for r in rules.values())
    # The file itself: absolute links, and the kill-switch hint works from any namespace.
    text = (CHART / "rules" / "botfleet.rules.yaml").read_text()
    assert 'runbook_url: "docs/' not in text
    assert "kubectl exec -n {{ $labels.namespace }} deploy/{{ $labels.bot }}" in text


@needs_helm
def test_the_operator_has_a_network_policy_of_its_own() -> None:
    objs = render(values={"operator": {"networkPolicy": {"apiServerCIDRs": ["10.96.0.1/32"]}}})
    pols = {p["metadata"]["name"]: p["spec"] for p in by_kind(objs, "NetworkPolicy")}
    op = pols["botfleet-operator"]
    assert op["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "operator"
    assert {p["port"] for rule in op["ingress"] for p in rule["ports"]} == {8080, 8081}
    egress = {(p["port"], p["protocol"]) for rule in op["egress"] for p in rule["ports"]}
    assert egress == {(53, "UDP"), (53, "TCP"), (443, "TCP"), (6443, "TCP"), (9100, "TCP")}
    api_rule = next(r for r in op["egress"] if {p["port"] for p in r["ports"]} == {443, 6443})
    assert api_rule["to"] == [{"ipBlock": {"cidr": "10.96.0.1/32"}}]
    assert pols["botfleet-operator-test"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "test"
    assert not by_kind(render(values={"operator": {"networkPolicy": {"enabled": False}}}), "NetworkPolicy")


@needs_helm
def test_registry_pull_secrets_for_every_pod_and_a_lease_per_release() -> None:
    values = {"image": {"registry": "registry.example.com/team", "repository": "botfleet", "pullPolicy": "Always"},
              "imagePullSecrets": [{"name": "regcred"}, {"name": "mirror"}]}
    (dep,) = by_kind(render(release="blue", values=values), "Deployment")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == "registry.example.com/team/botfleet:0.1.0"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror"}]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["BOTFLEET_BOT_IMAGE_PULL_SECRETS"] == "regcred,mirror"  # bots, backup and rotation Jobs too
    assert env["BOTFLEET_BOT_IMAGE"] == c["image"]
    assert "--lease-name=blue-botfleet-operator" in c["args"]


@needs_helm
def test_operator_gets_its_hmac_key_and_the_bots_network_settings() -> None:
    """The key of status.credentialsHash comes from a Secret (made once, or the user's); the bots'
    NetworkPolicy settings reach the operator as its environment."""
    objs = render()
    (key_secret,) = [o for o in by_kind(objs, "Secret") if o["metadata"]["name"].endswith("-hash-key")]
    assert len(base64.b64decode(key_secret["data"]["key"])) == 64
    (dep,) = by_kind(objs, "Deployment")
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["BOTFLEET_HASH_KEY"]["valueFrom"]["secretKeyRef"] == {"name": key_secret["metadata"]["name"], "key": "key"}
    assert env["BOTFLEET_MONITORING_NAMESPACE_SELECTOR"]["value"] == "kubernetes.io/metadata.name=monitoring"
    assert env["BOTFLEET_DNS_POD_SELECTOR"]["value"] == "k8s-app=kube-dns"
    assert "BOTFLEET_CLUSTER_CIDRS" not in env and "BOTFLEET_ALLOWED_IMAGES" not in env
    own = render(values={"operator": {"hashKey": {"existingSecret": "my-key"}, "allowedImages": ["r.example/t/"],
                                      "botNetworkPolicy": {"clusterCIDRs": ["10.244.0.0/16", "10.96.0.0/12"]}}})
    assert not [o for o in by_kind(own, "Secret") if o["metadata"]["name"].endswith("-hash-key")]
    (dep,) = by_kind(own, "Deployment")
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["BOTFLEET_HASH_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "my-key"
    assert env["BOTFLEET_CLUSTER_CIDRS"]["value"] == "10.244.0.0/16,10.96.0.0/12"
    assert env["BOTFLEET_ALLOWED_IMAGES"]["value"] == "r.example/t/"
