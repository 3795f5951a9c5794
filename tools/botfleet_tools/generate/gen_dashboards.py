#!/usr/bin/env python3
"""Generates the Grafana dashboards of the Helm chart (`helm/botfleet/dashboards/*.json`).

The dashboards are data in this file, so every panel uses the same selectors, units and
variables, and a test (`tests/chart/test_dashboards.py`) fails when the JSON drifts from it.

    python -m botfleet_tools.generate.gen_dashboards           # write the JSON files
    python -m botfleet_tools.generate.gen_dashboards --check   # exit 1 and name the files that differ

Metric names come from `bot_runtime/telemetry/metrics.py` (the bots) and the operator's metrics
module; `tests/chart` checks each one a dashboard names is really exported.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
OUT_DIR = REPO / "helm" / "botfleet" / "dashboards"

DS = {"type": "prometheus", "uid": "${datasource}"}
# Every bot query filters on these template variables; "All" is `.*`, which also matches a
# missing label (a Prometheus without Kubernetes service discovery has no `namespace`).
SEL = 'namespace=~"$namespace", bot=~"$bot"'
RI = "$__rate_interval"
BOT_JOB = 'job="botfleet-bot"'
OPERATOR_JOB = 'job="botfleet-operator"'


def eq(label: str, value: str, neg: bool = False) -> str:
    return f'{label}{"!=" if neg else "="}"{value}"'


def sel(extra: str = "") -> str:
    return "{" + SEL + (", " + extra if extra else "") + "}"


@dataclass
class Target:
    expr: str
    legend: str = ""
    instant: bool = False


@dataclass
class Panel:
    title: str
    targets: list[Target]
    kind: str = "timeseries"  # timeseries | stat | bargauge | table | row
    unit: str = "short"
    width: int = 12
    height: int = 8
    description: str = ""
    thresholds: Sequence[tuple[float | None, str]] = field(default_factory=list)
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    stack: bool = False
    transformations: list[dict[str, Any]] = field(default_factory=list)  # Grafana's, applied in order


def row(title: str) -> Panel:
    return Panel(title=title, targets=[], kind="row", width=24, height=1)


def _field_config(p: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": p.unit, "color": {"mode": "palette-classic"}}
    if p.thresholds:
        defaults["thresholds"] = {"mode": "absolute",
                                  "steps": [{"color": c, "value": v} for v, c in p.thresholds]}
        if p.kind in ("stat", "bargauge"):
            defaults["color"] = {"mode": "thresholds"}
    if p.decimals is not None:
        defaults["decimals"] = p.decimals
    if p.min is not None:
        defaults["min"] = p.min
    if p.max is not None:
        defaults["max"] = p.max
    if p.kind == "timeseries":
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
                              "spanNulls": False,
                              "stacking": {"mode": "normal" if p.stack else "none", "group": "A"}}
    return {"defaults": defaults, "overrides": []}


def _options(p: Panel) -> dict[str, Any]:
    if p.kind == "stat":
        return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "background", "graphMode": "area", "justifyMode": "auto", "orientation": "auto",
                "textMode": "auto"}
    if p.kind == "bargauge":
        return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True}
    if p.kind == "table":
        return {"showHeader": True}
    return {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"}}


def _layout(panels: list[Panel]) -> list[dict[str, Any]]:
    """Left-to-right, top-to-bottom placement on Grafana's 24-column grid."""
    out: list[dict[str, Any]] = []
    x = y = row_h = 0
    for pid, p in enumerate(panels, start=1):
        if p.kind == "row" or x + p.width > 24:
            y += row_h
            x = row_h = 0
        grid = {"h": p.height, "w": p.width, "x": x, "y": y}
        if p.kind == "row":
            out.append({"id": pid, "type": "row", "title": p.title, "collapsed": False, "gridPos": grid,
                        "panels": []})
            y += p.height
            continue
        panel: dict[str, Any] = {
            "id": pid, "type": p.kind, "title": p.title, "datasource": DS, "gridPos": grid,
            "fieldConfig": _field_config(p), "options": _options(p),
            "targets": [{"refId": chr(ord("A") + i), "datasource": DS, "expr": t.expr,
                         "legendFormat": t.legend, "range": not t.instant, "instant": t.instant,
                         **({"format": "table"} if p.kind == "table" else {})}
                        for i, t in enumerate(p.targets)],
        }
        if p.description:
            panel["description"] = p.description
        if p.transformations:
            panel["transformations"] = p.transformations
        out.append(panel)
        x += p.width
        row_h = max(row_h, p.height)
    return out


