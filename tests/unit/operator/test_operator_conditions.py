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
        o.secrets_check = check(parsed.spec, o.secrets, parsed.name)
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
    b = bot(mode="live", walletSecretRef={"name": "w"})
    st = status_of(b, deployment=None)
    assert cond(st, "SecretsReady") == ("False", "SecretNotFound")
    assert cond(st, "Ready") == ("False", "SecretNotFound")
    assert "Secret w (spec.walletSecretRef) not found" in condition(st, "Ready")["message"]  # type: ignore[index]


def bot_pod(name: str = "b1-x", *, component: str = "bot", conditions_: list[dict[str, Any]] | None = None,
            waiting: dict[str, Any] | None = None, last: dict[str, Any] | None = None, restarts: int = 0,
            created: str = "2026-03-01T00:00:00Z") -> dict[str, Any]:
    cs: dict[str, Any] = {"name": "bot", "restartCount": restarts, "state": {"waiting": waiting} if waiting else
                          {"running": {}}}
    if last:
        cs["lastState"] = {"terminated": last}
    return {"metadata": {"name": name, "creationTimestamp": created,
                         "labels": {"app.kubernetes.io/component": component}},
            "status": {"phase": "Pending" if waiting or conditions_ else "Running",
                       "conditions": conditions_ or [], "containerStatuses": [cs] if not conditions_ else []}}


UNSCHEDULABLE = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "lastTransitionTime": "2026-02-28T23:59:00Z",  # a minute before NOW: past the grace
                 "message": "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."}


@pytest.mark.parametrize(("pod", "reason", "text"), [
    (bot_pod(conditions_=[UNSCHEDULABLE]), "FailedScheduling",
     "pod b1-x cannot be scheduled: 0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."),
    (bot_pod(waiting={"reason": "ImagePullBackOff", "message": 'Back-off pulling image "ghcr.io/x/bot:nope"'}),
     "ImagePullBackOff", 'is waiting: ImagePullBackOff: Back-off pulling image "ghcr.io/x/bot:nope"'),
    (bot_pod(waiting={"reason": "ErrImagePull"}), "ErrImagePull", "is waiting: ErrImagePull"),
    (bot_pod(waiting={"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}, restarts=7,
             last={"exitCode": 3, "reason": "Error"}),
     "CrashLoopBackOff", "keeps crashing: last exit code 3 (Error), 7 restarts"),
    (bot_pod(waiting={"reason": "CrashLoopBackOff"}, restarts=2, last={"exitCode": 137, "reason": "OOMKilled"}),
     "CrashLoopBackOff", "last exit code 137 (OOMKilled)"),
    (bot_pod(waiting={"reason": "CreateContainerConfigError", "message": 'secret "w" not found'}),
     "CreateContainerConfigError", 'CreateContainerConfigError: secret "w" not found'),
    (bot_pod(waiting={"reason": "InvalidImageName", "message": 'Failed to apply default image tag "x:"'}),
     "InvalidImageName", 'is waiting: InvalidImageName: Failed to apply default image tag "x:"'),
    (bot_pod(waiting={"reason": "CreateContainerError", "message": "context deadline exceeded"}),
     "CreateContainerError", "is waiting: CreateContainerError: context deadline exceeded"),
    (bot_pod(waiting={"reason": "RunContainerError", "message": "exec: \"botfleet\": not found"}),
     "RunContainerError", 'is waiting: RunContainerError: exec: "botfleet": not found'),
])
def test_ready_false_carries_the_pods_own_reason(pod: dict[str, Any], reason: str, text: str) -> None:
    """Issue 12: not `RollingOut: 0/1 available` forever, but why the pod does not run."""
    st = status_of(bot(), deployment=dep(available=0), pods=[pod])
    assert cond(st, "Ready") == ("False", reason)
    assert text in condition(st, "Ready")["message"]  # type: ignore[index]
    assert cond(st, "Degraded") == ("True", reason)
    assert cond(st, "Progressing") == ("True", reason)


def test_a_crash_loop_stays_crashloopbackoff_between_crashes() -> None:
    """Between two crashes the kubelet reports the container running again (not ready): Ready must
    not flip to RollingOut and back (with a Warning Event each time) at every restart."""
    crashed = {"exitCode": 2, "reason": "Error", "finishedAt": conditions.iso(NOW - timedelta(seconds=20))}
    backing_off = bot_pod(waiting={"reason": "CrashLoopBackOff", "message": "back-off 20s"}, restarts=3, last=crashed)
    restarted = bot_pod(restarts=3, last=crashed)  # running again, its Ready condition not True yet
    for pod in (backing_off, restarted):
        st = status_of(bot(), deployment=dep(available=0), pods=[pod])
        assert cond(st, "Ready") == ("False", "CrashLoopBackOff")
        assert "last exit code 2 (Error), 3 restarts" in condition(st, "Ready")["message"]  # type: ignore[index]
        assert cond(st, "Degraded") == ("True", "CrashLoopBackOff")


@pytest.mark.parametrize("pod", [
    # recovered: running and ready after a crash
    {**bot_pod(restarts=3, last={"exitCode": 2, "finishedAt": "2026-02-28T23:59:40Z"}),
     "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "bot", "restartCount": 3, "state": {"running": {}},
                                       "lastState": {"terminated": {"exitCode": 2, "finishedAt": "2026-02-28T23:59:40Z"}}}]}},
    # not ready, but its last crash is older than the kubelet's back-off memory: a readiness problem
    bot_pod(restarts=1, last={"exitCode": 2, "finishedAt": "2026-02-28T23:00:00Z"}),
    # restarted after a clean exit (exit code 0): not a crash
    bot_pod(restarts=1, last={"exitCode": 0, "finishedAt": "2026-02-28T23:59:40Z"}),
])
def test_a_running_container_is_no_crash_loop_unless_it_just_crashed_and_is_not_ready(pod: dict[str, Any]) -> None:
    assert conditions.pod_problem([pod], NOW) is None


