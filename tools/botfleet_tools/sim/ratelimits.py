"""Polymarket's documented rate limits (requests per 10 s), enforced when SimConfig.enforce_rate_limits.

Off by default so tests can hammer the simulator; turn it on (and scale it down) to test a
client's own limiter and its backoff on 429.
"""

from __future__ import annotations

import time
from collections import deque

from bot_runtime.venue.polymarket.constants import (
    CLOB_GENERAL,
    CLOB_LIMITS,
    DATA_API_GENERAL,
    DATA_API_LIMITS,
    GAMMA_GENERAL,
    GAMMA_LIMITS,
    RATE_WINDOW_S,
)

WINDOW_S = RATE_WINDOW_S


def _per_window(table: dict[tuple[str, str], list[tuple[int, float]]], prefix: str) -> dict[tuple[str, str], int]:
    """The venue's per-10 s limit of each endpoint, at the simulator's path for that API."""
    return {(method, prefix + path): next(n for n, period in limits if period == RATE_WINDOW_S)
            for (method, path), limits in table.items()}


# (method, path) or path prefix -> requests per 10 s; Gamma is served under /gamma, the Data API under /data-api.
EXACT: dict[tuple[str, str], int] = {
    **_per_window(CLOB_LIMITS, ""), **_per_window(GAMMA_LIMITS, "/gamma"), **_per_window(DATA_API_LIMITS, "/data-api")}
PREFIX: list[tuple[str, int]] = [("/gamma/", GAMMA_GENERAL[0]), ("/data-api/", DATA_API_GENERAL[0]), ("/", CLOB_GENERAL[0])]


def limit_for(method: str, path: str) -> tuple[str, int]:
    """(bucket name, limit per window) of a request."""
    if (method, path) in EXACT:
        return f"{method} {path}", EXACT[(method, path)]
    for prefix, limit in PREFIX:
        if path.startswith(prefix):
            return prefix, limit
    return "/", CLOB_GENERAL[0]


class RateLimiter:
    """Sliding-window counters per (client, bucket)."""

    def __init__(self, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError(f"rate limit scale must be > 0, got {scale}")
        self.scale = scale
        self._hits: dict[tuple[str, str], deque[float]] = {}

    def allow(self, client: str, method: str, path: str, now: float | None = None) -> bool:
        t = time.monotonic() if now is None else now
        bucket, limit = limit_for(method, path)
        cap = max(1, int(limit * self.scale))
        hits = self._hits.setdefault((client, bucket), deque())
        while hits and hits[0] <= t - WINDOW_S:
            hits.popleft()
        if len(hits) >= cap:
            return False
        hits.append(t)
        return True