def _variables(strategy: str | None, bots: bool = True) -> list[dict[str, Any]]:
    variables: list[dict[str, Any]] = [{
        "name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
        "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []}]
    if not bots:
        return variables
    scope = f', strategy="{strategy}"' if strategy else ""

    def query_var(name: str, label: str, query: str) -> dict[str, Any]:
        return {"name": name, "label": label, "type": "query", "datasource": DS,
                "query": {"query": query, "refId": f"{name}-var"}, "definition": query,
                "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2, "sort": 1,
                "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "hide": 0, "regex": "",
                "options": []}

    # Paper and live money are never added together: every money panel shows one mode, this one.
    variables.append({"name": "mode", "label": "Mode", "type": "custom", "query": "live,paper",
                      "current": {"selected": True, "text": "live", "value": "live"}, "hide": 0,
                      "includeAll": False, "multi": False,
                      "options": [{"selected": m == "live", "text": m, "value": m} for m in ("live", "paper")]})
    variables.append(query_var("namespace", "Namespace", f"label_values(botfleet_build_info{{{scope[2:]}}}, namespace)"))
    variables.append(query_var("bot", "Bot",
                               f'label_values(botfleet_build_info{{namespace=~"$namespace"{scope}}}, bot)'))
    return variables


def dashboard(uid: str, title: str, description: str, panels: list[Panel], strategy: str | None = None,
              bots: bool = True) -> dict[str, Any]:
    return {
        "uid": uid, "title": title, "description": description, "tags": ["botfleet"],
        "editable": True, "graphTooltip": 1, "timezone": "utc", "refresh": "30s", "schemaVersion": 39,
        "version": 1, "time": {"from": "now-6h", "to": "now"}, "fiscalYearStartMonth": 0, "liveNow": False,
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": [{"title": "botfleet dashboards", "type": "dashboards", "tags": ["botfleet"], "asDropdown": True,
                   "includeVars": True, "keepTime": True}],
        "templating": {"list": _variables(strategy, bots)},
        "panels": _layout(panels),
    }


def quantile(q: float, metric: str, selector: str, by: str = "bot") -> str:
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{selector}[{RI}])))"


def ratio(num: str, den: str) -> str:
    """num / den, empty (not NaN or +Inf) where the denominator is 0."""
    return f"({num}) / ({den} > 0)"


def money(expr: str) -> str:
    """Keep only the series of bots in the dashboard's `$mode` (paper or live): `mode` is a label of
    botfleet_build_info alone, so money series are joined with it, never summed across modes."""
    return (f"({expr}) * on (namespace, bot) group_left () "
            f'max by (namespace, bot) (botfleet_build_info{{{SEL}, mode="$mode"}})')


def money_sum(metric: str, selector: str, by: str = "bot") -> str:
    return f"sum by ({by}) ({money(f'{metric}{selector}')})"


def pnl(selector: str) -> str:
    return f"sum by (bot) ({money(f'botfleet_pnl_realized_usd{selector} + botfleet_pnl_unrealized_usd{selector}')})"


PNL = pnl(sel())
LATENCY_UNIT = "s"
GREEN_RED: list[tuple[float | None, str]] = [(None, "green"), (1, "red")]


