"""Work queue, watch cache, Secret -> bots index, metrics (Lease decisions: test_operator_leader.py)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from botfleet_operator.cache import Cache, WorkQueue
from botfleet_operator.metrics import condition_counts
from tests.unit.operator.tb_fixtures import FAKE_KEY, bot, secret


async def test_queue_deduplicates_and_requeues_dirty_keys() -> None:
    q = WorkQueue()
    q.add(("ns", "a"))
    q.add(("ns", "a"))
    q.add(("ns", "b"))
    assert len(q) == 2
    key = await q.get()
    q.add(key)  # event while it is being reconciled: processed again afterwards, not in parallel
    assert len(q) == 1
    assert q.done(key) is None
    assert len(q) == 2


async def test_queue_backoff_grows_and_resets() -> None:
    q = WorkQueue()
    q.add(("ns", "a"))
    key = await q.get()
    assert q.done(key, failed=True) == 0.5
    q.add(key)
    key = await asyncio.wait_for(q.get(), 1)
    assert q.done(key, failed=True) == 1.0
    q.add(key)
    key = await q.get()
    assert q.done(key) is None


def test_secret_change_finds_every_bot_using_it() -> None:
    c = Cache()
    c.put_bot(bot("a", mode="live", walletSecretRef={"name": "shared"}))
    c.put_bot(bot("b", credentialsSecretRef={"name": "shared"}))
    c.put_bot(bot("c"))
    shared = ("ns", "shared")
    assert c.put_secret(secret("shared", PRIVATE_KEY="1")) == {("ns", "a"), ("ns", "b")}
    assert c.take_changed(shared) == {("ns", "a"), ("ns", "b")}
    assert c.take_changed(shared) == set()
    c.put_secret(secret("shared", PRIVATE_KEY="1"))  # unchanged data (e.g. a label edit): nothing to do
    assert c.take_changed(shared) == set()
    c.put_secret(secret("shared", PRIVATE_KEY="2"))
    assert c.take_changed(shared) == {("ns", "a"), ("ns", "b")}
    c.put_bot(bot("b"))  # no longer references it
    assert c.drop_secret(shared) == {("ns", "a")}
    assert FAKE_KEY not in repr(c.secrets)


def test_owned_objects_pods_and_jobs_are_grouped_by_bot() -> None:
    c = Cache()
    c.put_bot(bot("a"))
    labels = {"botfleet.io/bot": "a"}
    c.put_owned({"kind": "Deployment", "metadata": {"name": "a", "namespace": "ns", "labels": labels}}, False)
    c.put_owned({"kind": "Pod", "metadata": {"name": "a-1", "namespace": "ns", "labels": labels}}, False)
    c.put_owned({"kind": "Job", "metadata": {"name": "a-backup-1", "namespace": "ns", "labels": labels}}, False)
    assert c.put_owned({"kind": "Pod", "metadata": {"name": "x", "namespace": "ns"}}, False) is None
    snap = c.snapshot(("ns", "a"))
    assert snap is not None and list(snap.owned) == [("Deployment", "a")]
    assert [p["metadata"]["name"] for p in snap.pods] == ["a-1"] and len(snap.jobs) == 1
    c.put_owned({"kind": "Deployment", "metadata": {"name": "a", "namespace": "ns", "labels": labels}}, True)
    assert c.snapshot(("ns", "a")).owned == {}  # type: ignore[union-attr]
    deleting = bot("d")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    c.put_bot(deleting)
    assert c.snapshot(("ns", "d")) is None


def test_condition_counts() -> None:
    b1 = bot("a")
    b1["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    counts = condition_counts([b1, bot("b")])
    assert counts[("Ready", "True")] == 1 and counts[("Ready", "Unknown")] == 1
    assert counts[("Degraded", "False")] == 0 and counts[("Degraded", "Unknown")] == 2


class _RecordingKube:
    def __init__(self) -> None:
        self.applied: list[str] = []
        self.answers: dict[str, dict[str, Any]] = {}  # kind/name -> the last answer to its apply
        self.statuses: list[dict[str, object]] = []
        self.bots: dict[tuple[str, str], dict[str, Any]] = {}  # what the API server stores

    def apply(self, obj: dict[str, object]) -> dict[str, object]:
        ident = f"{obj['kind']}/{obj['metadata']['name']}"  # type: ignore[index]
        self.applied.append(ident)
        self.answers[ident] = copy.deepcopy(obj)  # type: ignore[arg-type]
        return copy.deepcopy(obj)

    def patch_status(self, namespace: str, name: str, status: dict[str, object],
                     resource_version: str | None = None) -> dict[str, object]:
        self.statuses.append(status)
        stored = self.bots.get((namespace, name))
        if stored is None:
            return {}
        stored = {**stored, "status": status,
                  "metadata": {**stored["metadata"], "resourceVersion": str(len(self.statuses) + 1)}}
        self.bots[(namespace, name)] = stored
        return stored

    def delete(self, kind: str, namespace: str, name: str, uid: str | None = None) -> None:
        pass

    def secret_exists(self, namespace: str, name: str) -> bool:
        return False

    def get(self, kind: str, namespace: str, name: str) -> dict[str, object] | None:
        return None

    get_metadata = get

    def event(self, bot: dict[str, object], type_: str, reason: str, message: str) -> None:
        pass


async def test_controller_workers_reconcile_queued_bots_and_cache_their_writes() -> None:
    from botfleet_operator.resources import Settings
    from botfleet_operator.runner import Controller

    kube = _RecordingKube()
    ctl = Controller(kube, Settings(image="img"), workers=2, resync_seconds=3600)
    await ctl.start()
    try:
        kube.bots[("ns", "a")] = {**bot("a"), "metadata": {**bot("a")["metadata"], "resourceVersion": "1"}}
        ctl.cache.put_bot(kube.bots[("ns", "a")])
        ctl.enqueue(("ns", "a"))
        ctl.enqueue(("ns", "unknown"))  # not a cached bot: ignored
        for _ in range(200):
            if kube.statuses:
                break
            await asyncio.sleep(0.01)
        assert "Deployment/a" in kube.applied and len(kube.statuses) == 1
        # The writes are in the cache (the stored object, as the status write returned it):
        # reconciling again applies nothing and writes no status.
        assert ctl.cache.bots[("ns", "a")].body() == kube.bots[("ns", "a")]
        count = len(kube.applied)
        ctl.enqueue(("ns", "a"))
        await asyncio.sleep(0.3)
        assert len(kube.applied) == count and len(kube.statuses) == 1
    finally:
        await ctl.stop()


async def test_objects_found_up_to_date_are_kept_compact_and_a_changed_version_is_compared_again() -> None:
    from botfleet_operator.resources import Settings
    from botfleet_operator.runner import Controller

    kube = _RecordingKube()
    ctl = Controller(kube, Settings(image="img"), workers=1, resync_seconds=3600)
    await ctl.start()

    async def reconciled(statuses: int) -> None:
        for _ in range(300):
            if len(kube.statuses) >= statuses and not ctl.queue._active and not len(ctl.queue):  # type: ignore[union-attr]
                return
            await asyncio.sleep(0.01)

    def version(obj: dict[str, Any], rv: str, **changes: Any) -> dict[str, Any]:
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": rv}, **changes}
    try:
        kube.bots[("ns", "a")] = {**bot("a"), "metadata": {**bot("a")["metadata"], "resourceVersion": "1"}}
        ctl.cache.put_bot(kube.bots[("ns", "a")])
        ctl.enqueue(("ns", "a"))
        await reconciled(1)
        # The answers to the applies were compared at once: kept compact from the start.
        kept = ctl.cache.owned[("ns", "a")]
        assert "spec" not in kept[("CronJob", "a-backup")] and kept[("Deployment", "a")]["spec"] == {"replicas": 1}
        # The watch delivers the written versions, then the Deployment's status as it rolls out:
        # the same content but for the status, so still up to date and compact; nothing is applied.
        for i, answer in enumerate(kube.answers.values()):
            ctl.cache.put_owned(version(answer, f"v{i}"), False)
        rolled = version(kube.answers["Deployment/a"], "v50", status={"replicas": 1, "availableReplicas": 1})
        # ... and what only the cluster sets: the Deployment's revision, the claim's binding.
        rolled["metadata"]["annotations"] = {**rolled["metadata"]["annotations"],
                                             "deployment.kubernetes.io/revision": "1"}
        claim = kube.answers["PersistentVolumeClaim/a"]
        bound = version(claim, "v51", spec={**claim["spec"], "volumeName": "pv-1"}, status={"phase": "Bound"})
        bound["metadata"]["annotations"] = {**bound["metadata"].get("annotations", {}),
                                            "pv.kubernetes.io/bind-completed": "yes"}
        ctl.cache.put_owned(bound, False)
        assert "spec" not in ctl.cache.owned[("ns", "a")][("PersistentVolumeClaim", "a")]
        assert ctl.cache.put_owned(rolled, False) == ("ns", "a")  # a status change: the bot's conditions follow
        assert ctl.cache.owned[("ns", "a")][("Deployment", "a")]["spec"] == {"replicas": 1}  # compact at once
        count = len(kube.applied)
        ctl.enqueue(("ns", "a"))
        await asyncio.sleep(0.2)
        await reconciled(1)
        assert len(kube.applied) == count  # all up to date
        kept = ctl.cache.owned[("ns", "a")]
        assert "spec" not in kept[("CronJob", "a-backup")]
        assert kept[("Deployment", "a")]["spec"] == {"replicas": 1}
        assert kept[("Deployment", "a")]["status"]["availableReplicas"] == 1
        assert all(o["metadata"]["resourceVersion"].startswith("v") for o in kept.values())
        # Someone edits the CronJob: its new version arrives whole, is compared, and is re-applied.
        whole = kube.answers["CronJob/a-backup"]
        ctl.cache.put_owned(version(whole, "v99", spec={**whole["spec"], "schedule": "* * * * *"}), False)
        assert ctl.cache.owned[("ns", "a")][("CronJob", "a-backup")]["spec"]["schedule"] == "* * * * *"
        ctl.enqueue(("ns", "a"))
        await asyncio.sleep(0.2)
        await reconciled(1)
        assert kube.applied[count:] == ["CronJob/a-backup"]
        # So is a version whose labels someone changed, or a claim whose size did (anything the
        # desired objects set is compared).
        relabelled = version(whole, "v100")
        relabelled["metadata"]["labels"] = {**whole["metadata"]["labels"], "botfleet.io/component": "bot"}
        ctl.cache.put_owned(relabelled, False)
        assert "spec" in ctl.cache.owned[("ns", "a")][("CronJob", "a-backup")]
        grown = version(bound, "v101", spec={**bound["spec"], "resources": {"requests": {"storage": "9Gi"}}})
        ctl.cache.put_owned(grown, False)
        assert ctl.cache.owned[("ns", "a")][("PersistentVolumeClaim", "a")]["spec"]["resources"] == {
            "requests": {"storage": "9Gi"}}
    finally:
        await ctl.stop()


def test_a_watched_version_of_our_write_takes_the_answer_s_mark() -> None:
    """The watch event of a create often arrives before the reconcile that wrote it stores the answer:
    the watched version (same content) is then up to date too, and kept compact at once."""
    from botfleet_operator.reconcile import UP_TO_DATE_MARK

    c = Cache()
    labels = {"botfleet.io/bot": "a"}
    cron = {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "a-backup", "namespace": "ns", "labels": labels, "resourceVersion": "5",
                         "annotations": {"botfleet.io/desired-hash": "h1"}},
            "spec": {"schedule": "@daily", "jobTemplate": {"spec": {}}}}
    c.put_owned(cron, False)
    assert "spec" in c.owned[("ns", "a")][("CronJob", "a-backup")]
    c.put_owned({**cron, UP_TO_DATE_MARK: "h1"}, False, only_if_absent=True)
    kept = c.owned[("ns", "a")][("CronJob", "a-backup")]
    assert "spec" not in kept and kept[UP_TO_DATE_MARK] == "h1" and kept["metadata"]["resourceVersion"] == "5"
    # An update: the answer comes first, its watch event (the same content) then takes its mark; a
    # later version of other content does not.
    c.put_owned({**cron, UP_TO_DATE_MARK: "h2", "metadata": {**cron["metadata"], "resourceVersion": "6"},
                 "spec": {"schedule": "@hourly", "jobTemplate": {"spec": {}}}}, False, only_if_absent=True)
    assert c.owned[("ns", "a")][("CronJob", "a-backup")]["metadata"]["resourceVersion"] == "5"  # not replaced
    c.put_owned({**cron, "metadata": {**cron["metadata"], "resourceVersion": "6"},
                 "spec": {"schedule": "@hourly", "jobTemplate": {"spec": {}}}}, False)
    kept = c.owned[("ns", "a")][("CronJob", "a-backup")]
    assert "spec" not in kept and kept[UP_TO_DATE_MARK] == "h2" and kept["metadata"]["resourceVersion"] == "6"
    c.put_owned({**cron, UP_TO_DATE_MARK: "h3", "metadata": {**cron["metadata"], "resourceVersion": "7"},
                 "spec": {"schedule": "@weekly", "jobTemplate": {"spec": {}}}}, False, only_if_absent=True)
    c.put_owned({**cron, "metadata": {**cron["metadata"], "resourceVersion": "8"},
                 "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {}}}}, False)
    assert UP_TO_DATE_MARK not in c.owned[("ns", "a")][("CronJob", "a-backup")]
    assert not c._answer_marks
    # An answer whose content differs from the watched version (the watch is ahead) marks nothing.
    c2 = Cache()
    c2.put_owned({**cron, "spec": {"schedule": "@hourly", "jobTemplate": {"spec": {}}}}, False)
    c2.put_owned({**cron, UP_TO_DATE_MARK: "h1"}, False, only_if_absent=True)
    assert c2.owned[("ns", "a")][("CronJob", "a-backup")]["spec"]["schedule"] == "@hourly"
    assert UP_TO_DATE_MARK not in c2.owned[("ns", "a")][("CronJob", "a-backup")]


def test_own_write_never_overwrites_a_newer_watched_object() -> None:
    c = Cache()
    labels = {"botfleet.io/bot": "a"}
    newer = {"kind": "Deployment", "metadata": {"name": "a", "namespace": "ns", "labels": labels},
             "status": {"availableReplicas": 1}}
    c.put_owned(newer, False)
    c.put_owned({"kind": "Deployment", "metadata": {"name": "a", "namespace": "ns", "labels": labels}}, False,
                only_if_absent=True)
    assert _plain(c.owned[("ns", "a")][("Deployment", "a")]) == newer


def _plain(obj: dict[str, Any]) -> dict[str, Any]:
    """A cached object without the cache's own bookkeeping (its content digests)."""
    return {k: v for k, v in obj.items() if k not in ("_botfleetDigest", "_botfleetSpecDigest")}


