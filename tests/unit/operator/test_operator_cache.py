"""Work queue, watch cache, Secret -> bots index, metrics (Lease decisions: test_operator_leader.py)."""

from __future__ import annotations

import asyncio
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
        self.statuses: list[dict[str, object]] = []
        self.bots: dict[tuple[str, str], dict[str, Any]] = {}  # what the API server stores

    def apply(self, obj: dict[str, object]) -> dict[str, object]:
        self.applied.append(f"{obj['kind']}/{obj['metadata']['name']}")  # type: ignore[index]
        return obj

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
        assert ctl.cache.bots[("ns", "a")] == kube.bots[("ns", "a")]
        count = len(kube.applied)
        ctl.enqueue(("ns", "a"))
        await asyncio.sleep(0.3)
        assert len(kube.applied) == count and len(kube.statuses) == 1
    finally:
        await ctl.stop()


async def test_objects_found_up_to_date_are_kept_compact_and_a_new_version_is_compared_again() -> None:
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
    try:
        kube.bots[("ns", "a")] = {**bot("a"), "metadata": {**bot("a")["metadata"], "resourceVersion": "1"}}
        ctl.cache.put_bot(kube.bots[("ns", "a")])
        ctl.enqueue(("ns", "a"))
        await reconciled(1)
        # The watch delivers what was applied (the fake's answers carry no resourceVersion: give them one).
        for i, obj in enumerate(list(ctl.cache.owned[("ns", "a")].values())):
            ctl.cache.put_owned({**obj, "metadata": {**obj["metadata"], "resourceVersion": f"v{i}"}}, False)
        whole = ctl.cache.owned[("ns", "a")][("CronJob", "a-backup")]
        assert "spec" in whole
        count = len(kube.applied)
        ctl.enqueue(("ns", "a"))
        await asyncio.sleep(0.2)
        await reconciled(1)
        assert len(kube.applied) == count  # all up to date
        kept = ctl.cache.owned[("ns", "a")]
        assert "spec" not in kept[("CronJob", "a-backup")] and kept[("Deployment", "a")]["spec"] == {"replicas": 1}
        assert all(o["metadata"]["resourceVersion"].startswith("v") for o in kept.values())
        # Someone edits the CronJob: its new version arrives whole, is compared, and is re-applied.
        edited = {**whole, "metadata": {**whole["metadata"], "resourceVersion": "v99"},
                  "spec": {**whole["spec"], "schedule": "* * * * *"}}
        ctl.cache.put_owned(edited, False)
        ctl.enqueue(("ns", "a"))
        await asyncio.sleep(0.2)
        await reconciled(1)
        assert kube.applied[count:] == ["CronJob/a-backup"]
    finally:
        await ctl.stop()


def test_own_write_never_overwrites_a_newer_watched_object() -> None:
    c = Cache()
    labels = {"botfleet.io/bot": "a"}
    newer = {"kind": "Deployment", "metadata": {"name": "a", "namespace": "ns", "labels": labels},
             "status": {"availableReplicas": 1}}
    c.put_owned(newer, False)
    c.put_owned({"kind": "Deployment", "metadata": {"name": "a", "namespace": "ns", "labels": labels}}, False,
                only_if_absent=True)
    assert c.owned[("ns", "a")][("Deployment", "a")] == newer


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
    assert c.pods[("ns", "a")]["a-1"] == {"kind": "Pod", "metadata": {"name": "a-1", "namespace": "ns", "labels": labels},
                                          "status": {"phase": "Running"}}
    stored_cm = c.owned[("ns", "a")][("ConfigMap", "a")]
    assert stored_cm["metadata"]["annotations"] == {"x": "y"} and "managedFields" not in stored_cm["metadata"]
    assert stored_cm["data"] == {"config.json": "{}"}
    stored_dep = c.owned[("ns", "a")][("Deployment", "a")]
    assert stored_dep["status"] == {"availableReplicas": 1} and "managedFields" not in stored_dep["metadata"]
    assert "managedFields" in dep["metadata"]  # the watched object itself is not modified


def test_echo_of_our_own_write_does_not_queue_the_bot() -> None:
    c = Cache()
    labels = {"botfleet.io/bot": "a"}

    def cm(rv: str) -> dict[str, Any]:
        return {"kind": "ConfigMap", "metadata": {"name": "a", "namespace": "ns", "labels": labels,
                                                  "resourceVersion": rv}}
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
    assert c.bots[("ns", "a")]["metadata"]["resourceVersion"] == "12"
