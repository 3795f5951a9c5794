"""Observed objects -> TradingBot status. Pure functions; `now` is passed in.

Condition types (metav1.Condition shape):
- Ready: the bot's Deployment has an available, up-to-date pod (False with reason Paused when paused).
- Progressing: a change is being rolled out.
- Degraded: crash loop, failed latest backup, tripped kill switch, invalid params, apply errors.
- SecretsReady: the referenced Secrets exist with the keys the bot needs.
- BackupSucceeded: outcome of the latest finished backup Job.
- RotationDue: the CLOB credentials are older than keyRotation.maxAgeDays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botfleet_operator.api import TradingBot
from botfleet_operator.resources import ANN_KILL_SWITCH, LABEL_COMPONENT
from botfleet_operator.secrets import SecretsCheck, SecretView

Obj = dict[str, Any]
TYPES = ("Ready", "Progressing", "Degraded", "SecretsReady", "BackupSucceeded", "RotationDue")


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        if value.isdigit():
            return datetime.fromtimestamp(int(value), UTC)
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass
class Observed:
    """What the operator saw of one bot's objects (from its watch caches)."""

    deployment: Obj | None = None
    pods: list[Obj] = field(default_factory=list)
    jobs: list[Obj] = field(default_factory=list)
    secrets: dict[str, SecretView] = field(default_factory=dict)
    secrets_check: SecretsCheck | None = None
    apply_error: str | None = None        # message of a failed apply (never contains Secret data)
    params_error: str | None = None


def _cond(type_: str, ok: bool | None, reason: str, message: str) -> Obj:
    return {"type": type_, "status": "Unknown" if ok is None else ("True" if ok else "False"),
            "reason": reason, "message": message[:1000]}


def deployment_state(bot: TradingBot, dep: Obj | None) -> tuple[bool, bool, str, str]:
    """(ready, progressing, reason, message) from the Deployment."""
    paused = bot.spec.paused
    if dep is None:
        return False, not paused, "DeploymentMissing", "the bot's Deployment does not exist yet"
    want = 0 if paused else 1
    spec_replicas = dep.get("spec", {}).get("replicas", 1)
    st = dep.get("status") or {}
    up_to_date = st.get("observedGeneration", 0) >= dep["metadata"].get("generation", 0)
    available = st.get("availableReplicas", 0) or 0
    updated = st.get("updatedReplicas", 0) or 0
    total = st.get("replicas", 0) or 0
    if paused:
        done = spec_replicas == 0 and total == 0
        return False, not done, "Paused", "spec.paused is true: scaled to zero" if done else "scaling to zero"
    if spec_replicas != want:
        return False, True, "Scaling", f"Deployment has {spec_replicas} replicas, want {want}"
    if up_to_date and available >= want and updated >= want and total <= want:
        return True, False, "Available", "the bot pod is available"
    return False, True, "RollingOut", f"{available}/{want} available, {updated}/{want} up to date"


def _crash_looping(pods: list[Obj]) -> str | None:
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") == "CrashLoopBackOff":
                return f"pod {pod['metadata']['name']} container {cs.get('name')} is in CrashLoopBackOff " \
                       f"({cs.get('restartCount', 0)} restarts)"
    return None


def _kill_switch(pods: list[Obj]) -> str | None:
    for pod in pods:
        value = (pod["metadata"].get("annotations") or {}).get(ANN_KILL_SWITCH)
        if value and value.lower() not in ("", "false", "off", "reset"):
            return f"kill switch tripped on pod {pod['metadata']['name']}: {value[:200]}"
    return None


def _job_finished(job: Obj) -> tuple[str, str | None] | None:
    """("Complete"|"Failed", completion time) or None while running."""
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("status") == "True" and c.get("type") in ("Complete", "Failed"):
            when = (job.get("status") or {}).get("completionTime") or c.get("lastTransitionTime")
            return c["type"], when
    return None


def _jobs_of(jobs: list[Obj], component: str) -> list[Obj]:
    picked = [j for j in jobs if (j["metadata"].get("labels") or {}).get(LABEL_COMPONENT) == component]
    return sorted(picked, key=lambda j: (j["metadata"].get("creationTimestamp") or "", j["metadata"]["name"]))


def backup_state(jobs: list[Obj], previous_last: str | None) -> tuple[bool | None, str, str, str | None]:
    """(succeeded, reason, message, lastBackupTime) from the backup Jobs."""
    last = previous_last
    for job in _jobs_of(jobs, "backup"):
        done = _job_finished(job)
        if done and done[0] == "Complete" and done[1] and (last is None or done[1] > last):
            last = done[1]
    finished = [(j, _job_finished(j)) for j in _jobs_of(jobs, "backup")]
    finished = [(j, d) for j, d in finished if d]
    if not finished:
        if last:
            return True, "BackupCompleted", f"last backup at {last}", last
        return None, "NoBackupYet", "no backup Job has finished yet", last
    job, (outcome, _) = finished[-1]  # type: ignore[misc]
    if outcome == "Complete":
        return True, "BackupCompleted", f"backup Job {job['metadata']['name']} completed", last
    return False, "BackupFailed", f"backup Job {job['metadata']['name']} failed; see its pod's logs", last