def _by_bot(expr: str) -> str:
    return f"max by (namespace, bot) ({expr})"


# The per-bot table: one instant query per column (Grafana merges them on namespace and bot).
BOT_TABLE_COLUMNS = {"B": "PnL today $", "C": "daily loss limit $", "D": "exposure $", "E": "exposure limit $",
                     "F": "kill switch", "G": "data age s", "H": "memory", "I": "CPU cores"}
BOT_TABLE = [
    Target(f"max by (namespace, bot, mode) (botfleet_build_info{sel()})", instant=True),
    Target(_by_bot(f"botfleet_pnl_today_usd{sel()}"), instant=True),
    Target(_by_bot(f"botfleet_limit_usd{sel(eq('limit', 'maxDailyLossUsd'))}"), instant=True),
    Target(_by_bot(f"botfleet_exposure_usd{sel()}"), instant=True),
    Target(_by_bot(f"botfleet_limit_usd{sel(eq('limit', 'maxTotalExposureUsd'))}"), instant=True),
    Target(_by_bot(f"botfleet_kill_switch_tripped{sel()}"), instant=True),
    Target(_by_bot(f"botfleet_market_data_age_seconds{sel()}"), instant=True),
    Target(_by_bot(f"process_resident_memory_bytes{sel(BOT_JOB)}"), instant=True),
    Target(_by_bot(f"rate(process_cpu_seconds_total{sel(BOT_JOB)}[5m])"), instant=True),
]

# Uptime from the operator's view: a bot whose pod is missing, pending or crash-looping is not Ready,
# so it counts as down (the scrape-based `up` has no series at all for a missing pod).
READY = ('max by (namespace, name) (botfleet_operator_bot_condition'
         '{namespace=~"$namespace", name=~"$bot", condition="Ready", status="True"})')


def kpi_row(title: str, window: str) -> list[Panel]:
    """The operations guide's KPIs with its targets as thresholds, over a window long enough for
    markets to resolve (a day mostly shows "No data")."""
    def rate_of(metric: str, good: str, window: str = window) -> str:
        return ratio(f"sum(increase({metric}{sel(good)}[{window}]))", f"sum(increase({metric}{sel()}[{window}]))")

    return [
        row(f"KPIs ({title})"),
        Panel(f"Arbitrage win rate ({window})", [Target(rate_of("botfleet_arb_executions_total", eq("result", "won")),
                                                        "win rate")],
              "stat", "percentunit", width=5, height=5, thresholds=[(None, "red"), (0.7, "green")],
              description="Target > 70%."),
        Panel(f"AI prediction accuracy ({window})", [Target(rate_of("botfleet_ai_predictions_total",
                                                                    eq("outcome", "correct")), "accuracy")],
              "stat", "percentunit", width=5, height=5, thresholds=[(None, "red"), (0.65, "green")],
              description="Target > 65% (hit rate on resolved markets)."),
        Panel(f"Copy-trade success ({window})", [Target(rate_of("botfleet_copy_outcomes_total", eq("result", "win")),
                                                        "success")],
              "stat", "percentunit", width=5, height=5, thresholds=[(None, "red"), (0.6, "green")],
              description="Target > 60%."),
        Panel(f"Uptime ({window})", [Target(f"avg(avg_over_time(({READY})[{window}:$__interval]))", "uptime")],
              "stat", "percentunit", width=4, height=5, thresholds=[(None, "red"), (0.99, "green")],
              description="Target > 99%. Time Ready over time, per TradingBot, averaged; a bot with no pod "
                          "counts as down.", decimals=2),
        Panel(f"API error rate ({window})", [Target(ratio(f"sum(increase(botfleet_api_errors_total{sel()}[{window}]))",
                                                          f"sum(increase(botfleet_api_requests_total{sel()}[{window}]))"),
                                                    "errors")],
              "stat", "percentunit", width=5, height=5, thresholds=[(None, "green"), (0.05, "red")],
              description="Target < 5%.", decimals=2),
    ]


