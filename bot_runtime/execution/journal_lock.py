"""Who owns a journal: the exclusive lock a running bot holds on `<journal>.lock` (SQLite) and the
heartbeat it writes into the journal (PostgreSQL). The bot takes them; backup, restore and the
kill-switch reset check them. Lives with the journal so runtime code never imports a CLI module.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot_runtime.execution.journal import redact_url

HEARTBEAT_KEY = "runtime.heartbeat"
HEARTBEAT_FRESH_S = 30.0


class JournalLocked(RuntimeError):
    """Another process holds the journal's lock; the message says which journal."""


class JournalUrlError(ValueError):
    """A journal URL that is neither sqlite:///PATH nor postgresql://..."""


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///relative` or `sqlite:////absolute` journal URL (the journal's own
    convention); None for PostgreSQL; JournalUrlError for anything else."""
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return None
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):])
    raise JournalUrlError(f"journal.url {redact_url(url)!r} is not sqlite:///PATH or postgresql://...")


def lock_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".lock")


@contextlib.contextmanager
def journal_lock(journal: Path, blocking: bool = False) -> Iterator[int]:
    """Exclusive advisory lock held by a running bot on its journal."""
    journal.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(journal), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            raise JournalLocked(f"journal {journal} is in use by a running bot") from None
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def acquire_journal_lock(journal: Path) -> int:
    """For the bot: take the lock for the process lifetime; returns the fd (close it to release)."""
    journal.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(journal), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalLocked(f"journal {journal} is locked by another bot process; two bots must never "
                            "share a journal") from None
    return fd


def journal_in_use(journal: Path) -> bool:
    try:
        with journal_lock(journal):
            return False
    except JournalLocked:
        return True


def heartbeat_fresh(beat: Any, now_ms: int, fresh_s: float = HEARTBEAT_FRESH_S) -> bool:
    """True when a bot wrote its heartbeat recently (it is running against this journal)."""
    if not isinstance(beat, dict) or not isinstance(beat.get("ts_ms"), int):
        return False
    return 0 <= now_ms - beat["ts_ms"] <= fresh_s * 1000