def test_cache_keeps_objects_slim() -> None:
    c = Cache()
    labels = {"botfleet.io/bot": "a"}
    managed = [{"manager": "botfleet-operator", "fieldsV1": {"f:spec": {}}}]
    pod = {"kind": "Pod", "metadata": {"name": "a-1", "namespace": "ns", "labels": labels, "managedFields": managed},
           "spec": {"containers": [{"name": "bot"}]}, "status": {"phase": "Running"}}
    cm = {"kind": "ConfigMap", "metadata": {"name": "a", "namespace": "ns", "labels": labels, "managedFields": managed,
                                            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}",
                                                            "x": "y"}},
          "data": {"config.json": "{}"}}
    dep = {"kind": "Deployment", "metadata": {"name": "a", "namespace": "ns", "labels": labels, "managedFields": managed},
           "spec": {"replicas": 1}, "status": {"availableReplicas": 1}}
    for obj in (pod, cm, dep):
        c.put_owned(obj, False)
    assert _plain(c.pods[("ns", "a")]["a-1"]) == {"kind": "Pod", "metadata": {"name": "a-1", "namespace": "ns", "labels": labels},
                                          "status": {"phase": "Running"}}
    stored_cm = c.owned[("ns", "a")][("ConfigMap", "a")]
    assert stored_cm["metadata"]["annotations"] == {"x": "y"} and "managedFields" not in stored_cm["metadata"]
    assert stored_cm["data"] == {"config.json": "{}"}
    stored_dep = c.owned[("ns", "a")][("Deployment", "a")]
    assert stored_dep["status"] == {"availableReplicas": 1} and "managedFields" not in stored_dep["metadata"]
    assert "managedFields" in dep["metadata"]  # the watched object itself is not modified