def test_a_briefly_unschedulable_pod_is_rolling_out_until_the_grace_is_over() -> None:
    """A new pod's first scheduling attempts fail while its journal claim binds: no Warning-worthy
    FailedScheduling (nor Degraded) for that, only once the pod stays unschedulable."""
    since = NOW - timedelta(seconds=conditions.UNSCHEDULABLE_GRACE_SECONDS - 10)
    pod = bot_pod(conditions_=[{**UNSCHEDULABLE, "lastTransitionTime": conditions.iso(since)}])
    st = status_of(bot(), deployment=dep(available=0, updated=0, total=0), pods=[pod])
    assert cond(st, "Ready") == ("False", "RollingOut")
    assert cond(st, "Degraded") == ("False", "AsExpected")
    assert conditions.scheduling_grace_left([pod], NOW) == pytest.approx(10.0)
    later = NOW + timedelta(seconds=10)
    assert conditions.pod_problem([pod], later) is not None and conditions.scheduling_grace_left([pod], later) is None
    # Without a condition time (an older API server), the pod's age counts.
    young = bot_pod(created=conditions.iso(NOW - timedelta(seconds=5)),
                    conditions_=[{k: v for k, v in UNSCHEDULABLE.items() if k != "lastTransitionTime"}])
    assert conditions.pod_problem([young], NOW) is None
    assert conditions.pod_problem([young], NOW + timedelta(seconds=30)) == (
        "FailedScheduling", f"pod b1-x cannot be scheduled: {UNSCHEDULABLE['message']}")


def test_pod_reasons_ignore_job_pods_terminating_pods_and_healthy_pods() -> None:
    backup = bot_pod("b1-backup", component="backup", waiting={"reason": "ImagePullBackOff"})
    old = bot_pod("b1-old", conditions_=[UNSCHEDULABLE])
    old["metadata"]["deletionTimestamp"] = "2026-03-01T00:00:00Z"
    running = bot_pod("b1-ok")
    st = status_of(bot(), deployment=dep(), pods=[backup, old, running])
    assert cond(st, "Ready") == ("True", "Available")
    assert conditions.pod_problem([backup, old, running]) is None
    # a paused bot's leftover pod says nothing about Ready
    st = status_of(bot(paused=True), deployment=dep(replicas=0, available=0, updated=0, total=1),
                   pods=[bot_pod(conditions_=[UNSCHEDULABLE])])
    assert cond(st, "Ready")[1] == "Paused"


def test_kill_switch_reported_by_the_bot_makes_it_not_ready_and_degraded() -> None:
    report = conditions.parse_report("b1-x", {"name": "b1", "paused": False, "accepting": True,
                                              "killSwitch": {"tripped": True, "reason": "daily loss 51.2 > 50"}})
    assert report is not None
    st = status_of(bot(), deployment=dep(), pods=[bot_pod()], reports=[report])
    assert cond(st, "Ready") == ("False", "KillSwitchTripped")
    msg = condition(st, "Ready")["message"]  # type: ignore[index]
    assert "daily loss 51.2 > 50" in msg and "botfleet kill-switch reset" in msg
    assert cond(st, "Degraded") == ("True", "KillSwitchTripped")
    assert cond(st, "Progressing")[0] == "False"
    fine = conditions.parse_report("b1-x", {"killSwitch": {"tripped": False, "reason": None}})
    st = status_of(bot(), deployment=dep(), pods=[bot_pod()], reports=[fine])  # type: ignore[list-item]
    assert cond(st, "Ready") == ("True", "Available") and cond(st, "Degraded") == ("False", "AsExpected")


def test_parse_report_refuses_what_is_not_one_bots_status() -> None:
    assert conditions.parse_report("p", {"bots": []}) is None
    assert conditions.parse_report("p", ["x"]) is None
    r = conditions.parse_report("p", {"killSwitch": "weird", "paused": True})
    assert r == conditions.BotReport(pod="p", kill_switch=False, paused=True)


def test_degraded_on_invalid_params() -> None:
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


