"""Pure: one row per TradingBot from what the API server and the bot's own metrics say, and the
guide's daily health check over those rows. No I/O here; `kube.py` fetches, `cli.py` shows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Obj = dict[str, Any]

# The guide's targets (multi-bot operations guide, "KPIs to Track" and "High Memory Usage").
MAX_API_ERROR_RATE = 0.05
MEMORY_WARN_FRACTION = 0.9  # of the container's memory limit


@dataclass(frozen=True)
class Sample:
    """The bot's Prometheus metrics, summed over label sets: name -> value."""

    values: Mapping[str, float] = field(default_factory=dict)

    def get(self, name: str) -> float | None:
        return self.values.get(name)


def parse_metrics(text: str) -> Sample:
    """The bot's /metrics summed over label sets; `botfleet_limit_usd` is kept per limit
    (`botfleet_limit_usd:maxDailyLossUsd`), being the effective limits the bot enforces."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = f"{s.name}:{s.labels['limit']}" if s.name == "botfleet_limit_usd" else s.name
            out[key] = out.get(key, 0.0) + float(s.value)
    return Sample(out)


def _quantity_bytes(q: str | None) -> float | None:
    if not q:
        return None
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    for suffix, mult in units.items():
        if q.endswith(suffix):
            return float(q[: -len(suffix)]) * mult
    try:
        return float(q)
    except ValueError:
        return None


def _condition(tb: Obj, kind: str) -> Obj:
    for c in (tb.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return dict(c)
    return {}


@dataclass(frozen=True)
class BotRow:
    namespace: str
    name: str
    strategy: str
    mode: str
    ready: bool
    reason: str
    paused: bool
    pod: str = ""
    phase: str = ""
    restarts: int = 0
    kill_switch: bool | None = None
    pnl_today_usd: float | None = None
    max_daily_loss_usd: float | None = None
    exposure_usd: float | None = None
    max_exposure_usd: float | None = None
    open_orders: int | None = None
    data_age_s: float | None = None
    rss_bytes: float | None = None
    memory_limit_bytes: float | None = None
    cpu_seconds: float | None = None
    api_requests: float | None = None
    api_errors: float | None = None
    fills: float | None = None
    reached: bool = False   # the bot's metrics were read
    unread: str = ""        # why they were not ("" when read)

    @property
    def state(self) -> str:
        if self.kill_switch:
            return "KILLED"
        if self.paused:
            return "paused"
        return "ready" if self.ready else (self.reason or "not ready")

    @property
    def api_error_rate(self) -> float | None:
        if not self.api_requests:
            return None
        return (self.api_errors or 0.0) / self.api_requests


def why_unreadable(tb: Obj, pod: Obj | None) -> str:
    """Why the bot's pod cannot be asked for its numbers ("" when it can): a person must see which
    bot is missing from a table or an export, and why, rather than a quiet gap."""
    paused = bool((tb.get("spec") or {}).get("paused"))
    if pod is None:
        return ("paused: it has no pod" if paused
                else "it has no pod (not created yet, or being replaced: see `kubectl describe tradingbot`)")
    phase = (pod.get("status") or {}).get("phase") or "not running"
    if phase != "Running":
        return f"its pod {(pod.get('metadata') or {}).get('name', '')} is {phase}"
    return ""


def bot_row(tb: Obj, pod: Obj | None, metrics: Sample | None, unread: str = "") -> BotRow:
    meta, spec = tb.get("metadata") or {}, tb.get("spec") or {}
    ready = _condition(tb, "Ready")
    limits = spec.get("limits") or {}
    row: dict[str, Any] = {
        "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
        "strategy": spec.get("strategy", ""), "mode": spec.get("mode", "paper"),
        "ready": ready.get("status") == "True", "reason": ready.get("reason", ""),
        "paused": bool(spec.get("paused")),
        "max_daily_loss_usd": limits.get("maxDailyLossUsd"), "max_exposure_usd": limits.get("maxTotalExposureUsd"),
        "unread": "" if metrics is not None else unread,
    }
    if _condition(tb, "Degraded").get("reason") == "KillSwitchTripped":
        row["kill_switch"] = True
    if pod is not None:
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        row["pod"] = (pod.get("metadata") or {}).get("name", "")
        row["phase"] = (pod.get("status") or {}).get("phase", "")
        row["restarts"] = sum(int(s.get("restartCount", 0)) for s in statuses)
        for c in (pod.get("spec") or {}).get("containers") or []:
            if c.get("name") == "bot":
                row["memory_limit_bytes"] = _quantity_bytes(((c.get("resources") or {}).get("limits") or {}).get("memory"))
    if metrics is not None:
        g = metrics.get
        row.update(
            reached=True,
            kill_switch=bool(g("botfleet_kill_switch_tripped")) or bool(row.get("kill_switch")),
            pnl_today_usd=g("botfleet_pnl_today_usd"), exposure_usd=g("botfleet_exposure_usd"),
            open_orders=None if g("botfleet_open_orders") is None else int(g("botfleet_open_orders") or 0),
            data_age_s=g("botfleet_market_data_age_seconds"), rss_bytes=g("process_resident_memory_bytes"),
            cpu_seconds=g("process_cpu_seconds_total"), api_requests=g("botfleet_api_requests_total"),
            api_errors=g("botfleet_api_errors_total"), fills=g("botfleet_fills_total"))
        for limit, key in (("maxDailyLossUsd", "max_daily_loss_usd"), ("maxTotalExposureUsd", "max_exposure_usd")):
            v = metrics.values.get(f"botfleet_limit_usd:{limit}")
            if v is not None:
                row[key] = v
    return BotRow(**row)


def pick_pod(pods: Iterable[Obj], bot: str) -> Obj | None:
    """The bot's current pod: the newest one not being deleted."""
    mine = [p for p in pods if (p.get("metadata") or {}).get("labels", {}).get("botfleet.io/bot") == bot
            and not (p.get("metadata") or {}).get("deletionTimestamp")]
    mine.sort(key=lambda p: (p.get("metadata") or {}).get("creationTimestamp", ""))
    return mine[-1] if mine else None


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def health_checks(rows: list[BotRow]) -> list[Check]:
    """The guide's daily health check: every bot running, error rate, trading today, memory."""
    checks: list[Check] = []
    for r in rows:
        who = f"{r.namespace}/{r.name}"
        if r.paused:
            checks.append(Check(f"{who} running", True, "paused on purpose (spec.paused)"))
        else:
            checks.append(Check(f"{who} running", r.ready and not r.kill_switch,
                                "Ready" if r.ready and not r.kill_switch else f"{r.state} (restarts {r.restarts})"))
        if r.kill_switch:
            checks.append(Check(f"{who} kill switch", False,
                                "tripped: `botfleet kill-switch reset` in the pod after reviewing the day's losses"))
        rate = r.api_error_rate
        if not r.reached:
            checks.append(Check(f"{who} metrics", r.paused,
                                "the bot's /metrics could not be read" + (f": {r.unread}" if r.unread else "")))
            continue
        checks.append(Check(f"{who} API error rate", rate is None or rate < MAX_API_ERROR_RATE,
                            "no requests yet" if rate is None else f"{rate:.1%} (target < {MAX_API_ERROR_RATE:.0%})"))
        if r.rss_bytes is not None and r.memory_limit_bytes:
            frac = r.rss_bytes / r.memory_limit_bytes
            checks.append(Check(f"{who} memory", frac < MEMORY_WARN_FRACTION,
                                f"{r.rss_bytes / 2**20:.0f} MiB of {r.memory_limit_bytes / 2**20:.0f} MiB ({frac:.0%})"))
        if r.pnl_today_usd is not None and r.max_daily_loss_usd:
            used = max(0.0, -r.pnl_today_usd) / r.max_daily_loss_usd
            checks.append(Check(f"{who} daily loss", used < 0.8,
                                f"PnL today {r.pnl_today_usd:+.2f} of -{r.max_daily_loss_usd:.2f} allowed ({used:.0%})"))
        checks.append(Check(f"{who} trades", True, f"{int(r.fills or 0)} fills since start"))
    if not rows:
        checks.append(Check("fleet", False, "no TradingBots matched"))
    return checks