def test_a_pod_is_kept_as_what_its_conditions_need_and_still_reports_its_problem() -> None:
    """A pod as the kubelet reports it: the cache keeps the fields conditions and the /status poll
    read (and loses nothing they report), not IPs lists, images, QoS, start times."""
    from datetime import UTC, datetime

    from botfleet_operator.conditions import pod_problem
    from botfleet_operator.runner import _pollable
    labels = {"botfleet.io/bot": "a", "app.kubernetes.io/component": "bot", "pod-template-hash": "5d9"}
    crashing = {"name": "bot", "ready": False, "started": False, "restartCount": 4, "image": "img:1",
                "imageID": "sha256:abc", "containerID": "containerd://1",
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                "lastState": {"terminated": {"exitCode": 3, "reason": "Error", "startedAt": "t", "finishedAt": "t"}}}
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "a-5d9-x", "generateName": "a-5d9-", "namespace": "ns", "uid": "u", "labels": labels,
                        "resourceVersion": "7", "creationTimestamp": "2026-03-01T00:00:00Z",
                        "annotations": {"botfleet.io/config-hash": "c", "botfleet.io/secrets-hash": "s"},
                        "ownerReferences": [{"kind": "ReplicaSet", "name": "a-5d9", "uid": "r", "controller": True}]},
           "spec": {"containers": [{"name": "bot"}]},
           "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}], "hostIP": "10.1.0.1",
                      "qosClass": "Guaranteed", "startTime": "2026-03-01T00:00:00Z",
                      "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
                      "containerStatuses": [crashing]}}
    c = Cache()
    c.put_owned(pod, False)
    kept = c.pods[("ns", "a")]["a-5d9-x"]
    assert set(kept["metadata"]) == {"name", "namespace", "uid", "labels", "resourceVersion", "creationTimestamp",
                                     "ownerReferences"}
    assert set(kept["status"]) == {"phase", "podIP", "conditions", "containerStatuses"}
    assert set(kept["status"]["containerStatuses"][0]) == {"name", "restartCount", "state", "lastState"}
    now = datetime(2026, 3, 1, 0, 5, tzinfo=UTC)
    assert pod_problem([kept], now) == pod_problem([pod], now) is not None
    assert "last exit code 3 (Error), 4 restarts" in pod_problem([kept], now)[1]  # type: ignore[index]
    assert _pollable(kept) and kept["status"]["podIP"] == "10.0.0.5"


