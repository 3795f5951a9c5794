"""Observed objects -> TradingBot status. Pure functions; `now` is passed in.

Condition types (metav1.Condition shape):
- Ready: the bot's Deployment has an available, up-to-date pod and the bot trades: False with reason
  Paused when paused, KillSwitchTripped when the bot reports its kill switch, and the pod's own reason
  (FailedScheduling, ImagePullBackOff, CrashLoopBackOff, ...) when its pod cannot start.
- Progressing: a change is being rolled out.
- Degraded: a pod that cannot start, a Secret to fix (missing, a key missing, a malformed value; the
  backup's included), failed latest backup or credential rotation, tripped kill switch, invalid
  params, apply errors.
- SecretsReady: the referenced Secrets exist with the keys the bot needs, their values of the form
  the bot parses.
- BackupSucceeded: outcome of the latest finished backup Job.
- RotationDue: the CLOB credentials are older than keyRotation.maxAgeDays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botfleet_operator.api import TradingBot
from botfleet_operator.resources import LABEL_COMPONENT
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
    policy_error: str | None = None       # spec.image / spec.env refused by the cluster's policy (tenancy.py)
    conflict_error: str | None = None     # an object to create exists under another controller (not adopted)
    reports: list[BotReport] = field(default_factory=list)  # what the bot pods' /status said
    deployment_applied: bool = False      # this reconcile changed the Deployment: `deployment` predates it


@dataclass(frozen=True)
class BotReport:
    """The part of a bot pod's `GET /status` (bot_runtime/app.py) the operator acts on.

    Read over HTTP by the operator (runner.Controller._poll_bot_status): the bot holds a wallet key and gets no
    Kubernetes credentials of its own, and its /status port is open to the operator anyway."""

    pod: str
    kill_switch: bool = False
    kill_reason: str | None = None
    paused: bool = False
    accepting: bool = True


def parse_report(pod: str, body: object) -> BotReport | None:
    """A BotReport from the JSON of /status; None when it is not a single bot's status."""
    if not isinstance(body, dict) or "killSwitch" not in body:
        return None
    ks = body.get("killSwitch") or {}
    tripped = bool(ks.get("tripped")) if isinstance(ks, dict) else False
    reason = ks.get("reason") if isinstance(ks, dict) else None
    return BotReport(pod=pod, kill_switch=tripped, kill_reason=str(reason)[:300] if reason else None,
                     paused=bool(body.get("paused")), accepting=bool(body.get("accepting", True)))


def _cond(type_: str, ok: bool | None, reason: str, message: str) -> Obj:
    return {"type": type_, "status": "Unknown" if ok is None else ("True" if ok else "False"),
            "reason": reason, "message": message[:1000]}


def deployment_state(bot: TradingBot, dep: Obj | None, just_applied: bool = False) -> tuple[bool, bool, str, str]:
    """(ready, progressing, reason, message) from the observed Deployment.

    `just_applied`: this reconcile changed the Deployment, so `dep` (from the watch) predates the
    change: no pod of the new version can be known yet. The message is then the one the first
    watch event of the change will give, so that event costs no second status write. It counts
    available pods only: the Deployment's up-to-date count moves mid-rollout, and each move cost a
    status write per bot (a thousand when a shared Secret rolls a fleet)."""
    paused = bot.spec.paused
    want = 0 if paused else 1
    if dep is None:
        if just_applied and not paused:
            return False, True, "RollingOut", f"0/{want} available"
        return False, not paused, "DeploymentMissing", "the bot's Deployment does not exist yet"
    spec_replicas = dep.get("spec", {}).get("replicas", 1)
    st = dep.get("status") or {}
    up_to_date = st.get("observedGeneration", 0) >= dep["metadata"].get("generation", 0)
    available = st.get("availableReplicas", 0) or 0
    updated = st.get("updatedReplicas", 0) or 0
    total = st.get("replicas", 0) or 0
    if paused:
        done = spec_replicas == 0 and total == 0
        return False, not done, "Paused", "spec.paused is true: scaled to zero" if done else "scaling to zero"
    if just_applied:
        return False, True, "RollingOut", f"{available}/{want} available"
    if spec_replicas != want:
        return False, True, "Scaling", f"Deployment has {spec_replicas} replicas, want {want}"
    if up_to_date and available >= want and updated >= want and total <= want:
        return True, False, "Available", "the bot pod is available"
    return False, True, "RollingOut", f"{available}/{want} available"


