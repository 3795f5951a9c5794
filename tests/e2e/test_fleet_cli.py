"""`botfleet fleet …` against the local control plane with the operator running, as a person uses it
(their kubeconfig, no access to the bots' ports): status, pause/resume by label, restart, check and
health. kwok runs no container, so the bots' own metrics are unreachable here: the tests assert what
the API server alone tells, and that the missing metrics are reported, never invented."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_operator_scenarios import (  # type: ignore[import-not-found]
    OperatorProcess,
    apply,
    example,
    get_json,
    operator,
    secret_doc,
    template_annotations,
    wait_condition,
)
from typer.testing import CliRunner

from bot_runtime.trades import COLUMNS
from botfleet_tools.fleet.cli import fleet_app
from tests.support.controlplane import Cluster
from tests.support.controlplane_wait import eventually

__all__ = ["operator"]  # the operator fixture of the scenarios, module-scoped here too


@pytest.fixture(scope="module")
def fleet(cluster: Cluster, operator: OperatorProcess) -> Iterator[str]:
    ns = "fleet-e2e"
    cluster.kubectl("create", "namespace", ns, check=False)
    cluster.kubectl("apply", "-n", ns, "-f", "examples/arbhunter-secret.yaml")
    # The example opts its Secret in for the bot `arbhunter` only; its owner widens that here.
    cluster.kubectl("label", "--overwrite", "secret", "arbhunter-wallet", "-n", ns, "botfleet.io/bots=all")
    for name, team in (("fleet-a", "red"), ("fleet-b", "blue")):
        doc = example("arbhunter")
        doc["metadata"] = {"name": name, "labels": {"team": team}}
        apply(cluster, doc, ns)
    for name in ("fleet-a", "fleet-b"):
        wait_condition(cluster, ns, name, "Ready", "True")
    yield ns
    # Gone before the next module starts: a cluster-wide operator there must not meet these bots.
    cluster.kubectl("delete", "namespace", ns, "--wait=true", "--timeout=120s", check=False, timeout=150)


def run(cluster: Cluster, *args: str) -> Any:
    return CliRunner().invoke(fleet_app, [*args, "--kubeconfig", str(cluster.admin_kubeconfig)])


def test_status_lists_every_bot_with_what_the_api_knows(cluster: Cluster, fleet: str) -> None:
    res = run(cluster, "status", "--once", "-n", fleet)
    # No container behind a kwok pod: the table shows what the API server knows, and each bot whose
    # numbers could not be read is named with the reason; the exit code says the view is incomplete.
    assert res.exit_code == 1, res.output
    assert "fleet-a" in res.stdout and "fleet-b" in res.stdout and "paper" in res.stdout
    assert "error: fleet-e2e/fleet-a: /metrics of pod fleet-a-" in res.stderr, res.stderr
    rows = {r["name"]: r for r in json.loads(run(cluster, "status", "--json", "-n", fleet).stdout)}
    assert set(rows) == {"fleet-a", "fleet-b"}
    a = rows["fleet-a"]
    assert (a["state"], a["mode"], a["strategy"], a["max_daily_loss_usd"]) == ("ready", "paper", "arbhunter", 100)
    assert a["reached"] is False and a["pnl_today_usd"] is None and a["unread"]  # nothing invented, and why
    only_red = json.loads(run(cluster, "status", "--json", "-n", fleet, "-l", "team=red").stdout)
    assert [r["name"] for r in only_red] == ["fleet-a"]


def test_health_reports_unreadable_metrics_and_exits_non_zero(cluster: Cluster, fleet: str) -> None:
    res = run(cluster, "health", "-n", fleet)
    assert res.exit_code == 1, res.output
    assert "fleet-e2e/fleet-a running" in res.output and "/metrics could not be read" in res.output


def test_pause_and_resume_by_label_touch_only_the_selected_bots(cluster: Cluster, fleet: str) -> None:
    res = run(cluster, "pause", "-n", fleet, "-l", "team=blue")
    assert res.exit_code == 0 and "fleet-e2e/fleet-b: paused" in res.output, res.output
    assert get_json(cluster, "tradingbot", "fleet-b", "-n", fleet)["spec"]["paused"] is True
    assert not get_json(cluster, "tradingbot", "fleet-a", "-n", fleet)["spec"].get("paused")
    eventually(lambda: (get_json(cluster, "deployment", "fleet-b", "-n", fleet)["spec"]["replicas"] == 0) or None,
               "paused bot scaled to zero")
    rows = {r["name"]: r for r in json.loads(run(cluster, "status", "--json", "-n", fleet).stdout)}
    assert rows["fleet-b"]["state"] == "paused"
    assert run(cluster, "resume", "-n", fleet, "-l", "team=blue").exit_code == 0
    assert get_json(cluster, "tradingbot", "fleet-b", "-n", fleet)["spec"]["paused"] is False
    assert run(cluster, "pause", "-n", fleet, "-l", "team=nobody").exit_code == 1


def test_an_incident_pause_and_resume_leaves_a_bot_paused_by_hand_paused(cluster: Cluster, fleet: str) -> None:
    cluster.kubectl("patch", "tradingbot", "fleet-a", "-n", fleet, "--type", "merge", "-p", '{"spec":{"paused":true}}')
    both = "team in (red,blue)"
    res = run(cluster, "pause", "-n", fleet, "-l", both)
    assert res.exit_code == 0, res.output
    assert "fleet-e2e/fleet-a: already paused" in res.stdout and "fleet-e2e/fleet-b: paused" in res.stdout
    annotations = {n: get_json(cluster, "tradingbot", n, "-n", fleet)["metadata"].get("annotations") or {}
                   for n in ("fleet-a", "fleet-b")}
    assert annotations["fleet-b"].get("botfleet.io/paused-by") == "fleet"
    assert "botfleet.io/paused-by" not in annotations["fleet-a"]

    res = run(cluster, "resume", "-n", fleet, "-l", both)
    assert res.exit_code == 0, res.output
    assert "fleet-e2e/fleet-a: left paused (paused by hand; use --all)" in res.stdout
    a, b = (get_json(cluster, "tradingbot", n, "-n", fleet) for n in ("fleet-a", "fleet-b"))
    assert a["spec"]["paused"] is True and b["spec"]["paused"] is False
    assert "botfleet.io/paused-by" not in (b["metadata"].get("annotations") or {})

    res = run(cluster, "resume", "-n", fleet, "-l", "team=red", "--all")
    assert res.exit_code == 0 and "fleet-e2e/fleet-a: resumed" in res.stdout, res.output
    assert get_json(cluster, "tradingbot", "fleet-a", "-n", fleet)["spec"]["paused"] is False
    wait_condition(cluster, fleet, "fleet-a", "Ready", "True")


def test_a_bad_selector_is_one_line_naming_the_option(cluster: Cluster, fleet: str) -> None:
    res = run(cluster, "pause", "-n", fleet, "-l", "team in (arb")
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: bad label selector -l 'team in (arb'"), res.stderr
    assert "Traceback" not in res.output


def test_trades_names_each_bot_it_cannot_read_and_never_writes_an_empty_file(cluster: Cluster, fleet: str,
                                                                            tmp_path: Path) -> None:
    # A kwok pod has no kubelet behind it: exec fails as on a node whose kubelet is unreachable.
    out = tmp_path / "trades.csv"
    res = run(cluster, "trades", "--since", "2026-12-01", "-n", fleet, "-l", "team=red", "-o", str(out))
    assert res.exit_code == 1, res.output
    assert "error: fleet-e2e/fleet-a: " in res.stderr and "nothing written" in res.stderr and not out.exists()
    res = run(cluster, "trades", "--since", "2026-12-01", "-n", fleet, "-l", "team=red", "-o", str(out),
              "--allow-partial")
    assert res.exit_code == 3, res.output
    assert out.read_text().splitlines() == [",".join(COLUMNS)]


def test_restart_rolls_the_deployment_and_keeps_it_through_reconciles(cluster: Cluster, fleet: str) -> None:
    res = run(cluster, "restart", "-n", fleet, "-l", "team=red")
    assert res.exit_code == 0, res.output
    stamp = template_annotations(cluster, fleet, "fleet-a").get("kubectl.kubernetes.io/restartedAt")
    assert stamp
    # The operator's next reconcile (a spec change) must not undo the restart request.
    cluster.kubectl("patch", "tradingbot", "fleet-a", "-n", fleet, "--type", "merge",
                    "-p", '{"spec":{"limits":{"maxOpenOrders":19}}}')
    wait_condition(cluster, fleet, "fleet-a", "Ready", "True")
    assert template_annotations(cluster, fleet, "fleet-a").get("kubectl.kubernetes.io/restartedAt") == stamp


def test_check_names_the_missing_key_of_a_live_bot(cluster: Cluster, fleet: str) -> None:
    ok = run(cluster, "check", "-n", fleet, "-l", "team=red")
    assert ok.exit_code == 0, ok.output
    apply(cluster, secret_doc("live-wallet", SIGNATURE_TYPE="0"), fleet)
    doc = example("arbhunter", mode="live", walletSecretRef={"name": "live-wallet"})
    doc["metadata"] = {"name": "fleet-live", "labels": {"team": "green"}}
    apply(cluster, doc, fleet)
    res = run(cluster, "check", "-n", fleet, "-l", "team=green")
    assert res.exit_code == 1, res.output
    assert "PRIVATE_KEY" in res.output and "live-wallet" in res.output and "fix the Secrets first" in res.output