def fleet() -> dict[str, Any]:
    api_errors = f"sum by (bot) (rate(botfleet_api_errors_total{sel()}[{RI}]))"
    api_requests = f"sum by (bot) (rate(botfleet_api_requests_total{sel()}[{RI}]))"
    panels = [
        row("Fleet"),
        Panel("Bots up", [Target(f'sum(up{{{BOT_JOB}, namespace=~"$namespace"}})', "up")], "stat", width=4,
              height=4, description="Bot processes Prometheus scrapes successfully."),
        Panel("Bots ready", [Target('max(botfleet_operator_bots{condition="Ready", status="True"})', "ready")],
              "stat", width=4, height=4, description="TradingBots whose Ready condition is True (operator)."),
        Panel("Kill switches tripped", [Target(f"sum(botfleet_kill_switch_tripped{sel()})", "tripped")], "stat",
              width=4, height=4, thresholds=GREEN_RED),
        Panel("Paused", [Target(f"sum(botfleet_paused{sel()})", "paused")], "stat", width=4, height=4,
              thresholds=[(None, "green"), (1, "yellow")]),
        Panel("Total PnL ($mode)", [Target(f"sum({PNL})", "PnL")], "stat", "currencyUSD", width=4, height=4,
              thresholds=[(None, "red"), (0, "green")]),
        Panel("Total exposure ($mode)", [Target(f"sum({money_sum('botfleet_exposure_usd', sel())})", "exposure")],
              "stat", "currencyUSD", width=4, height=4),
        row("Trading"),
        Panel("PnL per bot, realised + unrealised ($mode)", [Target(PNL, "{{bot}}")], unit="currencyUSD"),
        Panel("Exposure per bot ($mode)", [Target(money_sum("botfleet_exposure_usd", sel()), "{{bot}}")],
              unit="currencyUSD"),
        Panel("Trades per minute", [Target(f"sum by (bot) (rate(botfleet_fills_total{sel()}[{RI}])) * 60",
                                           "{{bot}}")], unit="short", width=8),
        Panel("Opportunities per minute",
              [Target(f"sum by (bot, kind) (rate(botfleet_opportunities_total{sel()}[{RI}])) * 60",
                      "{{bot}} {{kind}}")], width=8),
        Panel("Orders by outcome",
              [Target(f"sum by (outcome) (rate(botfleet_orders_total{sel()}[{RI}])) * 60", "{{outcome}}")],
              width=8, stack=True),
        row("Health"),
        Panel("API error rate", [Target(ratio(api_errors, api_requests), "{{bot}}")], "timeseries",
              "percentunit", width=8, thresholds=[(None, "green"), (0.05, "red")],
              description="Failed exchange/API requests over all requests; alert above 5%."),
        Panel("Tick-to-order latency p50 / p99", [
            Target(quantile(0.5, "botfleet_tick_to_order_seconds", sel()), "p50 {{bot}}"),
            Target(quantile(0.99, "botfleet_tick_to_order_seconds", sel()), "p99 {{bot}}")],
            unit=LATENCY_UNIT, width=8, description="Market-data frame received to signed order sent."),
        Panel("Market-data age", [Target(f"max by (bot) (botfleet_market_data_age_seconds{sel()})", "{{bot}}")],
              unit="s", width=8, thresholds=[(None, "green"), (30, "red")]),
        Panel("Websocket reconnects (1h)",
              [Target(f"sum by (bot) (increase(botfleet_ws_reconnects_total{sel()}[1h]))", "{{bot}}")],
              "bargauge", width=8, height=6),
        Panel("Credential age", [Target(f"max by (bot) (botfleet_credential_age_seconds{sel()})", "{{bot}}")],
              "bargauge", "s", width=8, height=6, thresholds=[(None, "green"), (30 * 86400, "orange")]),
        Panel("Open orders", [Target(f"sum by (bot) (botfleet_open_orders{sel()})", "{{bot}}")], "bargauge",
              width=8, height=6),
        row("Bots"),
        Panel("Bots: money against limits, health, resources", BOT_TABLE, "table", width=24, height=9,
              description="One row per bot: PnL since UTC midnight against maxDailyLossUsd (the kill switch "
                          "trips at -limit), exposure against maxTotalExposureUsd, kill switch, market-data age, "
                          "pod memory and CPU. Both modes are listed, with their mode.",
              transformations=[{"id": "merge", "options": {}},
                               {"id": "organize", "options": {
                                   "excludeByName": {"Time": True, "Value #A": True},
                                   "renameByName": {f"Value #{ref}": name for ref, name in BOT_TABLE_COLUMNS.items()},
                                   "indexByName": {"namespace": 0, "bot": 1, "mode": 2}}}]),
        Panel("Memory per bot", [Target(f"max by (bot) (process_resident_memory_bytes{sel(BOT_JOB)})", "{{bot}}")],
              unit="bytes", description="Resident memory of each bot process; compare with its limit "
                                        "(spec.resources, the guide's 500M/1G)."),
        Panel("CPU per bot", [Target(f"max by (bot) (rate(process_cpu_seconds_total{sel(BOT_JOB)}[{RI}]))",
                                     "{{bot}}")], unit="short", description="Cores used by each bot process."),
        *kpi_row("7 days", "7d"),
        *kpi_row("30 days", "30d"),
    ]
    return dashboard("botfleet-fleet", "botfleet / Fleet overview",
                     "Every bot of the fleet: health, PnL, exposure, activity and the KPIs of the operations guide.",
                     panels)


