"""The paper wallet: the key a paper bot signs with, never the wallet Secret's.

A paper bot's orders and L1 auth headers go to a simulator, which may be run or sniffed by anyone
(plain HTTP, a test cluster). So paper mode never signs with the real wallet: it signs with a key
of its own, for the simulator's chain id (`SIM_CHAIN_ID`), which nothing on Polygon accepts.

The key is generated once and kept with the journal, so the bot keeps its identity (orders,
positions, `/data/trades` are per address) across restarts:
- SQLite journal: `paper-wallet.key` beside the journal file, mode 0600;
- PostgreSQL journal: the journal's kv table (`paper.wallet_key`); the pod's data directory may
  not outlive it, the database does.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Protocol

from eth_account import Account

from bot_runtime.errors import StartupError
from bot_runtime.execution.journal_lock import sqlite_path

PAPER_KEY_FILE = "paper-wallet.key"
PAPER_KEY_KV = "paper.wallet_key"
_KEY_RE = re.compile(r"(0x)?[0-9a-fA-F]{64}")


class KeyValue(Protocol):
    def kv_get(self, key: str) -> object: ...

    def kv_set(self, key: str, value: object) -> None: ...


def paper_key_path(journal_url: str) -> Path | None:
    """Where a SQLite journal's paper key lives; None for PostgreSQL (kept in the journal)."""
    path = sqlite_path(journal_url)
    return None if path is None else path.with_name(PAPER_KEY_FILE)


def _new_key() -> str:
    return "0x" + bytes(Account.create().key).hex()


def _valid(text: str, where: str) -> str:
    text = text.strip()
    if not _KEY_RE.fullmatch(text):
        raise StartupError(f"paper wallet key in {where} is not 32 bytes of hex: delete it and the bot "
                           "generates a new one (the paper account starts over)", config_error=True)
    return text if text.startswith("0x") else "0x" + text


def _from_file(path: Path) -> str:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)  # a copy restored with looser modes: only the bot reads it
        return _valid(path.read_text(), str(path))
    key = _new_key()
    try:
        os.write(fd, (key + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def load_or_create_paper_key(journal_url: str, journal: KeyValue) -> str:
    """The bot's paper key (created on first use); the caller registers it with the log redactor."""
    path = paper_key_path(journal_url)
    if path is not None:
        try:
            key = _from_file(path)
        except OSError as exc:
            raise StartupError(f"paper wallet key {path} cannot be read or created: {exc.strerror}; the "
                               "journal's directory must be writable by the bot", config_error=True) from None
    else:
        stored = journal.kv_get(PAPER_KEY_KV)
        if isinstance(stored, str):
            key = _valid(stored, f"the journal (kv {PAPER_KEY_KV})")
        else:
            key = _new_key()
            journal.kv_set(PAPER_KEY_KV, key)
    return key
