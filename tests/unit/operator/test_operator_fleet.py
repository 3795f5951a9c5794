"""Fleet-wide pause/resume (issue 12): which bots are patched, the fleet mark that keeps bots paused
by hand paused through a fleet resume, dry run, one failure does not stop the rest."""

from __future__ import annotations

from typing import Any

import pytest

from botfleet_operator.api import PAUSED_BY_ANNOTATION
from botfleet_operator.fleet import Action, decide, patch_for, set_paused


class FakeBots:
    """Applies merge patches as the API server does (null deletes a key)."""

    def __init__(self, bots: list[dict[str, Any]], fail: str = "") -> None:
        self.bots = bots
        self.fail = fail
        self.queries: list[tuple[str | None, str]] = []
        self.patched: list[tuple[str, str, dict[str, Any]]] = []

    def list(self, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        self.queries.append((namespace, selector))
        return [b for b in self.bots if namespace is None or b["metadata"]["namespace"] == namespace]

    def patch(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        if name == self.fail:
            raise RuntimeError("HTTP 403: forbidden")
        self.patched.append((namespace, name, body))
        bot = next(b for b in self.bots if (b["metadata"]["namespace"], b["metadata"]["name"]) == (namespace, name))
        bot["spec"].update(body["spec"])
        notes = bot["metadata"].setdefault("annotations", {})
        for k, v in body["metadata"]["annotations"].items():
            if v is None:
                notes.pop(k, None)
            else:
                notes[k] = v


def tb(ns: str, name: str, paused: bool = False, mark: str | None = None, rv: str = "7") -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": ns, "name": name, "resourceVersion": rv}
    if mark is not None:
        meta["annotations"] = {PAUSED_BY_ANNOTATION: mark}
    return {"metadata": meta, "spec": {"strategy": "arbhunter", "paused": paused}}


@pytest.mark.parametrize(("bot", "pause", "resume_all", "action"), [
    (tb("a", "x"), True, False, Action.PAUSE),
    (tb("a", "x", paused=True), True, False, Action.ALREADY_PAUSED),          # paused by hand: stays unmarked
    (tb("a", "x", paused=True, mark="fleet"), True, False, Action.ALREADY_PAUSED),
    (tb("a", "x", paused=True, mark="fleet"), False, False, Action.RESUME),
    (tb("a", "x", paused=True), False, False, Action.LEFT_PAUSED),            # the bug: it went live again
    (tb("a", "x", paused=True, mark="someone"), False, False, Action.LEFT_PAUSED),
    (tb("a", "x", paused=True), False, True, Action.RESUME),                  # --all
    (tb("a", "x"), False, True, Action.ALREADY_RUNNING),
])
def test_decide(bot: dict[str, Any], pause: bool, resume_all: bool, action: Action) -> None:
    assert decide(bot, pause, resume_all) is action


def test_the_mark_and_spec_paused_go_in_one_conditional_write() -> None:
    assert patch_for(tb("a", "x", rv="42"), Action.PAUSE) == {
        "spec": {"paused": True}, "metadata": {"annotations": {PAUSED_BY_ANNOTATION: "fleet"}, "resourceVersion": "42"}}
    assert patch_for(tb("a", "x", paused=True, mark="fleet", rv="43"), Action.RESUME) == {
        "spec": {"paused": False}, "metadata": {"annotations": {PAUSED_BY_ANNOTATION: None}, "resourceVersion": "43"}}


def test_an_incident_pause_and_resume_leaves_the_bot_paused_by_hand_paused() -> None:
    bots = FakeBots([tb("b", "z"), tb("a", "y", paused=True), tb("a", "x")])
    lines: list[str] = []
    out = set_paused(bots, None, "team=arb", True, echo=lines.append)
    assert bots.queries == [(None, "team=arb")]
    assert [(ns, n) for ns, n, _ in bots.patched] == [("a", "x"), ("b", "z")]
    assert out.changed == ["a/x", "b/z"] and out.unchanged == ["a/y"] and not out.failed
    assert lines == ["a/x: paused", "a/y: already paused", "b/z: paused"]
    assert PAUSED_BY_ANNOTATION not in bots.bots[1]["metadata"].get("annotations", {})

    lines.clear()
    out = set_paused(bots, None, "team=arb", False, echo=lines.append)
    assert lines == ["a/x: resumed", "a/y: left paused (paused by hand; use --all)", "b/z: resumed"]
    assert out.changed == ["a/x", "b/z"] and out.left_paused == ["a/y"]
    assert [b["spec"]["paused"] for b in bots.bots] == [False, True, False]
    assert all(PAUSED_BY_ANNOTATION not in b["metadata"].get("annotations", {}) for b in bots.bots)

    out = set_paused(bots, "a", "", False, resume_all=True)
    assert out.changed == ["a/y"] and bots.bots[1]["spec"]["paused"] is False


def test_dry_run_patches_nothing_and_one_failure_does_not_stop_the_rest() -> None:
    bots = FakeBots([tb("a", "x"), tb("a", "y")], fail="x")
    assert set_paused(bots, "a", "", True, dry_run=True).changed == ["a/x", "a/y"] and bots.patched == []
    out = set_paused(bots, "a", "", True, describe=lambda e: f"explained: {e}")
    assert out.failed == [("a/x", "explained: HTTP 403: forbidden")] and [n for _, n, _ in bots.patched] == ["y"]
