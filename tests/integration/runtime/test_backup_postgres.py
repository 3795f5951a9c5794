"""Backup and restore of a PostgreSQL journal (Supabase is PostgreSQL): a logical dump, and a restore
refused while a bot's heartbeat is fresh."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from typer.testing import CliRunner

from bot_runtime.backup import backup_command, restore_command
from bot_runtime.execution.journal import open_journal, redact_url
from bot_runtime.execution.journal_lock import HEARTBEAT_KEY
from bot_runtime.types import Fill


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
    return app


def test_postgres_backup_restore(postgres_url: str, tmp_path: Path) -> None:
    j = open_journal(postgres_url)
    try:
        j.record_fills([Fill(f"t-{i}", f"o-{i}", "0x" + "2" * 64, "7", "BUY", 400_000, 1_000_000, 0, 1_700_000_000_000 + i)
                        for i in range(25)])
        j.kv_set(HEARTBEAT_KEY, {"ts_ms": int(time.time() * 1000), "pid": 1})
        res = CliRunner().invoke(cli(), ["backup", "--to", str(tmp_path), "--journal", postgres_url])
        assert res.exit_code == 0, res.output
        out = json.loads(res.output.strip().splitlines()[-1])
        assert out["file"].endswith(".json.gz") and out["tables"]["fills"] == 25
        assert out["source"] == redact_url(postgres_url)  # never a password in the manifest
        j.record_fills([Fill("late", "o-late", "0x" + "2" * 64, "7", "BUY", 400_000, 1_000_000, 0, 1)])
        backup_file = str(tmp_path / out["file"])
        res = CliRunner().invoke(cli(), ["restore", "--from", backup_file, "--journal", postgres_url])
        assert res.exit_code == 1 and "live bot" in res.output  # heartbeat is fresh
        j.kv_set(HEARTBEAT_KEY, {"ts_ms": int(time.time() * 1000) - 120_000, "pid": 1})
        res = CliRunner().invoke(cli(), ["restore", "--from", backup_file, "--journal", postgres_url])
        assert res.exit_code == 0, res.output
        assert j.trade_ids() == {f"t-{i}" for i in range(25)}  # the snapshot, exactly
    finally:
        j.close()
