"""The alert rules: valid for promtool, every alert covered by a `promtool test rules` case that fires
it, and every alert the operations guide asks for present."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "helm" / "botfleet" / "rules" / "botfleet.rules.yaml"
TESTS = Path(__file__).with_name("rules_test.yaml")
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing (apt-get install prometheus)")

# The list: bot down, not ready for 10 minutes, kill switch tripped, API error rate > 5%,
# market data stale, backup failed or missing, credential rotation overdue, operator reconcile errors.
REQUIRED = {"BotfleetBotDown", "BotfleetBotNotReady", "BotfleetKillSwitchTripped", "BotfleetApiErrorRateHigh",
            "BotfleetMarketDataStale", "BotfleetBackupFailed", "BotfleetBackupMissing",
            "BotfleetCredentialRotationOverdue", "BotfleetOperatorReconcileErrors"}


def _alerts() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]


@needs_promtool
def test_promtool_check_rules() -> None:
    proc = subprocess.run([PROMTOOL or "promtool", "check", "rules", str(RULES)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_promtool
def test_promtool_unit_tests() -> None:
    proc = subprocess.run([PROMTOOL or "promtool", "test", "rules", str(TESTS)], capture_output=True, text=True,
                          check=False, cwd=TESTS.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_required_alerts_exist() -> None:
    assert {a["alert"] for a in _alerts()} >= REQUIRED


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    cases = [c for t in yaml.safe_load(TESTS.read_text())["tests"] for c in t.get("alert_rule_test", [])]
    fired = {c["alertname"] for c in cases if c.get("exp_alerts")}
    silent = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    names = {a["alert"] for a in _alerts()}
    assert names - fired == set(), "alerts never shown to fire"
    assert names - silent == set(), "alerts never shown to stay silent"


def test_alerts_are_documented() -> None:
    """Each alert has a severity, a summary and a runbook link to a heading that exists in docs/."""
    for a in _alerts():
        assert a["labels"]["severity"] in ("critical", "warning"), a["alert"]
        assert a["annotations"]["summary"], a["alert"]
        url, _, anchor = a["annotations"]["runbook_url"].partition("#")
        assert url.startswith(RUNBOOK_BASE), f"{a['alert']}: runbook links are absolute ({RUNBOOK_BASE}...)"
        doc = "docs/" + url.removeprefix(RUNBOOK_BASE)
        text = (REPO / doc).read_text()
        headings = {_anchor(line) for line in text.splitlines() if line.startswith("#")}
        assert anchor in headings, f"{a['alert']}: no heading #{anchor} in {doc}"


RUNBOOK_BASE = "https://github.com/botfleet/botfleet/blob/main/docs/"  # the chart's monitoring.alerts.runbookBaseUrl


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = heading.lstrip("#").strip().lower()
    return "".join(ch for ch in text.replace(" ", "-") if ch.isalnum() or ch in "-_")


# Alerts on the operator's per-bot series: each must name the TradingBot (namespace and name).
PER_BOT_OPERATOR_ALERTS = {"BotfleetBotNotReady", "BotfleetBackupFailed", "BotfleetBackupMissing",
                           "BotfleetBackupStale", "BotfleetCredentialRotationOverdue"}


def test_operator_bot_alerts_name_the_bot() -> None:
    alerts = {a["alert"]: a for a in _alerts()}
    for name in PER_BOT_OPERATOR_ALERTS:
        rule = alerts[name]
        assert "botfleet_operator_bot_" in rule["expr"], name
        assert "by (namespace, name" in rule["expr"], f"{name}: must keep the bot's namespace and name"
        assert "botfleet_operator_bots{" not in rule["expr"], f"{name}: fleet-wide counts cannot name a bot"
        summary = rule["annotations"]["summary"]
        assert "$labels.namespace" in summary and "$labels.name" in summary, name


def test_operator_bot_alert_cases_expect_the_bot_labels() -> None:
    """The promtool cases that fire these alerts check which bot they name."""
    fired = [a for t in yaml.safe_load(TESTS.read_text())["tests"] for c in t.get("alert_rule_test", [])
             if c["alertname"] in PER_BOT_OPERATOR_ALERTS for a in c.get("exp_alerts") or []]
    assert fired
    for alert in fired:
        assert alert["exp_labels"].get("namespace") and alert["exp_labels"].get("name"), alert
