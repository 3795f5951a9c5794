"""The operator's own Prometheus metrics (names are part of the interface: dashboards and alerts)."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter as Tally
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from botfleet_operator.api import DEFAULT_MODE, DEFAULT_RISK_PROFILE

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
    """Fleet-wide counts and the per-bot series (see `BotSeries.sync`) of the cached TradingBots."""
    for (t, s), n in condition_counts(bots).items():
        BOTS.labels(condition=t, status=s).set(n)
    BOT_SERIES.sync(bots)


# ---- per-bot series --------------------------------------------------------------------------
# Alerts must say WHICH bot, so the leader also exports a few series per TradingBot. They are set on
# every reconcile (from the status it just computed) and re-synced from the watch cache by the
# operator's gauge loop (`update_bot_gauge`, every 15 s), which removes the series of bots that are
# no longer cached: a deleted bot leaves no stale series behind, even when its DELETED event was
# missed or a reconcile still in flight re-set them. `forget_bot` removes them at once.
STATUSES = ("True", "False", "Unknown")

BOT_CONDITION = Gauge("botfleet_operator_bot_condition",
                      "1 for the current status of each condition of a TradingBot (other statuses have no series).",
                      ["namespace", "name", "strategy", "condition", "status"], registry=REGISTRY)
BOT_LAST_BACKUP = Gauge("botfleet_operator_bot_last_backup_timestamp_seconds",
                        "Completion time of the TradingBot's last successful backup (status.lastBackupTime).",
                        ["namespace", "name"], registry=REGISTRY)
BOT_ROTATION_DUE = Gauge("botfleet_operator_bot_credential_rotation_due",
                         "1 when the TradingBot's RotationDue condition is True, else 0.",
                         ["namespace", "name"], registry=REGISTRY)
BOT_INFO = Gauge("botfleet_operator_bot_info", "Always 1: a TradingBot's strategy, mode and risk profile.",
                 ["namespace", "name", "strategy", "mode", "risk_profile"], registry=REGISTRY)

SeriesKey = tuple[Gauge, tuple[str, ...]]  # (metric, label values)
BotKey = tuple[str, str]                    # (namespace, name)


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
        out[(BOT_CONDITION, (ns, name, strategy, t, current))] = 1.0
    out[(BOT_ROTATION_DUE, (ns, name))] = 1.0 if seen.get("RotationDue") == "True" else 0.0
    backup = _timestamp(status.get("lastBackupTime"))
    if backup is not None:
        out[(BOT_LAST_BACKUP, (ns, name))] = backup
    out[(BOT_INFO, (ns, name, strategy, str(spec.get("mode", DEFAULT_MODE)),
                    str(spec.get("riskProfile", DEFAULT_RISK_PROFILE))))] = 1.0
    return out


class BotSeries:
    """Which per-bot series are exported, so that they can be removed again.

    Reconciles call `observe` from worker threads and the gauge loop calls `sync` on the event loop:
    one lock keeps the bookkeeping and the gauges consistent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exported: dict[BotKey, dict[SeriesKey, float]] = {}

    def observe(self, bot: dict[str, Any]) -> None:
        """Set the bot's series; remove those of its earlier label values (a changed status or mode).

        Only what changed touches the gauges: the periodic sync of 1,000 unchanged bots stays cheap
        (it runs on the operator's event loop)."""
        key = (str(bot["metadata"]["namespace"]), str(bot["metadata"]["name"]))
        series = bot_series(bot)
        with self._lock:
            before = self._exported.get(key, {})
            for gauge, labels in before.keys() - series.keys():
                _remove(gauge, labels)
            for (gauge, labels), value in series.items():
                if before.get((gauge, labels)) != value:
                    gauge.labels(*labels).set(value)
            self._exported[key] = series

    def forget(self, namespace: str, name: str) -> None:
        """The bot is gone: remove every series it had."""
        with self._lock:
            for gauge, labels in self._exported.pop((namespace, name), set()):
                _remove(gauge, labels)

    def sync(self, bots: list[dict[str, Any]]) -> None:
        """Make the exported series exactly those of `bots` (the operator's cache of TradingBots)."""
        present = {(str(b["metadata"]["namespace"]), str(b["metadata"]["name"])) for b in bots}
        with self._lock:
            gone = [k for k in self._exported if k not in present]
        for ns, name in gone:
            self.forget(ns, name)
        for bot in bots:
            self.observe(bot)

    def exported(self) -> dict[BotKey, dict[SeriesKey, float]]:
        with self._lock:
            return {k: dict(v) for k, v in self._exported.items()}


def _remove(gauge: Gauge, labels: tuple[str, ...]) -> None:
    with contextlib.suppress(KeyError):  # already removed (e.g. by a concurrent forget)
        gauge.remove(*labels)


BOT_SERIES = BotSeries()


def observe_bot(bot: dict[str, Any]) -> None:
    BOT_SERIES.observe(bot)


def forget_bot(namespace: str, name: str) -> None:
    BOT_SERIES.forget(namespace, name)
