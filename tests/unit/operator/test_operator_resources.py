"""Spec -> desired objects, for every strategy, mode and risk profile."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from bot_runtime.contract.config import BotConfig
from bot_runtime.contract.params import RiskProfile, Strategy
from bot_runtime.venue.polymarket.constants import CLOB_URL
from botfleet_operator import resources
from botfleet_operator.presets import DEFAULT_RESOURCES, PRESETS
from botfleet_operator.resources import Settings, desired_objects
from tests.unit.operator.tb_fixtures import FAKE_KEY, secret, tb, views

REPO = Path(__file__).resolve().parents[3]

SIM = Settings(image="img:1", sim_url="http://sim.botfleet.svc:8000")


def by_kind(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in objs}


@pytest.mark.parametrize(("strategy", "mode", "risk"),
                         list(itertools.product(list(Strategy), ["paper", "live"], list(RiskProfile))))
def test_desired_objects_for_every_strategy_mode_and_risk(strategy: Strategy, mode: str, risk: RiskProfile) -> None:
    b = tb(strategy=strategy.value, mode=mode, riskProfile=risk.value, walletSecretRef={"name": "w"})
    secrets = views(secret("w", PRIVATE_KEY=FAKE_KEY))
    objs = by_kind(desired_objects(b, SIM, secrets))
    # No Service: the chart's PodMonitor scrapes the bot's pod (tests/chart: it selects no Job pod).
    assert set(objs) == {"ServiceAccount/b1", "ConfigMap/b1", "PersistentVolumeClaim/b1",
                         "NetworkPolicy/b1", "NetworkPolicy/b1-jobs", "Deployment/b1", "CronJob/b1-backup"}
    for key, obj in objs.items():
        assert obj["metadata"]["namespace"] == "ns"
        # The journal volume is retained by default (spec.retention): no owner, no garbage collection.
        assert obj["metadata"].get("ownerReferences") == (None if key == "PersistentVolumeClaim/b1" else [{
            "apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot", "name": "b1", "uid": "uid-b1",
            "controller": True, "blockOwnerDeletion": True}])
        assert len(obj["metadata"]["annotations"]["botfleet.io/desired-hash"]) == 16
        assert obj["metadata"]["labels"]["botfleet.io/bot"] == "b1"
        assert FAKE_KEY not in json.dumps(obj)
    assert objs["ServiceAccount/b1"]["automountServiceAccountToken"] is False

    config = BotConfig.model_validate_json(objs["ConfigMap/b1"]["data"]["config.json"])
    assert (config.strategy, config.mode, config.riskProfile) == (strategy, mode, risk)
    params = config.strategy_params().model_dump()
    assert all(params[k] == v for k, v in PRESETS[strategy][risk].items())
    if mode == "paper":
        assert config.endpoints.clobUrl == "http://sim.botfleet.svc:8000"
    else:
        assert config.endpoints.clobUrl == CLOB_URL
    assert config.journal.url == "sqlite:////data/journal.sqlite" and config.telemetry.port == 9100

    dep = objs["Deployment/b1"]["spec"]
    assert dep["replicas"] == 1 and dep["strategy"] == {"type": "Recreate"}
    pod = dep["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["serviceAccountName"] == "b1"
    assert pod["securityContext"]["runAsNonRoot"] is True
    (c,) = pod["containers"]
    assert c["image"] == "img:1" and c["args"] == ["run", "--config", "/etc/botfleet/config.json"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["ports"][0]["containerPort"] == 9100
    assert c["resources"] == DEFAULT_RESOURCES[strategy]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    volumes = {v["name"] for v in pod["volumes"]}
    if mode == "live":
        assert mounts["wallet"] == "/var/run/secrets/botfleet/wallet" and "wallet" in volumes
    else:  # a paper bot signs with its own paper key: the wallet Secret is neither mounted nor a volume
        assert "wallet" not in mounts and "wallet" not in volumes
        assert all(v.get("secret", {}).get("secretName") != "w" for v in pod["volumes"])
    assert mounts["data"] == "/data"
    assert "credentials" not in mounts
    ann = dep["template"]["metadata"]["annotations"]
    assert len(ann["botfleet.io/config-hash"]) == 16 and len(ann["botfleet.io/secrets-hash"]) == 16


def test_memory_limits_follow_the_guide() -> None:
    limits = {s: resources.deployment(tb(strategy=s.value), SIM, {})["spec"]["template"]["spec"]["containers"][0]
              ["resources"]["limits"]["memory"] for s in Strategy}
    assert limits == {Strategy.ARBHUNTER: "512Mi", Strategy.POLYAI: "1Gi", Strategy.ELITEMIMIC: "512Mi"}


def test_spec_resources_override_defaults_as_strings() -> None:
    dep = resources.deployment(tb(resources={"limits": {"cpu": 2, "memory": "2Gi"}}), SIM, {})
    res = dep["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert res["limits"] == {"cpu": "2", "memory": "2Gi", "ephemeral-storage": "256Mi"}
    assert res["requests"] == DEFAULT_RESOURCES[Strategy.ARBHUNTER]["requests"]


def test_paused_scales_to_zero_and_suspends_cronjobs() -> None:
    b = tb(paused=True)
    objs = by_kind(desired_objects(b, SIM, {}))
    assert objs["Deployment/b1"]["spec"]["replicas"] == 0
    assert objs["CronJob/b1-backup"]["spec"]["suspend"] is True
    assert json.loads(objs["ConfigMap/b1"]["data"]["config.json"])["paused"] is True


def test_config_hash_changes_with_spec_and_secret_hash_with_data() -> None:
    def ann(b: dict[str, Any], s: dict[str, Any]) -> dict[str, str]:
        d = resources.deployment(b, SIM, s)
        return d["spec"]["template"]["metadata"]["annotations"]  # type: ignore[no-any-return]

    base = tb(mode="live", walletSecretRef={"name": "w"})
    s1, s2 = views(secret("w", PRIVATE_KEY="a")), views(secret("w", PRIVATE_KEY="b"))
    assert ann(base, s1) == ann(base, s1)
    assert ann(base, s1)["botfleet.io/secrets-hash"] != ann(base, s2)["botfleet.io/secrets-hash"]
    assert ann(base, s1)["botfleet.io/config-hash"] == ann(base, s2)["botfleet.io/config-hash"]
    changed = tb(mode="live", walletSecretRef={"name": "w"}, riskProfile="aggressive")
    assert ann(base, s1)["botfleet.io/config-hash"] != ann(changed, s1)["botfleet.io/config-hash"]


def test_sim_url_only_for_paper_and_production_without_it() -> None:
    cfg = json.loads(resources.config_json(tb(), Settings()))
    assert cfg["endpoints"]["clobUrl"] == CLOB_URL


def test_secret_volumes_and_key_mapping() -> None:
    b = tb(mode="live", walletSecretRef={"name": "w", "keys": {"PRIVATE_KEY": "pk"}}, credentialsSecretRef={"name": "c"})
    dep = resources.deployment(b, SIM, views(secret("w", pk="x", SIGNATURE_TYPE="0"), secret("c", CLOB_API_KEY="k")))
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert vols["wallet"]["secret"]["items"] == [{"key": "SIGNATURE_TYPE", "path": "SIGNATURE_TYPE"},
                                                 {"key": "pk", "path": "PRIVATE_KEY"}]
    assert vols["credentials"]["secret"] == {"secretName": "c", "defaultMode": 0o440}


def test_env_extras_are_added_after_the_operators() -> None:
    dep = resources.deployment(tb(env=[{"name": "TZ", "value": "UTC"}]), SIM, {})
    env = dep["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env] == ["BOTFLEET_CONFIG", "POD_NAME", "TZ"]


def test_placement_is_passed_through() -> None:
    b = tb(nodeSelector={"pool": "bots"}, tolerations=[{"key": "k", "operator": "Exists"}],
            affinity={"nodeAffinity": {}})
    pod = resources.deployment(b, SIM, {})["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "bots"} and pod["tolerations"] == [{"key": "k", "operator": "Exists"}]
    assert pod["affinity"] == {"nodeAffinity": {}}


def test_the_bot_container_names_its_metrics_port_for_the_podmonitor() -> None:
    (c,) = resources.deployment(tb(), SIM, {})["spec"]["template"]["spec"]["containers"]
    assert c["ports"] == [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]


def test_a_bot_s_old_metrics_service_is_pruned() -> None:
    """Bots made by an older operator had a headless Service each: pruned (theirs only, by uid)."""
    b = tb()
    old = {"kind": "Service", "metadata": {"name": "b1", "namespace": "ns", "ownerReferences": [
        {"kind": "TradingBot", "name": "b1", "uid": b.uid, "controller": True}]}}
    users = {"kind": "Service", "metadata": {"name": "b1-ui", "namespace": "ns"}}
    desired = desired_objects(b, SIM, {})
    assert resources.prunable(b, {(o["kind"], o["metadata"]["name"]) for o in desired}, {("Service", "b1"): old, ("Service", "b1-ui"): users}) == [old]


def test_network_policy_allows_dns_443_sim_and_metrics_ingress() -> None:
    np = resources.network_policy(tb(), SIM)["spec"]
    assert np["policyTypes"] == ["Ingress", "Egress"]
    assert [p["port"] for rule in np["ingress"] for p in rule["ports"]] == [9100]  # who: test_network_policy_tenancy
    ports = [(p["protocol"], p["port"]) for rule in np["egress"] for p in rule["ports"]]
    assert ports == [("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 8000)]
    live = resources.network_policy(tb(mode="live", walletSecretRef={"name": "w"}), SIM)["spec"]
    assert [p["port"] for p in live["egress"][1]["ports"]] == [443]


def test_backup_cronjob_runs_backup_on_the_journal_volume() -> None:
    cj = resources.backup_cronjob(tb(backup={"schedule": "@daily", "retain": 3}), SIM)
    assert cj["spec"]["schedule"] == "@daily" and cj["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cj["spec"]["jobTemplate"]["spec"]["template"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "backup"
    (c,) = pod["spec"]["containers"]
    assert c["args"][:4] == ["backup", "--to", "/backups", "--retain"] and c["args"][4] == "3"
    assert {"name": "data", "mountPath": "/backups", "subPath": "backups"} in c["volumeMounts"]


def test_backup_pvc_and_s3() -> None:
    b = tb(backup={"storage": {"pvc": {"size": "5Gi", "storageClassName": "fast"}},
                    "s3": {"endpoint": "https://s3", "bucket": "bkt", "secretRef": {"name": "s3"}},
                    "encryption": {"secretRef": {"name": "backup-key"}}})
    objs = by_kind(desired_objects(b, SIM, {}))
    assert objs["PersistentVolumeClaim/b1-backups"]["spec"]["storageClassName"] == "fast"
    pod = objs["CronJob/b1-backup"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    env = {e["name"]: e for e in c["env"]}
    assert "BOTFLEET_BACKUP_S3_BUCKET" in env and {"name": "backups", "mountPath": "/backups"} in c["volumeMounts"]
    # The S3 keys and the encryption key are files, never environment variables.
    assert not [e for e in c["env"] if "valueFrom" in e] and "AWS_SECRET_ACCESS_KEY" not in env
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["s3-credentials"]["secret"]["secretName"] == "s3"
    assert [i["key"] for i in volumes["s3-credentials"]["secret"]["items"]] == ["AWS_ACCESS_KEY_ID",
                                                                                "AWS_SECRET_ACCESS_KEY"]
    assert volumes["backup-key"]["secret"] == {"secretName": "backup-key", "defaultMode": 0o440, "items": [
        {"key": "BACKUP_ENCRYPTION_KEY", "path": "BACKUP_ENCRYPTION_KEY"}]}
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["s3-credentials"]["readOnly"] and mounts["backup-key"]["readOnly"]
    assert env["BOTFLEET_BACKUP_S3_CREDENTIALS_DIR"]["value"] == mounts["s3-credentials"]["mountPath"]
    assert env["BOTFLEET_BACKUP_ENCRYPTION_KEY_FILE"]["value"] == (mounts["backup-key"]["mountPath"]
                                                                 + "/BACKUP_ENCRYPTION_KEY")


def test_backup_without_encryption_mounts_no_key() -> None:
    pod = by_kind(desired_objects(tb(), SIM, {}))["CronJob/b1-backup"]["spec"]["jobTemplate"]["spec"]["template"]
    names = {e["name"] for e in pod["spec"]["containers"][0]["env"]}
    assert "BOTFLEET_BACKUP_ENCRYPTION_KEY_FILE" not in names
    assert not {"backup-key", "s3-credentials"} & {v["name"] for v in pod["spec"]["volumes"]}


def test_rotation_objects_only_with_both_secrets_and_cronjob_with_schedule() -> None:
    b = tb(mode="live", walletSecretRef={"name": "w"}, credentialsSecretRef={"name": "c"},
            keyRotation={"schedule": "0 3 * * 0", "maxAgeDays": 30})
    objs = by_kind(desired_objects(b, SIM, {}))
    role = objs["Role/b1-rotator"]
    # the credentials Secret, and a read of the bot's own Deployment (to wait for its roll): nothing else
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["c"],
                              "verbs": ["get", "update", "patch"]},
                             {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["b1"],
                              "verbs": ["get"]}]
    assert "Deployment/b1" in objs
    assert objs["RoleBinding/b1-rotator"]["subjects"][0]["name"] == "b1-rotator"
    pod = objs["CronJob/b1-rotate"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "b1-rotator" and pod["automountServiceAccountToken"] is True
    assert pod["containers"][0]["args"][0] == "rotate-credentials" and "--revoke-old" in pod["containers"][0]["args"]
    job = resources.rotation_job(b, SIM, "2026-05-01")
    assert job["metadata"]["name"] == resources.rotation_job(b, SIM, "2026-05-01")["metadata"]["name"]
    assert job["metadata"]["name"] != resources.rotation_job(b, SIM, "again")["metadata"]["name"]
    assert "CronJob/b1-rotate" not in by_kind(desired_objects(tb(mode="live", walletSecretRef={"name": "w"}), SIM, {}))
    # a paper bot rotates nothing: rotating signs with the wallet, which paper mode never uses
    paper = tb(walletSecretRef={"name": "w"}, credentialsSecretRef={"name": "c"}, keyRotation={"schedule": "@weekly"})
    assert not [k for k in by_kind(desired_objects(paper, SIM, {})) if "rotat" in k]


def test_rotation_jobs_name_the_deployment_and_leave_room_for_the_wait_without_retrying() -> None:
    b = tb(mode="live", walletSecretRef={"name": "w"}, credentialsSecretRef={"name": "c"},
           keyRotation={"schedule": "0 3 * * 0"})
    cron = by_kind(desired_objects(b, SIM, {}))["CronJob/b1-rotate"]["spec"]["jobTemplate"]["spec"]
    manual = resources.rotation_job(b, SIM, "x")["spec"]
    for spec in (cron, manual):
        args = spec["template"]["spec"]["containers"][0]["args"]
        assert args[args.index("--deployment") + 1] == "b1"
        timeout = int(args[args.index("--rollout-timeout") + 1])
        # the deadline must not cut the wait short (scheduling, image pull and the API calls come on top)
        assert spec["activeDeadlineSeconds"] >= timeout + 300
        # a retry would rotate again from the NEW key and revoke it, leaving the first one valid
        assert spec["backoffLimit"] == 0
    without_revoke = tb(mode="live", walletSecretRef={"name": "w"}, credentialsSecretRef={"name": "c"},
                        keyRotation={"revokeOld": False})
    assert "--revoke-old" not in resources.rotation_job(without_revoke, SIM, "x")["spec"]["template"]["spec"][
        "containers"][0]["args"]


def _covered(rule: dict[str, Any], held: list[dict[str, Any]]) -> bool:
    """Is every (group, resource, name, verb) of `rule` granted by one of the `held` rules?"""
    for group, resource, verb in itertools.product(rule["apiGroups"], rule["resources"], rule["verbs"]):
        if not any(group in h["apiGroups"] and resource in h["resources"] and verb in h["verbs"]
                   and not h.get("resourceNames") for h in held):
            return False
    return True


def test_operator_holds_every_permission_of_the_rotator_role() -> None:
    """Kubernetes lets the operator create the per-bot rotator Role only with permissions it holds
    (RBAC escalation check): every rule must be in its ClusterRole (deploy/rbac/operator.yaml)."""
    import yaml

    docs = list(yaml.safe_load_all((REPO / "deploy" / "rbac" / "operator.yaml").read_text()))
    (cluster_role,) = [d for d in docs if d and d["kind"] == "ClusterRole"]
    b = tb(mode="live", walletSecretRef={"name": "w"}, credentialsSecretRef={"name": "c"})
    role = by_kind(desired_objects(b, SIM, {}))["Role/b1-rotator"]
    assert role["rules"] and all(_covered(r, cluster_role["rules"]) for r in role["rules"])
    assert not _covered({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["delete"]},
                        cluster_role["rules"])  # the check can fail


def test_without_deployment_when_secrets_are_broken() -> None:
    objs = by_kind(desired_objects(tb(), SIM, {}, include_deployment=False))
    assert "Deployment/b1" not in objs and "ConfigMap/b1" in objs


def test_settings_from_env() -> None:
    s = Settings.from_env({"BOTFLEET_BOT_IMAGE": "x:2", "BOTFLEET_SIM_URL": "http://sim:1",
                           "BOTFLEET_JOURNAL_STORAGE_CLASS": "local"})
    assert (s.image, s.sim_url, s.journal_storage_class) == ("x:2", "http://sim:1", "local")
    assert Settings.from_env({}).sim_url is None


def _matches(selector: dict[str, Any], pod_labels: dict[str, str]) -> bool:
    ok = all(pod_labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())
    for expr in selector.get("matchExpressions", []):
        assert expr["operator"] == "In"
        ok = ok and pod_labels.get(expr["key"]) in expr["values"]
    return ok


def test_network_policies_select_the_bot_pod_only_or_job_pods_only() -> None:
    b = tb(mode="live", walletSecretRef={"name": "w"}, credentialsSecretRef={"name": "c"}, keyRotation={"schedule": "@weekly"})
    objs = by_kind(desired_objects(b, SIM, {}))
    bot_pod = objs["Deployment/b1"]["spec"]["template"]["metadata"]["labels"]
    backup_pod = objs["CronJob/b1-backup"]["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    rotation_pod = objs["CronJob/b1-rotate"]["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    manual_pod = resources.rotation_job(b, SIM, "x")["spec"]["template"]["metadata"]["labels"]
    bot_np = objs["NetworkPolicy/b1"]["spec"]["podSelector"]
    jobs_np = objs["NetworkPolicy/b1-jobs"]["spec"]["podSelector"]
    assert _matches(bot_np, bot_pod)
    assert not any(_matches(bot_np, p) for p in (backup_pod, rotation_pod, manual_pod))
    assert not _matches(jobs_np, bot_pod)
    assert all(_matches(jobs_np, p) for p in (backup_pod, rotation_pod, manual_pod))
    # The rotation Job writes the credentials Secret: it must reach the API server (443/6443).
    ports = {p["port"] for rule in objs["NetworkPolicy/b1-jobs"]["spec"]["egress"] for p in rule["ports"]}
    assert {53, 443, 6443} <= ports
    assert "ingress" not in objs["NetworkPolicy/b1-jobs"]["spec"]


def test_jobs_network_policy_allows_the_s3_endpoint_port() -> None:
    b = tb(backup={"s3": {"endpoint": "https://minio.storage:9000", "bucket": "bots", "secretRef": {"name": "s"}},
                   "encryption": {"secretRef": {"name": "k"}}})
    np = resources.jobs_network_policy(b, Settings())
    ports = {p["port"] for rule in np["spec"]["egress"] for p in rule["ports"]}
    assert 9000 in ports


@pytest.mark.parametrize(("journal", "owned"), [("Retain", False), ("Delete", True)])
def test_journal_pvc_is_owned_only_when_retention_says_delete(journal: str, owned: bool) -> None:
    pvc = resources.journal_pvc(tb(retention={"journal": journal}), SIM)
    assert ("ownerReferences" in pvc["metadata"]) is owned


@pytest.mark.parametrize(("given", "expected"), [
    # partial limits below the default request: the request follows the limit
    ({"limits": {"memory": "128Mi"}}, {"requests": {"cpu": "250m", "memory": "128Mi"},
                                       "limits": {"cpu": "1", "memory": "128Mi"}}),
    # partial limits above the default request: defaults stay
    ({"limits": {"cpu": 2}}, {"requests": {"cpu": "250m", "memory": "256Mi"},
                              "limits": {"cpu": "2", "memory": "512Mi"}}),
    # requests only, within the default limits
    ({"requests": {"memory": "300Mi"}}, {"requests": {"cpu": "250m", "memory": "300Mi"},
                                         "limits": {"cpu": "1", "memory": "512Mi"}}),
])
def test_resources_merge_per_resource_and_never_request_above_limit(given: dict[str, Any],
                                                                     expected: dict[str, Any]) -> None:
    from kubernetes.utils.quantity import parse_quantity

    res = resources.deployment(tb(resources=given), SIM, {})["spec"]["template"]["spec"]["containers"][0]["resources"]
    ephemeral = {"requests": {"ephemeral-storage": "64Mi"}, "limits": {"ephemeral-storage": "256Mi"}}
    assert res == {k: {**v, **ephemeral[k]} for k, v in expected.items()}
    for name, value in res["requests"].items():
        assert parse_quantity(value) <= parse_quantity(res["limits"][name])


def test_desired_hash_changes_when_a_field_is_removed() -> None:
    with_selector = resources.deployment(tb(nodeSelector={"pool": "x"}), SIM, {})
    without = resources.deployment(tb(), SIM, {})
    assert resources.desired_hash(with_selector) != resources.desired_hash(without)
    assert resources.desired_hash(resources.with_desired_hash(without)) == resources.desired_hash(without)


def test_memoised_hashes_are_the_hashes_of_the_objects_returned() -> None:
    # Computed once per change of the inputs; a later call (a hit) must carry what a fresh computation
    # gives, and a spec change (same bot, same uid) must not be served the old hashes.
    def hashes(spec: dict[str, Any]) -> dict[str, str]:
        return {k: o["metadata"]["annotations"][resources.ANN_DESIRED_HASH]
                for k, o in by_kind(desired_objects(tb(**spec), SIM, {})).items()}
    specs: list[dict[str, Any]] = [{}, {"nodeSelector": {"pool": "x"}}, {"paused": True}]
    fresh = []
    for spec in specs:
        resources._DESIRED_HASHES.clear()
        fresh.append(hashes(spec))
    for spec, want in zip(specs * 2, fresh * 2, strict=True):
        assert hashes(spec) == want, spec
    assert fresh[0]["Deployment/b1"] != fresh[1]["Deployment/b1"] != fresh[2]["Deployment/b1"]
    assert fresh[0]["ServiceAccount/b1"] == fresh[1]["ServiceAccount/b1"]


def test_the_memo_forgets_its_oldest_entries_beyond_its_size() -> None:
    from botfleet_operator.memo import Memo

    m: Memo[int] = Memo(2)
    m.put("a", 1)
    m.put("b", 2)
    m.put("a", 3)  # refreshed: now the newest
    m.put("c", 4)
    assert (m.get("a"), m.get("b"), m.get("c")) == (3, None, 4)
