"""The owned kinds' list+watch decisions (watch.Reflected): what a list, a relist and each watch
event deliver to the cache. The HTTP shell runs against the real API server in
tests/integration/operator/test_owned_watch.py and in every e2e test."""

from __future__ import annotations

from typing import Any

import pytest

from botfleet_operator.watch import Gone, Reflected


def cm(name: str, rv: str, bot: str = "a") -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": rv,
                         "labels": {"botfleet.io/bot": bot}}}


def test_a_list_delivers_new_and_changed_objects_and_the_ones_gone() -> None:
    r = Reflected("ConfigMap")
    first = r.listed([cm("a", "1"), cm("b", "2", bot="b")], "10")
    assert [(o["metadata"]["name"], o["kind"], deleted) for o, deleted in first] == \
        [("a", "ConfigMap", False), ("b", "ConfigMap", False)]
    assert r.resource_version == "10"
    # A relist (after 410 Gone): "a" unchanged (not delivered again), "b" deleted meanwhile, "c" new.
    again = r.listed([cm("a", "1"), cm("c", "12")], "20")
    assert [(o["metadata"]["name"], deleted) for o, deleted in again] == [("c", False), ("b", True)]
    gone = again[1][0]
    # The deletion names its bot (the cache finds the owner by label) and its kind.
    assert gone == {"kind": "ConfigMap", "metadata": {"namespace": "ns", "name": "b", "labels": {"botfleet.io/bot": "b"}}}
    assert r.resource_version == "20"


def test_watch_events_update_the_version_to_resume_from() -> None:
    r = Reflected("Deployment")
    r.listed([cm("a", "1")], "5")
    obj, deleted = r.event({"type": "MODIFIED", "object": {"kind": "Deployment", **cm("a", "7")}}) or ({}, None)
    assert obj["metadata"]["resourceVersion"] == "7" and deleted is False and r.resource_version == "7"
    assert r.event({"type": "BOOKMARK", "object": {"kind": "Deployment", "metadata": {"resourceVersion": "9"}}}) is None
    assert r.resource_version == "9"
    obj, deleted = r.event({"type": "DELETED", "object": {"kind": "Deployment", **cm("a", "11")}}) or ({}, None)
    assert deleted is True and r.versions == {} and r.resource_version == "11"
    # Deleted while we watched: a later relist does not deliver it again.
    assert r.listed([], "12") == []


def test_an_expired_version_asks_for_a_relist_and_other_errors_fail_the_watch() -> None:
    r = Reflected("Pod")
    with pytest.raises(Gone):
        r.event({"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old resource version"}})
    with pytest.raises(RuntimeError, match="500"):
        r.event({"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "internal"}})
