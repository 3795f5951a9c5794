"""`botfleet run` refuses bad configuration with exit 2 and names the field; pure decisions of BotApp."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot_runtime.app import readiness_reasons
from bot_runtime.app_execution import plan_execution
from bot_runtime.contract.config import SIM_CHAIN_ID, BotConfig, Endpoints
from bot_runtime.errors import StartupError
from bot_runtime.run import run_command
from bot_runtime.venue.polymarket.constants import CHAIN_ID


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    app = typer.Typer()
    app.command()(run_command)
    res = CliRunner().invoke(app, list(args), env={"BOTFLEET_CONFIG": "", **(env or {})})
    return res.exit_code, res.output


def write(tmp_path: Path, data: dict[str, object]) -> str:
    p = tmp_path / "config.json"
    p.write_text(json.dumps(data))
    return str(p)


@pytest.mark.parametrize(("data", "field"), [
    ({"name": "b", "strategy": "arbhunter", "limits": {"maxOrderUsd": -1}}, "limits.maxOrderUsd"),
    ({"name": "b", "strategy": "arbhunter", "limitz": {}}, "limitz"),
    ({"name": "b", "strategy": "nope"}, "strategy"),
    ({"name": "b", "strategy": "arbhunter", "params": {"copyRatio": 0.5}}, "spec.params.copyRatio"),
    ({"strategy": "arbhunter"}, "name"),
])
def test_bad_config_exits_2_naming_the_field(tmp_path: Path, data: dict[str, object], field: str) -> None:
    code, out = invoke("--config", write(tmp_path, data))
    assert code == 2
    assert field in out


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    code, out = invoke("--config", str(tmp_path / "missing.json"))
    assert code == 2 and "not found" in out
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    code, out = invoke("--config", str(bad))
    assert code == 2 and "not valid JSON" in out
    code, out = invoke()
    assert code == 2 and "BOTFLEET_CONFIG" in out


def cfg(mode: str = "paper", clob: str | None = None) -> BotConfig:
    endpoints = Endpoints.for_sim(clob).model_dump() if clob else {}
    return BotConfig.model_validate({"name": "b", "strategy": "arbhunter", "mode": mode, "endpoints": endpoints})


def test_plan_execution() -> None:
    with pytest.raises(StartupError, match="PRIVATE_KEY") as err:
        plan_execution(cfg("live"), has_wallet=False, has_api_creds=True)
    assert err.value.config_error
    live = plan_execution(cfg("live"), has_wallet=True, has_api_creds=False)
    assert (live.kind, live.paper_wallet, live.derive_api_creds, live.chain_id) == ("live", False, True, CHAIN_ID)
    assert plan_execution(cfg("live"), has_wallet=True, has_api_creds=True).derive_api_creds is False
    sim = plan_execution(cfg(clob="http://127.0.0.1:8080"), has_wallet=False, has_api_creds=False)
    assert (sim.kind, sim.paper_wallet, sim.derive_api_creds, sim.chain_id, sim.ignored) == (
        "sim", True, True, SIM_CHAIN_ID, ())
    local = plan_execution(cfg(), has_wallet=True, has_api_creds=True)
    assert (local.kind, local.paper_wallet, local.chain_id) == ("paper-local", True, SIM_CHAIN_ID)


@pytest.mark.parametrize("clob", [None, "http://127.0.0.1:8080"])
def test_paper_mode_never_uses_the_wallet_secret(clob: str | None) -> None:
    """A wallet key and CLOB credentials in the Secret change nothing in paper mode: the bot signs
    with its paper key for the simulator's chain id (even if the config says 137) and derives its
    own API credentials; the ignored keys are named for the warning."""
    config = cfg(clob=clob)
    config.endpoints.chainId = CHAIN_ID
    present = ["PRIVATE_KEY", "FUNDER_ADDRESS", "CLOB_API_KEY", "CLOB_SECRET", "CLOB_PASSPHRASE", "OPENAI_API_KEY"]
    plan = plan_execution(config, has_wallet=True, has_api_creds=True, present=present)
    assert plan.paper_wallet and plan.chain_id == SIM_CHAIN_ID != CHAIN_ID
    assert plan.derive_api_creds is (clob is not None)
    assert plan.ignored == ("PRIVATE_KEY", "FUNDER_ADDRESS", "CLOB_API_KEY", "CLOB_SECRET", "CLOB_PASSPHRASE")
    assert Endpoints.for_sim("http://sim:8000").chainId == SIM_CHAIN_ID


def test_readiness_reasons() -> None:
    ok = {"started": True, "stopping": False, "shards": 2, "connected": 2, "data_age_s": 1.0,
          "journal_open": True, "fatal": ""}
    assert readiness_reasons(**ok) == []  # type: ignore[arg-type]
    assert readiness_reasons(**{**ok, "started": False}) == ["starting"]  # type: ignore[arg-type]
    assert readiness_reasons(**{**ok, "connected": 1}) == ["market data: 1 of 2 connections down"]  # type: ignore[arg-type]
    assert "stale" in readiness_reasons(**{**ok, "data_age_s": 31.0})[0]  # type: ignore[arg-type]
    assert readiness_reasons(**{**ok, "data_age_s": None}) == ["market data: no books yet"]  # type: ignore[arg-type]
    assert readiness_reasons(**{**ok, "journal_open": False}) == ["journal closed"]  # type: ignore[arg-type]
    assert readiness_reasons(**{**ok, "fatal": "x"})[0] == "halted: x"  # type: ignore[arg-type]
