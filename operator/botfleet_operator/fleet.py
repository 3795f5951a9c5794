"""Fleet-wide pause and resume: set `spec.paused` on every TradingBot a label selector matches.

One merge patch per bot, as `kubectl patch` would: the operator then scales each bot to zero and
the runtime cancels its open orders on SIGTERM. The same path as pausing one bot, so nothing new
can go wrong. For `botfleet fleet pause|resume` (tools/botfleet_tools/fleet) to call; it lives here
because it is an operation on the operator's API.

A fleet pause marks the bots it pauses (`botfleet.io/paused-by: fleet`, in the same write), and a
fleet resume resumes only marked bots: a bot paused by hand for a reason stays paused through an
incident's pause and resume unless `--all` is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from botfleet_operator.api import PAUSED_BY_ANNOTATION, PAUSED_BY_FLEET

Obj = dict[str, Any]


class Bots(Protocol):
    def list(self, namespace: str | None, selector: str) -> list[Obj]: ...
    def patch(self, namespace: str, name: str, body: Obj) -> None: ...


class Action(Enum):
    PAUSE = "paused"
    RESUME = "resumed"
    ALREADY_PAUSED = "already paused"
    ALREADY_RUNNING = "already running"
    LEFT_PAUSED = "left paused (paused by hand; use --all)"


def decide(bot: Obj, pause: bool, resume_all: bool = False) -> Action:
    """Pure: what a fleet pause (pause=True) or resume does to this bot."""
    paused = bool((bot.get("spec") or {}).get("paused"))
    if pause:
        return Action.ALREADY_PAUSED if paused else Action.PAUSE
    if not paused:
        return Action.ALREADY_RUNNING
    marked = ((bot.get("metadata") or {}).get("annotations") or {}).get(PAUSED_BY_ANNOTATION) == PAUSED_BY_FLEET
    return Action.RESUME if marked or resume_all else Action.LEFT_PAUSED


def patch_for(bot: Obj, action: Action) -> Obj:
    """Pure: the merge patch of a PAUSE or RESUME. The mark goes with spec.paused in one write, and the
    resourceVersion makes it conditional: a bot changed since it was listed (paused by hand a moment
    ago, say) gets a 409 Conflict instead of a fleet mark it should not carry."""
    meta = bot.get("metadata") or {}
    mark = PAUSED_BY_FLEET if action is Action.PAUSE else None  # None: a merge patch deletes the key
    body: Obj = {"spec": {"paused": action is Action.PAUSE}, "metadata": {"annotations": {PAUSED_BY_ANNOTATION: mark}}}
    if meta.get("resourceVersion"):
        body["metadata"]["resourceVersion"] = meta["resourceVersion"]
    return body


@dataclass
class Outcome:
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    left_paused: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def set_paused(bots: Bots, namespace: str | None, selector: str, paused: bool, dry_run: bool = False,
               echo: Callable[[str], None] = lambda _: None, resume_all: bool = False,
               describe: Callable[[Exception], str] = str) -> Outcome:
    """Pause (or resume) every matching bot that `decide` says to; say one line per bot."""
    out = Outcome()
    for bot in sorted(bots.list(namespace, selector),
                      key=lambda b: (b["metadata"]["namespace"], b["metadata"]["name"])):
        ns, name = bot["metadata"]["namespace"], bot["metadata"]["name"]
        ident = f"{ns}/{name}"
        action = decide(bot, paused, resume_all)
        if action is Action.LEFT_PAUSED:
            out.left_paused.append(ident)
            echo(f"{ident}: {action.value}")
            continue
        if action not in (Action.PAUSE, Action.RESUME):
            out.unchanged.append(ident)
            echo(f"{ident}: {action.value}")
            continue
        if dry_run:
            out.changed.append(ident)
            echo(f"{ident}: would be {action.value} (dry run)")
            continue
        try:
            bots.patch(ns, name, patch_for(bot, action))
        except Exception as exc:  # one bot's failure must not stop the others; reported below
            out.failed.append((ident, describe(exc)))
            echo(f"{ident}: FAILED: {describe(exc)}")
            continue
        out.changed.append(ident)
        echo(f"{ident}: {action.value}")
    return out