def arbhunter() -> dict[str, Any]:
    s = 'strategy="arbhunter"'
    q = sel(s)
    panels = [
        row("Opportunities"),
        Panel("Opportunities per minute", [Target(
            f"sum by (bot, kind) (rate(botfleet_opportunities_total{q}[{RI}])) * 60", "{{bot}} {{kind}}")]),
        Panel("Edge after fees p50 / p90", [
            Target(quantile(0.5, "botfleet_opportunity_edge", q, "bot, kind"), "p50 {{bot}} {{kind}}"),
            Target(quantile(0.9, "botfleet_opportunity_edge", q, "bot, kind"), "p90 {{bot}} {{kind}}")],
            unit="percentunit", description="Expected profit per $1 of payout after taker fees (the spread captured)."),
        Panel("Executions by result", [Target(
            f"sum by (result) (increase(botfleet_arb_executions_total{q}[{RI}]))", "{{result}}")], stack=True,
            width=8),
        Panel("Win rate (1h)", [Target(ratio(
            f'sum by (bot) (increase(botfleet_arb_executions_total{sel(s + ", " + eq("result", "won"))}[1h]))',
            f"sum by (bot) (increase(botfleet_arb_executions_total{q}[1h]))"), "{{bot}}")],
            unit="percentunit", width=8, thresholds=[(None, "red"), (0.7, "green")], min=0, max=1),
        Panel("Risk rejections per minute", [Target(
            f"sum by (reason) (rate(botfleet_risk_rejections_total{q}[{RI}])) * 60", "{{reason}}")], width=8),
        row("Latency"),
        Panel("Tick-to-order p50 / p90 / p99", [
            Target(quantile(0.5, "botfleet_tick_to_order_seconds", q), "p50 {{bot}}"),
            Target(quantile(0.9, "botfleet_tick_to_order_seconds", q), "p90 {{bot}}"),
            Target(quantile(0.99, "botfleet_tick_to_order_seconds", q), "p99 {{bot}}")], unit="s",
            thresholds=[(None, "green"), (0.001, "red")], description="Budget: 1 ms at p99."),
        Panel("Market-data age", [Target(f"max by (bot) (botfleet_market_data_age_seconds{q})", "{{bot}}")],
              unit="s"),
        Panel("Websocket frames per second", [Target(
            f"sum by (bot) (rate(botfleet_ws_frames_total{q}[{RI}]))", "{{bot}}")], width=8),
        Panel("Websocket reconnects", [Target(
            f"sum by (bot) (increase(botfleet_ws_reconnects_total{q}[{RI}]))", "{{bot}}")], width=8),
        Panel("Markets tracked", [Target(f"sum by (bot) (botfleet_markets_tracked{q})", "{{bot}}")], width=8),
        row("Money"),
        Panel("PnL ($mode)", [Target(pnl(q), "{{bot}}")], unit="currencyUSD", width=8),
        Panel("Filled notional per minute ($mode)", [Target(
            f"{money_sum(f'rate(botfleet_filled_usd_total{q}[{RI}])', '')} * 60", "{{bot}}")], unit="currencyUSD",
            width=8),
        Panel("Fees per hour ($mode)", [Target(f"{money_sum(f'rate(botfleet_fees_usd_total{q}[{RI}])', '')} * 3600",
                                                "{{bot}}")], unit="currencyUSD", width=8),
    ]
    return dashboard("botfleet-arbhunter", "botfleet / ArbHunter",
                     "Pure arbitrage: opportunities, edges after fees, executions and tick-to-order latency.",
                     panels, strategy="arbhunter")


