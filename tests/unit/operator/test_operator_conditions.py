"""Observed state -> status conditions; Secret completeness; hashes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from botfleet_operator import conditions
from botfleet_operator.api import TradingBot
from botfleet_operator.conditions import Observed, compute_status, condition, merge_conditions
from botfleet_operator.secrets import check, secrets_hash, view_of
from tests.unit.operator.tb_fixtures import FAKE_KEY, bot, secret, spec_of, views

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def dep(replicas: int = 1, available: int = 1, generation: int = 1, observed: int = 1, updated: int = 1,
        total: int | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "b1", "generation": generation},
            "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "availableReplicas": available, "updatedReplicas": updated,
                       "replicas": replicas if total is None else total}}


def job(name: str, component: str, outcome: str | None, created: str, done: str | None = None) -> dict[str, Any]:
    conds = [{"type": outcome, "status": "True", "lastTransitionTime": done}] if outcome else []
    return {"metadata": {"name": name, "creationTimestamp": created,
                         "labels": {"app.kubernetes.io/component": component}},
            "status": {"conditions": conds, **({"completionTime": done} if outcome == "Complete" else {})}}


def status_of(b: dict[str, Any], **obs: Any) -> dict[str, Any]:
    o = Observed(**obs)
    parsed = TradingBot.parse(b)
    if o.secrets_check is None:
        o.secrets_check = check(parsed.spec, o.secrets)
    return compute_status(parsed, o, NOW, "h")


def cond(status: dict[str, Any], type_: str) -> tuple[str, str]:
    c = condition(status, type_)
    assert c is not None
    return c["status"], c["reason"]


def test_all_condition_types_present_with_generation() -> None:
    st = status_of(bot(generation=7), deployment=dep())
    assert [c["type"] for c in st["conditions"]] == \
        ["SecretsReady", "Ready", "Progressing", "BackupSucceeded", "RotationDue", "Degraded"]
    assert st["observedGeneration"] == 7 and all(c["observedGeneration"] == 7 for c in st["conditions"])


@pytest.mark.parametrize(("deployment", "ready", "reason", "progressing"), [
    (None, "False", "DeploymentMissing", "True"),
    (dep(), "True", "Available", "False"),
    (dep(available=0), "False", "RollingOut", "True"),
    (dep(generation=2, observed=1), "False", "RollingOut", "True"),
    (dep(replicas=3), "False", "Scaling", "True"),
    (dep(total=2), "False", "RollingOut", "True"),
])
def test_ready_follows_the_deployment(deployment: Any, ready: str, reason: str, progressing: str) -> None:
    st = status_of(bot(), deployment=deployment)
    assert cond(st, "Ready") == (ready, reason)
    assert cond(st, "Progressing")[0] == progressing


def test_paused() -> None:
    st = status_of(bot(paused=True), deployment=dep(replicas=0, available=0, updated=0))
    assert cond(st, "Ready") == ("False", "Paused") and cond(st, "Progressing")[0] == "False"
    st = status_of(bot(paused=True), deployment=dep(replicas=1))
    assert cond(st, "Progressing")[0] == "True"


def test_missing_secret_is_the_ready_reason() -> None:
    b = bot(walletSecretRef={"name": "w"})
    st = status_of(b, deployment=None)
    assert cond(st, "SecretsReady") == ("False", "SecretNotFound")
    assert cond(st, "Ready") == ("False", "SecretNotFound")
    assert "Secret w (spec.walletSecretRef) not found" in condition(st, "Ready")["message"]  # type: ignore[index]


def test_degraded_on_crash_loop_kill_switch_and_invalid_params() -> None:
    pod = {"metadata": {"name": "b1-x", "annotations": {"botfleet.io/kill-switch": "tripped: daily loss"}},
           "status": {"containerStatuses": [{"name": "bot", "restartCount": 5,
                                             "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}
    st = status_of(bot(), deployment=dep(), pods=[pod])
    assert cond(st, "Degraded") == ("True", "CrashLoopBackOff")
    msg = condition(st, "Degraded")["message"]  # type: ignore[index]
    assert "CrashLoopBackOff" in msg and "kill switch tripped" in msg
    st = status_of(bot(), deployment=dep(), params_error="spec.params.x is not a parameter")
    assert cond(st, "Degraded") == ("True", "InvalidParams")
    assert cond(status_of(bot(), deployment=dep()), "Degraded") == ("False", "AsExpected")


def test_backup_jobs() -> None:
    ok = job("b1-backup-1", "backup", "Complete", "2026-02-01T00:00:00Z", "2026-02-01T00:01:00Z")
    bad = job("b1-backup-2", "backup", "Failed", "2026-02-02T00:00:00Z", "2026-02-02T00:01:00Z")
    running = job("b1-backup-3", "backup", None, "2026-02-03T00:00:00Z")
    st = status_of(bot(), deployment=dep(), jobs=[ok])
    assert cond(st, "BackupSucceeded") == ("True", "BackupCompleted")
    assert st["lastBackupTime"] == "2026-02-01T00:01:00Z"
    st = status_of(bot(), deployment=dep(), jobs=[ok, bad, running])
    assert cond(st, "BackupSucceeded") == ("False", "BackupFailed")
    assert cond(st, "Degraded") == ("True", "BackupFailed")
    assert st["lastBackupTime"] == "2026-02-01T00:01:00Z"
    assert cond(status_of(bot(), deployment=dep()), "BackupSucceeded") == ("Unknown", "NoBackupYet")


def test_rotation_due_from_secret_age_and_rotation_jobs() -> None:
    b = bot(walletSecretRef={"name": "w"}, credentialsSecretRef={"name": "c"}, keyRotation={"maxAgeDays": 30})
    old = views(secret("w", PRIVATE_KEY="k"), secret("c", CLOB_API_KEY="a", CLOB_SECRET="b", CLOB_PASSPHRASE="c"))
    st = status_of(b, deployment=dep(), secrets=old)
    assert cond(st, "RotationDue") == ("True", "MaxAgeExceeded")
    recent = (NOW - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rot = job("b1-rotate-1", "rotation", "Complete", recent, recent)
    st = status_of(b, deployment=dep(), secrets=old, jobs=[rot])
    assert cond(st, "RotationDue") == ("False", "WithinMaxAge") and st["lastRotationTime"] == recent
    stamped = views(secret("w", PRIVATE_KEY="k"), secret("c", ROTATED_AT=recent))
    assert cond(status_of(b, deployment=dep(), secrets=stamped), "RotationDue")[0] == "False"
    assert cond(status_of(bot(), deployment=dep()), "RotationDue") == ("False", "NotConfigured")


def test_merge_conditions_keeps_transition_time_when_status_is_unchanged() -> None:
    first = merge_conditions([{"type": "Ready", "status": "True", "reason": "A", "message": ""}], None, NOW)
    later = NOW + timedelta(minutes=5)
    same = merge_conditions([{"type": "Ready", "status": "True", "reason": "B", "message": "x"}], first, later)
    assert same[0]["lastTransitionTime"] == "2026-03-01T00:00:00Z" and same[0]["reason"] == "B"
    flipped = merge_conditions([{"type": "Ready", "status": "False", "reason": "C", "message": ""}], first, later)
    assert flipped[0]["lastTransitionTime"] == "2026-03-01T00:05:00Z"


def test_status_changed() -> None:
    st = status_of(bot(), deployment=dep())
    st["conditions"] = merge_conditions(st["conditions"], None, NOW)
    assert not conditions.status_changed(st, st)
    reordered = {**st, "conditions": list(reversed(st["conditions"]))}
    assert not conditions.status_changed(st, reordered)
    assert conditions.status_changed(st, {**st, "observedGeneration": 2})
    assert conditions.status_changed(None, st)


# Secrets -----------------------------------------------------------------------------------------

def test_secret_view_keeps_no_value() -> None:
    view = view_of(secret("w", PRIVATE_KEY=FAKE_KEY))
    assert FAKE_KEY not in repr(view) and view.keys == frozenset({"PRIVATE_KEY"})


@pytest.mark.parametrize(("spec", "present", "ok", "reason", "text"), [
    ({"walletSecretRef": {"name": "w"}}, [], False, "SecretNotFound", "Secret w (spec.walletSecretRef) not found"),
    ({"walletSecretRef": {"name": "w"}}, [secret("w", SIGNATURE_TYPE="0")], False, "SecretKeyMissing", "no key PRIVATE_KEY"),
    ({"walletSecretRef": {"name": "w", "keys": {"PRIVATE_KEY": "pk"}}}, [secret("w", PRIVATE_KEY="x")], False,
     "SecretKeyMissing", "no key pk"),
    ({"walletSecretRef": {"name": "w", "keys": {"PRIVATE_KEY": "pk"}}}, [secret("w", pk="x")], True, "AllSecretsPresent", ""),
    ({"strategy": "polyai", "credentialsSecretRef": {"name": "c"}}, [secret("c", OPENAI_API_KEY="x")], False,
     "SecretKeyMissing", "no key NEWSAPI_KEY"),
    ({"credentialsSecretRef": {"name": "c"}}, [secret("c", CLOB_API_KEY="x")], False, "SecretKeyMissing",
     "add CLOB_SECRET, CLOB_PASSPHRASE"),
    ({"credentialsSecretRef": {"name": "c"}}, [secret("c", OPENAI_API_KEY="x")], True, "AllSecretsPresent", ""),
    ({"backup": {"s3": {"endpoint": "https://s3", "bucket": "bkt", "secretRef": {"name": "s3"}}}}, [], True,
     "AllSecretsPresent", "Secret s3 (spec.backup.s3.secretRef) not found"),
])
def test_secrets_check(spec: dict[str, Any], present: list[dict[str, Any]], ok: bool, reason: str, text: str) -> None:
    result = check(spec_of(**{"strategy": "arbhunter", **spec}), views(*present))
    assert (result.ok, result.reason) == (ok, reason)
    assert text in result.message


def test_secrets_hash_changes_with_data_only() -> None:
    spec = spec_of(strategy="arbhunter", walletSecretRef={"name": "w"})
    a = secrets_hash(spec, views(secret("w", PRIVATE_KEY="1")))
    assert a == secrets_hash(spec, views(secret("w", PRIVATE_KEY="1")))
    assert a != secrets_hash(spec, views(secret("w", PRIVATE_KEY="2")))
    assert a != secrets_hash(spec, {})
    assert len(a) == 64
