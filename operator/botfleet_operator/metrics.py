"""The operator's own Prometheus metrics (names are part of the interface: dashboards and alerts)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Metric, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily

from botfleet_operator.api import DEFAULT_MODE, DEFAULT_RISK_PROFILE

disable_created_metrics()  # *_created series are noise for these counters

REGISTRY = CollectorRegistry()

RECONCILES = Counter("botfleet_operator_reconciles_total", "Reconciles of TradingBots by result.",
                     ["result"], registry=REGISTRY)
ERRORS = Counter("botfleet_operator_reconcile_errors_total", "Reconciles that hit an API error.",
                 registry=REGISTRY)
DURATION = Histogram("botfleet_operator_reconcile_duration_seconds", "Time of one reconcile.",
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=REGISTRY)
QUEUE = Gauge("botfleet_operator_queue_depth", "Bots waiting to be reconciled.", registry=REGISTRY)
APPLIES = Counter("botfleet_operator_applies_total", "Objects server-side-applied, by kind.", ["kind"],
                  registry=REGISTRY)
WATCH_EVENTS = Counter("botfleet_operator_watch_events_total",
                       "Watch events received, by kind (what drives the operator's CPU at scale).", ["kind"],
                       registry=REGISTRY)
LEADER = Gauge("botfleet_operator_leader", "1 when this replica holds the leader Lease.", registry=REGISTRY)
LEASE_RENEW_FAILURES = Counter("botfleet_operator_lease_renew_failures_total",
                               "Failed Lease renewals by the leader (it exits after 10 s without one).",
                               registry=REGISTRY)
BOT_STATUS_READS = Counter("botfleet_operator_bot_status_reads_total",
                           "Reads of bot pods' /status (kill switch), by result (ok, error).", ["result"],
                           registry=REGISTRY)

CONDITION_TYPES = ("Ready", "Progressing", "Degraded", "SecretsReady", "BackupSucceeded", "RotationDue")


def condition_counts(bots: Iterable[dict[str, Any]]) -> Tally[tuple[str, str]]:
    """(condition type, status) -> number of bots; every pair is present, missing ones count as Unknown."""
    tally: Tally[tuple[str, str]] = Tally()
    for t in CONDITION_TYPES:
        for s in ("True", "False", "Unknown"):
            tally[(t, s)] += 0
    for bot in bots:
        _count(tally, bot)
    return tally


def _count(tally: Tally[tuple[str, str]], bot: dict[str, Any]) -> None:
    seen = {c.get("type"): c.get("status", "Unknown") for c in (bot.get("status") or {}).get("conditions") or []}
    for t in CONDITION_TYPES:
        tally[(t, seen.get(t, "Unknown"))] += 1


# ---- per-bot series and fleet counts: built at each scrape ------------------------------------
# Alerts must say WHICH bot, so the leader also exports a few series per TradingBot. They are made at
# scrape time from the TradingBots the operator holds (its watch cache, which takes each status it
# writes): nothing is kept per bot between scrapes (at 1,000 bots, Gauge children and their
# bookkeeping were ~7 MB and a lock taken by every reconcile), a deleted bot's series vanish with it,
# and a standby, which holds no bots, exports none.
STATUSES = ("True", "False", "Unknown")

# name -> (help, label names); names and labels are the interface (dashboards, alerts).
BOT_FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "botfleet_operator_bots": ("TradingBots by condition and status.", ("condition", "status")),
    "botfleet_operator_bot_condition": (
        "1 for the current status of each condition of a TradingBot (other statuses have no series).",
        ("namespace", "name", "strategy", "condition", "status")),
    "botfleet_operator_bot_last_backup_timestamp_seconds": (
        "Completion time of the TradingBot's last successful backup (status.lastBackupTime).", ("namespace", "name")),
    "botfleet_operator_bot_credential_rotation_due": (
        "1 when the TradingBot's RotationDue condition is True, else 0.", ("namespace", "name")),
    "botfleet_operator_bot_info": ("Always 1: a TradingBot's strategy, mode and risk profile.",
                                   ("namespace", "name", "strategy", "mode", "risk_profile")),
}
SeriesKey = tuple[str, tuple[str, ...]]  # (metric name, label values)


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def bot_series(bot: dict[str, Any]) -> dict[SeriesKey, float]:
    """Every per-bot series of one TradingBot and its value. Pure.

    Only the current status of a condition has a series (value 1): a third of the series of a
    0/1 series per status, which matters at 1,000 bots. A condition the status does not have yet
    counts as Unknown (as in `condition_counts`); the backup timestamp exists only once a backup
    has succeeded."""
    meta, spec = bot["metadata"], bot.get("spec") or {}
    status = bot.get("status") or {}
    ns, name = str(meta["namespace"]), str(meta["name"])
    strategy = str(spec.get("strategy", ""))
    seen = {c.get("type"): c.get("status", "Unknown") for c in status.get("conditions") or []}
    out: dict[SeriesKey, float] = {}
    for t in CONDITION_TYPES:
        current = seen.get(t, "Unknown")
        current = current if current in STATUSES else "Unknown"
        out[("botfleet_operator_bot_condition", (ns, name, strategy, t, current))] = 1.0
    out[("botfleet_operator_bot_credential_rotation_due", (ns, name))] = 1.0 if seen.get("RotationDue") == "True" else 0.0
    backup = _timestamp(status.get("lastBackupTime"))
    if backup is not None:
        out[("botfleet_operator_bot_last_backup_timestamp_seconds", (ns, name))] = backup
    out[("botfleet_operator_bot_info", (ns, name, strategy, str(spec.get("mode", DEFAULT_MODE)),
                                        str(spec.get("riskProfile", DEFAULT_RISK_PROFILE))))] = 1.0
    return out


class BotCollector:
    """The fleet counts and per-bot series of the TradingBots `source()` returns, at each scrape."""

    def __init__(self) -> None:
        self._source: Callable[[], Iterable[dict[str, Any]]] | None = None  # None: not leading, no series

    def track(self, source: Callable[[], Iterable[dict[str, Any]]]) -> None:
        """From now on, export the bots `source()` yields (called from the scrape's thread; each bot is
        read once, so a source may decode them one at a time)."""
        self._source = source

    def describe(self) -> list[Metric]:
        return []  # registering must not call collect()

    def collect(self) -> list[Metric]:
        # Not leading: the families without samples (their HELP and TYPE), as Gauges without children.
        families = {name: GaugeMetricFamily(name, doc, labels=labels) for name, (doc, labels) in BOT_FAMILIES.items()}
        if self._source is None:
            return list(families.values())
        tally = condition_counts(())
        for bot in self._source():
            _count(tally, bot)
            for (name, labels), value in bot_series(bot).items():
                families[name].add_metric(list(labels), value)
        for (t, st), n in tally.items():
            families["botfleet_operator_bots"].add_metric([t, st], n)
        return list(families.values())


BOT_COLLECTOR = BotCollector()
REGISTRY.register(BOT_COLLECTOR)


def track_bots(source: Callable[[], Iterable[dict[str, Any]]]) -> None:
    BOT_COLLECTOR.track(source)
