"""Journal semantics on the embedded SQLite backend (the PostgreSQL run is in tests/integration)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot_runtime.execution.journal import (
    JournalError,
    PendingOrder,
    Position,
    SqliteJournal,
    apply_fill,
    open_journal,
    redact_url,
)
from bot_runtime.types import Fill, OrderIntent
from bot_runtime.venue.polymarket.constants import E6


def _pending(i: int, group: str = "g") -> PendingOrder:
    intent = OrderIntent(market="0xm", token_id=str(100 + i % 2), side="BUY", price_e6=400_000 + i * 10_000,
                         size_e6=10 * E6, order_type="FOK", group_id=group, reason="arb:binary")
    return PendingOrder(f"c{i}", intent, 1_700_000_000_000 + i, f"0x{i:064x}", '{"x":1}')


def _fill(tid: str, side: str = "BUY", price: int = 400_000, size: int = 10 * E6, fee: int = 0,
          token: str = "100", ts: int = 1_700_000_000_000) -> Fill:
    return Fill(tid, "0xo", "0xm", token, side, price, size, fee, ts)  # type: ignore[arg-type]


def test_pending_then_results_roundtrip(tmp_path: Path) -> None:
    j = open_journal(f"sqlite:///{tmp_path}/j.sqlite")
    j.record_pending([_pending(0), _pending(1)])
    rows = j.orders(["pending"])
    assert [r.client_id for r in rows] == ["c0", "c1"]
    assert rows[0].intent == _pending(0).intent and rows[0].timestamp_ms == 1_700_000_000_000
    j.update_order("c0", "matched", filled_size_e6=10 * E6, avg_price_e6=400_000, fee_e6=5)
    assert j.order("c0").status == "matched"  # type: ignore[union-attr]
    assert j.order_by_hash("0x" + "0" * 64).client_id == "c0"  # type: ignore[union-attr]
    with pytest.raises(JournalError, match="unknown client_id"):
        j.update_order("nope", "live")


def test_group_is_all_or_nothing(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.sqlite")
    j.record_pending([_pending(0)])
    with pytest.raises(sqlite3.IntegrityError):
        j.record_pending([_pending(1), _pending(0)])  # duplicate client id in the second leg
    assert [r.client_id for r in j.orders()] == ["c0"]


def test_fills_are_idempotent_and_drive_positions(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.sqlite")
    assert len(j.record_fills([_fill("t1"), _fill("t2", price=500_000)])) == 2
    assert j.record_fills([_fill("t1"), _fill("t2", price=500_000)]) == []
    pos = j.positions()["100"]
    assert pos.size_e6 == 20 * E6 and pos.cost_e6 == 9 * E6 and pos.avg_price_e6 == 450_000
    new = j.record_fills([_fill("t3", side="SELL", price=600_000, size=10 * E6, fee=100_000, ts=5)])
    assert len(new) == 1
    pos = j.positions()["100"]
    assert pos.size_e6 == 10 * E6 and pos.cost_e6 == 4_500_000
    assert pos.realised_e6 == 6 * E6 - 4_500_000 - 100_000
    assert j.realised_since(0) == pos.realised_e6 and j.realised_since(6) == 0
    assert {f.trade_id for f in j.fills()} == {"t1", "t2", "t3"} == j.trade_ids()


def test_apply_fill_accounting() -> None:
    p, r = apply_fill(None, _fill("a", price=300_000, size=2 * E6, fee=1000))
    assert (p.size_e6, p.cost_e6, r) == (2 * E6, 600_000, -1000)
    p, r = apply_fill(p, _fill("b", side="SELL", price=100_000, size=2 * E6))
    assert (p.size_e6, p.cost_e6, r) == (0, 0, 200_000 - 600_000)
    assert Position("t", "m", 10 * E6, 4 * E6, 0, 0).unrealised_e6(500_000) == E6


def test_events_and_kv_persist(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.sqlite")
    j.add_event("kill_switch_tripped", {"reason": "daily_loss"})
    j.kv_set("kill_switch", {"tripped": True})
    j.kv_set("kill_switch", {"tripped": True, "reason": "daily_loss"})
    j.close()
    j2 = SqliteJournal(tmp_path / "j.sqlite")
    assert j2.kv_get("kill_switch") == {"tripped": True, "reason": "daily_loss"}
    assert j2.kv_get("missing") is None
    assert [(e.kind, e.data) for e in j2.events()] == [("kill_switch_tripped", {"reason": "daily_loss"})]


def test_backup_while_open_and_restore(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "live.sqlite")
    j.record_pending([_pending(0)])
    j.record_fills([_fill("t1")])
    j.add_event("reconciled", {"n": 1})
    path = j.backup_to(tmp_path / "backups")
    assert path.suffix == ".sqlite" and path.parent == tmp_path / "backups"
    j.record_fills([_fill("t2")])  # after the backup: the restore must drop it
    other = SqliteJournal(tmp_path / "restored.sqlite")
    other.record_fills([_fill("junk")])
    other.restore_from(path)
    assert other.trade_ids() == {"t1"}
    assert [r.client_id for r in other.orders()] == ["c0"]
    assert other.positions()["100"].size_e6 == 10 * E6
    assert [e.kind for e in other.events()] == ["reconciled"]
    other.add_event("after", {})  # the autoincrement keeps working after a restore
    logical = j._write_logical_backup(tmp_path / "b2")
    other.restore_from(logical)
    assert other.trade_ids() == {"t1", "t2"}
    with pytest.raises(JournalError, match="not found"):
        other.restore_from(tmp_path / "nope.sqlite")


def test_urls() -> None:
    with pytest.raises(JournalError, match=r"sqlite:///PATH or postgresql://") as exc:
        open_journal("mysql://u:hunter2@h/db")
    assert "hunter2" not in str(exc.value)
    assert redact_url("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_url("postgresql://h/db") == "postgresql://h/db"


def test_inline_pending_survives_kill9_of_the_writer(tmp_path: Path) -> None:
    """durable=False is a commit without fsync: the rows are in the OS once it returns, so a
    process killed right after (no close, no fsync) leaves them for the next start."""
    import os
    import signal

    path = tmp_path / "j.sqlite"
    SqliteJournal(path).close()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child dies by SIGKILL
        j = SqliteJournal(path)
        j.record_pending([_pending(0), _pending(1)], durable=False)
        os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    j = SqliteJournal(path)
    assert [r.client_id for r in j.orders(["pending"])] == ["c0", "c1"]
    j.close()


def test_syncer_thread_fsyncs_and_checkpoints_off_the_callers_thread(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import threading
    import time

    j = SqliteJournal(tmp_path / "j.sqlite")
    assert j.inline_pending and not SqliteJournal(tmp_path / "k.sqlite", fsync_before_send=True).inline_pending
    synced_on: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced_on.append(threading.current_thread().name)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    j.CHECKPOINT_EVERY_COMMITS = 3
    for i in range(4):
        j.record_pending([_pending(i)], durable=False)
    assert synced_on == []  # nothing on the caller's thread
    j.sync_soon()
    deadline = time.monotonic() + 30
    while (not synced_on or j._commits) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "journal-sync" in synced_on and j._commits == 0  # fsync'd, then checkpointed
    wal = tmp_path / "j.sqlite-wal"
    # everything is in the database file now: a PASSIVE checkpoint finds nothing left to copy
    log, done = j._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1:]
    assert log == done and wal.exists()
    j.close()
    assert not j._syncer.is_alive()  # type: ignore[union-attr]
    assert [r.client_id for r in SqliteJournal(tmp_path / "j.sqlite").orders()] == ["c0", "c1", "c2", "c3"]


def test_failed_fsync_stops_new_orders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    j = SqliteJournal(tmp_path / "j.sqlite")

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(JournalError, match="fsync failed"):
        j.record_pending([_pending(0)])  # durable: the commit happened, its fsync did not
    monkeypatch.undo()
    with pytest.raises(JournalError, match="restart the bot"):
        j.record_pending([_pending(1)], durable=False)  # latched: a later fsync may lie (fsyncgate)
    with pytest.raises(JournalError, match="restart the bot"):
        j.add_event("x")
    j.close()


def test_record_results_in_one_transaction(tmp_path: Path) -> None:
    from bot_runtime.types import OrderResult

    j = SqliteJournal(tmp_path / "j.sqlite")
    j.record_pending([_pending(0), _pending(1)], durable=False)
    p0, p1 = _pending(0), _pending(1)
    j.record_results([OrderResult("c0", p0.intent, "matched", filled_size_e6=10 * E6, avg_price_e6=400_000),
                      OrderResult("c1", p1.intent, "rejected", error="no liquidity")])
    rows = {r.client_id: r for r in j.orders()}
    assert (rows["c0"].status, rows["c0"].filled_size_e6, rows["c1"].status, rows["c1"].error) == \
        ("matched", 10 * E6, "rejected", "no liquidity")
    with pytest.raises(JournalError, match="unknown client_id"):
        j.record_results([OrderResult("c0", p0.intent, "matched"), OrderResult("nope", p1.intent, "live")])
    assert j.order("c0").filled_size_e6 == 10 * E6  # type: ignore[union-attr]  # rolled back as a whole
    j.close()
