"""The exchange interface the executor talks to. Its result types, errors and wire parsing are
the venue's (`bot_runtime.venue.polymarket.clob`).

Implementations: `ClobHttpExchange` (aiohttp, our fast path; real CLOB or `botfleet sim`),
`PyClobClientExchange` (the official py-clob-client-v2, in a thread), `PaperMatchingExchange`
(in-process matching against live books).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from bot_runtime.types import Fill
from bot_runtime.venue.polymarket.clob import CancelResult, OpenOrder, PostResult
from bot_runtime.venue.polymarket.signing import SignedOrder


@runtime_checkable
class Exchange(Protocol):
    async def post_orders(self, orders: Sequence[SignedOrder]) -> list[PostResult]:
        """Send every order at once; one result per order, in order. Never raises for one order's
        failure: the result says what happened (`definite=False` when unknown)."""
        ...

    async def cancel(self, order_ids: Sequence[str]) -> CancelResult: ...

    async def cancel_all(self) -> CancelResult: ...

    async def open_orders(self) -> list[OpenOrder]: ...

    async def get_order(self, order_id: str) -> OpenOrder | None:
        """One order in any state (None: the exchange never saw it)."""
        ...

    async def trades(self, since_s: int = 0) -> list[Fill]:
        """Our fills (as taker and as maker) since a unix time in seconds."""
        ...

    async def heartbeat(self) -> None: ...

    async def close(self) -> None: ...
