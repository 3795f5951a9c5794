"""The paper key: created once beside a SQLite journal (0600) or in a PostgreSQL journal's kv,
the same on every start, refused with a fix when damaged (its redaction: test_paper_wallet.py in
tests/integration/runtime, on a real bot's output)."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from bot_runtime.errors import StartupError
from bot_runtime.execution.paper_wallet import PAPER_KEY_FILE, PAPER_KEY_KV, load_or_create_paper_key


class KV:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def kv_get(self, key: str) -> object:
        return self.data.get(key)

    def kv_set(self, key: str, value: object) -> None:
        self.data[key] = value


def test_sqlite_journal_keeps_the_key_beside_it_mode_0600(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    kv = KV()
    key = load_or_create_paper_key(url, kv)
    path = tmp_path / PAPER_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == key and kv.data == {}
    assert Account.from_key(key).address                     # a usable secp256k1 key
    assert load_or_create_paper_key(url, kv) == key          # a restart: the same identity
    path.chmod(0o644)                                        # restored from a copy with looser modes
    assert load_or_create_paper_key(url, kv) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_postgres_journal_keeps_the_key_in_its_kv(tmp_path: Path) -> None:
    kv = KV()
    key = load_or_create_paper_key("postgresql://u@db/x", kv)
    assert kv.data == {PAPER_KEY_KV: key}
    assert load_or_create_paper_key("postgresql://u@db/x", kv) == key


def test_a_damaged_key_is_refused_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / PAPER_KEY_FILE).write_text("not a key\n")
    with pytest.raises(StartupError, match="delete it") as err:
        load_or_create_paper_key(f"sqlite:///{tmp_path / 'journal.sqlite'}", KV())
    assert err.value.config_error and "not a key" not in str(err.value)
