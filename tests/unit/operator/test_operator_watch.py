"""The owned kinds' list+watch decisions (watch.Reflected): what a list, a relist and each watch
event deliver to the cache. The HTTP shell runs against the real API server in
tests/e2e/test_owned_watch.py and in every e2e test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from botfleet_operator.watch import Gone, Reflected, lines


def cm(name: str, rv: str, bot: str = "a") -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": rv,
                         "labels": {"botfleet.io/bot": bot}}}


def test_a_list_delivers_new_and_changed_objects_and_the_ones_gone() -> None:
    r = Reflected("ConfigMap")
    first = r.listed([cm("a", "1"), cm("b", "2", bot="b")], "10")
    # A list's items come without apiVersion and kind; the objects delivered have both, as a watch
    # event's do (else they never equal their desired state and are re-applied at every reconcile).
    assert [(o["metadata"]["name"], o["apiVersion"], o["kind"], deleted) for o, deleted in first] == \
        [("a", "v1", "ConfigMap", False), ("b", "v1", "ConfigMap", False)]
    assert r.resource_version == "10"
    # A relist (after 410 Gone): "a" unchanged (not delivered again), "b" deleted meanwhile, "c" new.
    again = r.listed([cm("a", "1"), cm("c", "12")], "20")
    assert [(o["metadata"]["name"], deleted) for o, deleted in again] == [("c", False), ("b", True)]
    gone = again[1][0]
    # The deletion names its bot (the cache finds the owner by label) and its kind.
    assert gone == {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"namespace": "ns", "name": "b", "labels": {"botfleet.io/bot": "b"}}}
    assert r.resource_version == "20"


def test_watch_events_update_the_version_to_resume_from() -> None:
    r = Reflected("Deployment", "apps/v1")
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


def test_a_listed_object_equal_to_its_desired_state_is_up_to_date() -> None:
    # What the restarted operator lists must not look changed: the regression of a restart that
    # re-applied every listed Deployment, which, unchanged, produced no watch event to end RollingOut.
    from botfleet_operator.api import TradingBot
    from botfleet_operator.reconcile import up_to_date
    from botfleet_operator.resources import Settings, desired_objects
    from tests.unit.operator.tb_fixtures import bot

    for desired in desired_objects(TradingBot.parse(bot("a")), Settings(image="img"), {}):
        group_version = desired["apiVersion"]
        as_listed = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind")}
        as_listed["metadata"] = {**desired["metadata"], "resourceVersion": "7"}
        [(obj, deleted)] = Reflected(desired["kind"], group_version).listed([as_listed], "8")
        assert not deleted and up_to_date(desired, obj), desired["kind"]



async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


@pytest.mark.parametrize("size", [1, 7, 4096])
async def test_watch_lines_are_the_same_whatever_the_reads(size: int) -> None:
    stream = b'{"type": "ADDED"}\n\n{"type": "MODIFIED"}\n  \n{"type": "DELETED"}\n{"type": "cut off'
    got = [line async for line in lines(_chunks(stream, size))]
    # blank lines skipped; the last, cut off by a dropped connection, not delivered
    assert got == [b'{"type": "ADDED"}', b'{"type": "MODIFIED"}', b'{"type": "DELETED"}']


async def test_a_watch_event_may_be_larger_than_any_read() -> None:
    big = b'{"object": "' + b"x" * (3 * 2**20) + b'"}'  # etcd allows ~1.5 MiB objects; more to be sure
    got = [line async for line in lines(_chunks(b'{"a": 1}\n' + big + b"\n", 64 * 1024))]
    assert got == [b'{"a": 1}', big]
