"""The operator's own Prometheus metrics (names are part of the interface: dashboards and alerts)."""

from __future__ import annotations

from collections import Counter as Tally
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # *_created series are noise for these counters

REGISTRY = CollectorRegistry()

RECONCILES = Counter("botfleet_operator_reconciles_total", "Reconciles of TradingBots by result.",
                     ["result"], registry=REGISTRY)
ERRORS = Counter("botfleet_operator_reconcile_errors_total", "Reconciles that hit an API error.",
                 registry=REGISTRY)
DURATION = Histogram("botfleet_operator_reconcile_duration_seconds", "Time of one reconcile.",
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=REGISTRY)
BOTS = Gauge("botfleet_operator_bots", "TradingBots by condition and status.", ["condition", "status"],
             registry=REGISTRY)
QUEUE = Gauge("botfleet_operator_queue_depth", "Bots waiting to be reconciled.", registry=REGISTRY)
APPLIES = Counter("botfleet_operator_applies_total", "Objects server-side-applied, by kind.", ["kind"],
                  registry=REGISTRY)
LEADER = Gauge("botfleet_operator_leader", "1 when this replica holds the leader Lease.", registry=REGISTRY)

CONDITION_TYPES = ("Ready", "Progressing", "Degraded", "SecretsReady", "BackupSucceeded", "RotationDue")


def condition_counts(bots: list[dict[str, Any]]) -> Tally[tuple[str, str]]:
    """(condition type, status) -> number of bots; every pair is present, missing ones count as Unknown."""
    tally: Tally[tuple[str, str]] = Tally()
    for t in CONDITION_TYPES:
        for s in ("True", "False", "Unknown"):
            tally[(t, s)] += 0
    for bot in bots:
        seen = {c.get("type"): c.get("status", "Unknown") for c in (bot.get("status") or {}).get("conditions") or []}
        for t in CONDITION_TYPES:
            tally[(t, seen.get(t, "Unknown"))] += 1
    return tally


def update_bot_gauge(bots: list[dict[str, Any]]) -> None:
    for (t, s), n in condition_counts(bots).items():
        BOTS.labels(condition=t, status=s).set(n)
