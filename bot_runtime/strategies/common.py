"""Small helpers shared by the strategies: latency percentiles, counters for `snapshot()`,
and scheduling of submissions from synchronous callbacks."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot_runtime.types import UNRESOLVED, OrderResult
from bot_runtime.venue.polymarket.constants import E6


class LatencyWindow:
    """The last `size` latencies (µs), for p50/p99 in snapshots and reports."""

    __slots__ = ("_buf",)

    def __init__(self, size: int = 10_000) -> None:
        self._buf: deque[float] = deque(maxlen=size)

    def add_ns(self, ns: int) -> None:
        self._buf.append(ns / 1000.0)

    def __len__(self) -> int:
        return len(self._buf)

    def percentiles(self) -> dict[str, float]:
        if not self._buf:
            return {"p50": 0.0, "p99": 0.0}
        xs = sorted(self._buf)
        return {"p50": percentile(xs, 0.50), "p99": percentile(xs, 0.99)}


def percentile(sorted_xs: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_xs:
        return 0.0
    k = max(0, min(len(sorted_xs) - 1, round(q * (len(sorted_xs) - 1))))
    return float(sorted_xs[k])


@dataclass
class Tally:
    """What a strategy did, for `snapshot()` and the backtest report."""

    opportunities: int = 0
    orders: int = 0
    fills: int = 0
    cash_e6: int = 0                       # collateral in minus out, fees included
    positions: dict[str, int] = field(default_factory=dict)  # token -> shares held (e6)
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=50))

    def restore(self, held: Mapping[str, tuple[int, int]]) -> None:
        """Start from what the journal says is held (token -> (shares, cost)): after a restart the
        strategy still knows its positions, and its PnL counts their cost once."""
        for tok, (shares, cost) in held.items():
            if shares > 0:
                self.positions[tok] = self.positions.get(tok, 0) + shares
                self.cash_e6 -= cost

    def record_results(self, results: list[OrderResult]) -> None:
        """Count orders and fills and move cash/positions by what the exchange filled."""
        for r in results:
            if r.status == "rejected" and not r.order_id:
                continue  # never left the process: not an order
            self.orders += 1
            if r.filled_size_e6 <= 0:
                continue
            self.fills += 1
            notional = r.filled_size_e6 * r.avg_price_e6 // E6
            tok = r.intent.token_id
            if r.intent.side == "BUY":
                self.cash_e6 -= notional + r.fee_e6
                self.positions[tok] = self.positions.get(tok, 0) + r.filled_size_e6
            else:
                self.cash_e6 += notional - r.fee_e6
                self.positions[tok] = self.positions.get(tok, 0) - r.filled_size_e6


async def until_final(ctx: Any, results: list[OrderResult], stopped: asyncio.Event) -> list[OrderResult]:
    """Results with the exchange's final word: a delayed or unanswered order may still fill, so a
    strategy never counts it as unfilled. Returns as they are if the strategy stops first (the
    journal keeps them pending; reconciliation settles them)."""
    while any(r.status in UNRESOLVED and r.client_id for r in results) and not stopped.is_set():
        results = await ctx.resolve(results)
        if any(r.status in UNRESOLVED for r in results):
            await asyncio.sleep(0.05)  # resolve() waits itself; this only bounds one that cannot
    return results


class TaskSet:
    """Tasks scheduled from synchronous callbacks, kept referenced until done."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
