"""`botfleet backup` while the bot writes, then `botfleet restore`: no trade is lost."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import typer
from typer.testing import CliRunner

from bot_runtime.backup import backup_command, restore_command
from bot_runtime.execution.journal import SqliteJournal
from bot_runtime.execution.journal_lock import acquire_journal_lock
from bot_runtime.types import Fill


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
    return app


def fill(i: int) -> Fill:
    return Fill(trade_id=f"t-{i}", order_id=f"o-{i}", market="0x" + "1" * 64, token_id=str(100 + i % 3),
                side="BUY", price_e6=500_000, size_e6=1_000_000, fee_e6=1_000, ts_ms=1_700_000_000_000 + i)


def test_backup_while_trading_then_restore(tmp_path: Path) -> None:
    db = tmp_path / "data" / "journal.sqlite"
    url = f"sqlite:///{db}"
    bot_journal = SqliteJournal(db)
    lock_fd = acquire_journal_lock(db)  # what BotApp does while it runs
    committed: list[str] = []
    stop = threading.Event()

    def trade() -> None:
        i = 0
        while not stop.is_set() and i < 20_000:
            bot_journal.record_fills([fill(i)])
            committed.append(f"t-{i}")
            i += 1

    for i in range(50):  # trades before the backup starts
        bot_journal.record_fills([fill(-1 - i)])
    writer = threading.Thread(target=trade)
    writer.start()
    try:
        while len(committed) < 100:
            threading.Event().wait(0.001)
        before = {f"t-{-1 - i}" for i in range(50)} | set(committed)
        res = CliRunner().invoke(cli(), ["backup", "--to", str(tmp_path / "b"), "--journal", url, "--retain", "2"])
    finally:
        stop.set()
        writer.join()
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    backup_file = Path(out["backup"])
    assert backup_file.is_file() and out["sha256"] and out["tables"]["fills"] >= len(before)

    # the bot is still running: restore refuses
    res = CliRunner().invoke(cli(), ["restore", "--from", str(backup_file), "--journal", url])
    assert res.exit_code == 1 and "running bot" in res.output

    bot_journal.close()
    os.close(lock_fd)
    res = CliRunner().invoke(cli(), ["restore", "--from", str(backup_file), "--journal", url])
    assert res.exit_code == 0, res.output
    restored = SqliteJournal(db)
    try:
        ids = restored.trade_ids()
        assert before <= ids  # nothing committed before the backup started is lost
        assert len(ids) == out["tables"]["fills"]
        # positions are consistent with the fills of the snapshot (one transaction each)
        sizes: dict[str, int] = {}
        for f in restored.fills():
            sizes[f.token_id] = sizes.get(f.token_id, 0) + f.size_e6
        assert {t: p.size_e6 for t, p in restored.positions().items()} == sizes
    finally:
        restored.close()
    assert (db.parent / "pre-restore").is_dir()  # the replaced journal was kept


def test_restore_refuses_a_damaged_backup(tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    j = SqliteJournal(db)
    j.record_fills([fill(1)])
    j.close()
    res = CliRunner().invoke(cli(), ["backup", "--to", str(tmp_path / "b"), "--journal", f"sqlite:///{db}"])
    assert res.exit_code == 0, res.output
    backup_file = Path(json.loads(res.output.strip().splitlines()[-1])["backup"])
    with backup_file.open("r+b") as fh:
        fh.seek(200)
        fh.write(b"\xff\xff\xff")
    res = CliRunner().invoke(cli(), ["restore", "--from", str(backup_file), "--journal", f"sqlite:///{db}"])
    assert res.exit_code == 1 and "checksum mismatch" in res.output
    (backup_file.with_name(backup_file.name + ".json")).unlink()
    res = CliRunner().invoke(cli(), ["restore", "--from", str(backup_file), "--journal", f"sqlite:///{db}"])
    assert res.exit_code == 1 and "manifest" in res.output


def test_retain_prunes_oldest(tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    SqliteJournal(db).close()
    for _ in range(4):
        res = CliRunner().invoke(cli(), ["backup", "--to", str(tmp_path / "b"), "--journal", f"sqlite:///{db}",
                                         "--retain", "2"])
        assert res.exit_code == 0, res.output
    files = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert len([f for f in files if f.endswith(".sqlite")]) == 2
    assert len([f for f in files if f.endswith(".json")]) == 2


def test_missing_journal_and_bad_url(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli(), ["backup", "--to", str(tmp_path), "--journal", f"sqlite:///{tmp_path}/nope.db"])
    assert res.exit_code == 1 and "does not exist" in res.output
    res = CliRunner().invoke(cli(), ["backup", "--to", str(tmp_path), "--journal", "mysql://x"])
    assert res.exit_code == 2 and "journal.url" in res.output
