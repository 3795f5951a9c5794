"""Fleet-wide pause/resume (issue 12 item 9): which bots are patched, dry run, one failure does not stop the rest."""

from __future__ import annotations

from typing import Any

from botfleet_operator.fleet import set_paused


class FakeBots:
    def __init__(self, bots: list[dict[str, Any]], fail: str = "") -> None:
        self.bots = bots
        self.fail = fail
        self.queries: list[tuple[str | None, str]] = []
        self.patched: list[tuple[str, str, bool]] = []

    def list(self, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        self.queries.append((namespace, selector))
        return [b for b in self.bots if namespace is None or b["metadata"]["namespace"] == namespace]

    def set_paused(self, namespace: str, name: str, paused: bool) -> None:
        if name == self.fail:
            raise RuntimeError("HTTP 403: forbidden")
        self.patched.append((namespace, name, paused))


def tb(ns: str, name: str, paused: bool = False) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name}, "spec": {"strategy": "arbhunter", "paused": paused}}


def test_pause_patches_only_bots_that_are_not_paused() -> None:
    bots = FakeBots([tb("b", "z"), tb("a", "y", paused=True), tb("a", "x")])
    lines: list[str] = []
    out = set_paused(bots, None, "team=arb", True, echo=lines.append)
    assert bots.queries == [(None, "team=arb")]
    assert bots.patched == [("a", "x", True), ("b", "z", True)]
    assert out.changed == ["a/x", "b/z"] and out.unchanged == ["a/y"] and not out.failed
    assert lines == ["a/x: paused", "a/y: already paused", "b/z: paused"]
    out = set_paused(bots, "a", "team=arb", False)
    assert bots.patched[-1] == ("a", "y", False) and out.changed == ["a/y"]


def test_dry_run_patches_nothing_and_one_failure_does_not_stop_the_rest() -> None:
    bots = FakeBots([tb("a", "x"), tb("a", "y")], fail="x")
    assert set_paused(bots, "a", "", True, dry_run=True).changed == ["a/x", "a/y"] and bots.patched == []
    out = set_paused(bots, "a", "", True)
    assert out.failed == [("a/x", "HTTP 403: forbidden")] and bots.patched == [("a", "y", True)]
