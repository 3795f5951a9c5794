"""`botfleet fleet`: rows from a TradingBot, its pod and the bot's real metrics text; the daily
health check; the trade-history CSV (pure parts)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from prometheus_client import CollectorRegistry, generate_latest

from bot_runtime.telemetry.metrics import BotMetrics
from bot_runtime.trades import COLUMNS, fills_csv, parse_since
from bot_runtime.types import Fill
from botfleet_tools.fleet.rows import bot_row, health_checks, parse_metrics, pick_pod


def _tb(name: str = "arb", *, ready: str = "True", reason: str = "Available", paused: bool = False,
        degraded: str | None = None, mode: str = "paper") -> dict[str, Any]:
    conds = [{"type": "Ready", "status": ready, "reason": reason}]
    if degraded:
        conds.append({"type": "Degraded", "status": "True", "reason": degraded})
    return {"metadata": {"namespace": "ns", "name": name},
            "spec": {"strategy": "arbhunter", "mode": mode, "paused": paused,
                     "limits": {"maxDailyLossUsd": 100, "maxTotalExposureUsd": 2000}},
            "status": {"conditions": conds}}


def _pod(name: str, created: str, restarts: int = 0, memory: str = "512Mi", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "creationTimestamp": created,
                            "labels": {"botfleet.io/bot": "arb", "app.kubernetes.io/component": "bot"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-06T00:00:00Z"
    return {"metadata": meta, "status": {"phase": "Running", "containerStatuses": [{"restartCount": restarts}]},
            "spec": {"containers": [{"name": "bot", "resources": {"limits": {"memory": memory}}}]}}


def _metrics(*, tripped: bool = False, exposure: float = 250.0, requests: int = 100, errors: int = 1,
             rss_bytes: int = 100 * 2**20) -> str:
    m = BotMetrics(CollectorRegistry())
    lab = ("arb", "arbhunter")
    m.exposure.labels(*lab).set(exposure)
    m.open_orders.labels(*lab).set(3)
    m.kill_switch.labels(*lab).set(1 if tripped else 0)
    m.market_data_age.labels(*lab).set(0.4)
    for i in range(requests):
        m.api_requests.labels(*lab, "/order", "200" if i >= errors else "500").inc()
    m.api_errors.labels(*lab, "/order", "5xx").inc(errors)
    m.fills.labels(*lab).inc(7)
    text = generate_latest(m.registry).decode()
    # The process collector reports this test process, whose size depends on what ran before it
    # (it passed 90% of 512 MiB in a full run): the bot's RSS is fixed here instead.
    text, n = re.subn(r"^process_resident_memory_bytes .*$", f"process_resident_memory_bytes {rss_bytes}.0",
                      text, flags=re.M)
    assert n == 1
    return text


def test_row_reads_the_bot_s_own_metrics_and_the_pod_s_limits() -> None:
    row = bot_row(_tb(), _pod("arb-1", "2026-12-06T01:00:00Z", restarts=2), parse_metrics(_metrics()))
    assert (row.state, row.reached, row.restarts, row.open_orders) == ("ready", True, 2, 3)
    assert row.exposure_usd == 250.0 and row.max_exposure_usd == 2000 and row.max_daily_loss_usd == 100
    assert row.memory_limit_bytes == 512 * 2**20 and row.data_age_s == pytest.approx(0.4)
    assert row.api_error_rate == pytest.approx(0.01) and not row.kill_switch


def test_pod_choice_skips_terminating_pods_and_takes_the_newest() -> None:
    pods = [_pod("old", "2026-12-06T01:00:00Z"), _pod("new", "2026-12-06T02:00:00Z"),
            _pod("gone", "2026-12-06T03:00:00Z", deleting=True)]
    assert pick_pod(pods, "arb")["metadata"]["name"] == "new"  # type: ignore[index]
    assert pick_pod(pods, "other") is None


def test_health_check_fails_on_each_of_the_guide_s_points() -> None:
    healthy = bot_row(_tb(), _pod("p", "t"), parse_metrics(_metrics()))
    assert all(c.ok for c in health_checks([healthy]))

    down = bot_row(_tb(ready="False", reason="CrashLoopBackOff"), _pod("p", "t", restarts=5), None)
    failing = {c.name for c in health_checks([down]) if not c.ok}
    assert failing == {"ns/arb running", "ns/arb metrics"}

    errors = bot_row(_tb(), _pod("p", "t"), parse_metrics(_metrics(requests=100, errors=9)))
    [bad] = [c for c in health_checks([errors]) if not c.ok]
    assert bad.name == "ns/arb API error rate" and "9.0%" in bad.detail

    killed = bot_row(_tb(degraded="KillSwitchTripped"), _pod("p", "t"), parse_metrics(_metrics(tripped=True)))
    assert {c.name for c in health_checks([killed]) if not c.ok} == {"ns/arb running", "ns/arb kill switch"}
    assert killed.state == "KILLED"

    fat = bot_row(_tb(), _pod("p", "t", memory="10Mi"), parse_metrics(_metrics()))
    assert [c.name for c in health_checks([fat]) if not c.ok] == ["ns/arb memory"]  # 100 MiB of 10 MiB


def test_a_paused_bot_is_healthy_without_a_pod_and_an_empty_fleet_is_not() -> None:
    paused = bot_row(_tb(ready="False", reason="Paused", paused=True), None, None)
    assert all(c.ok for c in health_checks([paused])) and paused.state == "paused"
    assert [c.ok for c in health_checks([])] == [False]


def test_trades_csv_has_one_row_per_fill_in_dollars() -> None:
    fills = [Fill("t1", "o1", "0xm", "123", "BUY", 450_000, 10_000_000, 12_345, 1_764_979_200_000)]
    text = fills_csv(fills, "arb", "arbhunter", "paper")
    header, row = text.splitlines()
    assert header.split(",") == list(COLUMNS)
    cells = dict(zip(COLUMNS, row.split(","), strict=True))
    assert (cells["price"], cells["shares"], cells["usd"], cells["fee_usd"]) == ("0.450000", "10.000000",
                                                                                   "4.500000", "0.012345")
    assert cells["time"] == "2025-12-06T00:00:00.000+00:00" and cells["mode"] == "paper"
    assert fills_csv(fills, "arb", "arbhunter", "paper", header=False) == row + "\n"


def test_since_accepts_dates_and_names_the_option_when_it_cannot() -> None:
    assert parse_since("2025-12-06") == 1_764_979_200_000 == parse_since("2025-12-06T00:00:00Z")
    with pytest.raises(typer.BadParameter, match="YYYY-MM-DD"):
        parse_since("yesterday-ish")
