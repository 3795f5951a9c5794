"""The Grafana dashboards without a Prometheus: well-formed JSON, every PromQL expression parses
(promtool), every metric named is one botfleet exports, and the panels the issue lists exist."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from tests.support.prometheus import DASHBOARDS_DIR, dashboard_queries

PROMTOOL = shutil.which("promtool")


def _dashboards() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def _exported_series() -> set[str]:
    """Every series name the bots and the operator can export (from their registries' families)."""
    from bot_runtime.telemetry.metrics import BotMetrics
    from botfleet_operator import metrics as op

    names = {"up"}
    registry: CollectorRegistry
    for registry in (BotMetrics().registry, op.REGISTRY):
        for fam in registry.collect():
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "info": ["_info"],
                        "gauge": [""], "summary": ["_sum", "_count", ""]}[fam.type]
            names |= {fam.name + s for s in suffixes}
    return names


def test_five_dashboards() -> None:
    assert set(_dashboards()) == {"fleet-overview", "arbhunter", "polyai", "elitemimic", "operator"}


@pytest.mark.parametrize("name", ["fleet-overview", "arbhunter", "polyai", "elitemimic", "operator"])
def test_dashboard_is_well_formed(name: str) -> None:
    d = _dashboards()[name]
    assert d["uid"] == f"botfleet-{name.replace('fleet-overview', 'fleet')}"
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    assert d["templating"]["list"][0]["type"] == "datasource"
    for p in d["panels"]:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        if p["type"] == "row":
            continue
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}"
            assert t["expr"].strip()


def test_every_metric_named_is_exported() -> None:
    exported = _exported_series()
    unknown = {(q.dashboard, q.panel, m) for q in dashboard_queries() for m in q.metrics if m not in exported}
    assert not unknown


def test_strategy_dashboards_filter_on_their_strategy() -> None:
    for q in dashboard_queries():
        if q.dashboard in ("arbhunter", "polyai", "elitemimic"):
            for m in q.metrics - {"up"}:
                assert f'strategy="{q.dashboard}"' in q.expr, (q.panel, m)


def test_required_panels() -> None:
    titles = {name: {p["title"] for p in d["panels"]} for name, d in _dashboards().items()}
    assert {"Bots up", "Bots ready", "PnL per bot, realised + unrealised ($mode)", "Exposure per bot ($mode)",
            "Trades per minute", "Opportunities per minute", "API error rate", "Tick-to-order latency p50 / p99",
            "Kill switches tripped", "Market-data age", "Bots: money against limits, health, resources",
            "Memory per bot", "CPU per bot", "Uptime (7d)", "Uptime (30d)", "Arbitrage win rate (30d)",
            "AI prediction accuracy (30d)", "Copy-trade success (30d)"} <= titles["fleet-overview"]
    assert {"Edge after fees p50 / p90", "Tick-to-order p50 / p90 / p99"} <= titles["arbhunter"]
    assert {"LLM calls per minute", "Tokens per minute", "LLM cost per hour", "Prediction accuracy (24h)"} <= \
        titles["polyai"]
    assert {"Whale signals per minute", "Copy decisions per minute", "Copy success (24h)"} <= titles["elitemimic"]
    assert {"Reconciles per minute by result", "Reconcile errors per minute", "Reconcile duration p50 / p99",
            "Bots by condition"} <= titles["operator"]


MONEY_METRICS = ("botfleet_pnl_realized_usd", "botfleet_pnl_unrealized_usd", "botfleet_exposure_usd",
                 "botfleet_filled_usd_total", "botfleet_fees_usd_total")


def test_money_panels_show_one_mode_never_the_sum_of_paper_and_live() -> None:
    """`mode` is a label of botfleet_build_info only: every time series or stat of money joins it on
    `mode="$mode"` (the per-bot table lists both modes with a mode column instead)."""
    for name, dash in _dashboards().items():
        for panel in dash["panels"]:
            if panel.get("type") in ("row", "table"):
                continue
            for t in panel.get("targets", []):
                if any(m in t["expr"] for m in MONEY_METRICS):
                    assert 'mode="$mode"' in t["expr"], f"{name} / {panel['title']}: money without the mode join"
                    assert "$mode" in panel["title"], f"{name} / {panel['title']}: say which mode in the title"
        if name != "operator":
            (mode,) = [v for v in dash["templating"]["list"] if v["name"] == "mode"]
            assert mode["includeAll"] is False and mode["multi"] is False


@pytest.mark.skipif(PROMTOOL is None, reason="promtool missing (apt-get install prometheus)")
def test_every_expression_parses(tmp_path: Path) -> None:
    """promtool parses each panel's PromQL (as a recording rule), with Grafana's variables filled in."""
    queries = dashboard_queries()
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:q{i}", "expr": q.expr} for i, q in enumerate(queries)]}]}
    path = tmp_path / "dashboards.rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    proc = subprocess.run([PROMTOOL or "promtool", "check", "rules", str(path)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(queries)} rules found" in proc.stdout


def test_operator_dashboard_has_the_per_bot_conditions_table() -> None:
    panels = {p["title"]: p for p in _dashboards()["operator"]["panels"]}
    table = panels["Conditions per bot"]
    assert table["type"] == "table"
    (target,) = table["targets"]
    assert "botfleet_operator_bot_condition" in target["expr"] and target["instant"] is True
    assert target["format"] == "table"
    matrix = [t for t in table["transformations"] if t["id"] == "groupingToMatrix"]
    assert matrix and matrix[0]["options"] == {"columnField": "condition", "rowField": "bot", "valueField": "status"}
