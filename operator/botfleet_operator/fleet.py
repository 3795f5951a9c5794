"""Fleet-wide pause and resume: set `spec.paused` on every TradingBot a label selector matches.

One merge patch per bot, as `kubectl patch` would: the operator then scales each bot to zero and
the runtime cancels its open orders on SIGTERM. The same path as pausing one bot, so nothing new
can go wrong. For `botfleet fleet pause|resume` (tools/botfleet_tools/fleet) to call; it lives here
because it is an operation on the operator's API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

Obj = dict[str, Any]


class Bots(Protocol):
    def list(self, namespace: str | None, selector: str) -> list[Obj]: ...
    def set_paused(self, namespace: str, name: str, paused: bool) -> None: ...


@dataclass
class Outcome:
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def set_paused(bots: Bots, namespace: str | None, selector: str, paused: bool, dry_run: bool = False,
               echo: Callable[[str], None] = lambda _: None) -> Outcome:
    """Patch spec.paused on every matching bot that differs; bots already in that state are left alone."""
    out = Outcome()
    word = "paused" if paused else "resumed"
    for bot in sorted(bots.list(namespace, selector),
                      key=lambda b: (b["metadata"]["namespace"], b["metadata"]["name"])):
        ns, name = bot["metadata"]["namespace"], bot["metadata"]["name"]
        ident = f"{ns}/{name}"
        if bool((bot.get("spec") or {}).get("paused")) == paused:
            out.unchanged.append(ident)
            echo(f"{ident}: already {word}")
            continue
        if dry_run:
            out.changed.append(ident)
            echo(f"{ident}: would be {word} (dry run)")
            continue
        try:
            bots.set_paused(ns, name, paused)
        except Exception as exc:  # one bot's failure must not stop the others; reported below
            out.failed.append((ident, str(exc)))
            echo(f"{ident}: FAILED: {exc}")
            continue
        out.changed.append(ident)
        echo(f"{ident}: {word}")
    return out