def test_compact_keeps_identity_owner_and_desired_hash_only() -> None:
    from botfleet_operator.cache import compact
    from botfleet_operator.resources import ANN_DESIRED_HASH
    dep = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "a", "namespace": "ns", "uid": "u", "resourceVersion": "9", "generation": 2,
                        "labels": {"botfleet.io/bot": "a"}, "ownerReferences": [{"uid": "b", "controller": True}],
                        "annotations": {ANN_DESIRED_HASH: "h", "deployment.kubernetes.io/revision": "2"}},
           "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "bot"}]}}},
           "status": {"observedGeneration": 2, "replicas": 1, "availableReplicas": 1, "updatedReplicas": 1,
                      "conditions": [{"type": "Available", "status": "True", "message": "x" * 200}]}}
    out = compact(dep)
    assert out["metadata"]["annotations"] == {ANN_DESIRED_HASH: "h"} and out["metadata"]["generation"] == 2
    assert out["spec"] == {"replicas": 1}
    assert out["status"] == {"observedGeneration": 2, "replicas": 1, "availableReplicas": 1, "updatedReplicas": 1}


def test_echo_of_our_own_write_does_not_queue_the_bot() -> None:
    c = Cache()
    labels = {"botfleet.io/bot": "a"}

    def cm(rv: str) -> dict[str, Any]:
        return {"kind": "ConfigMap", "metadata": {"name": "a", "namespace": "ns", "labels": labels,
                                                  "resourceVersion": rv}, "data": {"v": rv}}
    c.put_owned(cm("5"), False, only_if_absent=True)        # the answer to our apply
    assert c.put_owned(cm("5"), False) is None              # its watch event (index handler)
    assert c.put_owned(cm("5"), False) is None              # the same event (event handler)
    assert c.put_owned(cm("6"), False) == ("ns", "a")       # someone else's change
    assert c.put_owned(cm("6"), True) == ("ns", "a")        # deleted