# Waiting reasons of a container that will not start by itself: the user must act.
# The kubelet resets a container's restart back-off after it ran this long without crashing.
CRASH_LOOP_MEMORY_SECONDS = 600.0
STUCK_WAITING = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                 "CreateContainerConfigError", "CreateContainerError", "RunContainerError")


def _bot_pods(pods: list[Obj]) -> list[Obj]:
    """The bot's own pods (not backup/rotation Job pods), not terminating, newest first."""
    mine = [p for p in pods if (p["metadata"].get("labels") or {}).get(LABEL_COMPONENT, "bot") == "bot"
            and not p["metadata"].get("deletionTimestamp")]
    return sorted(mine, key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True)


# A new pod is often unschedulable for a moment: its journal claim is still binding, a node is
# still joining. The scheduler retries by itself, so FailedScheduling is reported (Ready, Degraded,
# a Warning Event) only once the pod has stayed unschedulable this long; until then the bot is
# RollingOut. At fleet scale the transient reports cost ~1.4 Events and a status write per new bot.
UNSCHEDULABLE_GRACE_SECONDS = 30.0


def _unschedulable(pod: Obj) -> tuple[Obj, datetime | None] | None:
    """(PodScheduled condition, since when) of a pod the scheduler could not place; None otherwise."""
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("reason") == "Unschedulable":
            since = parse_time(c.get("lastTransitionTime")) or parse_time(pod["metadata"].get("creationTimestamp"))
            return c, since
    return None


def scheduling_grace_left(pods: list[Obj], now: datetime) -> float | None:
    """Seconds until an unschedulable bot pod's FailedScheduling is reported; None when none waits."""
    left = [UNSCHEDULABLE_GRACE_SECONDS - (now - since).total_seconds()
            for pod in _bot_pods(pods) if (u := _unschedulable(pod)) and (since := u[1]) is not None]
    waiting = [s for s in left if s > 0]
    return min(waiting) if waiting else None


def _crash_text(cs: Obj, pod: str) -> str:
    last = (cs.get("lastState") or {}).get("terminated") or {}
    code = last.get("exitCode")
    why = f" ({last['reason']})" if last.get("reason") else ""
    exit_text = f"last exit code {code}{why}" if code is not None else "no exit code recorded"
    return (f"container {cs.get('name')} of pod {pod} keeps crashing: {exit_text}, "
            f"{cs.get('restartCount', 0)} restarts; see kubectl logs {pod} --previous")


def _pod_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _restarted_after_crash(cs: Obj, pod: Obj, now: datetime | None) -> bool:
    """Between two crashes of a crash loop the kubelet reports the container running again: it is
    still crash-looping until it is ready, if its last run failed within the kubelet's back-off
    reset (a not-ready container whose last crash is older is a readiness problem, not a loop)."""
    last = (cs.get("lastState") or {}).get("terminated") or {}
    finished = parse_time(last.get("finishedAt"))
    return (now is not None and finished is not None and "running" in (cs.get("state") or {})
            and (cs.get("restartCount") or 0) > 0 and last.get("exitCode") not in (None, 0)
            and (now - finished).total_seconds() < CRASH_LOOP_MEMORY_SECONDS and not _pod_ready(pod))


