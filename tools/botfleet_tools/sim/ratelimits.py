"""Polymarket's documented rate limits (requests per 10 s), enforced when SimConfig.enforce_rate_limits.

Off by default so tests can hammer the simulator; turn it on (and scale it down) to test a
client's own limiter and its backoff on 429.
"""

from __future__ import annotations

import time
from collections import deque

WINDOW_S = 10.0

# (method, path) or path prefix -> requests per 10 s
EXACT: dict[tuple[str, str], int] = {
    ("GET", "/book"): 1500, ("POST", "/books"): 500, ("GET", "/price"): 1500, ("GET", "/midpoint"): 1500,
    ("POST", "/order"): 3500, ("POST", "/orders"): 1000, ("DELETE", "/order"): 3000,
    ("DELETE", "/orders"): 1000, ("DELETE", "/cancel-all"): 250, ("DELETE", "/cancel-market-orders"): 1000,
    ("GET", "/gamma/markets"): 300, ("GET", "/gamma/events"): 500,
    ("GET", "/data-api/trades"): 200, ("GET", "/data-api/positions"): 150,
}
PREFIX: list[tuple[str, int]] = [("/gamma/", 4000), ("/data-api/", 1000), ("/", 9000)]


def limit_for(method: str, path: str) -> tuple[str, int]:
    """(bucket name, limit per window) of a request."""
    if (method, path) in EXACT:
        return f"{method} {path}", EXACT[(method, path)]
    for prefix, limit in PREFIX:
        if path.startswith(prefix):
            return prefix, limit
    return "/", 9000


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
