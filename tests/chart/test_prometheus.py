"""Dashboards and alerts against a real Prometheus (Debian's 2.42) on loopback.

Two sources are scraped with the chart's job names (botfleet-bot, botfleet-operator):
- the synthetic fleet (tests/support/prometheus.py): the real metric families of the bots and the
  operator, fed by a fleet with every problem the alerts look for, so every panel and every alert
  expression must return data;
- `botfleet demo --no-ui` (when the CLI has it): every metric a dashboard names must exist in what
  the demo exports, and every panel whose series the demo produces must return data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.prometheus import (
    BOT_JOB,
    DASHBOARDS_DIR,
    GONE_BOT,
    OPERATOR_JOB,
    RULES_FILE,
    SYNTHETIC_BOTS,
    SYNTHETIC_LIVE_BOT,
    Prometheus,
    PromQLError,
    alert_rules,
    botfleet_demo,
    dashboard_queries,
    demo_available,
    family_of,
    free_port,
    prometheus_binary,
    running_prometheus,
    synthetic_fleet,
    synthetic_tradingbots,
)

pytestmark = [pytest.mark.skipif(prometheus_binary() is None, reason="prometheus missing (apt-get install prometheus)"),
              pytest.mark.slow]

# Alerts whose expression is empty while the fleet is healthy in the way the synthetic fleet is:
# OperatorDown needs every operator replica gone (covered by promtool unit tests instead).
NOT_TRIGGERED_BY_SYNTHETIC = {"BotfleetOperatorDown"}


@pytest.fixture(scope="module")
def synthetic() -> Iterator[Prometheus]:
    with synthetic_fleet() as (bots, operator):
        down = f"127.0.0.1:{free_port()}"  # nothing listens: a bot that is down
        jobs = {BOT_JOB: [(bots, {"namespace": "trading"}), (down, {"namespace": "trading", "bot": "gone-1"})],
                OPERATOR_JOB: [(operator, {"namespace": "botfleet-system"})]}
        with running_prometheus(jobs, rule_files=[RULES_FILE]) as prom:
            # Rates over 20s windows need a few scrapes; the 1h/1d windows need two samples.
            prom.wait_until('count(rate(botfleet_tick_to_order_seconds_bucket[20s]) > 0) > 0', timeout=90)
            prom.wait_until("botfleet_operator_reconcile_duration_seconds_count", timeout=30)
            yield prom


def test_every_dashboard_query_returns_data(synthetic: Prometheus) -> None:
    empty = []
    for q in dashboard_queries():
        # Money panels show one mode: a strategy with only live bots has data in the live view.
        exprs = [q.expr] + ([q.expr.replace('mode="paper"', 'mode="live"')] if 'mode="paper"' in q.expr else [])
        try:
            result = any(synthetic.wait_until(e, timeout=20 if i == 0 else 5) for i, e in enumerate(exprs))
        except PromQLError as exc:
            pytest.fail(f"{q.dashboard} / {q.panel}: {exc}")
        if not result:
            empty.append(f"{q.dashboard} / {q.panel}: {q.expr}")
    assert not empty, "panels without data:\n" + "\n".join(empty)


def test_paper_and_live_money_are_shown_apart_never_summed(synthetic: Prometheus) -> None:
    """A live bot beside two paper bots: each mode's money panels show exactly that mode's bots."""
    (q,) = [q for q in dashboard_queries() if q.panel == "PnL per bot, realised + unrealised ($mode)"]
    bots = {mode: {r["metric"]["bot"] for r in synthetic.wait_until(q.expr.replace('mode="paper"', f'mode="{mode}"'),
                                                                   timeout=20)}
            for mode in ("paper", "live")}
    assert bots == {"live": {SYNTHETIC_LIVE_BOT}, "paper": {b for b, _ in SYNTHETIC_BOTS} - {SYNTHETIC_LIVE_BOT}}
    (total,) = [q for q in dashboard_queries() if q.panel == "Total PnL ($mode)"]
    # One instant query, so both sides read the same samples: the live total is the live bot's PnL.
    live_total = total.expr.replace('mode="paper"', 'mode="live"')
    diff = synthetic.wait_until(f'({live_total})'
                                f' - sum(botfleet_pnl_realized_usd{{bot="{SYNTHETIC_LIVE_BOT}"}}'
                                f' + botfleet_pnl_unrealized_usd{{bot="{SYNTHETIC_LIVE_BOT}"}})', timeout=20)
    assert abs(float(diff[0]["value"][1])) < 1e-9


def test_every_dashboard_metric_is_in_the_scraped_metadata(synthetic: Prometheus) -> None:
    families = set(synthetic.metadata()) | {"up"}
    missing = {(q.dashboard, m) for q in dashboard_queries() for m in q.metrics if family_of(m, families) is None}
    assert not missing


def test_rules_load_and_evaluate_without_errors(synthetic: Prometheus) -> None:
    groups = {g["name"]: g for g in synthetic.rule_groups()}
    assert set(groups) == {"botfleet.bots", "botfleet.operator"}
    synthetic.wait_until("ALERTS", timeout=30)
    for g in groups.values():
        for rule in g["rules"]:
            assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))


def test_every_alert_expression_returns_data_for_the_broken_fleet(synthetic: Prometheus) -> None:
    """Each alert's condition holds for the problem the synthetic fleet has (before its `for`)."""
    silent = []
    for rule in alert_rules():
        if rule["alert"] in NOT_TRIGGERED_BY_SYNTHETIC:
            assert synthetic.query(rule["expr"]) == [], rule["alert"]
            continue
        if not synthetic.wait_until(rule["expr"], timeout=20):
            silent.append(rule["alert"])
    assert not silent