def polyai() -> dict[str, Any]:
    s = 'strategy="polyai"'
    q = sel(s)
    panels = [
        row("LLM"),
        Panel("LLM calls per minute", [Target(
            f"sum by (model, result) (rate(botfleet_llm_requests_total{q}[{RI}])) * 60", "{{model}} {{result}}")],
            width=8),
        Panel("Tokens per minute", [Target(
            f"sum by (model, kind) (rate(botfleet_llm_tokens_total{q}[{RI}])) * 60", "{{model}} {{kind}}")],
            width=8, stack=True),
        Panel("LLM cost per hour", [Target(
            f"sum by (bot, model) (rate(botfleet_llm_cost_usd_total{q}[{RI}])) * 3600", "{{bot}} {{model}}")],
            unit="currencyUSD", width=8),
        Panel("LLM cost (24h)", [Target(f"sum(increase(botfleet_llm_cost_usd_total{q}[1d]))", "cost")], "stat",
              "currencyUSD", width=6, height=5),
        Panel("Prediction accuracy (24h)", [Target(ratio(
            f'sum(increase(botfleet_ai_predictions_total{sel(s + ", " + eq("outcome", "correct"))}[1d]))',
            f"sum(increase(botfleet_ai_predictions_total{q}[1d]))"), "accuracy")], "stat", "percentunit",
            width=6, height=5, thresholds=[(None, "red"), (0.65, "green")], description="Target > 65%."),
        Panel("Embedding cache hit ratio", [Target(ratio(
            f'sum(rate(botfleet_embedding_cache_total{sel(s + ", " + eq("result", "hit"))}[{RI}]))',
            f"sum(rate(botfleet_embedding_cache_total{q}[{RI}]))"), "hit ratio")], "stat", "percentunit",
            width=6, height=5),
        Panel("LLM error ratio", [Target(ratio(
            f'sum(rate(botfleet_llm_requests_total{sel(s + ", " + eq("result", "ok", neg=True))}[{RI}]))',
            f"sum(rate(botfleet_llm_requests_total{q}[{RI}]))"), "errors")], "stat", "percentunit",
            width=6, height=5, thresholds=[(None, "green"), (0.05, "red")]),
        row("Trading"),
        Panel("Predictions by outcome", [Target(
            f"sum by (outcome) (increase(botfleet_ai_predictions_total{q}[{RI}]))", "{{outcome}}")], width=8,
            stack=True),
        Panel("Signals per minute", [Target(
            f"sum by (bot, kind) (rate(botfleet_opportunities_total{q}[{RI}])) * 60", "{{bot}} {{kind}}")], width=8),
        Panel("PnL ($mode)", [Target(pnl(q), "{{bot}}")], unit="currencyUSD", width=8),
    ]
    return dashboard("botfleet-polyai", "botfleet / PolyAI",
                     "Statistical arbitrage and LLM news analysis: calls, tokens, cost and prediction accuracy.",
                     panels, strategy="polyai")


