"""reconcile() against a fake API: idempotence, drift repair, secrets gating, rotation trigger, no leaks."""

from __future__ import annotations

import copy
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from botfleet_operator.conditions import condition
from botfleet_operator.kube import KubeError
from botfleet_operator.reconcile import Snapshot, is_subset, reconcile
from botfleet_operator.resources import Settings
from tests.unit.operator.tb_fixtures import FAKE_KEY, bot, secret, views

NOW = datetime(2026, 3, 1, tzinfo=UTC)
SETTINGS = Settings(image="img:1")


class FakeKube:
    def __init__(self, fail_kinds: tuple[str, ...] = ()) -> None:
        self.applied: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.events: list[tuple[str, str, str]] = []
        self.deleted: list[tuple[str, str, str | None]] = []
        self.looked_up: list[str] = []
        self.unwatched_secrets: set[str] = set()  # exist, but the watch has not seen them (not opted in)
        self.existing: dict[tuple[str, str], dict[str, Any]] = {}  # objects the watch does not show
        self.get_error = 0  # an HTTP status every direct read fails with
        self.fail_kinds = fail_kinds

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        if obj["kind"] in self.fail_kinds:
            raise KubeError(f"apply {obj['kind']}: HTTP 422: invalid", 422)
        self.applied.append(copy.deepcopy(obj))
        out = copy.deepcopy(obj)
        out["metadata"]["generation"] = 1
        out["status"] = {}
        return out

    def delete(self, kind: str, namespace: str, name: str, uid: str | None = None) -> None:
        self.deleted.append((kind, name, uid))

    def secret_exists(self, namespace: str, name: str) -> bool:
        self.looked_up.append(name)
        return name in self.unwatched_secrets

    def patch_status(self, namespace: str, name: str, status: dict[str, Any],
                     resource_version: str | None = None) -> dict[str, Any]:
        self.statuses.append(copy.deepcopy(status))
        return {}

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        if self.get_error:
            raise KubeError(f"get {kind} {namespace}/{name}: HTTP {self.get_error}: denied", self.get_error)
        return copy.deepcopy(self.existing.get((kind, name)))

    get_metadata = get

    def event(self, bot: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


def observed_from(kube: FakeKube, base: dict[tuple[str, str], dict[str, Any]] | None = None,
                  ) -> dict[tuple[str, str], dict[str, Any]]:
    """What the watch would show after the applies: the objects plus server-side additions."""
    out = dict(base or {})
    for obj in kube.applied:
        o = copy.deepcopy(obj)
        o["metadata"]["resourceVersion"] = "1"
        o["metadata"]["uid"] = f"uid-{o['kind']}-{o['metadata']['name']}"
        o["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "1"
        if o["kind"] == "Deployment":
            o["spec"]["progressDeadlineSeconds"] = 600
            o["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] = "/dev/termination-log"
            o["status"] = {"observedGeneration": 1, "availableReplicas": 1, "updatedReplicas": 1, "replicas": 1}
            o["metadata"]["generation"] = 1
        out[(o["kind"], o["metadata"]["name"])] = o
    return out


def test_first_reconcile_applies_everything_then_nothing() -> None:
    b = bot(walletSecretRef={"name": "w"})
    secrets = views(secret("w", PRIVATE_KEY=FAKE_KEY))
    kube = FakeKube()
    result = reconcile(Snapshot(bot=b, secrets=secrets), kube, SETTINGS, NOW)
    kinds = [k for k, _ in result.applied]
    assert kinds == ["ServiceAccount", "ConfigMap", "PersistentVolumeClaim", "NetworkPolicy",
                     "NetworkPolicy", "Deployment", "CronJob"]
    assert not result.errors and len(kube.statuses) == 1
    assert [e for e in kube.events if e[1] == "Created"] == [(
        "Normal", "Created", "Created ServiceAccount b1, ConfigMap b1, PersistentVolumeClaim b1, "
        "NetworkPolicy b1, NetworkPolicy b1-jobs, Deployment b1, CronJob b1-backup")]
    assert len(kube.events) == 1  # first status: no problem, no transition Events

    b["status"] = kube.statuses[-1]
    kube2 = FakeKube()
    result = reconcile(Snapshot(bot=b, secrets=secrets, owned=observed_from(kube)), kube2, SETTINGS, NOW)
    assert result.applied == [] and kube2.applied == []
    ready = condition(kube2.statuses[-1], "Ready") if kube2.statuses else condition(b["status"], "Ready")
    assert ready is not None
    # Status moved to Ready=True (the Deployment became available): patched once, then stable.
    b["status"] = kube2.statuses[-1]
    kube3 = FakeKube()
    reconcile(Snapshot(bot=b, secrets=secrets, owned=observed_from(kube)), kube3, SETTINGS, NOW)
    assert kube3.applied == [] and kube3.statuses == [] and kube3.events == []


def test_objects_found_up_to_date_with_the_same_inputs_are_not_built_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from botfleet_operator import resources
    from botfleet_operator.api import TradingBot
    from botfleet_operator.reconcile import UP_TO_DATE_MARK, plan

    b = bot(walletSecretRef={"name": "w"})
    secrets = views(secret("w", PRIVATE_KEY=FAKE_KEY))
    kube = FakeKube()
    reconcile(Snapshot(bot=b, secrets=secrets), kube, SETTINGS, NOW)
    owned = observed_from(kube)
    parsed = TradingBot.parse(b)
    todo, _, _ = plan(parsed, Snapshot(bot=b, secrets=secrets, owned=owned), SETTINGS)  # compares, marks
    assert todo.apply == [] and all(UP_TO_DATE_MARK in o for o in owned.values())
    # An old Service of the bot (pruned) beside them: found without building the desired objects.
    old = {"kind": "Service", "metadata": {"name": "b1", "namespace": "ns", "ownerReferences": [
        {"kind": "TradingBot", "name": "b1", "uid": parsed.uid, "controller": True}]}}
    built: list[str] = []
    real = resources.desired_objects
    monkeypatch.setattr(resources, "desired_objects", lambda *a, **k: built.append("x") or real(*a, **k))
    todo, _, _ = plan(parsed, Snapshot(bot=b, secrets=secrets, owned={**owned, ("Service", "b1"): old}), SETTINGS)
    assert built == [] and todo.apply == [] and todo.prune == [old]
    # One object not marked (a new version arrived): built and compared again; a changed input too.
    unmarked = {k: v for k, v in owned[("CronJob", "b1-backup")].items() if k != UP_TO_DATE_MARK}
    todo, _, _ = plan(parsed, Snapshot(bot=b, secrets=secrets, owned={**owned, ("CronJob", "b1-backup"): unmarked}),
                      SETTINGS)
    assert built == ["x"] and todo.apply == []
    todo, _, _ = plan(TradingBot.parse(bot(walletSecretRef={"name": "w"}, paused=True)),
                      Snapshot(bot=b, secrets=secrets, owned=owned), SETTINGS)
    assert built == ["x", "x"] and "Deployment" in [o["kind"] for o in todo.apply]


def test_a_rolled_deployment_is_announced_once_not_again_as_ready_rolling_out() -> None:
    """A Secret change rolls the bot: "Updated Deployment" says it; Ready=False RollingOut (a
    transition of the same change) posts no second Event. At 1,000 bots that is 1,000 Events."""
    b = bot(mode="live", walletSecretRef={"name": "w"})
    secrets = views(secret("w", PRIVATE_KEY=FAKE_KEY))
    kube = FakeKube()
    reconcile(Snapshot(bot=b, secrets=secrets), kube, SETTINGS, NOW)
    owned = observed_from(kube)
    b["status"] = kube.statuses[-1]
    settled = FakeKube()
    reconcile(Snapshot(bot=b, secrets=secrets, owned=owned), settled, SETTINGS, NOW)
    b["status"] = settled.statuses[-1]
    assert condition(b["status"], "Ready")["status"] == "True"  # type: ignore[index]
    rotated = FakeKube()
    new_key = "0x" + "cd" * 32  # not FAKE_KEY
    reconcile(Snapshot(bot=b, secrets=views(secret("w", PRIVATE_KEY=new_key)), owned=owned), rotated, SETTINGS, NOW)
    assert [o["kind"] for o in rotated.applied] == ["Deployment"]
    assert condition(rotated.statuses[-1], "Ready")["reason"] == "RollingOut"  # type: ignore[index]
    assert [(t, r) for t, r, _ in rotated.events] == [("Normal", "Updated")]


def test_hand_edits_are_reverted() -> None:
    b = bot()
    kube = FakeKube()
    reconcile(Snapshot(bot=b), kube, SETTINGS, NOW)
    owned = observed_from(kube)
    owned[("Deployment", "b1")]["spec"]["replicas"] = 5
    del owned[("ConfigMap", "b1")]
    kube2 = FakeKube()
    result = reconcile(Snapshot(bot=b, owned=owned), kube2, SETTINGS, NOW)
    assert sorted(result.applied) == [("ConfigMap", "b1"), ("Deployment", "b1")]
    assert [o["spec"]["replicas"] for o in kube2.applied if o["kind"] == "Deployment"] == [1]


def test_missing_secret_holds_the_deployment_and_reports_the_key() -> None:
    b = bot(mode="live", walletSecretRef={"name": "w"})
    kube = FakeKube()
    reconcile(Snapshot(bot=b, secrets=views(secret("w", SIGNATURE_TYPE="0"))), kube, SETTINGS, NOW)
    assert "Deployment" not in [o["kind"] for o in kube.applied]
    st = kube.statuses[-1]
    sr = condition(st, "SecretsReady")
    assert sr is not None and (sr["status"], sr["reason"]) == ("False", "SecretKeyMissing")
    assert "PRIVATE_KEY" in sr["message"]
    assert any(e[0] == "Warning" and e[1] == "SecretKeyMissing" for e in kube.events)
    # The Secret is fixed: the Deployment is created.
    b["status"] = st
    kube2 = FakeKube()
    reconcile(Snapshot(bot=b, secrets=views(secret("w", PRIVATE_KEY=FAKE_KEY)), owned=observed_from(kube)),
              kube2, SETTINGS, NOW)
    assert [o["kind"] for o in kube2.applied] == ["Deployment"]
    assert condition(kube2.statuses[-1], "SecretsReady")["status"] == "True"  # type: ignore[index]


def test_apply_error_is_reported_and_generation_not_claimed() -> None:
    b = bot(generation=3)
    b["status"] = {"observedGeneration": 2}
    kube = FakeKube(fail_kinds=("Deployment",))
    result = reconcile(Snapshot(bot=b), kube, SETTINGS, NOW)
    assert result.retry and "HTTP 422" in result.errors[0]
    st = kube.statuses[-1]
    assert st["observedGeneration"] == 2
    assert condition(st, "Degraded")["reason"] == "ApplyFailed"  # type: ignore[index]


def test_invalid_params_applies_nothing() -> None:
    b = bot(params={"copyRatio": 0.5})  # bypassed CEL (e.g. CRD not updated): the operator still refuses
    kube = FakeKube()
    reconcile(Snapshot(bot=b), kube, SETTINGS, NOW)
    assert kube.applied == []
    deg = condition(kube.statuses[-1], "Degraded")
    assert deg is not None and deg["reason"] == "InvalidParams" and "spec.params.copyRatio" in deg["message"]


def test_manual_rotation_trigger_starts_one_job() -> None:
    b = bot(mode="live", walletSecretRef={"name": "w"}, credentialsSecretRef={"name": "c"})
    b["metadata"]["annotations"] = {"botfleet.io/rotate-credentials": "now-1"}
    secrets = views(secret("w", PRIVATE_KEY=FAKE_KEY), secret("c", OPENAI_API_KEY="y"))
    kube = FakeKube()
    reconcile(Snapshot(bot=b, secrets=secrets), kube, SETTINGS, NOW)
    jobs = [o for o in kube.applied if o["kind"] == "Job"]
    assert len(jobs) == 1 and jobs[0]["metadata"]["annotations"]["botfleet.io/rotation-trigger"] == "now-1"
    assert kube.statuses[-1]["rotationTrigger"] == "now-1"
    b["status"] = kube.statuses[-1]
    kube2 = FakeKube()
    reconcile(Snapshot(bot=b, secrets=secrets, owned=observed_from(kube)), kube2, SETTINGS, NOW)
    assert [o for o in kube2.applied if o["kind"] == "Job"] == []


def test_no_secret_value_in_objects_status_events_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    b = bot(mode="live", walletSecretRef={"name": "w"}, credentialsSecretRef={"name": "c"},
            keyRotation={"schedule": "@weekly"})
    b["metadata"]["annotations"] = {"botfleet.io/rotate-credentials": "1"}
    secrets = views(secret("w", PRIVATE_KEY=FAKE_KEY),
                    secret("c", CLOB_API_KEY="key-value-123", CLOB_SECRET="secret-value-456",
                           CLOB_PASSPHRASE="pass-value-789"))
    kube = FakeKube(fail_kinds=("Service",))
    reconcile(Snapshot(bot=b, secrets=secrets), kube, SETTINGS, NOW)
    everything = json.dumps([kube.applied, kube.statuses, kube.events]) + caplog.text + repr(secrets)
    for value in (FAKE_KEY, FAKE_KEY[2:], "key-value-123", "secret-value-456", "pass-value-789"):
        assert value not in everything


@pytest.mark.parametrize(("desired", "observed", "expected"), [
    ({"a": 1}, {"a": 1, "b": 2}, True),
    ({"a": 1}, {"a": 2}, False),
    ({"a": [1, 2]}, {"a": [1, 2, 3]}, False),
    ({"a": [{"x": 1}]}, {"a": [{"x": 1, "y": 0}]}, True),
    ({"a": 1.0}, {"a": 1}, True),
    ({"a": True}, {"a": 1}, False),
    ({"a": {}}, {}, False),
    ({"a": 1}, None, False),
])
def test_is_subset(desired: Any, observed: Any, expected: bool) -> None:
    assert is_subset(desired, observed) is expected


def test_spec_that_does_not_parse_applies_nothing_and_says_why() -> None:
    """A TradingBot stored under an older CRD: the typed spec refuses it, status names the field."""
    b = bot(backup={"retain": 0})
    kube = FakeKube()
    result = reconcile(Snapshot(bot=b), kube, SETTINGS, NOW)
    assert not kube.applied and result.status is not None
    degraded = condition(result.status, "Degraded")
    assert degraded is not None and degraded["status"] == "True" and degraded["reason"] == "InvalidSpec"
    assert "spec.backup.retain" in degraded["message"] and degraded["lastTransitionTime"]
    assert "observedGeneration" not in result.status  # this generation was not reconciled


def _converge(b: dict[str, Any], secrets: dict[str, Any] | None = None,
              owned: dict[tuple[str, str], dict[str, Any]] | None = None,
              ) -> tuple[FakeKube, dict[tuple[str, str], dict[str, Any]]]:
    kube = FakeKube()
    reconcile(Snapshot(bot=b, secrets=secrets or {}, owned=owned or {}), kube, SETTINGS, NOW)
    return kube, observed_from(kube, owned)


@pytest.mark.parametrize(("field", "value"), [
    ("nodeSelector", {"pool": "trading"}),
    ("tolerations", [{"key": "k", "operator": "Exists"}]),
    ("affinity", {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}),
    ("env", [{"name": "TZ", "value": "UTC"}]),
])
def test_removing_a_spec_field_reapplies_the_deployment_without_it(field: str, value: Any) -> None:
    """Before the desired-state hash, the smaller desired Deployment was a subset of the live one: no apply."""
    b = bot(**{field: value})
    _, owned = _converge(b)
    dep = owned[("Deployment", "b1")]
    pod_spec = dep["spec"]["template"]["spec"]
    assert field in pod_spec or field == "env"
    del b["spec"][field]
    b["metadata"]["generation"] = 2
    kube = FakeKube()
    result = reconcile(Snapshot(bot=b, owned=owned), kube, SETTINGS, NOW)
    (applied,) = [o for o in kube.applied if o["kind"] == "Deployment"]
    assert ("Deployment", "b1") in result.applied
    pod_spec = applied["spec"]["template"]["spec"]
    assert (field not in pod_spec and field not in pod_spec["containers"][0]) or \
        [e["name"] for e in pod_spec["containers"][0]["env"]] == ["BOTFLEET_CONFIG", "POD_NAME"]
    assert result.status is not None and result.status["observedGeneration"] == 2


def test_removing_the_wallet_key_map_reapplies_the_secret_volume() -> None:
    secrets = views(secret("w", pk=FAKE_KEY, PRIVATE_KEY=FAKE_KEY))
    b = bot(mode="live", walletSecretRef={"name": "w", "keys": {"PRIVATE_KEY": "pk"}})
    _, owned = _converge(b, secrets)
    b["spec"]["walletSecretRef"] = {"name": "w"}
    kube = FakeKube()
    reconcile(Snapshot(bot=b, secrets=secrets, owned=owned), kube, SETTINGS, NOW)
    (dep,) = [o for o in kube.applied if o["kind"] == "Deployment"]
    (wallet,) = [v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "wallet"]
    assert "items" not in wallet["secret"]


ROT = {"mode": "live", "walletSecretRef": {"name": "w"}, "credentialsSecretRef": {"name": "c"}}
ROT_SECRETS = views(secret("w", PRIVATE_KEY=FAKE_KEY), secret("c", OPENAI_API_KEY="y"))


def test_removing_the_rotation_schedule_deletes_the_cronjob() -> None:
    b = bot(**ROT, keyRotation={"schedule": "@weekly"})
    _, owned = _converge(b, ROT_SECRETS)
    assert ("CronJob", "b1-rotate") in owned
    b["spec"]["keyRotation"] = {"maxAgeDays": 30}
    kube = FakeKube()
    result = reconcile(Snapshot(bot=b, secrets=ROT_SECRETS, owned=owned), kube, SETTINGS, NOW)
    assert kube.deleted == [("CronJob", "b1-rotate", "uid-CronJob-b1-rotate")]
    assert result.pruned == [("CronJob", "b1-rotate")]
    assert ("Normal", "Deleted", "Deleted CronJob b1-rotate (no longer in the spec)") in kube.events


def test_removing_the_credentials_secret_deletes_the_rotator_rbac() -> None:
    b = bot(**ROT)
    _, owned = _converge(b, ROT_SECRETS)
    del b["spec"]["credentialsSecretRef"]
    kube = FakeKube()
    reconcile(Snapshot(bot=b, secrets=ROT_SECRETS, owned=owned), kube, SETTINGS, NOW)
    assert sorted((k, n) for k, n, _ in kube.deleted) == [
        ("Role", "b1-rotator"), ("RoleBinding", "b1-rotator"), ("ServiceAccount", "b1-rotator")]


def test_backup_pvc_is_deleted_only_when_retention_says_delete() -> None:
    b = bot(backup={"storage": {"pvc": {"size": "2Gi"}}}, retention={"backups": "Delete"})
    _, owned = _converge(b)
    del b["spec"]["backup"]
    kube = FakeKube()
    reconcile(Snapshot(bot=b, owned=owned), kube, SETTINGS, NOW)
    assert [(k, n) for k, n, _ in kube.deleted] == [("PersistentVolumeClaim", "b1-backups")]

    kept = bot(backup={"storage": {"pvc": {"size": "2Gi"}}})  # retention defaults to Retain
    _, owned = _converge(kept)
    assert "ownerReferences" not in owned[("PersistentVolumeClaim", "b1-backups")]["metadata"]
    del kept["spec"]["backup"]
    kube = FakeKube()
    reconcile(Snapshot(bot=kept, owned=owned), kube, SETTINGS, NOW)
    assert kube.deleted == []


def test_objects_of_another_bot_with_the_same_name_are_not_pruned() -> None:
    b = bot(**ROT, keyRotation={"schedule": "@weekly"})
    _, owned = _converge(b, ROT_SECRETS)
    for obj in owned.values():
        for ref in obj["metadata"].get("ownerReferences", []):
            ref["uid"] = "uid-of-a-deleted-bot"
    b["spec"]["keyRotation"] = {"maxAgeDays": 30}
    kube = FakeKube()
    reconcile(Snapshot(bot=b, secrets=ROT_SECRETS, owned=owned), kube, SETTINGS, NOW)
    assert kube.deleted == []


def test_nothing_is_pruned_while_an_apply_fails() -> None:
    b = bot(**ROT, keyRotation={"schedule": "@weekly"})
    _, owned = _converge(b, ROT_SECRETS)
    b["spec"]["keyRotation"] = {"maxAgeDays": 30}
    b["spec"]["nodeSelector"] = {"pool": "x"}
    kube = FakeKube(fail_kinds=("Deployment",))
    result = reconcile(Snapshot(bot=b, secrets=ROT_SECRETS, owned=owned), kube, SETTINGS, NOW)
    assert kube.deleted == [] and result.retry


def test_a_secret_not_opted_in_is_named_never_read_and_nothing_uses_it() -> None:
    """An author may name any Secret of the namespace; only one its owner labelled for the bot is used."""
    b = bot(mode="live", walletSecretRef={"name": "w"})
    kube = FakeKube()
    kube.unwatched_secrets.add("w")   # exists, unlabelled: the label-selected watch never delivered it
    result = reconcile(Snapshot(bot=b), kube, SETTINGS, NOW)
    assert kube.looked_up == ["w"] and kube.applied == [] and result.applied == []
    status = kube.statuses[-1]
    sr, ready, degraded = (condition(status, t) for t in ("SecretsReady", "Ready", "Degraded"))
    assert sr is not None and sr["status"] == "False" and sr["reason"] == "SecretNotAllowed"
    assert "kubectl label secret w botfleet.io/bots=b1" in sr["message"]
    assert degraded is not None and degraded["reason"] == "NotAllowed" and "spec.walletSecretRef" in degraded["message"]
    assert ready is not None and ready["reason"] == "NotAllowed"
    assert "observedGeneration" not in status  # the generation is not claimed


@pytest.mark.parametrize(("label", "used"), [("all", True), ("b1", True), ("a_b1_c", True), ("b2", False),
                                             ("b", False), ("b1x", False), ("", False)])
def test_the_opt_in_label_names_the_bot(label: str, used: bool) -> None:
    b = bot(mode="live", walletSecretRef={"name": "w"})
    kube = FakeKube()
    reconcile(Snapshot(bot=b, secrets=views(secret("w", bots=label, PRIVATE_KEY=FAKE_KEY))), kube, SETTINGS, NOW)
    assert ("Deployment" in [o["kind"] for o in kube.applied]) is used
    sr = condition(kube.statuses[-1], "SecretsReady")
    assert sr is not None and sr["reason"] == ("AllSecretsPresent" if used else "SecretNotAllowed")


def test_a_missing_secret_is_looked_for_again_soon() -> None:
    kube = FakeKube()
    result = reconcile(Snapshot(bot=bot(mode="live", walletSecretRef={"name": "w"})), kube, SETTINGS, NOW)
    assert kube.looked_up == ["w"] and result.recheck_after == 10.0
    sr = condition(kube.statuses[-1], "SecretsReady")
    assert sr is not None and sr["reason"] == "SecretNotFound"
    # Seen by the watch (opted in): no lookup.
    kube2 = FakeKube()
    reconcile(Snapshot(bot=bot(mode="live", walletSecretRef={"name": "w"}),
                       secrets=views(secret("w", PRIVATE_KEY=FAKE_KEY))), kube2, SETTINGS, NOW)
    assert kube2.looked_up == []


def _foreign(kind: str, name: str, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "ns", "uid": "other", **meta}}


@pytest.mark.parametrize(("kind", "name"), [("NetworkPolicy", "b1"), ("ServiceAccount", "b1-rotator"),
                                            ("ConfigMap", "b1"), ("PersistentVolumeClaim", "b1")])
def test_an_existing_object_of_someone_else_is_never_adopted(kind: str, name: str) -> None:
    """A bot named after the namespace's default-deny policy, or whose rotator name is a privileged
    ServiceAccount: nothing is written (forced apply would take the object over, GC delete it)."""
    b = bot(mode="live", walletSecretRef={"name": "w"}, credentialsSecretRef={"name": "c"})
    secrets = views(secret("w", PRIVATE_KEY=FAKE_KEY), secret("c"))
    kube = FakeKube()
    kube.existing[(kind, name)] = _foreign(kind, name, labels={"team": "infra"})
    result = reconcile(Snapshot(bot=b, secrets=secrets), kube, SETTINGS, NOW)
    assert kube.applied == [] and kube.deleted == [] and not result.retry
    degraded, ready = condition(kube.statuses[-1], "Degraded"), condition(kube.statuses[-1], "Ready")
    assert degraded is not None and degraded["reason"] == "OwnershipConflict"
    assert f"{kind} ns/{name} already exists" in degraded["message"] and "does not adopt" in degraded["message"]
    assert ready is not None and ready["reason"] == "OwnershipConflict"
    assert "observedGeneration" not in kube.statuses[-1]
    # Once the object is gone (renamed bot, deleted leftover), the bot is created.
    kube.existing.clear()
    reconcile(Snapshot(bot=b, secrets=secrets), kube, SETTINGS, NOW)
    assert (kind, name) in [(o["kind"], o["metadata"]["name"]) for o in kube.applied]


def test_a_retained_journal_and_objects_the_bot_controls_are_its_own() -> None:
    b = bot()
    kube = FakeKube()
    # The journal a deleted bot of this name left behind (retention: Retain): labelled, no controller.
    kube.existing[("PersistentVolumeClaim", "b1")] = _foreign(
        "PersistentVolumeClaim", "b1",
        labels={"botfleet.io/bot": "b1", "app.kubernetes.io/managed-by": "botfleet-operator"})
    # An object this bot created whose watch event has not arrived yet.
    kube.existing[("ConfigMap", "b1")] = _foreign("ConfigMap", "b1", ownerReferences=[
        {"apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot", "name": "b1", "uid": "uid-b1", "controller": True}])
    reconcile(Snapshot(bot=b), kube, SETTINGS, NOW)
    assert {"PersistentVolumeClaim", "ConfigMap", "Deployment"} <= {o["kind"] for o in kube.applied}


def test_objects_of_an_earlier_bot_of_the_same_name_wait_for_its_deletion() -> None:
    b = bot()
    earlier = _foreign("ConfigMap", "b1", ownerReferences=[
        {"apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot", "name": "b1", "uid": "uid-old", "controller": True}],
        labels={"botfleet.io/bot": "b1", "app.kubernetes.io/managed-by": "botfleet-operator"})
    kube = FakeKube()
    result = reconcile(Snapshot(bot=b, owned={("ConfigMap", "b1"): earlier}), kube, SETTINGS, NOW)
    assert kube.applied == [] and result.retry
    degraded = condition(kube.statuses[-1], "Degraded")
    assert degraded is not None and "still being deleted" in degraded["message"]


def test_an_object_that_cannot_be_checked_is_not_created_and_is_retried() -> None:
    kube = FakeKube()
    kube.get_error = 403
    result = reconcile(Snapshot(bot=bot()), kube, SETTINGS, NOW)
    assert kube.applied == [] and result.retry
    degraded = condition(kube.statuses[-1], "Degraded")
    assert degraded is not None and degraded["reason"] == "ApplyFailed"
    assert "cannot check ConfigMap b1 before creating it" in degraded["message"]


@pytest.mark.parametrize(("spec", "why"), [
    ({}, "a paper bot has no CLOB API key to rotate"),
    ({"mode": "live", "walletSecretRef": {"name": "w"}}, "rotation needs spec.credentialsSecretRef"),
])
def test_a_rotation_request_a_bot_cannot_act_on_is_said_once_not_ignored(spec: dict[str, Any], why: str) -> None:
    """`kubectl annotate ... rotate-credentials=...` on a bot without a CLOB API key to rotate: no Job,
    but a Warning Event naming what rotation needs, once per annotation value."""
    b = bot(**spec)
    b["metadata"]["annotations"] = {"botfleet.io/rotate-credentials": "now-1"}
    secrets = views(secret("w", PRIVATE_KEY=FAKE_KEY))
    kube = FakeKube()
    reconcile(Snapshot(bot=b, secrets=secrets), kube, SETTINGS, NOW)
    assert [o for o in kube.applied if o["kind"] == "Job"] == []
    (warning,) = [(r, m) for t, r, m in kube.events if t == "Warning"]
    assert warning[0] == "RotationNotPossible" and why in warning[1] and "=now-1 ignored" in warning[1]
    assert kube.statuses[-1]["rotationTrigger"] == "now-1"
    b["status"] = kube.statuses[-1]
    again = FakeKube()
    reconcile(Snapshot(bot=b, secrets=secrets, owned=observed_from(kube)), again, SETTINGS, NOW)
    assert [e for e in again.events if e[1] == "RotationNotPossible"] == []