def test_echo_of_our_own_status_write_does_not_queue_the_bot() -> None:
    c = Cache()
    body = bot("a")
    body["metadata"]["resourceVersion"] = "10"
    assert c.bot_event(body) == ("ns", "a")
    stored = {**body, "metadata": {**body["metadata"], "resourceVersion": "11"}, "status": {"x": 1}}
    c.put_bot(stored, written=True)
    assert c.bot_event(stored) is None
    edited = {**stored, "metadata": {**stored["metadata"], "resourceVersion": "12", "generation": 2}}
    assert c.bot_event(edited) == ("ns", "a")
    assert c.bots[("ns", "a")].rv == "12"


async def test_a_bot_s_pending_re_check_is_the_earliest_asked_for() -> None:
    """A re-check asked for in 60 s (RollingOut) must not swallow one asked for later in 0.1 s (the
    end of a pod's scheduling grace): the bot is reconciled at the earlier time, once."""
    from botfleet_operator.resources import Settings
    from botfleet_operator.runner import Controller

    ctl = Controller(_RecordingKube(), Settings(image="img"), workers=1, resync_seconds=3600)
    ctl.cache.put_bot(bot("a"))
    queued: list[tuple[str, str]] = []
    ctl.enqueue = queued.append  # type: ignore[method-assign]
    ctl._recheck(("ns", "a"), 60.0)
    ctl._recheck(("ns", "a"), 0.1)
    ctl._recheck(("ns", "a"), 30.0)  # later than the pending one: nothing new
    await asyncio.sleep(0.3)
    assert queued == [("ns", "a")]
    ctl._recheck(("ns", "a"), 0.05)  # the fired one is forgotten: a new one can be asked for
    await asyncio.sleep(0.2)
    assert queued == [("ns", "a"), ("ns", "a")]