def rotation_state(bot: TradingBot, obs: Observed, previous_last: str | None, now: datetime) -> tuple[bool, str, str, str | None]:
    """(due, reason, message, lastRotationTime)."""
    last = previous_last
    for job in _jobs_of(obs.jobs, "rotation"):
        done = _job_finished(job)
        if done and done[0] == "Complete" and done[1] and (last is None or done[1] > last):
            last = done[1]
    rotation = bot.spec.keyRotation
    creds_ref = bot.spec.credentialsSecretRef
    if not rotation:
        return False, "NotConfigured", "spec.keyRotation is not set", last
    view = obs.secrets.get(creds_ref.name) if creds_ref else None
    candidates = [parse_time(last), parse_time(view.rotated_at) if view else None,
                  parse_time(view.created) if view else None]
    since = max((c for c in candidates if c), default=None)
    if since is None:
        return False, "Unknown", "no credentials Secret to measure the age of", last
    max_age = timedelta(days=rotation.maxAgeDays)
    age = now - since
    if age > max_age:
        return True, "MaxAgeExceeded", f"credentials are {age.days} days old (max {max_age.days}); rotate them " \
                                       "(annotate botfleet.io/rotate-credentials=<new value>)", last
    return False, "WithinMaxAge", f"credentials are {age.days} days old (max {max_age.days})", last


def compute_status(bot: TradingBot, obs: Observed, now: datetime, credentials_hash: str) -> Obj:
    """The full status (without lastTransitionTime merging: see `merge_conditions`)."""
    prev = bot.status
    check = obs.secrets_check
    conds: list[Obj] = []
    if check is None:
        conds.append(_cond("SecretsReady", None, "Unknown", "Secrets not checked yet"))
    else:
        conds.append(_cond("SecretsReady", check.ok, check.reason, check.message))

    ready, progressing, reason, message = deployment_state(bot, obs.deployment)
    if check is not None and not check.ok and not ready:
        reason, message = check.reason, check.message
    conds.append(_cond("Ready", ready, reason, message))
    conds.append(_cond("Progressing", progressing, reason if progressing else "Reconciled",
                       message if progressing else "the bot matches its spec"))

    b_ok, b_reason, b_msg, last_backup = backup_state(obs.jobs, prev.get("lastBackupTime"))
    conds.append(_cond("BackupSucceeded", b_ok, b_reason, b_msg))
    due, r_reason, r_msg, last_rotation = rotation_state(bot, obs, prev.get("lastRotationTime"), now)
    conds.append(_cond("RotationDue", due, r_reason, r_msg))

    degraded = [(r, m) for r, m in (
        ("InvalidParams", obs.params_error),
        ("ApplyFailed", obs.apply_error),
        ("CrashLoopBackOff", _crash_looping(obs.pods)),
        ("KillSwitchTripped", _kill_switch(obs.pods)),
        ("BackupFailed", b_msg if b_ok is False else None),
    ) if m]
    if degraded:
        conds.append(_cond("Degraded", True, degraded[0][0], "; ".join(m for _, m in degraded)))
    else:
        conds.append(_cond("Degraded", False, "AsExpected", "no problem detected"))

    generation = bot.generation
    for c in conds:
        c["observedGeneration"] = generation
    status: Obj = {"observedGeneration": generation, "conditions": conds, "credentialsHash": credentials_hash,
                   "replicas": ((obs.deployment or {}).get("status") or {}).get("availableReplicas", 0) or 0}
    if last_backup:
        status["lastBackupTime"] = last_backup
    if last_rotation:
        status["lastRotationTime"] = last_rotation
    if prev.get("rotationTrigger"):
        status["rotationTrigger"] = prev["rotationTrigger"]
    return status


def invalid_spec_status(obj: Obj, message: str) -> Obj:
    """The status of a TradingBot whose spec does not parse: Degraded, nothing else is known; the
    earlier conditions are kept (their lastTransitionTime too, via `merge_conditions`)."""
    prev = obj.get("status") or {}
    kept = [c for c in prev.get("conditions") or [] if c.get("type") != "Degraded"]
    status: Obj = {**prev, "conditions": [*kept, {**_cond("Degraded", True, "InvalidSpec", message),
                                                  "observedGeneration": obj["metadata"].get("generation")}]}
    return status


def merge_conditions(new: list[Obj], old: list[Obj] | None, now: datetime) -> list[Obj]:
    """Keep lastTransitionTime when a condition's status did not change (metav1 semantics)."""
    previous = {c["type"]: c for c in old or []}
    out = []
    for c in new:
        before = previous.get(c["type"])
        keep = before is not None and before.get("status") == c["status"] and before.get("lastTransitionTime")
        out.append({**c, "lastTransitionTime": before["lastTransitionTime"] if keep and before else iso(now)})
    return out


def condition(status: Obj | None, type_: str) -> Obj | None:
    for c in (status or {}).get("conditions") or []:
        if c.get("type") == type_:
            return c  # type: ignore[no-any-return]
    return None


def status_changed(old: Obj | None, new: Obj) -> bool:
    """Does `new` differ from the stored status (ignoring order and absent optional fields)?"""
    old = old or {}
    for key, value in new.items():
        if key == "conditions":
            a = {c["type"]: c for c in old.get("conditions") or []}
            b = {c["type"]: c for c in value}
            if a.keys() != b.keys() or any(
                    {k: v for k, v in a[t].items()} != {k: v for k, v in b[t].items()} for t in b):
                return True
        elif old.get(key) != value:
            return True
    return False
