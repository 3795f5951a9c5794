"""One reconcile of one TradingBot: the same convergence for create, update, resume and resync.

`reconcile(snapshot, kube, settings, now)` applies what differs from the observed objects (a field
that differs, or a desired-state hash that changed: that is how a removed spec field reaches the
object), deletes the bot's objects its spec no longer asks for (pruning), starts a manual rotation
Job when the annotation has a new value, then writes the status if it changed.
`Snapshot` is what the watch caches held for this bot when the work started; its TradingBot is
parsed once into `api.TradingBot` here, and everything downstream works on the typed spec. The
function itself is synchronous and runs on a worker thread.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botfleet_operator import api, conditions, resources, tenancy
from botfleet_operator.api import SpecError, TradingBot
from botfleet_operator.kube import Kube, KubeError
from botfleet_operator.presets import ParamsError, resolve_params
from botfleet_operator.secrets import (
    SecretsCheck,
    SecretView,
    check,
    referenced_secrets,
    secrets_hash,
    unlabelled_view,
)

log = logging.getLogger("botfleet.operator")
Obj = dict[str, Any]


@dataclass
class Snapshot:
    bot: Obj
    secrets: dict[str, SecretView] = field(default_factory=dict)
    owned: dict[tuple[str, str], Obj] = field(default_factory=dict)  # (kind, name) -> observed object
    pods: list[Obj] = field(default_factory=list)
    jobs: list[Obj] = field(default_factory=list)
    reports: list[conditions.BotReport] = field(default_factory=list)  # the bot pods' /status (runner)


@dataclass
class Result:
    applied: list[tuple[str, str]] = field(default_factory=list)  # (kind, name)
    pruned: list[tuple[str, str]] = field(default_factory=list)   # (kind, name) deleted
    objects: list[Obj] = field(default_factory=list)  # the API server's answers to the applies
    errors: list[str] = field(default_factory=list)
    status: Obj | None = None          # written status (None: unchanged)
    stored: Obj | None = None          # the TradingBot as the status write stored it
    refreshed: list[Obj] = field(default_factory=list)  # objects re-read because the cache looked stale
    gone: bool = False                 # the TradingBot no longer exists (404 on the status write)
    recheck_after: float | None = None  # reconcile again after this many seconds even without events
    retry: bool = False


# Ready=False for a Deployment reason that lasts longer than this triggers a direct read of the
# Deployment: a lost or reordered watch event must not leave a bot "RollingOut" forever, and the
# resync only re-reads the same cache. Not-ready bots are re-checked at this interval.
STALE_AFTER_SECONDS = 60.0
WAITING_ON_DEPLOYMENT = ("RollingOut", "Scaling", "DeploymentMissing")


def is_subset(desired: Any, observed: Any) -> bool:
    """Does `observed` already contain every field of `desired` with the same value?

    Fields added by the API server (defaults, status, metadata) are ignored, so an unchanged object
    is never re-applied; anything edited by hand or deleted is."""
    if isinstance(desired, dict):
        if not isinstance(observed, dict):
            return False
        return all(k in observed and is_subset(v, observed[k]) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(observed, list) or len(desired) != len(observed):
            return False
        return all(is_subset(d, o) for d, o in zip(desired, observed, strict=True))
    if isinstance(desired, bool) or isinstance(observed, bool):
        return desired is observed
    if isinstance(desired, (int, float)) and isinstance(observed, (int, float)):
        return float(desired) == float(observed)
    return bool(desired == observed)


def params_problem(spec: api.TradingBotSpec) -> str | None:
    try:
        resolve_params(spec.strategy, spec.riskProfile, spec.params or {})
    except (ParamsError, ValueError) as exc:
        return str(exc)
    return None


def up_to_date(desired: Obj, observed: Obj | None) -> bool:
    """Same desired state as last applied (hash) and no field of it changed since (hand edits)."""
    if observed is None:
        return False
    want = desired["metadata"].get("annotations", {}).get(resources.ANN_DESIRED_HASH)
    have = (observed.get("metadata", {}).get("annotations") or {}).get(resources.ANN_DESIRED_HASH)
    if want != have:
        return False
    # A cached object is never changed in place (each watch event brings a new one): once found up
    # to date with this desired hash it stays so, and a bot's status-only events (its Deployment
    # rolling out, its pods) do not compare its objects again.
    if observed.get(UP_TO_DATE_MARK) == want:
        return True
    same = is_subset(desired, observed)
    if same:
        observed[UP_TO_DATE_MARK] = want
    return same


# Kept on the cached object itself, so it goes with that very version; never sent anywhere (the
# operator applies desired objects, not observed ones). The cache then keeps only a compact copy.
UP_TO_DATE_MARK = "_botfleetUpToDate"


@dataclass
class Plan:
    apply: list[Obj] = field(default_factory=list)
    prune: list[Obj] = field(default_factory=list)
    not_allowed: str | None = None  # spec.image / spec.env refused by the cluster's policy (tenancy.py)


def plan(bot: TradingBot, snapshot: Snapshot, settings: resources.Settings) -> tuple[Plan, SecretsCheck, str | None]:
    """(objects to apply and to delete, secrets check, params problem). Pure. Nothing to apply or
    delete while the params or the tenancy policy refuse the spec (`Plan.not_allowed` says why)."""
    secrets_check = check(bot.spec, snapshot.secrets, bot.name)
    problem = params_problem(bot.spec)
    refused = [p for p in (tenancy.problem(bot, settings.image, settings.allowed_images, settings.allowed_endpoints,
                                           settings.allowed_toleration_keys), secrets_check.not_allowed) if p]
    not_allowed = "; ".join(refused) or None
    if problem or not_allowed:
        return Plan(not_allowed=not_allowed), secrets_check, problem
    index = resources.desired_index(bot, settings, snapshot.secrets, include_deployment=secrets_check.ok)
    if index is not None and all((snapshot.owned.get((kind, name)) or {}).get(UP_TO_DATE_MARK) == digest
                                 for kind, name, digest in index):
        # Every object found up to date with these very inputs before (the usual case: a reconcile
        # for a status change): nothing to build or compare.
        wanted = {(kind, name) for kind, name, _ in index}
        return Plan([], resources.prunable(bot, wanted, snapshot.owned)), secrets_check, None
    desired = resources.desired_objects(bot, settings, snapshot.secrets, include_deployment=secrets_check.ok)
    todo = [o for o in desired if not up_to_date(o, snapshot.owned.get((o["kind"], o["metadata"]["name"])))]
    wanted = {(o["kind"], o["metadata"]["name"]) for o in desired}
    return Plan(todo, resources.prunable(bot, wanted, snapshot.owned)), secrets_check, None


def _rotation_request(bot: TradingBot) -> str | None:
    value = bot.annotations.get(api.ROTATE_ANNOTATION)
    if value and value != bot.status.get("rotationTrigger") and resources.wants_rotation_rbac(bot):
        return str(value)
    return None


def rotation_blocker(bot: TradingBot) -> str | None:
    """Why this bot has no CLOB API key a rotation Job could replace; None when it has one."""
    if bot.spec.mode != "live":
        return ("a paper bot has no CLOB API key to rotate (its credentials derive from its paper key); "
                "rotation needs mode: live, spec.walletSecretRef and spec.credentialsSecretRef")
    missing = [f for f, ref in (("spec.walletSecretRef", bot.spec.walletSecretRef),
                                ("spec.credentialsSecretRef", bot.spec.credentialsSecretRef)) if ref is None]
    if missing:
        return (f"rotation needs {' and '.join(missing)} (the wallet signs the new key's request; "
                "the credentials Secret receives it)")
    return None


def _ignored_rotation_request(bot: TradingBot) -> tuple[str, str] | None:
    """(value, why) of a new rotate-credentials annotation this bot cannot act on: said once (an
    Event, and the value recorded as handled) instead of nothing at all."""
    value = bot.annotations.get(api.ROTATE_ANNOTATION)
    if value and value != bot.status.get("rotationTrigger") and (why := rotation_blocker(bot)):
        return str(value), why
    return None


# A referenced Secret that does not exist yet is invisible to the label-selected Secret watch: look
# for it again after this long (SecretsReady=False/SecretNotFound heals within it once created).
MISSING_SECRET_RECHECK_SECONDS = 10.0


# Objects that others refer to (the pod's ServiceAccount, ConfigMap, volumes...) are applied first,
# each wave in parallel: one bot's first reconcile costs two round trips instead of eight.
# A RoleBinding waits for its Role: the API server's escalation check resolves the Role it binds;
# applied beside it, the binding failed with 404 now and then (the e2e logs) and the bot was retried.
_FIRST_WAVE = frozenset({"ServiceAccount", "ConfigMap", "PersistentVolumeClaim", "NetworkPolicy",
                         "Role"})
# Shared by all reconcile workers: bounds the writes in flight (and the memory of their answers).
_APPLY_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="apply")


def apply_all(kube: Kube, objs: list[Obj]) -> list[tuple[Obj, Obj | KubeError]]:
    """Apply `objs` in two waves (referenced objects first), each wave in parallel; the outcomes in
    the order of `objs`."""
    def one(obj: Obj) -> Obj | KubeError:
        try:
            return kube.apply(obj)
        except KubeError as exc:
            return exc
    outcomes: dict[int, Obj | KubeError] = {}
    for wave in ([i for i, o in enumerate(objs) if o["kind"] in _FIRST_WAVE],
                 [i for i, o in enumerate(objs) if o["kind"] not in _FIRST_WAVE]):
        if len(wave) == 1:
            outcomes[wave[0]] = one(objs[wave[0]])
        elif wave:
            outcomes.update(zip(wave, _APPLY_POOL.map(lambda i: one(objs[i]), wave), strict=True))
    return [(obj, outcomes[i]) for i, obj in enumerate(objs)]


def _ownership_conflicts(bot: TradingBot, kube: Kube, objs: list[Obj],
                         owned: dict[tuple[str, str], Obj]) -> tuple[list[str], list[str]]:
    """(conflicts, errors): objects the plan would write that exist under another controller
    (`resources.foreign`), and reads that failed. The watch sees only objects labelled as the
    operator's, so one it has not seen is read first (once, when the bot first creates it); 404s
    are the common answer."""
    unseen = [o for o in objs if (o["kind"], o["metadata"]["name"]) not in owned]

    def read(obj: Obj) -> Obj | KubeError | None:
        try:
            return kube.get_metadata(obj["kind"], bot.namespace, obj["metadata"]["name"])
        except KubeError as exc:
            return exc
    conflicts, errors = [], []
    for obj in objs:
        seen = owned.get((obj["kind"], obj["metadata"]["name"]))
        if seen is not None and (why := resources.foreign(bot, seen)):
            conflicts.append(why)
    for obj, found in zip(unseen, _APPLY_POOL.map(read, unseen), strict=True):
        if isinstance(found, KubeError):
            errors.append(f"cannot check {obj['kind']} {obj['metadata']['name']} before creating it: {found}")
        elif found is not None and (why := resources.foreign(bot, {**found, "kind": obj["kind"]})):
            conflicts.append(why)
    return conflicts, errors


def _read_unseen_secrets(bot: TradingBot, snapshot: Snapshot, kube: Kube) -> bool:
    """Referenced Secrets the Secret watch has not delivered. It only sees Secrets their owner opted
    in for bots (`tenancy.LABEL_SECRET_BOTS`): one that exists all the same is recorded as not opted
    in (the check names the label to add), never read. True when one of them does not exist."""
    missing = False
    for name in sorted(referenced_secrets(bot.spec) - set(snapshot.secrets)):
        try:
            exists = kube.secret_exists(bot.namespace, name)
        except KubeError as exc:  # the message has the status and reason, never Secret data
            log.warning("cannot look up Secret %s/%s: %s", bot.namespace, name, exc)
            missing = True
            continue
        if exists:
            snapshot.secrets[name] = unlabelled_view(name)
        else:
            missing = True
    return missing


def _reconcile_invalid_spec(obj: Obj, kube: Kube, error: SpecError, now: datetime) -> Result:
    """A spec that does not parse: apply nothing, say why in status (Degraded=InvalidSpec)."""
    result = Result()
    old = obj.get("status") or {}
    status = conditions.invalid_spec_status(obj, str(error))
    return _publish_status(kube, obj, old, status, result, now)


def reconcile(snapshot: Snapshot, kube: Kube, settings: resources.Settings, now: datetime) -> Result:
    body = snapshot.bot
    try:
        bot = TradingBot.parse(body)
    except SpecError as exc:
        return _reconcile_invalid_spec(body, kube, exc, now)
    result = Result()
    secrets_missing = _read_unseen_secrets(bot, snapshot, kube)
    todo, secrets_check, params_error = plan(bot, snapshot, settings)
    not_allowed = todo.not_allowed
    conflicts, unchecked = _ownership_conflicts(bot, kube, todo.apply, snapshot.owned) if todo.apply else ([], [])
    if conflicts or unchecked:
        # Nothing is written while one object is (or may be) someone else's: the others would point at it.
        todo = Plan(not_allowed=not_allowed)
        result.errors += unchecked
        result.retry = bool(unchecked) or any(resources.EARLIER_BOT in c for c in conflicts)
    conflict = "; ".join(conflicts) or None
    problem = params_error or not_allowed or conflict
    deployment = snapshot.owned.get(("Deployment", bot.name))
    deployment_applied = False
    created: list[str] = []
    updated: list[str] = []
    for obj, outcome in apply_all(kube, todo.apply):
        ident = f"{obj['kind']} {obj['metadata']['name']}"
        if isinstance(outcome, KubeError):
            if outcome.status == 403 and "being terminated" in str(outcome):
                return result  # the namespace is going away, and the bot with it: nothing to converge
            result.errors.append(str(outcome))
            result.retry = True
            continue
        applied = outcome
        result.applied.append((obj["kind"], obj["metadata"]["name"]))
        if applied.get("metadata"):
            # Compared now, while the desired object is at hand: the cache keeps an answer found up
            # to date compacted from the start (cache.put_owned) instead of whole until a next reconcile.
            up_to_date(obj, applied)
            result.objects.append(applied)
        if obj["kind"] == "Deployment":
            # Not the observed Deployment: an apply answer has the new spec with the old status.
            # Ready is computed from watched objects only; the watch event of this write follows.
            deployment_applied = True
        (updated if (obj["kind"], obj["metadata"]["name"]) in snapshot.owned else created).append(ident)
    deleted: list[str] = []
    if not result.errors:  # prune only once the desired objects are in place
        for obj in todo.prune:
            meta = obj["metadata"]
            try:
                kube.delete(obj["kind"], meta["namespace"], meta["name"], meta.get("uid"))
            except KubeError as exc:
                result.errors.append(str(exc))
                result.retry = True
                continue
            result.pruned.append((obj["kind"], meta["name"]))
            deleted.append(f"{obj['kind']} {meta['name']}")
    # One Event per kind of change, not one per object: at 1,000 bots Events are a real API load.
    if created:
        _event(kube, body, "Normal", "Created", "Created " + ", ".join(created))
    if updated:
        _event(kube, body, "Normal", "Updated", "Updated " + ", ".join(updated))
    if deleted:
        _event(kube, body, "Normal", "Deleted", "Deleted " + ", ".join(deleted) + " (no longer in the spec)")

    status_extra: Obj = {}
    trigger = _rotation_request(bot) if not problem else None
    if trigger:
        try:
            job = kube.apply(resources.rotation_job(bot, settings, trigger))
            snapshot.jobs.append(job)
            if job.get("metadata"):
                result.objects.append(job)
            status_extra["rotationTrigger"] = trigger
            _event(kube, body, "Normal", "RotationStarted",
                   f"credential rotation Job {job.get('metadata', {}).get('name', '')} started "
                   f"({api.ROTATE_ANNOTATION})")
        except KubeError as exc:
            result.errors.append(str(exc))
            result.retry = True
    ignored = _ignored_rotation_request(bot) if not problem else None
    if ignored:
        status_extra["rotationTrigger"] = ignored[0]
        _event(kube, body, "Warning", "RotationNotPossible",
               f"{api.ROTATE_ANNOTATION}={ignored[0]} ignored: {ignored[1]}")

    observed = conditions.Observed(
        deployment=deployment, pods=snapshot.pods, jobs=snapshot.jobs, secrets=snapshot.secrets,
        secrets_check=secrets_check, apply_error="; ".join(result.errors) or None, params_error=params_error,
        policy_error=not_allowed, conflict_error=conflict, reports=snapshot.reports, deployment_applied=deployment_applied)
    status = conditions.compute_status(bot, observed, now, secrets_hash(bot.spec, snapshot.secrets, settings.hash_key))
    old = dict(bot.status)
    if _stale(old, status, now) and not deployment_applied:
        fresh = _read(kube, "Deployment", bot.namespace, bot.name, result)
        if fresh is not None and _version(fresh) != _version(deployment):
            log.info("Deployment %s/%s: watch cache at resourceVersion %s, API server at %s: using the direct read",
                     bot.namespace, bot.name, _version(deployment), _version(fresh))
            result.refreshed.append(fresh)
            observed.deployment = fresh
            status = conditions.compute_status(bot, observed, now, secrets_hash(bot.spec, snapshot.secrets, settings.hash_key))
    if not bot.spec.paused and conditions.condition(status, "Ready")["reason"] in WAITING_ON_DEPLOYMENT:  # type: ignore[index]
        result.recheck_after = STALE_AFTER_SECONDS
    grace = conditions.scheduling_grace_left(snapshot.pods, now) if not bot.spec.paused else None
    if grace is not None:  # report FailedScheduling as soon as the grace is over, event or not
        result.recheck_after = min(result.recheck_after or grace + 1.0, grace + 1.0)
    if secrets_missing:
        result.recheck_after = min(result.recheck_after or MISSING_SECRET_RECHECK_SECONDS,
                                   MISSING_SECRET_RECHECK_SECONDS)
    status.update(status_extra)
    if result.errors or problem:
        # The spec was not (fully) applied: do not claim this generation.
        status["observedGeneration"] = old.get("observedGeneration")
        if status["observedGeneration"] is None:
            status.pop("observedGeneration")
    return _publish_status(kube, body, old, status, result, now)


def _version(obj: Obj | None) -> str | None:
    return None if obj is None else (obj.get("metadata") or {}).get("resourceVersion")


def _stale(old: Obj, new: Obj, now: datetime) -> bool:
    """Has Ready been False for a Deployment reason, unchanged, for longer than STALE_AFTER_SECONDS?"""
    before, after = conditions.condition(old, "Ready"), conditions.condition(new, "Ready")
    if not before or not after or after["status"] != "False" or after["reason"] not in WAITING_ON_DEPLOYMENT:
        return False
    if (before.get("status"), before.get("reason")) != (after["status"], after["reason"]):
        return False
    since = conditions.parse_time(before.get("lastTransitionTime"))
    return since is not None and (now - since).total_seconds() > STALE_AFTER_SECONDS


def _read(kube: Kube, kind: str, namespace: str, name: str, result: Result) -> Obj | None:
    try:
        return kube.get(kind, namespace, name)
    except KubeError as exc:
        log.warning("direct read failed: %s", exc)
        return None


def _write_status(kube: Kube, body: Obj, status: Obj, result: Result) -> None:
    """Conditional status write: only onto the version of the TradingBot the status was computed from."""
    meta = body["metadata"]
    try:
        stored = kube.patch_status(meta["namespace"], meta["name"], status, meta.get("resourceVersion"))
    except KubeError as exc:
        if exc.status == 404:
            result.gone = True  # deleted meanwhile: nothing was written, nothing to retry
        elif exc.status == 409:
            result.retry = True  # the bot changed since the snapshot: its watch event re-queues it
        else:
            result.errors.append(str(exc))
            result.retry = True
        return
    result.status = status
    result.stored = stored if isinstance(stored, dict) and stored.get("metadata") else None


def _event(kube: Kube, bot: Obj, type_: str, reason: str, message: str) -> None:
    try:
        kube.event(bot, type_, reason, message)
    except KubeError as exc:  # an Event is best effort: never fail a reconcile for it
        log.warning("could not post event: %s", exc)


def _transition_events(kube: Kube, bot: Obj, old: Obj, new: Obj) -> None:
    """One Event per reason of this status change: Ready=False and Degraded=True for the same pod
    problem (or kill switch) are one Warning naming both, not two."""
    grouped: dict[tuple[str, str], list[tuple[str, Obj]]] = {}
    for type_ in ("Ready", "SecretsReady", "Degraded", "BackupSucceeded", "RotationDue"):
        before, after = conditions.condition(old, type_), conditions.condition(new, type_)
        if after is None or (before and before.get("status") == after["status"]
                             and before.get("reason") == after["reason"]):
            continue
        bad = (type_ in ("Degraded", "RotationDue") and after["status"] == "True") or \
              (type_ not in ("Degraded", "RotationDue") and after["status"] == "False"
               and after["reason"] not in ("Paused", *WAITING_ON_DEPLOYMENT))
        if before is None and not bad:
            continue  # a bot's first status: only problems are worth an Event
        if type_ == "Ready" and after["reason"] in WAITING_ON_DEPLOYMENT:
            continue  # progress, not news: the Created/Updated Event said it, Available will follow
        grouped.setdefault(("Warning" if bad else "Normal", after["reason"]), []).append((type_, after))
    for (kind, reason), changes in grouped.items():
        messages = list(dict.fromkeys(c["message"] for _, c in changes))
        _event(kube, bot, kind, reason,
               ", ".join(f"{t}={c['status']}" for t, c in changes) + ": " + "; ".join(messages))


def _publish_status(kube: Any, obj: Obj, old: Obj, status: Obj, result: Any, now: Any) -> Any:
    """Merge the conditions with the old ones; write (and announce) only a change."""
    status["conditions"] = conditions.merge_conditions(status["conditions"], old.get("conditions"), now)
    if conditions.status_changed(old, status):
        _transition_events(kube, obj, old, status)
        _write_status(kube, obj, status, result)
    return result
