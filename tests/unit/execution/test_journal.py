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
