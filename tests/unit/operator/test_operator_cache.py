"""Work queue, watch cache, Secret -> bots index, Lease decisions, metrics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from botfleet_operator.cache import Cache, WorkQueue
from botfleet_operator.leader import can_take
from botfleet_operator.metrics import condition_counts
from tb_fixtures import FAKE_KEY, bot, secret


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
    c.put_bot(bot("a", walletSecretRef={"name": "shared"}))
    c.put_bot(bot("b", credentialsSecretRef={"name": "shared"}))
    c.put_bot(bot("c"))
    assert c.put_secret(secret("shared", PRIVATE_KEY="1")) == {("ns", "a"), ("ns", "b")}
    assert c.put_secret(secret("shared", PRIVATE_KEY="1")) == set()  # unchanged data: nothing to do
    assert c.put_secret(secret("shared", PRIVATE_KEY="2")) == {("ns", "a"), ("ns", "b")}
    c.put_bot(bot("b"))  # no longer references it
    assert c.drop_secret(("ns", "shared")) == {("ns", "a")}
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


def test_lease_decisions() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    held = {"spec": {"holderIdentity": "other", "leaseDurationSeconds": 15,
                     "renewTime": (now - timedelta(seconds=5)).isoformat()}}
    assert can_take(None, "me", now)
    assert not can_take(held, "me", now)
    assert can_take(held, "other", now)
    assert can_take(held, "me", now + timedelta(seconds=11))


def test_condition_counts() -> None:
    b1 = bot("a")
    b1["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    counts = condition_counts([b1, bot("b")])
    assert counts[("Ready", "True")] == 1 and counts[("Ready", "Unknown")] == 1
    assert counts[("Degraded", "False")] == 0 and counts[("Degraded", "Unknown")] == 2