def test_alerts_name_the_right_bot(synthetic: Prometheus) -> None:
    by_alert: dict[str, set[str]] = {}
    for rule in alert_rules():
        if "bot" in rule["expr"] or rule["alert"] == "BotfleetBotDown":
            for sample in synthetic.query(rule["expr"]):
                by_alert.setdefault(rule["alert"], set()).add(sample["metric"].get("bot", ""))
    assert by_alert["BotfleetBotDown"] == {"gone-1"}
    assert by_alert["BotfleetKillSwitchTripped"] == {"mimic-1"}
    assert by_alert["BotfleetMarketDataStale"] == {"arb-1"}
    assert by_alert["BotfleetApiErrorRateHigh"] == {"polyai-1"}
    assert by_alert["BotfleetCredentialsOld"] == {"polyai-1"}


def test_operator_alerts_name_the_right_bot(synthetic: Prometheus) -> None:
    """The operator's per-bot alerts carry the TradingBot's namespace and name (not a count)."""
    by_alert: dict[str, set[tuple[str, str]]] = {}
    for rule in alert_rules():
        if "botfleet_operator_bot_" in rule["expr"]:
            for sample in synthetic.wait_until(rule["expr"], timeout=20):
                by_alert.setdefault(rule["alert"], set()).add(
                    (sample["metric"].get("namespace", ""), sample["metric"].get("name", "")))
    assert by_alert == {
        "BotfleetBotNotReady": {("trading", "polyai-1")},
        "BotfleetBackupFailed": {("trading", "polyai-1")},
        "BotfleetBackupStale": {("trading", "polyai-1")},
        "BotfleetBackupMissing": {("trading", "mimic-1")},
        "BotfleetCredentialRotationOverdue": {("trading", "polyai-1")},
    }


LIVE = f'name!="{GONE_BOT}"'  # every synthetic TradingBot but the one deleted during the test
PER_BOT_FAMILIES = {"botfleet_operator_bot_condition", "botfleet_operator_bot_last_backup_timestamp_seconds",
                    "botfleet_operator_bot_credential_rotation_due", "botfleet_operator_bot_info"}


def test_operator_per_bot_series_are_scraped(synthetic: Prometheus) -> None:
    meta = synthetic.metadata()
    assert {name: meta[name][0]["type"] for name in PER_BOT_FAMILIES} == dict.fromkeys(PER_BOT_FAMILIES, "gauge")
    live = [b for b in synthetic_tradingbots(0) if b["metadata"]["name"] != GONE_BOT]
    names = {b["metadata"]["name"] for b in live}
    # Exactly one status is 1 for every (bot, condition), and it is the bot's status (Unknown if unset).
    ones = synthetic.query('botfleet_operator_bot_condition{' + LIVE + '} == 1')
    got = {(s["metric"]["name"], s["metric"]["strategy"], s["metric"]["condition"]): s["metric"]["status"]
           for s in ones}
    assert len(got) == len(ones) == len(names) * 6
    for b in live:
        conds = {c["type"]: c["status"] for c in b["status"]["conditions"]}
        for t in ("Ready", "Progressing", "Degraded", "SecretsReady", "BackupSucceeded", "RotationDue"):
            assert got[(b["metadata"]["name"], b["spec"]["strategy"], t)] == conds.get(t, "Unknown")
    info = {(s["metric"]["name"], s["metric"]["strategy"], s["metric"]["mode"], s["metric"]["risk_profile"])
            for s in synthetic.query('botfleet_operator_bot_info{' + LIVE + '} == 1')}
    assert info == {(b["metadata"]["name"], b["spec"]["strategy"], b["spec"]["mode"], "balanced") for b in live}
    due = {s["metric"]["name"]: float(s["value"][1])
           for s in synthetic.query('botfleet_operator_bot_credential_rotation_due{' + LIVE + '}')}
    assert due == {"arb-1": 0.0, "polyai-1": 1.0, "mimic-1": 0.0}
    age = {s["metric"]["name"]: float(s["value"][1]) for s in synthetic.query(
        'time() - botfleet_operator_bot_last_backup_timestamp_seconds{' + LIVE + '}')}
    assert set(age) == {"arb-1", "polyai-1"}  # mimic-1 was never backed up: no timestamp
    assert 2 * 3600 < age["arb-1"] < 6 * 3600 and 1.9 * 86400 < age["polyai-1"] < 2.1 * 86400
    # The operator's namespace label is the TradingBot's, not the scrape target's.
    assert {s["metric"]["namespace"] for s in ones} == {"trading"}