def elitemimic() -> dict[str, Any]:
    s = 'strategy="elitemimic"'
    q = sel(s)
    panels = [
        row("Whales"),
        Panel("Whale signals per minute", [Target(
            f"sum by (source) (rate(botfleet_whale_signals_total{q}[{RI}])) * 60", "{{source}}")], width=8),
        Panel("Copy decisions per minute", [Target(
            f"sum by (result) (rate(botfleet_copies_total{q}[{RI}])) * 60", "{{result}}")], width=8, stack=True),
        Panel("Copy rate", [Target(ratio(
            f'sum by (bot) (rate(botfleet_copies_total{sel(s + ", " + eq("result", "copied"))}[{RI}]))',
            f"sum by (bot) (rate(botfleet_whale_signals_total{q}[{RI}]))"), "{{bot}}")], unit="percentunit",
            width=8, description="Share of whale trades that were copied."),
        Panel("Copy success (24h)", [Target(ratio(
            f'sum(increase(botfleet_copy_outcomes_total{sel(s + ", " + eq("result", "win"))}[1d]))',
            f"sum(increase(botfleet_copy_outcomes_total{q}[1d]))"), "success")], "stat", "percentunit",
            width=6, height=5, thresholds=[(None, "red"), (0.6, "green")], description="Target > 60%."),
        Panel("Resolved copies (24h)", [Target(
            f"sum by (result) (increase(botfleet_copy_outcomes_total{q}[1d]))", "{{result}}")], "bargauge",
            width=6, height=5),
        Panel("Exposure ($mode)", [Target(f"sum({money_sum('botfleet_exposure_usd', q)})", "exposure")], "stat",
              "currencyUSD", width=6, height=5),
        Panel("Kill switch", [Target(f"max(botfleet_kill_switch_tripped{q})", "tripped")], "stat", width=6,
              height=5, thresholds=GREEN_RED),
        row("Trading"),
        Panel("Orders by outcome", [Target(
            f"sum by (outcome) (rate(botfleet_orders_total{q}[{RI}])) * 60", "{{outcome}}")], width=8, stack=True),
        Panel("PnL ($mode)", [Target(pnl(q), "{{bot}}")], unit="currencyUSD", width=8),
        Panel("Filled notional per minute ($mode)", [Target(
            f"{money_sum(f'rate(botfleet_filled_usd_total{q}[{RI}])', '')} * 60", "{{bot}}")], unit="currencyUSD",
            width=8),
    ]
    return dashboard("botfleet-elitemimic", "botfleet / EliteMimic",
                     "Copy trading of large wallets: whale signals, copy decisions and copy success.",
                     panels, strategy="elitemimic")


# The status (True/False/Unknown) of every condition of every TradingBot, one row per bot: the
# series whose value is 1 is the current status; `bot` = namespace/name keeps same-named bots apart.
BOT_CONDITIONS = ('label_join(max by (namespace, name, strategy, condition, status) '
                  '(botfleet_operator_bot_condition) == 1, "bot", "/", "namespace", "name")')


