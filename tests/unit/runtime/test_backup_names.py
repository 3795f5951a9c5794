"""Pure helpers of `botfleet backup`: names, pruning, URL parsing, heartbeat."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot_runtime.backup import backup_name, backup_stamp, to_prune
from bot_runtime.execution.journal_lock import JournalUrlError, heartbeat_fresh, sqlite_path


def test_name_sorts_by_time_and_round_trips() -> None:
    a = backup_name("arb-1", datetime(2026, 11, 25, 3, 0, 0, 5, tzinfo=UTC), ".sqlite")
    b = backup_name("arb-1", datetime(2026, 11, 25, 3, 0, 1, tzinfo=UTC), ".json.gz")
    assert a == "journal-arb-1-20261125T030000000005Z.sqlite"
    assert backup_stamp(a) == "20261125T030000000005Z" and backup_stamp(b) == "20261125T030001000000Z"
    assert backup_stamp("notes.txt") is None and backup_stamp(a + ".json") is None


def test_to_prune_keeps_newest() -> None:
    names = [backup_name("b", datetime(2026, 1, d, tzinfo=UTC), ".sqlite") for d in (3, 1, 2, 4)]
    assert to_prune([*names, "other.sqlite"], 2) == [names[1], names[2]]
    assert to_prune(names, 10) == []
    assert len(to_prune(names, 0)) == 4


def test_sqlite_path() -> None:
    assert sqlite_path("sqlite:///data/journal.sqlite") == Path("data/journal.sqlite")
    assert sqlite_path("sqlite:////data/journal.sqlite") == Path("/data/journal.sqlite")
    assert sqlite_path("postgresql://u:p@h/db") is None
    with pytest.raises(JournalUrlError, match=r"journal\.url"):
        sqlite_path("sqlite://nope")


def test_heartbeat_fresh() -> None:
    assert heartbeat_fresh({"ts_ms": 1_000}, 20_000)
    assert not heartbeat_fresh({"ts_ms": 1_000}, 40_000)
    assert not heartbeat_fresh(None, 1) and not heartbeat_fresh({"ts_ms": "x"}, 1)
