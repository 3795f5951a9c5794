"""Every Prometheus metric a bot exports, in one place: dashboards and alerts are written against
these names (`helm/botfleet/dashboards`, `helm/botfleet/rules`), and a test checks they exist.

All series carry `bot` and `strategy` labels, so one process may host several bots (the demo) and
a dashboard can group by bot without relabelling.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector

# Tick-to-order latency is sub-millisecond when healthy: buckets from 50 µs to 1 s.
LATENCY_BUCKETS = (5e-5, 1e-4, 2e-4, 3e-4, 5e-4, 7.5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2.5e-2, 0.1, 0.25, 1.0)
EDGE_BUCKETS = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2)
L = ("bot", "strategy")


def zero(counter: Counter, bot: str, strategy: str, values: Iterable[str]) -> None:
    """Create these children of an outcome counter at 0 when the bot starts. The KPI ratios (win
    rate, prediction accuracy, copy success) divide increase()s: a child born at 1 shows Prometheus
    no increase, and while only losses have happened the ratio read "No data" instead of 0%."""
    for value in values:
        counter.labels(bot, strategy, value)


class BotMetrics:
    """The metric families; `for_bot` binds the labels of one bot."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # process_resident_memory_bytes, process_cpu_seconds_total, ...: the memory and CPU columns of
        # `botfleet fleet status` and the guide's memory check (there is no metrics-server to ask).
        ProcessCollector(registry=r)
        self.build_info = Info("botfleet_build", "Version, mode and strategy of the bot.", L, registry=r)
        self.opportunities = Counter("botfleet_opportunities_total", "Opportunities found.", (*L, "kind"), registry=r)
        self.orders = Counter("botfleet_orders_total", "Orders by outcome (filled, partial, unmatched, live, "
                              "canceled, rejected_risk, rejected_exchange, error).", (*L, "outcome"), registry=r)
        self.risk_rejections = Counter("botfleet_risk_rejections_total", "Intents refused by the risk engine.",
                                       (*L, "reason"), registry=r)
        self.fills = Counter("botfleet_fills_total", "Fills received.", L, registry=r)
        self.filled_usd = Counter("botfleet_filled_usd_total", "Notional filled, USD.", L, registry=r)
        self.fees_usd = Counter("botfleet_fees_usd_total", "Taker fees paid, USD.", L, registry=r)
        self.pnl_realized = Gauge("botfleet_pnl_realized_usd", "Realised PnL since start of journal, USD.", L, registry=r)
        self.pnl_unrealized = Gauge("botfleet_pnl_unrealized_usd", "Unrealised PnL marked to mid, USD.", L, registry=r)
        self.pnl_today = Gauge("botfleet_pnl_today_usd", "PnL since UTC midnight (realised + unrealised change), "
                               "USD: what the daily-loss kill switch compares with maxDailyLossUsd.", L, registry=r)
        self.limit = Gauge("botfleet_limit_usd", "The money limits the risk engine enforces, USD (limit: "
                           "maxOrderUsd, maxPositionPerMarketUsd, maxTotalExposureUsd, maxDailyLossUsd).",
                           (*L, "limit"), registry=r)
        self.exposure = Gauge("botfleet_exposure_usd", "Positions at cost plus open orders, USD.", L, registry=r)
        self.open_orders = Gauge("botfleet_open_orders", "Orders resting on the book.", L, registry=r)
        self.tick_to_order = Histogram("botfleet_tick_to_order_seconds", "From market-data frame received to "
                                       "signed order sent.", L, buckets=LATENCY_BUCKETS, registry=r)
        self.edge = Histogram("botfleet_opportunity_edge", "Expected profit per $1 after fees.", (*L, "kind"),
                              buckets=EDGE_BUCKETS, registry=r)
        self.ws_reconnects = Counter("botfleet_ws_reconnects_total", "Market websocket reconnects.", L, registry=r)
        self.ws_frames = Counter("botfleet_ws_frames_total", "Market websocket frames applied.", L, registry=r)
        self.market_data_age = Gauge("botfleet_market_data_age_seconds", "Age of the freshest book update.", L,
                                     registry=r)
        self.markets_tracked = Gauge("botfleet_markets_tracked", "Markets subscribed.", L, registry=r)
        self.api_requests = Counter("botfleet_api_requests_total", "Exchange/API requests by endpoint and status "
                                    "code class.", (*L, "endpoint", "code"), registry=r)
        self.api_errors = Counter("botfleet_api_errors_total", "Failed exchange/API requests (429, 5xx, network).",
                                  (*L, "endpoint", "kind"), registry=r)
        self.kill_switch = Gauge("botfleet_kill_switch_tripped", "1 while the daily-loss kill switch is tripped.", L,
                                 registry=r)
        self.paused = Gauge("botfleet_paused", "1 while the bot is paused.", L, registry=r)
        self.credential_age = Gauge("botfleet_credential_age_seconds", "Age of the mounted credentials.", L,
                                    registry=r)
        # Strategy KPIs of the operations guide.
        self.arb_results = Counter("botfleet_arb_executions_total", "Arbitrage executions: won (all legs filled "
                                   "at an edge), lost (unwound at a loss), failed (nothing filled).",
                                   (*L, "result"), registry=r)
        self.ai_predictions = Counter("botfleet_ai_predictions_total", "AI predictions on resolved markets by "
                                      "outcome (correct, wrong).", (*L, "outcome"), registry=r)
        self.llm_requests = Counter("botfleet_llm_requests_total", "LLM calls.", (*L, "model", "result"), registry=r)
        self.llm_tokens = Counter("botfleet_llm_tokens_total", "LLM tokens.", (*L, "model", "kind"), registry=r)
        self.llm_cost = Counter("botfleet_llm_cost_usd_total", "Estimated LLM cost, USD.", (*L, "model"), registry=r)
        self.llm_unpriced = Counter("botfleet_llm_unpriced_calls_total", "LLM calls to a model without a known "
                                    "price: their cost is missing from botfleet_llm_cost_usd_total.",
                                    (*L, "model"), registry=r)
        self.embedding_cache = Counter("botfleet_embedding_cache_total", "Embedding cache lookups (hit, miss).",
                                       (*L, "result"), registry=r)
        self.whale_signals = Counter("botfleet_whale_signals_total", "Whale trades seen.", (*L, "source"), registry=r)
        self.copies = Counter("botfleet_copies_total", "Copy decisions (copied, skipped_stale, skipped_ai, "
                              "skipped_size, skipped_duplicate, rejected).", (*L, "result"), registry=r)
        self.copy_outcomes = Counter("botfleet_copy_outcomes_total", "Resolved copies (win, loss).",
                                     (*L, "result"), registry=r)
