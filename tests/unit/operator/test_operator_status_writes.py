"""Status writes against a fake cluster whose watch events are delayed and reordered (issue 12 item 6).

The fake keeps objects with resourceVersions, answers conditional status writes like the API server
(409 on a stale resourceVersion, 404 when the bot is gone) and queues watch events that the test
delivers to the operator's cache when and in the order it chooses. Reconciles run as the workers
run them: snapshot from the cache -> reconcile -> `absorb` the answers into the cache.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from botfleet_operator.cache import Cache
from botfleet_operator.conditions import condition
from botfleet_operator.kube import KubeError
from botfleet_operator.reconcile import STALE_AFTER_SECONDS, Result, reconcile
from botfleet_operator.resources import Settings
from botfleet_operator.runner import absorb
from tests.unit.operator.tb_fixtures import bot

SETTINGS = Settings(image="img:1")
T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
KEY = ("ns", "b1")
Obj = dict[str, Any]


class FakeCluster:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.rv = 100
        self.events: list[tuple[str, Obj]] = []  # (type, object) not yet delivered to the cache
        self.status_writes = 0
        self.posted: list[tuple[str, str]] = []  # Events: (type, reason)

    def _store(self, obj: Obj, event: str) -> Obj:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[(obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj
        self.events.append((event, copy.deepcopy(obj)))
        return copy.deepcopy(obj)

    def create_bot(self, body: Obj) -> Obj:
        return self._store(copy.deepcopy(body), "ADDED")

    def apply(self, obj: Obj) -> Obj:
        ident = (obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])
        old = self.objects.get(ident)
        new = copy.deepcopy(obj)
        new["metadata"]["generation"] = (old or {}).get("metadata", {}).get("generation", 0) + 1
        new["status"] = copy.deepcopy((old or {}).get("status") or {})
        return self._store(new, "MODIFIED" if old else "ADDED")

    def delete(self, kind: str, namespace: str, name: str, uid: str | None = None) -> None:
        self.objects.pop((kind, namespace, name), None)

    def patch_status(self, namespace: str, name: str, status: Obj, resource_version: str | None = None) -> Obj:
        stored = self.objects.get(("TradingBot", namespace, name))
        if stored is None:
            raise KubeError(f"patch status of {namespace}/{name}: HTTP 404: not found", 404)
        if resource_version and resource_version != stored["metadata"]["resourceVersion"]:
            raise KubeError(f"patch status of {namespace}/{name}: HTTP 409: the object has been modified", 409)
        self.status_writes += 1
        return self._store({**copy.deepcopy(stored), "status": copy.deepcopy(status)}, "MODIFIED")

    def secret_exists(self, namespace: str, name: str) -> bool:
        return False

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        return copy.deepcopy(self.objects.get((kind, namespace, name)))

    get_metadata = get

    def event(self, bot: Obj, type_: str, reason: str, message: str) -> None:
        self.posted.append((type_, reason))

    # what the Deployment controller does
    def deployment_becomes_available(self, name: str) -> None:
        dep = copy.deepcopy(self.objects[("Deployment", "ns", name)])
        dep["status"] = {"observedGeneration": dep["metadata"]["generation"], "replicas": 1,
                         "availableReplicas": 1, "updatedReplicas": 1, "readyReplicas": 1}
        self._store(dep, "MODIFIED")

    # what the scheduler does with a pod it cannot place (yet)
    def unschedulable_pod(self, bot_name: str, since: datetime) -> None:
        when = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        self._store({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": f"{bot_name}-abc", "namespace": "ns", "creationTimestamp": when,
            "labels": {"botfleet.io/bot": bot_name, "app.kubernetes.io/component": "bot"}},
            "status": {"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "lastTransitionTime": when,
                "message": "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."}]}},
            "ADDED")

    def take_events(self, kind: str) -> list[tuple[str, Obj]]:
        mine = [e for e in self.events if e[1]["kind"] == kind]
        self.events = [e for e in self.events if e[1]["kind"] != kind]
        return mine


def deliver(cache: Cache, events: list[tuple[str, Obj]]) -> None:
    for type_, obj in events:
        if obj["kind"] == "TradingBot":
            cache.put_bot(obj)
        else:
            cache.put_owned(obj, deleted=type_ == "DELETED")


def run(cache: Cache, cluster: FakeCluster, now: datetime) -> Result:
    snapshot = cache.snapshot(KEY)
    assert snapshot is not None
    result = reconcile(snapshot, cluster, SETTINGS, now)
    absorb(cache, KEY, snapshot, result)
    return result


def ready(cache: Cache) -> tuple[str, str]:
    c = condition(cache.bots[KEY].body().get("status"), "Ready")
    assert c is not None
    return c["status"], c["reason"]


def new_bot(cluster: FakeCluster, cache: Cache) -> None:
    deliver(cache, [("ADDED", cluster.create_bot(bot("b1")))])
    cluster.take_events("TradingBot")


def test_reordered_deployment_events_do_not_leave_the_bot_rolling_out_forever() -> None:
    cluster, cache = FakeCluster(), Cache()
    new_bot(cluster, cache)
    first = run(cache, cluster, T0)
    assert ("Deployment", "b1") in first.applied and first.status is not None
    # The first status comes from watched objects only, not from the apply's answer.
    assert ready(cache) == ("False", "RollingOut")
    assert condition(first.status, "Ready")["message"] == "0/1 available"  # type: ignore[index]
    assert first.recheck_after == STALE_AFTER_SECONDS

    cluster.deployment_becomes_available("b1")
    added, available = (e for e in cluster.take_events("Deployment") if e[1]["metadata"]["name"] == "b1")
    deliver(cache, [available, added])  # reordered: the cache ends on the older version
    deliver(cache, cluster.take_events("TradingBot"))
    for _ in range(3):  # events and resyncs re-read the same (stale) cache: still RollingOut
        run(cache, cluster, T0 + timedelta(seconds=10))
        assert ready(cache) == ("False", "RollingOut")

    # The re-check after STALE_AFTER_SECONDS reads the Deployment directly and heals the status.
    result = run(cache, cluster, T0 + timedelta(seconds=STALE_AFTER_SECONDS + 1))
    assert [r["metadata"]["resourceVersion"] for r in result.refreshed] == \
        [available[1]["metadata"]["resourceVersion"]]
    assert ready(cache) == ("True", "Available") and result.recheck_after is None
    assert cache.owned[KEY][("Deployment", "b1")]["status"]["availableReplicas"] == 1
    deliver(cache, cluster.take_events("TradingBot"))
    writes = cluster.status_writes
    settled = run(cache, cluster, T0 + timedelta(seconds=STALE_AFTER_SECONDS + 5))
    assert settled.status is None and settled.applied == [] and cluster.status_writes == writes


def test_delayed_events_after_our_own_write_cause_no_conflict_and_no_second_write() -> None:
    cluster, cache = FakeCluster(), Cache()
    new_bot(cluster, cache)
    run(cache, cluster, T0)
    writes = cluster.status_writes
    # No watch event delivered yet (delayed): the cache holds the stored answer of our write, so
    # the next reconcile neither conflicts (409) nor writes the same status again.
    result = run(cache, cluster, T0 + timedelta(seconds=1))
    assert not result.retry and result.status is None and cluster.status_writes == writes


def test_status_write_on_a_deleted_bot_is_not_a_success() -> None:
    cluster, cache = FakeCluster(), Cache()
    new_bot(cluster, cache)
    snapshot = cache.snapshot(KEY)
    assert snapshot is not None
    cluster.objects.pop(("TradingBot", "ns", "b1"))  # deleted; its DELETED event not delivered yet
    result = reconcile(snapshot, cluster, SETTINGS, T0)
    absorb(cache, KEY, snapshot, result)
    assert result.gone and result.status is None and result.stored is None
    assert not result.retry and not result.errors
    assert "status" not in cache.bots[KEY].body()  # nothing that was never written is cached as written


def test_status_write_is_conditional_on_the_version_it_was_computed_from() -> None:
    cluster, cache = FakeCluster(), Cache()
    new_bot(cluster, cache)
    snapshot = cache.snapshot(KEY)
    assert snapshot is not None
    edited = copy.deepcopy(cluster.objects[("TradingBot", "ns", "b1")])
    edited["spec"]["paused"] = True  # a user edit lands between the snapshot and the status write
    cluster._store(edited, "MODIFIED")
    result = reconcile(snapshot, cluster, SETTINGS, T0)
    absorb(cache, KEY, snapshot, result)
    assert result.retry and result.status is None and not result.errors
    deliver(cache, cluster.take_events("TradingBot"))
    result = run(cache, cluster, T0 + timedelta(seconds=1))
    assert result.status is not None and ready(cache)[1] == "Paused"


def test_a_pod_unschedulable_for_a_moment_costs_no_warning_and_a_lasting_one_is_reported_on_time() -> None:
    """The journal claim binds a moment after the pod is created: the scheduler's first attempts fail.
    That is no FailedScheduling (no Warning Event, no status write for it); one that lasts is
    reported when the grace is over, by the re-check the reconcile asked for, without any event."""
    from botfleet_operator.conditions import UNSCHEDULABLE_GRACE_SECONDS
    cluster, cache = FakeCluster(), Cache()
    new_bot(cluster, cache)
    run(cache, cluster, T0)
    deliver(cache, cluster.take_events("Deployment") + cluster.take_events("TradingBot"))
    writes = cluster.status_writes
    cluster.unschedulable_pod("b1", T0 + timedelta(seconds=1))
    deliver(cache, cluster.take_events("Pod"))
    waiting = run(cache, cluster, T0 + timedelta(seconds=2))
    assert ready(cache) == ("False", "RollingOut") and cluster.status_writes == writes
    assert ("Warning", "FailedScheduling") not in cluster.posted
    assert waiting.recheck_after == UNSCHEDULABLE_GRACE_SECONDS  # 29 s left, and one to be past it
    late = T0 + timedelta(seconds=2 + waiting.recheck_after)
    run(cache, cluster, late)
    assert ready(cache) == ("False", "FailedScheduling")
    # Ready=False and Degraded=True for the same reason: one Warning, not two.
    assert cluster.posted.count(("Warning", "FailedScheduling")) == 1
    assert [(t, r) for t, r in cluster.posted if t == "Warning"] == [("Warning", "FailedScheduling")]
