"""Faults on demand: rate limiting, 5xx, cancel-only windows, slow responses, stale feeds, drops."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Window:
    """A fault active until `until` (monotonic seconds; None = until cleared) for a fraction of calls."""

    until: float | None = None
    fraction: float = 1.0
    active: bool = False
    value: float = 0.0  # delay in seconds for `slow`

    def on(self, now: float) -> bool:
        if not self.active:
            return False
        if self.until is not None and now >= self.until:
            self.active = False
            return False
        return True


@dataclass
class Faults:
    """Mutable fault state read by the HTTP middleware and the websocket hubs."""

    rate_limit: Window = field(default_factory=Window)  # 429 Too Many Requests
    errors: Window = field(default_factory=Window)  # 500
    cancel_only: Window = field(default_factory=Window)  # 503 on new orders, cancels allowed
    trading_disabled: Window = field(default_factory=Window)  # 503 on orders and cancels
    slow: Window = field(default_factory=Window)  # delay every response by `value` seconds
    stale_feed: Window = field(default_factory=Window)  # market channel stops sending updates
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    drops: int = 0  # websocket drops requested so far (the hubs act on it)
    _drop_callbacks: list[Any] = field(default_factory=list)

    @staticmethod
    def _set(w: Window, seconds: float | None, fraction: float = 1.0, value: float = 0.0) -> None:
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        w.active = True
        w.fraction = fraction
        w.value = value
        w.until = None if seconds is None else time.monotonic() + seconds

    def set_rate_limit(self, seconds: float | None = None, fraction: float = 1.0) -> None:
        self._set(self.rate_limit, seconds, fraction)

    def set_errors(self, seconds: float | None = None, fraction: float = 1.0) -> None:
        self._set(self.errors, seconds, fraction)

    def set_cancel_only(self, seconds: float | None = None) -> None:
        self._set(self.cancel_only, seconds)

    def set_trading_disabled(self, seconds: float | None = None) -> None:
        self._set(self.trading_disabled, seconds)

    def set_slow(self, delay_s: float, seconds: float | None = None) -> None:
        self._set(self.slow, seconds, value=delay_s)

    def set_stale_feed(self, seconds: float | None = None) -> None:
        self._set(self.stale_feed, seconds)

    def drop_connections(self) -> None:
        """Close every websocket connection now (clients must reconnect and resubscribe)."""
        self.drops += 1
        for cb in list(self._drop_callbacks):
            cb()

    def clear(self) -> None:
        for w in (self.rate_limit, self.errors, self.cancel_only, self.trading_disabled, self.slow,
                  self.stale_feed):
            w.active = False

    def hit(self, w: Window) -> bool:
        """Is this request affected? (Fractional faults draw from a seeded RNG.)"""
        if not w.on(time.monotonic()):
            return False
        return w.fraction >= 1 or self.rng.random() < w.fraction

    def is_stale(self) -> bool:
        return self.stale_feed.on(time.monotonic())

    def apply(self, spec: dict[str, Any]) -> None:
        """Apply the JSON body of POST /_sim/faults. Unknown keys are an error that names them."""
        known = {"clear", "drop_ws", "rate_limit", "errors", "cancel_only", "trading_disabled", "slow",
                 "stale_feed"}
        bad = sorted(set(spec) - known)
        if bad:
            raise ValueError(f"unknown fault(s) {bad}: valid are {sorted(known)}")
        if spec.get("clear"):
            self.clear()
        for name in ("rate_limit", "errors"):
            if name in spec:
                opts = spec[name] or {}
                getattr(self, f"set_{name}")(opts.get("seconds"), float(opts.get("fraction", 1.0)))
        for name in ("cancel_only", "trading_disabled", "stale_feed"):
            if name in spec:
                getattr(self, f"set_{name}")((spec[name] or {}).get("seconds"))
        if "slow" in spec:
            opts = spec["slow"] or {}
            if "delay_ms" not in opts:
                raise ValueError("slow needs delay_ms, e.g. {\"slow\": {\"delay_ms\": 500, \"seconds\": 10}}")
            self.set_slow(float(opts["delay_ms"]) / 1000, opts.get("seconds"))
        if spec.get("drop_ws"):
            self.drop_connections()

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        out: dict[str, Any] = {"drops": self.drops}
        for name in ("rate_limit", "errors", "cancel_only", "trading_disabled", "slow", "stale_feed"):
            w: Window = getattr(self, name)
            on = w.on(now)
            out[name] = {"active": on, "fraction": w.fraction,
                         "remaining_s": None if (not on or w.until is None) else round(w.until - now, 3)}
            if name == "slow":
                out[name]["delay_ms"] = w.value * 1000
        return out
