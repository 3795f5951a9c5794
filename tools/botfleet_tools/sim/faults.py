"""Faults on demand: rate limiting, 5xx, cancel-only windows, slow responses, stale feeds, drops."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Window:
    """A fault active until `until` (monotonic seconds; None = until cleared) for a fraction of calls."""

    until: float | None = None
    fraction: float = 1.0
    active: bool = False
    value: float = 0.0  # seconds: the delay of `slow`, `delayed`, `order_latency`; the competitor's latency
    share: float = 1.0  # competitor: the fraction of the crossing liquidity it takes
    # path prefixes it applies to; empty: every HTTP path (never the websockets, which need naming,
    # e.g. "/ws/market", so a global 500 storm leaves the feeds up as before)
    paths: tuple[str, ...] = ()

    def covers(self, path: str) -> bool:
        if not self.paths:
            return not path.startswith("/ws/")
        return path.startswith(self.paths)

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
    delayed: Window = field(default_factory=Window)  # orders answered `delayed`, matched `value` s later
    order_latency: Window = field(default_factory=Window)  # every order reaches matching `value` s late
    competitor: Window = field(default_factory=Window)  # a taker `value` s fast takes what our order would
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    drops: int = 0  # websocket drops requested so far (the hubs act on it)
    _drop_callbacks: list[Any] = field(default_factory=list)

    @staticmethod
    def _set(w: Window, seconds: float | None, fraction: float = 1.0, value: float = 0.0,
             paths: Sequence[str] | None = None) -> None:
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        if isinstance(paths, str) or not all(isinstance(p, str) and p.startswith("/") for p in paths or ()):
            raise ValueError(f"paths must be a list of path prefixes starting with '/', got {paths!r}")
        w.paths = tuple(paths or ())
        w.active = True
        w.fraction = fraction
        w.value = value
        w.until = None if seconds is None else time.monotonic() + seconds

    def set_rate_limit(self, seconds: float | None = None, fraction: float = 1.0) -> None:
        self._set(self.rate_limit, seconds, fraction)

    def set_errors(self, seconds: float | None = None, fraction: float = 1.0,
                   paths: Sequence[str] | None = None) -> None:
        """500 on every HTTP request, or only on paths starting with one of `paths` (e.g.
        ["/books", "/book"], ["/v1/heartbeats"], ["/ws/market"]: a websocket path also drops the
        open connections, and refuses new ones until cleared)."""
        self._set(self.errors, seconds, fraction, paths=paths)
        if any(p.startswith("/ws/") for p in self.errors.paths):
            self.drop_connections()

    def set_cancel_only(self, seconds: float | None = None) -> None:
        self._set(self.cancel_only, seconds)

    def set_trading_disabled(self, seconds: float | None = None) -> None:
        self._set(self.trading_disabled, seconds)

    def set_slow(self, delay_s: float, seconds: float | None = None) -> None:
        self._set(self.slow, seconds, value=delay_s)

    def set_stale_feed(self, seconds: float | None = None) -> None:
        self._set(self.stale_feed, seconds)

    def set_delayed(self, delay_s: float, fraction: float = 1.0, seconds: float | None = None) -> None:
        self._set(self.delayed, seconds, fraction, value=delay_s)

    def set_order_latency(self, delay_s: float, seconds: float | None = None) -> None:
        self._set(self.order_latency, seconds, value=delay_s)

    def set_competitor(self, latency_s: float, fraction: float = 1.0, share: float = 1.0,
                       seconds: float | None = None) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"competitor share must be in (0, 1], got {share}")
        self._set(self.competitor, seconds, fraction, value=latency_s)
        self.competitor.share = share

    def drop_connections(self) -> None:
        """Close every websocket connection now (clients must reconnect and resubscribe)."""
        self.drops += 1
        for cb in list(self._drop_callbacks):
            cb()

    def clear(self) -> None:
        for w in (self.rate_limit, self.errors, self.cancel_only, self.trading_disabled, self.slow,
                  self.stale_feed, self.delayed, self.order_latency, self.competitor):
            w.active = False

    def hit(self, w: Window, path: str | None = None) -> bool:
        """Is this request (to `path`) affected? (Fractional faults draw from a seeded RNG.)"""
        if not w.on(time.monotonic()) or (path is not None and not w.covers(path)):
            return False
        return w.fraction >= 1 or self.rng.random() < w.fraction

    def is_stale(self) -> bool:
        return self.stale_feed.on(time.monotonic())

    def apply(self, spec: dict[str, Any]) -> None:
        """Apply the JSON body of POST /_sim/faults. Unknown keys are an error that names them."""
        known = {"clear", "drop_ws", "rate_limit", "errors", "cancel_only", "trading_disabled", "slow",
                 "stale_feed", "delayed", "order_latency", "competitor"}
        bad = sorted(set(spec) - known)
        if bad:
            raise ValueError(f"unknown fault(s) {bad}: valid are {sorted(known)}")
        if spec.get("clear"):
            self.clear()
        if "rate_limit" in spec:
            opts = spec["rate_limit"] or {}
            self.set_rate_limit(opts.get("seconds"), float(opts.get("fraction", 1.0)))
        if "errors" in spec:
            opts = spec["errors"] or {}
            self.set_errors(opts.get("seconds"), float(opts.get("fraction", 1.0)), opts.get("paths"))
        for name in ("cancel_only", "trading_disabled", "stale_feed"):
            if name in spec:
                getattr(self, f"set_{name}")((spec[name] or {}).get("seconds"))
        if "slow" in spec:
            opts = spec["slow"] or {}
            if "delay_ms" not in opts:
                raise ValueError("slow needs delay_ms, e.g. {\"slow\": {\"delay_ms\": 500, \"seconds\": 10}}")
            self.set_slow(float(opts["delay_ms"]) / 1000, opts.get("seconds"))
        if "delayed" in spec:
            opts = spec["delayed"] or {}
            self.set_delayed(float(opts.get("delay_ms", 1000)) / 1000, float(opts.get("fraction", 1.0)),
                             opts.get("seconds"))
        if "order_latency" in spec:
            opts = spec["order_latency"] or {}
            if "delay_ms" not in opts:
                raise ValueError("order_latency needs delay_ms, e.g. {\"order_latency\": {\"delay_ms\": 150}}")
            self.set_order_latency(float(opts["delay_ms"]) / 1000, opts.get("seconds"))
        if "competitor" in spec:
            opts = spec["competitor"] or {}
            self.set_competitor(float(opts.get("latency_ms", 20)) / 1000, float(opts.get("fraction", 1.0)),
                                float(opts.get("share", 1.0)), opts.get("seconds"))
        if spec.get("drop_ws"):
            self.drop_connections()

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        out: dict[str, Any] = {"drops": self.drops}
        for name in ("rate_limit", "errors", "cancel_only", "trading_disabled", "slow", "stale_feed", "delayed",
                     "order_latency", "competitor"):
            w: Window = getattr(self, name)
            on = w.on(now)
            out[name] = {"active": on, "fraction": w.fraction, "paths": list(w.paths),
                         "remaining_s": None if (not on or w.until is None) else round(w.until - now, 3)}
            if name in ("slow", "delayed", "order_latency"):
                out[name]["delay_ms"] = w.value * 1000
            if name == "competitor":
                out[name]["latency_ms"] = w.value * 1000
                out[name]["share"] = w.share
        return out
