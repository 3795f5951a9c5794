"""Prometheus (and log) side of the execution layer: implements execution.observer.ExecutionObserver
for one bot. Outcome names are the `outcome` label values of `botfleet_orders_total`."""

from __future__ import annotations

from typing import Any

import structlog

from bot_runtime.telemetry import logs as ev
from bot_runtime.telemetry.http_metrics import code_class
from bot_runtime.telemetry.metrics import BotMetrics
from bot_runtime.types import Fill, OrderResult
from bot_runtime.venue.polymarket.constants import E6

_STATUS_OUTCOME = {"matched": "filled", "partial": "partial", "unmatched": "unmatched", "live": "live",
                   "canceled": "canceled", "error": "error", "pending": "error"}


def order_outcome(result: OrderResult) -> str:
    """filled | partial | unmatched | live | canceled | rejected_risk | rejected_exchange | error."""
    if result.status == "rejected":
        # the risk engine refuses before anything is signed or sent: no exchange order id
        return "rejected_exchange" if result.order_id else "rejected_risk"
    return _STATUS_OUTCOME.get(result.status, "error")


class MetricsObserver:
    def __init__(self, metrics: BotMetrics, bot: str, strategy: str, log: Any = None) -> None:
        self.m = metrics
        self.labels = (bot, strategy)
        self.log = log or structlog.get_logger("botfleet.execution").bind(bot=bot, strategy=strategy)
        self._fills = metrics.fills.labels(*self.labels)
        self._filled_usd = metrics.filled_usd.labels(*self.labels)
        self._fees = metrics.fees_usd.labels(*self.labels)
        self._kill = metrics.kill_switch.labels(*self.labels)
        self.kill_tripped = False
        self.errors_by_endpoint: dict[str, int] = {}   # for readiness: is the exchange answering?

    def on_order(self, result: OrderResult) -> None:
        outcome = order_outcome(result)
        self.m.orders.labels(*self.labels, outcome).inc()
        if outcome == "rejected_exchange":
            i = result.intent
            self.log.warning(ev.ORDER_REJECTED, by="exchange", market=i.market, token_id=i.token_id, side=i.side,
                             price=i.price_e6 / E6, size=i.size_e6 / E6, error=result.error[:200])

    def on_fill(self, fill: Fill) -> None:
        self._fills.inc()
        self._filled_usd.inc(fill.price_e6 * fill.size_e6 / E6 / E6)
        if fill.fee_e6:
            self._fees.inc(fill.fee_e6 / E6)

    def on_reject(self, reason: str) -> None:
        self.m.risk_rejections.labels(*self.labels, reason).inc()
        self.log.info(ev.ORDER_REJECTED, by="risk", reason=reason)

    def on_api_request(self, endpoint: str, status: int) -> None:
        # what the aiohttp trace (http_metrics.py) counts for every other request
        self.m.api_requests.labels(*self.labels, endpoint, code_class(status)).inc()

    def on_api_error(self, endpoint: str, status: int) -> None:
        self.errors_by_endpoint[endpoint] = self.errors_by_endpoint.get(endpoint, 0) + 1
        kind = "rate_limited" if status == 429 else "unavailable" if status == 503 else (
            "network" if status == 0 else "server" if status >= 500 else "client")
        self.m.api_errors.labels(*self.labels, endpoint, kind).inc()

    def on_kill_switch(self, tripped: bool) -> None:
        self._kill.set(1 if tripped else 0)
        if tripped != self.kill_tripped:
            self.kill_tripped = tripped
            (self.log.error if tripped else self.log.warning)(ev.KILL_SWITCH, tripped=tripped)
