"""The same journal against a real PostgreSQL server, and backups across backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot_runtime.execution.journal import (
    JournalError,
    PendingOrder,
    PostgresJournal,
    SqliteJournal,
    open_journal,
)
from bot_runtime.types import Fill, OrderIntent
from bot_runtime.venue.polymarket.constants import E6


def _pending(i: int) -> PendingOrder:
    intent = OrderIntent(market="0xm", token_id="7", side="BUY", price_e6=400_000, size_e6=10 * E6, group_id="g")
    return PendingOrder(f"c{i}", intent, 1_700_000_000_000, f"0x{i:064x}", "{}")


def _fill(tid: str, side: str = "BUY", price: int = 400_000) -> Fill:
    return Fill(tid, "0xo", "0xm", "7", side, price, 10 * E6, 1000, 1_700_000_000_000)  # type: ignore[arg-type]


def test_postgres_journal_end_to_end(postgres_url: str, tmp_path: Path) -> None:
    j = open_journal(postgres_url)
    assert isinstance(j, PostgresJournal)
    j.record_pending([_pending(0), _pending(1)])
    with pytest.raises(Exception):  # noqa: B017 - a duplicate leg aborts the whole group
        j.record_pending([_pending(2), _pending(0)])
    assert [r.client_id for r in j.orders()] == ["c0", "c1"]
    j.update_order("c0", "matched", filled_size_e6=10 * E6, avg_price_e6=400_000)
    assert [r.client_id for r in j.orders(["pending"])] == ["c1"]
    assert len(j.record_fills([_fill("t1"), _fill("t2")], {"0xo": "c0"})) == 2
    assert j.record_fills([_fill("t1")]) == []
    j.record_fills([_fill("t3", side="SELL", price=500_000)])
    pos = j.positions()["7"]
    assert pos.size_e6 == 10 * E6 and pos.realised_e6 == E6 - 3000
    j.kv_set("kill_switch", {"tripped": True})
    j.add_event("kill_switch_tripped", {"reason": "daily_loss"})
    assert j.kv_get("kill_switch") == {"tripped": True}

    backup = j.backup_to(tmp_path)
    assert backup.name.endswith(".json.gz")
    # Restore a PostgreSQL backup into SQLite and a SQLite backup back into PostgreSQL.
    s = SqliteJournal(tmp_path / "s.sqlite")
    s.restore_from(backup)
    assert s.trade_ids() == {"t1", "t2", "t3"} and s.positions() == j.positions()
    s.record_fills([_fill("t4")])
    j.restore_from(s.backup_to(tmp_path / "s"))
    assert j.trade_ids() == {"t1", "t2", "t3", "t4"}
    j.add_event("after_restore")
    assert [e.kind for e in j.events()] == ["kill_switch_tripped", "after_restore"]
    j.close()


def test_bad_postgres_url_does_not_leak_password() -> None:
    with pytest.raises(JournalError) as exc:
        open_journal("postgresql://u:sekrit@127.0.0.1:1/db?connect_timeout=1")
    assert "sekrit" not in str(exc.value)
