"""Metrics hooks of the execution layer. The telemetry module implements `ExecutionObserver`
(Prometheus lives there, not here); `NullObserver` is the default. It extends the venue's
`ClobObserver`, the part a CLOB client reports to (`on_api_error`)."""

from __future__ import annotations

from typing import Protocol

from bot_runtime.types import Fill, OrderResult
from bot_runtime.venue.polymarket.clob import ClobObserver


class ExecutionObserver(ClobObserver, Protocol):
    def on_order(self, result: OrderResult) -> None:
        """Every order outcome (status: matched, live, partial, unmatched, rejected, error, ...)."""

    def on_fill(self, fill: Fill) -> None:
        """Every new fill, once (fills are deduplicated by trade id before this is called)."""

    def on_reject(self, reason: str) -> None:
        """A group refused by the risk engine; `reason` is one of risk.REASONS."""

    def on_kill_switch(self, tripped: bool) -> None:
        """The kill switch changed state (also called once at start with the persisted state)."""


class NullObserver:
    def on_order(self, result: OrderResult) -> None:
        pass

    def on_fill(self, fill: Fill) -> None:
        pass

    def on_reject(self, reason: str) -> None:
        pass

    def on_api_error(self, endpoint: str, status: int) -> None:
        pass

    def on_api_request(self, endpoint: str, status: int) -> None:
        pass

    def on_kill_switch(self, tripped: bool) -> None:
        pass