def operator() -> dict[str, Any]:
    panels = [
        row("Operator"),
        Panel("Operator replicas up", [Target(f"sum(up{{{OPERATOR_JOB}}})", "up")], "stat", width=6, height=4,
              thresholds=[(None, "red"), (1, "green")]),
        Panel("TradingBots", [Target('max(sum by (instance) (botfleet_operator_bots{condition="Ready"}))', "bots")], "stat", width=6,
              height=4),
        Panel("Not ready", [Target('max(sum by (instance) (botfleet_operator_bots{condition="Ready", status!="True"}))', "not ready")],
              "stat", width=6, height=4, thresholds=GREEN_RED),
        Panel("Reconcile errors (1h)", [Target("sum(increase(botfleet_operator_reconcile_errors_total[1h]))",
                                               "errors")], "stat", width=6, height=4, thresholds=GREEN_RED),
        Panel("Reconciles per minute by result", [Target(
            f"sum by (result) (rate(botfleet_operator_reconciles_total[{RI}])) * 60", "{{result}}")], stack=True),
        Panel("Reconcile errors per minute", [Target(
            f"sum(rate(botfleet_operator_reconcile_errors_total[{RI}])) * 60", "errors")]),
        Panel("Reconcile duration p50 / p99", [
            Target(quantile(0.5, "botfleet_operator_reconcile_duration_seconds", "", "instance"), "p50 {{instance}}"),
            Target(quantile(0.99, "botfleet_operator_reconcile_duration_seconds", "", "instance"), "p99 {{instance}}")],
            unit="s"),
        Panel("Bots by condition", [Target("max by (condition, status) (botfleet_operator_bots)",
                                           "{{condition}}={{status}}")], "bargauge"),
        Panel("Work queue depth", [Target("max(botfleet_operator_queue_depth)", "queued bots")],
              description="Bots waiting for a reconcile worker; grows when operator.workers is too small."),
        Panel("Leader", [Target("botfleet_operator_leader", "{{instance}}")], stack=True,
              description="1 on the replica holding the Lease; exactly one should be 1."),
        row("TradingBots"),
        Panel("Conditions per bot", [Target(BOT_CONDITIONS, instant=True)], "table", width=24, height=10,
              description="One row per TradingBot (namespace/name), one column per condition, each cell the "
                          "condition's current status (botfleet_operator_bot_condition, exported by the leader). "
                          "`kubectl describe tradingbot` gives the reason and message.",
              transformations=[
                  {"id": "groupingToMatrix",
                   "options": {"columnField": "condition", "rowField": "bot", "valueField": "status"}},
                  {"id": "organize", "options": {"renameByName": {"bot\\condition": "TradingBot"},
                                                 "indexByName": {"bot\\condition": 0, "Ready": 1,
                                                                 "Degraded": 2, "Progressing": 3,
                                                                 "SecretsReady": 4, "BackupSucceeded": 5,
                                                                 "RotationDue": 6}}},
                  {"id": "sortBy", "options": {"sort": [{"field": "TradingBot"}]}}]),
    ]
    return dashboard("botfleet-operator", "botfleet / Operator",
                     "The botfleet operator: reconciles, errors, durations, TradingBots by condition and the "
                     "conditions of each TradingBot.",
                     panels, bots=False)


DASHBOARDS = {"fleet-overview": fleet, "arbhunter": arbhunter, "polyai": polyai, "elitemimic": elitemimic,
              "operator": operator}


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {f"{name}.json": json.dumps(build(), indent=2, sort_keys=False) + "\n" for name, build in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="Do not write; exit 1 when a file differs.")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="Output directory (default: the chart's).")
    args = parser.parse_args(argv)
    files = render()
    if args.check:
        stale = [n for n, text in files.items()
                 if not (args.out / n).exists() or (args.out / n).read_text() != text]
        extra = sorted(p.name for p in args.out.glob("*.json") if p.name not in files) if args.out.exists() else []
        for n in stale:
            print(f"{args.out / n}: out of date; run `make generate`", file=sys.stderr)
        for n in extra:
            print(f"{args.out / n}: not generated by botfleet_tools.generate.gen_dashboards; delete it", file=sys.stderr)
        return 1 if stale or extra else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for n, text in files.items():
        (args.out / n).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
