"""The demo's summary rows and its `--report` JSON (pure functions over bot snapshots)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class BotRow:
    name: str
    strategy: str
    opportunities: int = 0
    orders: int = 0
    fills: int = 0
    pnl_usd: float = 0.0
    latency_us: dict[str, float] = field(default_factory=lambda: {"p50": 0.0, "p99": 0.0})
    ready: bool = False
    state: str = "starting"
    exposure_usd: float = 0.0
    open_orders: int = 0
    kill_switch: bool = False
    data_age_s: float | None = None
    last_opportunity: str = ""
    error: str = ""
    details: dict[str, Any] = field(default_factory=dict)  # the strategy's own KPIs (signals, win rate, ...)


def _num(v: Any, default: float = 0.0) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return default
    return f if math.isfinite(f) else default


_ROW_KEYS = frozenset({"opportunities", "orders", "fills", "pnl_usd", "latency_us", "error", "recent", "strategy"})


def row_from(name: str, strategy: str, snapshot: dict[str, Any], status: dict[str, Any] | None = None) -> BotRow:
    """A row from a strategy snapshot (counts, pnl, latency) and the bot's /status (state, risk)."""
    st = status or {}
    lat = snapshot.get("latency_us") or {}
    row = BotRow(
        name=name, strategy=strategy,
        opportunities=int(_num(snapshot.get("opportunities"))), orders=int(_num(snapshot.get("orders"))),
        fills=int(_num(snapshot.get("fills"))), pnl_usd=round(_num(snapshot.get("pnl_usd")), 6),
        latency_us={"p50": round(_num(lat.get("p50")), 1), "p99": round(_num(lat.get("p99")), 1)},
        ready=bool(st.get("ready")), exposure_usd=round(_num(st.get("exposureUsd")), 2),
        open_orders=int(_num(st.get("openOrders"))),
        kill_switch=bool((st.get("killSwitch") or {}).get("tripped")),
        data_age_s=None if st.get("marketDataAgeSeconds") is None else _num(st.get("marketDataAgeSeconds")),
        error=str(snapshot.get("error") or st.get("error") or ""),
        details={k: v for k, v in snapshot.items() if k not in _ROW_KEYS},
    )
    lo = st.get("lastOpportunity")
    if isinstance(lo, dict) and lo:
        row.last_opportunity = f"{lo.get('kind', '')} edge {_num(lo.get('edge')) * 100:.2f}%"
    if row.error:
        row.state = "error"
    elif row.kill_switch:
        row.state = "KILLED"
    elif st.get("paused"):
        row.state = "paused"
    elif row.ready:
        row.state = "trading"
    elif st:
        reasons = st.get("notReadyReasons") or []
        row.state = str(reasons[0]) if reasons else "not ready"
    return row


def build_report(duration_s: float, rows: list[BotRow], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """`{"duration_s": float, "bots": [{"name", "strategy", "opportunities", "orders", "fills",
    "pnl_usd", "latency_us": {"p50", "p99"}}, ...]}` plus extra keys."""
    bots = []
    for r in rows:
        d = asdict(r)
        d["pnl_usd"] = float(d["pnl_usd"])
        bots.append(d)
    return {"duration_s": round(float(duration_s), 3), "bots": bots, **(extra or {})}


def write_report(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
    tmp.replace(path)