def test_a_new_version_that_changes_nothing_the_operator_reads_queues_no_reconcile() -> None:
    """A Deployment's condition timestamps, a claim's bind annotations: stored at their new version,
    no reconcile. A hand edit of the spec of an object already compacted (found up to date) does queue one."""
    from botfleet_operator.cache import compact
    from botfleet_operator.reconcile import UP_TO_DATE_MARK
    labels = {"botfleet.io/bot": "a"}
    dep = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "a", "namespace": "ns", "labels": labels, "resourceVersion": "1", "generation": 1,
                        "annotations": {"botfleet.io/desired-hash": "h"}},
           "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "bot", "image": "img:1"}]}}},
           "status": {"observedGeneration": 1, "replicas": 1, "availableReplicas": 1, "updatedReplicas": 1,
                      "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": "t1"}]}}
    c = Cache()
    assert c.put_owned(dep, False) == ("ns", "a")
    # The reconcile found it up to date: the cache keeps it compact.
    c.owned[("ns", "a")][("Deployment", "a")][UP_TO_DATE_MARK] = "h"
    c.compact_if_unchanged(("ns", "a"), c.owned[("ns", "a")][("Deployment", "a")])
    assert c.owned[("ns", "a")][("Deployment", "a")] == compact(c.owned[("ns", "a")][("Deployment", "a")])
    touched = {**dep, "metadata": {**dep["metadata"], "resourceVersion": "2",
                                   "annotations": {**dep["metadata"]["annotations"], "deployment.kubernetes.io/revision": "1"}},
               "status": {**dep["status"], "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": "t2"}]}}
    assert c.put_owned(touched, False) is None
    kept = c.owned[("ns", "a")][("Deployment", "a")]
    assert kept["metadata"]["resourceVersion"] == "2" and kept[UP_TO_DATE_MARK] == "h" and "template" not in kept["spec"]
    # What Ready reads changed: queued.
    unavailable = {**touched, "metadata": {**touched["metadata"], "resourceVersion": "3"},
                   "status": {**touched["status"], "availableReplicas": 0}}
    assert c.put_owned(unavailable, False) == ("ns", "a")
    # Someone edits the image of the (compacted) Deployment: queued, and kept whole to be compared.
    c.owned[("ns", "a")][("Deployment", "a")] = compact({**c.owned[("ns", "a")][("Deployment", "a")], UP_TO_DATE_MARK: "h"})
    edited = {**unavailable, "metadata": {**unavailable["metadata"], "resourceVersion": "4"},
              "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "bot", "image": "evil:1"}]}}}}
    assert c.put_owned(edited, False) == ("ns", "a")
    assert c.owned[("ns", "a")][("Deployment", "a")]["spec"]["template"]["spec"]["containers"][0]["image"] == "evil:1"


def test_a_status_only_version_of_a_bot_keeps_its_secret_index_and_a_new_generation_updates_it() -> None:
    c = Cache()
    b = bot("a", mode="live", walletSecretRef={"name": "w1"})
    b["metadata"].update(uid="u", generation=1, resourceVersion="1")
    c.put_bot(b)
    assert c._secret_users[("ns", "w1")] == {("ns", "a")}
    c.put_bot({**b, "metadata": {**b["metadata"], "resourceVersion": "2"}, "status": {"replicas": 1}})
    assert c._secret_users[("ns", "w1")] == {("ns", "a")}
    changed = bot("a", mode="live", walletSecretRef={"name": "w2"})
    changed["metadata"].update(uid="u", generation=2, resourceVersion="3")
    c.put_bot(changed)
    assert c._secret_users[("ns", "w1")] == set() and c._secret_users[("ns", "w2")] == {("ns", "a")}


def test_an_owned_object_whose_bot_label_was_removed_still_reaches_its_bot() -> None:
    """`kubectl label deployment b1 botfleet.io/bot-`: the watch event must queue bot b1 (through its
    controller reference), whose reconcile puts the label back; objects of nobody's stay ignored."""
    c = Cache()
    ref = {"apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot", "name": "b1", "uid": "u1", "controller": True}
    unlabelled = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "b1", "namespace": "ns", "resourceVersion": "9", "ownerReferences": [ref],
                               "labels": {"app.kubernetes.io/managed-by": "botfleet-operator"}},
                  "spec": {"replicas": 1}}
    assert c.put_owned(unlabelled, False) == ("ns", "b1")
    assert c.put_owned(unlabelled, True) == ("ns", "b1")
    other = {**unlabelled, "metadata": {**unlabelled["metadata"], "ownerReferences": [
        {**ref, "apiVersion": "example.com/v1"}]}}
    assert c.put_owned(other, False) is None