def test_failed_rotation_job_degrades_the_bot_until_a_later_one_completes() -> None:
    """A rotation Job that timed out waiting for the bot to roll stored a new key and kept the old
    one valid: the user must hear of it (Degraded names the Job and where to look)."""
    b = bot(walletSecretRef={"name": "w"}, credentialsSecretRef={"name": "c"}, keyRotation={"maxAgeDays": 30})
    failed = job("b1-rotate-1", "rotation", "Failed", "2026-02-27T00:00:00Z", "2026-02-27T00:20:00Z")
    failed["status"]["conditions"][0]["reason"] = "BackoffLimitExceeded"
    ok_secrets = views(secret("w", PRIVATE_KEY="0x" + "11" * 32),
                       secret("c", CLOB_API_KEY="k", CLOB_SECRET="s", CLOB_PASSPHRASE="p"))
    st = status_of(b, deployment=dep(), jobs=[failed], secrets=ok_secrets)
    assert cond(st, "Degraded") == ("True", "RotationFailed")
    message = condition(st, "Degraded")["message"]  # type: ignore[index]
    assert "b1-rotate-1 failed (BackoffLimitExceeded)" in message and "kubectl logs job/b1-rotate-1" in message
    assert "lastRotationTime" not in st
    running = job("b1-rotate-2", "rotation", None, "2026-02-28T00:00:00Z")
    assert cond(status_of(b, deployment=dep(), jobs=[failed, running], secrets=ok_secrets), "Degraded") == \
        ("True", "RotationFailed")
    done = job("b1-rotate-2", "rotation", "Complete", "2026-02-28T00:00:00Z", "2026-02-28T00:05:00Z")
    assert cond(status_of(b, deployment=dep(), jobs=[failed, done], secrets=ok_secrets), "Degraded") == \
        ("False", "AsExpected")


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


LIVE = {"mode": "live"}


@pytest.mark.parametrize(("spec", "present", "ok", "reason", "text"), [
    (LIVE | {"walletSecretRef": {"name": "w"}}, [], False, "SecretNotFound", "Secret w (spec.walletSecretRef) not found"),
    (LIVE | {"walletSecretRef": {"name": "w"}}, [secret("w", SIGNATURE_TYPE="0")], False, "SecretKeyMissing",
     "no key PRIVATE_KEY"),
    (LIVE | {"walletSecretRef": {"name": "w", "keys": {"PRIVATE_KEY": "pk"}}}, [secret("w", PRIVATE_KEY=FAKE_KEY)], False,
     "SecretKeyMissing", "no key pk"),
    (LIVE | {"walletSecretRef": {"name": "w", "keys": {"PRIVATE_KEY": "pk"}}}, [secret("w", pk=FAKE_KEY)], True,
     "AllSecretsPresent", ""),
    # a paper bot never mounts its wallet: a missing wallet Secret does not hold it
    ({"walletSecretRef": {"name": "w"}}, [], True, "AllSecretsPresent", "all referenced Secrets"),
    ({"strategy": "polyai", "credentialsSecretRef": {"name": "c"}}, [secret("c", OPENAI_API_KEY="x")], False,
     "SecretKeyMissing", "no key NEWSAPI_KEY"),
    ({"credentialsSecretRef": {"name": "c"}}, [secret("c", CLOB_API_KEY="x")], False, "SecretKeyMissing",
     "add CLOB_SECRET, CLOB_PASSPHRASE"),
    ({"credentialsSecretRef": {"name": "c"}}, [secret("c", OPENAI_API_KEY="x")], True, "AllSecretsPresent", ""),
    ({"backup": {"s3": {"endpoint": "https://s3", "bucket": "bkt", "secretRef": {"name": "s3"}},
                 "encryption": {"secretRef": {"name": "bk"}}}}, [secret("bk", BACKUP_ENCRYPTION_KEY="x")], True,
     "AllSecretsPresent", "Secret s3 (spec.backup.s3.secretRef) not found"),
    ({"backup": {"s3": {"endpoint": "https://s3", "bucket": "bkt", "secretRef": {"name": "s3"}},
                 "encryption": {"secretRef": {"name": "bk"}}}},
     [secret("s3", AWS_ACCESS_KEY_ID="a", AWS_SECRET_ACCESS_KEY="b"), secret("bk", OTHER="x")], True,
     "AllSecretsPresent", "BACKUP_ENCRYPTION_KEY"),
])
def test_secrets_check(spec: dict[str, Any], present: list[dict[str, Any]], ok: bool, reason: str, text: str) -> None:
    result = check(spec_of(**{"strategy": "arbhunter", **spec}), views(*present), "b1")
    assert (result.ok, result.reason) == (ok, reason)
    assert text in result.message


def test_secrets_hash_changes_with_data_only() -> None:
    spec = spec_of(strategy="arbhunter", mode="live", walletSecretRef={"name": "w"})
    a = secrets_hash(spec, views(secret("w", PRIVATE_KEY="1")))
    assert a == secrets_hash(spec, views(secret("w", PRIVATE_KEY="1")))
    assert a != secrets_hash(spec, views(secret("w", PRIVATE_KEY="2")))
    assert a != secrets_hash(spec, {})
    assert len(a) == 64