def pod_problem(pods: list[Obj], now: datetime | None = None) -> tuple[str, str] | None:
    """(reason, message) of a bot pod that cannot run, in the pod's own terms; None if none.
    With `now`, a pod unschedulable for less than UNSCHEDULABLE_GRACE_SECONDS is no problem yet,
    and a container restarted after a recent crash and not ready yet is still CrashLoopBackOff
    (else Ready would flip to RollingOut and back, with an Event, at every restart)."""
    for pod in _bot_pods(pods):
        name = pod["metadata"]["name"]
        st = pod.get("status") or {}
        if (u := _unschedulable(pod)) is not None:
            c, since = u
            if now is not None and since is not None and (now - since).total_seconds() < UNSCHEDULABLE_GRACE_SECONDS:
                continue
            return "FailedScheduling", f"pod {name} cannot be scheduled: {c.get('message') or 'no node fits'}"
        for cs in (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or []):
            waiting = (cs.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason")
            if reason == "CrashLoopBackOff" or (reason is None and _restarted_after_crash(cs, pod, now)):
                return "CrashLoopBackOff", _crash_text(cs, name)
            if reason not in STUCK_WAITING:
                continue
            detail = f": {waiting['message']}" if waiting.get("message") else ""
            return reason, f"container {cs.get('name')} of pod {name} is waiting: {reason}{detail}"
    return None


def _kill_switch(reports: list[BotReport]) -> str | None:
    for r in reports:
        if r.kill_switch:
            return (f"kill switch tripped on pod {r.pod}: {r.kill_reason or 'no reason given'}; the bot does not "
                    f"trade until it is reset (kubectl exec {r.pod} -- botfleet kill-switch reset)")
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


def rotation_failure(jobs: list[Obj]) -> str | None:
    """The message for Degraded when the latest finished rotation Job failed, else None. Such a Job
    may have stored a new key and kept the old one valid (the bot did not roll in time, or the
    revoke failed): its log's last JSON line says which."""
    finished = [(j, d) for j in _jobs_of(jobs, "rotation") if (d := _job_finished(j))]
    if not finished or finished[-1][1][0] != "Failed":
        return None
    job = finished[-1][0]
    name = job["metadata"]["name"]
    why = next((c.get("reason") for c in (job.get("status") or {}).get("conditions") or []
                if c.get("type") == "Failed" and c.get("status") == "True" and c.get("reason")), None)
    return (f"credential rotation Job {name} failed{f' ({why})' if why else ''}; the old API key may not be "
            f"revoked: see kubectl logs job/{name}, then rotate again or revoke it by hand")


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

    ready, progressing, reason, message = deployment_state(bot, obs.deployment, obs.deployment_applied)
    pod = pod_problem(obs.pods, now) if not bot.spec.paused else None
    kill = _kill_switch(obs.reports) if not bot.spec.paused else None
    blocked = ("OwnershipConflict", obs.conflict_error) if obs.conflict_error else (
        ("NotAllowed", obs.policy_error) if obs.policy_error else None)
    if blocked and not ready:
        reason, message = blocked   # nothing was applied: the Deployment's state says nothing useful
    elif check is not None and not check.ok and not ready:
        reason, message = check.reason, check.message
    elif pod and not ready:
        reason, message = pod      # e.g. "RollingOut: 0/1 available" says less than FailedScheduling
    elif kill:
        ready, reason, message = False, "KillSwitchTripped", kill
    conds.append(_cond("Ready", ready, reason, message))
    conds.append(_cond("Progressing", progressing, reason if progressing else "Reconciled",
                       message if progressing else "the bot matches its spec"))

    b_ok, b_reason, b_msg, last_backup = backup_state(obs.jobs, prev.get("lastBackupTime"))
    conds.append(_cond("BackupSucceeded", b_ok, b_reason, b_msg))
    due, r_reason, r_msg, last_rotation = rotation_state(bot, obs, prev.get("lastRotationTime"), now)
    conds.append(_cond("RotationDue", due, r_reason, r_msg))

    # A Secret the user must fix (missing, a key missing, a malformed value; the backup's too) with
    # SecretsReady's reason and message. A Secret not opted in is in policy_error (NotAllowed).
    secret_fix = check.fix if check is not None else None
    degraded = [(r, m) for r, m in (
        ("OwnershipConflict", obs.conflict_error),
        ("NotAllowed", obs.policy_error),
        (secret_fix[0] if secret_fix else "", secret_fix[1] if secret_fix else None),
        ("InvalidParams", obs.params_error),
        ("ApplyFailed", obs.apply_error),
        (pod[0] if pod else "", pod[1] if pod else None),
        ("KillSwitchTripped", kill),
        ("BackupFailed", b_msg if b_ok is False else None),
        ("RotationFailed", rotation_failure(obs.jobs)),
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