def test_deleted_bot_leaves_no_series(synthetic: Prometheus) -> None:
    """The synthetic operator drops GONE_BOT a while after start: it was scraped, and is gone now."""
    seen = "|".join(sorted(PER_BOT_FAMILIES))
    assert synthetic.wait_until(f'count(last_over_time({{__name__=~"{seen}", name="{GONE_BOT}"}}[1h])) > 0',
                                timeout=60), "the deleted bot's series were never scraped"
    deadline_expr = f'absent({{__name__=~"{seen}", name="{GONE_BOT}"}})'
    assert synthetic.wait_until(deadline_expr, timeout=90), "series of the deleted bot are still exported"
    assert synthetic.query(f'{{__name__=~"{seen}", name="{GONE_BOT}"}}') == []


@pytest.fixture(scope="module")
def demo() -> Iterator[Prometheus]:
    if not demo_available():
        pytest.skip("`botfleet demo --metrics-port` is not available in this checkout yet")
    with botfleet_demo() as addr, running_prometheus({BOT_JOB: [(addr, {})]}) as prom:
        prom.wait_until('count(rate(botfleet_ws_frames_total[20s]) > 0) > 0', timeout=90)
        yield prom


def test_demo_exports_every_bot_metric_the_dashboards_name(demo: Prometheus) -> None:
    families = set(demo.metadata()) | {"up"}
    missing = {m for q in dashboard_queries() for m in q.metrics
               if not m.startswith("botfleet_operator_") and family_of(m, families) is None}
    assert not missing


def _has_series(prom: Prometheus, metric: str, dashboard: str) -> bool:
    """Whether the demo has what the panel reads: the series, and for a counter an increase that
    Prometheus saw (the panels read increase() and rate(); a ratio of nothing is rightly empty, and
    the KPI outcome counters exist at 0 from the start). ArbHunter executes a few times a minute
    in the demo: one before the first scrape is no increase, and its panels had nothing to show."""
    scope = f'{{strategy="{dashboard}"}}' if dashboard in ("arbhunter", "polyai", "elitemimic") else ""
    series = f"increase({metric}{scope}[1h]) > 0" if metric.endswith("_total") else f"{metric}{scope}"
    return metric == "up" or bool(prom.query(f"count({series})"))


def test_demo_panels_return_data_where_the_demo_has_the_series(demo: Prometheus) -> None:
    checked, empty = 0, []
    for q in dashboard_queries():
        if q.dashboard == "operator" or not all(_has_series(demo, m, q.dashboard) for m in q.metrics):
            continue
        checked += 1
        if not demo.wait_until(q.expr, timeout=20):
            empty.append(f"{q.dashboard} / {q.panel}")
    assert checked >= 20, f"only {checked} panels have their series in the demo"
    assert not empty


def test_render_script_draws_every_panel(synthetic: Prometheus, tmp_path: Path) -> None:
    """tools/botfleet_tools/generate/render_dashboards.py (the docs' pictures) against the same Prometheus."""
    from botfleet_tools.generate import render_dashboards as render

    for name in ("fleet-overview", "operator"):
        png = render.render_dashboard(DASHBOARDS_DIR / f"{name}.json", synthetic.url, tmp_path, 0.5, "20s")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    # The tables as Grafana shows them: one row per bot.
    fleet = json.loads((DASHBOARDS_DIR / "fleet-overview.json").read_text())
    (bots,) = [p for p in fleet["panels"] if p["type"] == "table"]
    header, rows = render.table_cells(bots, synthetic.url, time.time(), "20s")
    assert header[:3] == ["namespace", "bot", "mode"] and "PnL today $" in header and "daily loss limit $" in header
    assert {r[1] for r in rows} >= {b for b, _ in SYNTHETIC_BOTS}
    operator = json.loads((DASHBOARDS_DIR / "operator.json").read_text())
    (conds,) = [p for p in operator["panels"] if p["type"] == "table"]
    header, rows = render.table_cells(conds, synthetic.url, time.time(), "20s")
    assert header[:2] == ["TradingBot", "Ready"] and any(r[0] == "trading/polyai-1" and r[1] == "False" for r in rows)
