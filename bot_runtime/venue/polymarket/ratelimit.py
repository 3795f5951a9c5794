"""Client-side rate limiting at Polymarket's documented limits, and backoff.

Each endpoint has its own token buckets (POST /order has two: the 10 s burst and the 10 min
sustained limit) plus the general CLOB bucket every request also draws from. A request waits for
its tokens instead of earning a 429; a 429 that still arrives (limits shared with other clients,
or a tighter server) pauses that endpoint for the Retry-After time or an exponential backoff.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Polymarket's documented limits; Gamma and the Data API have their own tables there, for
# `RateLimiter(limits=GAMMA_LIMITS, general=GAMMA_GENERAL)`.
from bot_runtime.venue.polymarket.constants import CLOB_GENERAL, CLOB_LIMITS


class TokenBucket:
    """`capacity` tokens refilled continuously at `capacity / period_s` per second."""

    __slots__ = ("_clock", "_tokens", "_updated", "capacity", "rate")

    def __init__(self, capacity: float, period_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(capacity)
        self.rate = capacity / period_s
        self._clock = clock
        self._tokens = float(capacity)
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def wait_time(self, n: float = 1.0) -> float:
        """Seconds until `n` tokens are available (0 = now)."""
        self._refill()
        return 0.0 if self._tokens >= n else (n - self._tokens) / self.rate

    def take(self, n: float = 1.0) -> None:
        self._refill()
        self._tokens -= n


@dataclass
class Backoff:
    """Exponential backoff with full jitter: base * 2^attempt, capped."""

    base_s: float = 0.05
    cap_s: float = 5.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.cap_s * 12)
        return self.rng.uniform(0, min(self.cap_s, self.base_s * (2 ** attempt)))


class RateLimiter:
    """Token buckets per endpoint plus a general one; `blocked_until` after a 429."""

    def __init__(self, limits: dict[tuple[str, str], list[tuple[int, float]]] | None = None,
                 general: tuple[int, float] = CLOB_GENERAL, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._limits = CLOB_LIMITS if limits is None else limits
        self._buckets: dict[tuple[str, str], list[TokenBucket]] = {}
        self._general = TokenBucket(*general, clock=clock)
        self._blocked: dict[tuple[str, str], float] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def _for(self, key: tuple[str, str]) -> list[TokenBucket]:
        buckets = self._buckets.get(key)
        if buckets is None:
            buckets = [TokenBucket(n, p, self._clock) for n, p in self._limits.get(key, [])]
            buckets.append(self._general)
            self._buckets[key] = buckets
        return buckets

    def delay(self, method: str, path: str) -> float:
        """Seconds before a request to (method, path) may go out (0 = now); does not take tokens."""
        key = (method, path)
        blocked = self._blocked.get(key, 0.0) - self._clock()
        return max(blocked, 0.0, *(b.wait_time() for b in self._for(key)))

    async def acquire(self, method: str, path: str) -> None:
        """Wait for every bucket of the endpoint, then take a token from each."""
        key = (method, path)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        # One lock per endpoint: FIFO among its waiters, and a blocked POST /order never holds up a cancel.
        async with lock:
            while True:
                wait = self.delay(method, path)
                if wait <= 0:
                    for b in self._for(key):
                        b.take()
                    return
                await asyncio.sleep(min(wait, 0.05))  # re-check often: a block may be lifted or extended

    def block(self, method: str, path: str, seconds: float) -> None:
        """After a 429: nothing goes to this endpoint for `seconds`."""
        key = (method, path)
        self._blocked[key] = max(self._blocked.get(key, 0.0), self._clock() + seconds)
