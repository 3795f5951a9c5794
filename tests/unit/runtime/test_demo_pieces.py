"""Pure parts of the demo (configs, rows, report) and of the execution metrics observer."""

from __future__ import annotations

from pathlib import Path

from bot_runtime.telemetry.metrics import BotMetrics
from bot_runtime.telemetry.observer import MetricsObserver, order_outcome
from bot_runtime.types import OrderIntent, OrderResult
from botfleet_tools.demo.configs import demo_configs, order_strategies
from botfleet_tools.demo.report import build_report, row_from
from botfleet_tools.demo.view import plain_lines

WHALE = "0x" + "ab" * 20


def test_demo_configs_one_paper_bot_per_strategy(tmp_path: Path) -> None:
    cfgs = demo_configs("http://127.0.0.1:5555", ["arbhunter", "polyai", "elitemimic"], tmp_path, [WHALE])
    assert [c.name for c in cfgs] == ["demo-arbhunter", "demo-polyai", "demo-elitemimic"]
    assert {c.mode for c in cfgs} == {"paper"}
    assert all(c.endpoints.clobUrl == "http://127.0.0.1:5555" for c in cfgs)
    assert len({c.journal.url for c in cfgs}) == 3
    assert cfgs[2].strategy_params().wallets == [WHALE]
    # overrides a strategy does not declare are dropped, not refused
    only = demo_configs("http://x", ["elitemimic"], tmp_path, [WHALE], {"elitemimic": {"copyRatio"}})
    assert only[0].params == {}


def test_order_strategies() -> None:
    assert order_strategies(["zeta", "elitemimic", "arbhunter"]) == ["arbhunter", "elitemimic", "zeta"]


def test_rows_and_report() -> None:
    snap = {"opportunities": 3, "orders": 6, "fills": 5, "pnl_usd": 1.25, "latency_us": {"p50": 250.0, "p99": 900.0}}
    status = {"ready": True, "exposureUsd": 40.0, "killSwitch": {"tripped": False},
              "lastOpportunity": {"kind": "binary", "edge": 0.0123}}
    row = row_from("demo-arbhunter", "arbhunter", snap, status)
    assert row.state == "trading" and row.last_opportunity == "binary edge 1.23%"
    assert row_from("b", "s", {}, {"ready": False, "notReadyReasons": ["starting"]}).state == "starting"
    assert row_from("b", "s", {}, {"killSwitch": {"tripped": True}}).state == "KILLED"
    rep = build_report(15.0004, [row])
    assert rep["duration_s"] == 15.0
    bot = rep["bots"][0]
    assert {k: bot[k] for k in ("name", "strategy", "opportunities", "orders", "fills", "pnl_usd")} == {
        "name": "demo-arbhunter", "strategy": "arbhunter", "opportunities": 3, "orders": 6, "fills": 5,
        "pnl_usd": 1.25}
    assert bot["latency_us"] == {"p50": 250.0, "p99": 900.0}
    assert "opps=3" in plain_lines([row], 5.0)[0]


def test_order_outcomes_and_observer() -> None:
    intent = OrderIntent(market="m", token_id="1", side="BUY", price_e6=500_000, size_e6=10_000_000)
    assert order_outcome(OrderResult("", intent, "rejected")) == "rejected_risk"
    assert order_outcome(OrderResult("c", intent, "rejected", order_id="0xabc")) == "rejected_exchange"
    assert order_outcome(OrderResult("c", intent, "matched")) == "filled"
    m = BotMetrics()
    obs = MetricsObserver(m, "b", "arbhunter")
    obs.on_order(OrderResult("c", intent, "matched"))
    obs.on_api_error("POST /order", 429)
    obs.on_kill_switch(True)
    assert m.registry.get_sample_value("botfleet_orders_total", {"bot": "b", "strategy": "arbhunter",
                                                                  "outcome": "filled"}) == 1
    assert m.registry.get_sample_value("botfleet_api_errors_total", {"bot": "b", "strategy": "arbhunter",
                                                                      "endpoint": "POST /order",
                                                                      "kind": "rate_limited"}) == 1
    assert m.registry.get_sample_value("botfleet_kill_switch_tripped", {"bot": "b", "strategy": "arbhunter"}) == 1
