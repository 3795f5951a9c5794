"""The operator's list+watch of its owned kinds (operator/botfleet_operator/watch.py) against the
real API server, under the operator's own least-privilege identity: objects created, changed and
deleted reach the cache; resuming from an old version reports what was deleted meanwhile (replayed
by the server, or found by the relist after its 410 Gone: watch.Reflected's unit tests)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from botfleet_operator import kubeconfig
from botfleet_operator.watch import Gone, Watcher, Watchers
from tests.support.controlplane import Cluster

SELECTOR = "app.kubernetes.io/managed-by=botfleet-operator"
RBAC = Path(__file__).resolve().parents[2] / "deploy" / "rbac" / "operator.yaml"


def _cm(namespace: str, name: str, value: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": name, "namespace": namespace,
                                    "labels": {"app.kubernetes.io/managed-by": "botfleet-operator",
                                               "botfleet.io/bot": name}},
                       "data": {"v": value}})


async def _until(cond: Any, what: str, timeout: float = 30) -> None:
    for _ in range(int(timeout * 20)):
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.timeout(180)
async def test_owned_objects_are_listed_watched_and_relisted(cluster: Cluster, namespace: str) -> None:
    seen: dict[str, dict[str, Any] | None] = {}  # name -> last object delivered (None: deleted)

    def deliver(obj: dict[str, Any], deleted: bool) -> None:
        if obj["metadata"]["namespace"] == namespace:
            seen[obj["metadata"]["name"]] = None if deleted else obj

    cluster.kubectl("apply", "-f", str(RBAC))  # the operator's own identity and rights
    cluster.kubectl("apply", "-f", "-", input=_cm(namespace, "before", "1"))
    conn = kubeconfig.load(str(cluster.operator_kubeconfig))
    watchers = Watchers(conn, [("", "v1", "configmaps", "ConfigMap")], [], SELECTOR, deliver)
    await watchers.start()
    try:
        await asyncio.wait_for(watchers.synced.wait(), 30)
        assert seen["before"] is not None and seen["before"]["kind"] == "ConfigMap"  # from the list
        cluster.kubectl("apply", "-f", "-", input=_cm(namespace, "during", "1"))
        await _until(lambda: "during" in seen, "the created ConfigMap")
        cluster.kubectl("apply", "-f", "-", input=_cm(namespace, "during", "2"))
        await _until(lambda: (seen.get("during") or {}).get("data") == {"v": "2"}, "the change")
        # One event of 300 KB (one line of the watch stream; an object may be up to ~1.5 MiB).
        cluster.kubectl("create", "-f", "-", input=_cm(namespace, "large", "x" * 300_000))
        await _until(lambda: len(((seen.get("large") or {}).get("data") or {}).get("v", "")) == 300_000,
                     "the 300 KB ConfigMap")
        cluster.kubectl("delete", "configmap", "before", "-n", namespace)
        await _until(lambda: "before" in seen and seen["before"] is None, "the deletion")
        # Unlabelled objects are filtered by the server.
        cluster.kubectl("create", "configmap", "foreign", "-n", namespace)
        await asyncio.sleep(1)
        assert "foreign" not in seen
    finally:
        await watchers.stop()

    # Not watching: "during" is deleted. Resuming from a version the server has compacted away must
    # end in a relist, which reports the deletion.
    cluster.kubectl("delete", "configmap", "during", "-n", namespace)
    for i in range(3):  # new versions, so that version 1 is out of the watch window
        cluster.kubectl("create", "configmap", f"churn-{i}", "-n", namespace)
    import aiohttp

    from botfleet_operator.watch import READ_BUFSIZE
    connector = aiohttp.TCPConnector(ssl=conn.ssl_context())
    async with aiohttp.ClientSession(connector=connector, read_bufsize=READ_BUFSIZE) as session:
        w = Watcher(session, conn, f"/api/v1/namespaces/{namespace}/configmaps", "ConfigMap",
                    SELECTOR, deliver)
        await w.list()
        assert "during" not in {k[1] for k in w.state.versions}  # a fresh list has no trace of it
        w.state.versions[(namespace, "during")] = ("1", {"botfleet.io/bot": "during"})  # as if seen earlier
        seen["during"] = {"stale": True}
        w.state.resource_version = "1"

        async def resume() -> None:  # what Watcher.run does after a reconnect
            try:
                await w.watch()
            except Gone:
                await w.list()
        task = asyncio.create_task(resume())
        try:
            # Either the server still has that history (etcd not compacted: the deletion is replayed)
            # or it answers 410 Gone and the relist finds the ConfigMap missing: deleted, both ways.
            await _until(lambda: seen["during"] is None, "the deletion made while not watching")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
