"""`botfleet backtest`: deterministic replay, and exactly the injected dislocations are found."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot_runtime.contract.config import BotConfig
from botfleet_tools.backtest import BacktestError, iso_ms, run_backtest
from tests.unit.strategies.tapebuilder import build_tape


def _iso_to_ms(s: str) -> int:
    return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)


async def test_tape_with_known_dislocations_finds_exactly_those(tmp_path: Path) -> None:
    t = build_tape(seed=11, steps=500)
    tape, markets = t.write(tmp_path)
    assert len(t.expected) >= 20 and len(t.near_misses) >= 5  # the tape really tests something
    no_cooldown = BotConfig.model_validate({"name": "bt", "strategy": "arbhunter", "params": {"cooldownMs": 0}})
    rep = await run_backtest(tape, markets, "arbhunter", no_cooldown)
    found = [(_iso_to_ms(o["ts"]), o["market"], o["kind"]) for o in rep["opportunities"]]
    assert found == t.expected
    # with the default cooldown (500 ms per market) the same opportunities are found, fewer executed
    cooled = await run_backtest(tape, markets, "arbhunter")
    assert [o["ts"] for o in cooled["opportunities"]] == [o["ts"] for o in rep["opportunities"]]
    assert cooled["orders"] < rep["orders"]
    assert rep["frames"] == len(t.frames)
    assert all(o["edge"] > 0.005 for o in rep["opportunities"])
    # every opportunity was executed, both (or all three) legs filled against the replayed book
    legs = sum(2 if k == "binary" else 3 for _, _, k in t.expected)
    assert rep["orders"] == legs and rep["fills"] == legs
    assert rep["pnl_usd"] > 0
    assert rep["summary"]["executions"]["won"] == len(t.expected)


async def test_same_tape_twice_gives_identical_reports(tmp_path: Path) -> None:
    tape, markets = build_tape(seed=5, steps=300).write(tmp_path)
    a = await run_backtest(tape, markets, "arbhunter")
    b = await run_backtest(tape, markets, "arbhunter")
    for r in (a, b):
        assert r.pop("latency_us")["p50"] > 0
        r["summary"].pop("latency_us", None)
    assert a == b


async def test_higher_threshold_finds_a_subset(tmp_path: Path) -> None:
    tape, markets = build_tape(seed=11, steps=500).write(tmp_path)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"name": "bt", "strategy": "arbhunter", "params": {"minProfitThreshold": 0.025}}))
    from bot_runtime.contract.config import load_config

    strict = await run_backtest(tape, markets, "arbhunter", load_config(cfg, env={}))
    loose = await run_backtest(tape, markets, "arbhunter")
    assert 0 < len(strict["opportunities"]) < len(loose["opportunities"])
    assert all(o["edge"] > 0.025 for o in strict["opportunities"])


def test_cli_writes_the_report_and_names_bad_input(tmp_path: Path) -> None:
    import typer

    from botfleet_tools.backtest import backtest_command

    app = typer.Typer()
    app.command()(backtest_command)
    tape, markets = build_tape(seed=3, steps=50).write(tmp_path)
    out = tmp_path / "report.json"
    res = CliRunner().invoke(app, ["--tape", str(tape), "--markets", str(markets), "--strategy", "arbhunter",
                                   "--report", str(out)])
    assert res.exit_code == 0, res.output
    rep = json.loads(out.read_text())
    assert set(rep) >= {"strategy", "frames", "opportunities", "orders", "fills", "pnl_usd", "latency_us"}
    res = CliRunner().invoke(app, ["--tape", str(tmp_path / "nope.jsonl"), "--markets", str(markets),
                                   "--strategy", "arbhunter", "--report", str(out)])
    assert res.exit_code == 2 and "nope.jsonl" in res.output
    res = CliRunner().invoke(app, ["--tape", str(tape), "--markets", str(markets), "--strategy", "nosuch",
                                   "--report", str(out)])
    assert res.exit_code == 2 and "unknown strategy" in res.output


async def test_bad_markets_file_is_a_clear_error(tmp_path: Path) -> None:
    tape, _ = build_tape(seed=3, steps=10).write(tmp_path)
    bad = tmp_path / "m.json"
    bad.write_text('{"not": "a list"}')
    with pytest.raises(BacktestError, match="JSON list"):
        await run_backtest(tape, bad, "arbhunter")


def _polyai_tape(tmp_path: Path) -> tuple[Path, Path]:
    """A neg-risk event of three outcomes whose mids drift to a sum of 1.10, plus a random walk."""
    import random

    rnd = random.Random(1)
    nr = "0x" + "ef" * 32
    markets = [{"conditionId": f"0x{i:064x}", "question": f"Outcome {i}?", "negRisk": True, "negRiskMarketID": nr,
                "eventOutcomeIds": [f"0x{j:064x}" for j in range(3)],
                "clobTokenIds": json.dumps([f"{i}1", f"{i}0"]), "orderMinSize": 5} for i in range(3)]
    frames = []
    ts = 1_760_000_000_000
    mids = [0.40, 0.30, 0.30]
    for step in range(400):
        ts += 1000
        if step == 200:
            mids[0] = 0.50  # the favourite is bid up without the others moving
        i = rnd.randrange(3)
        m = mids[i] + rnd.choice((-0.005, 0.0, 0.005))
        frames.append([{"event_type": "book", "asset_id": f"{i}{k}", "market": f"0x{i:064x}", "timestamp": str(ts),
                        "bids": [{"price": f"{(p - 0.01):.3f}", "size": "300"}],
                        "asks": [{"price": f"{(p + 0.01):.3f}", "size": "300"}]}
                       for k, p in ((1, m), (0, 1 - m))])
    tape = tmp_path / "polyai.jsonl"
    tape.write_text("".join(json.dumps(f) + "\n" for f in frames))
    mk = tmp_path / "polyai-markets.json"
    mk.write_text(json.dumps(markets))
    return tape, mk


async def test_backtest_runs_polyai_deterministically(tmp_path: Path) -> None:
    tape, markets = _polyai_tape(tmp_path)
    cfg = BotConfig.model_validate({"name": "bt", "strategy": "polyai",
                                    "params": {"minConfidence": 50, "minEdge": 0.02, "scanIntervalMinutes": 1}})
    a = await run_backtest(tape, markets, "polyai", cfg)
    b = await run_backtest(tape, markets, "polyai", cfg)
    assert a["strategy"] == "polyai" and a["frames"] == 400
    # before the jump the mids sum to ~1.00: nothing; after it (~1.10) the event-sum relation sells the favourite
    kinds = {o["kind"] for o in a["opportunities"]}
    assert "event_sum" in kinds and a["fills"] >= 1
    first = min(_iso_to_ms(o["ts"]) for o in a["opportunities"] if o["kind"] == "event_sum")
    assert first > 1_760_000_000_000 + 200_000
    for r in (a, b):
        r.pop("latency_us")
        r["summary"].pop("latency_us", None)
    assert a == b


async def test_backtest_replays_whale_trades_for_elitemimic(tmp_path: Path) -> None:
    t = build_tape(seed=5, steps=100)
    tape, markets = t.write(tmp_path)
    first = t.markets[0]
    yes = json.loads(first["clobTokenIds"])[0]
    start_s = int(t.frames[0][0]["timestamp"]) // 1000
    whale = "0x" + "ee" * 20
    trades = [
        {"proxyWallet": whale, "side": "BUY", "asset": yes, "conditionId": first["conditionId"], "size": 5000,
         "price": 0.99, "usdcSize": 4950, "timestamp": start_s + 2, "transactionHash": "0x1", "type": "TRADE"},
        {"proxyWallet": whale, "side": "BUY", "asset": yes, "conditionId": first["conditionId"], "size": 10,
         "price": 0.5, "usdcSize": 5, "timestamp": start_s + 3, "transactionHash": "0x2", "type": "TRADE"},
    ]
    wt = tmp_path / "whales.json"
    wt.write_text(json.dumps(trades))
    cfg = BotConfig.model_validate({"name": "bt", "strategy": "elitemimic",
                                    "params": {"wallets": [whale], "minAiConfidence": 0, "maxSlippage": 0.01}})
    rep = await run_backtest(tape, markets, "elitemimic", cfg, whale_trades=wt)
    decisions = rep["summary"]["decisions"]
    # the big trade is copied (limit 0.99 * 1.01 -> capped at 0.99, crossing the replayed asks); the $5 one is too small
    assert decisions == {"copied": 1, "skipped_small": 1}
    assert rep["orders"] == 1 and rep["fills"] == 1 and len(rep["opportunities"]) == 1
    assert rep["opportunities"][0]["kind"] == "copy"


async def test_replayed_liquidity_is_taken_once_and_refreshed_by_the_tape(tmp_path: Path) -> None:
    cid, yes, no = "0x" + "5" * 64, "51", "50"
    markets = [{"conditionId": cid, "question": "Q?", "clobTokenIds": json.dumps([yes, no]), "orderMinSize": 5}]

    def frame(ts: int, asset: str, price: str, size: str) -> dict[str, object]:
        return {"event_type": "price_change", "market": cid, "timestamp": str(1_760_000_000_000 + ts),
                "price_changes": [{"asset_id": asset, "price": price, "size": size, "side": "SELL"}]}

    frames = [
        {"event_type": "book", "asset_id": yes, "market": cid, "timestamp": "1760000001000", "bids": [],
         "asks": [{"price": "0.6", "size": "500"}]},
        {"event_type": "book", "asset_id": no, "market": cid, "timestamp": "1760000001000",
         "bids": [{"price": "0.45", "size": "500"}], "asks": [{"price": "0.5", "size": "100"}]},
        frame(2000, yes, "0.4", "50"), frame(2100, yes, "0.4", "0"),   # dislocation 1: taken
        frame(3000, yes, "0.4", "50"), frame(3100, yes, "0.4", "0"),   # the same level again: fresh, taken
        frame(4000, yes, "0.4", "50"), frame(4100, yes, "0.4", "0"),   # NO's 100 at 0.50 are used up now
    ]
    tape = tmp_path / "t.jsonl"
    tape.write_text("".join(json.dumps(f) + "\n" for f in frames))
    mk = tmp_path / "m.json"
    mk.write_text(json.dumps(markets))
    rep = await run_backtest(tape, mk, "arbhunter")
    base = 1_760_000_000_000
    assert [o["ts"] for o in rep["opportunities"]] == [iso_ms(base + 2000), iso_ms(base + 3000), iso_ms(base + 4000)]
    ex = rep["summary"]["executions"]
    # 1 and 2 fill both legs; in 3 the NO leg finds nothing left (FOK killed) and YES is unwound
    assert ex == {"won": 2, "lost": 1, "failed": 0}
    # the report's executions: filled shares and dollars per leg, as the paper engine filled them
    execs = rep["executions"]
    assert [(e["kind"], e["status"]) for e in execs[:3]] == [("binary", "filled"), ("binary", "filled"),
                                                            ("binary", "partial")]
    assert execs[0]["ts"] == iso_ms(base + 2000) and execs[0]["market"] == cid
    assert execs[0]["legs"] == [{"asset": yes, "side": "BUY", "shares": 50.0, "usd": 20.0},
                                {"asset": no, "side": "BUY", "shares": 50.0, "usd": 25.0}]
    assert [leg["shares"] for leg in execs[2]["legs"]] == [50.0, 0.0]
    # the hedge (BUY NO) finds nothing; YES has no bid to unwind at: nothing sold, the excess is held
    assert [(e["kind"], e["status"], e["legs"][0]["shares"]) for e in execs[3:]] == [("binary_hedge", "unfilled", 0.0)]


async def test_config_of_another_strategy_is_refused(tmp_path: Path) -> None:
    tape, markets = build_tape(seed=3, steps=10).write(tmp_path)
    cfg = BotConfig.model_validate({"name": "bt", "strategy": "polyai"})
    with pytest.raises(BacktestError, match="--strategy is arbhunter"):
        await run_backtest(tape, markets, "arbhunter", cfg)
