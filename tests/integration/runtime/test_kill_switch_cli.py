"""`botfleet kill-switch status|reset` on a bot's journal, stopped or running."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from bot_runtime.app_execution import KILL_RESET_REQUEST_KEY
from bot_runtime.contract.params import Limits
from bot_runtime.execution.journal import SqliteJournal
from bot_runtime.execution.journal_lock import acquire_journal_lock
from bot_runtime.execution.risk import KILL_SWITCH_KEY, RiskEngine
from bot_runtime.run import kill_switch_app


def setup(tmp_path: Path) -> tuple[Path, Path]:
    db = tmp_path / "journal.sqlite"
    j = SqliteJournal(db)
    RiskEngine(Limits.model_validate({}), j).trip("daily_loss", "daily PnL -$250.00")
    j.close()
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"name": "ks", "strategy": "arbhunter", "journal": {"url": f"sqlite:///{db}"}}))
    return db, cfg


def test_status_and_reset_of_a_stopped_bot(tmp_path: Path) -> None:
    db, cfg = setup(tmp_path)
    res = CliRunner().invoke(kill_switch_app, ["status", "--config", str(cfg)])
    assert res.exit_code == 0 and json.loads(res.output)["tripped"] is True
    res = CliRunner().invoke(kill_switch_app, ["reset", "--config", str(cfg), "--by", "alice"])
    assert res.exit_code == 0 and "reset by alice" in res.output
    j = SqliteJournal(db)
    try:
        assert j.kv_get(KILL_SWITCH_KEY) == {"tripped": False}
        assert j.events("kill_switch_reset")[-1].data["by"] == "alice"
    finally:
        j.close()
    res = CliRunner().invoke(kill_switch_app, ["reset", "--config", str(cfg)])
    assert res.exit_code == 0 and "not tripped" in res.output


def test_reset_of_a_running_bot_is_a_request(tmp_path: Path) -> None:
    db, cfg = setup(tmp_path)
    fd = acquire_journal_lock(db)  # the bot runs
    try:
        res = CliRunner().invoke(kill_switch_app, ["reset", "--config", str(cfg), "--by", "bob"])
    finally:
        os.close(fd)
    assert res.exit_code == 0 and "requested" in res.output
    j = SqliteJournal(db)
    try:
        assert j.kv_get(KILL_RESET_REQUEST_KEY)["by"] == "bob"
        assert j.kv_get(KILL_SWITCH_KEY)["tripped"] is True  # the running bot applies it itself
    finally:
        j.close()
