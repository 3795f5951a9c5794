"""The order journal: every order is written (status `pending`) before it is sent; results, fills,
positions, events and the kill-switch state follow. Two backends behind one interface, chosen by URL:
`sqlite:///PATH` (embedded default, WAL) and `postgresql://...` (psycopg 3; Supabase's database is
PostgreSQL).

The API is synchronous: the executor runs it on one dedicated thread so the event loop never waits
on fsync or the network, with one exception on SQLite (`inline_pending`): the `pending` rows of an
order group are committed on the event loop thread itself, without fsync (~50 us: a write() into
the WAL). A committed row is in the operating system's page cache, so it survives the process
being killed (kill -9, OOM, segfault) before the orders leave. The fsync follows on the journal's
syncer thread while the orders are on the wire (`sync_soon`); only a power cut (or kernel crash)
inside that window, about a millisecond, can lose the rows: see `Executor.reconcile`, which
adopts exchange orders the journal lacks. `fsync_before_send=True` restores the fsync before
every send (each order then waits for the disk). A lock serialises callers from other threads.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import structlog

from bot_runtime.types import Fill, OrderIntent, OrderResult
from bot_runtime.venue.polymarket.constants import E6

log = structlog.get_logger()

OPEN_STATUSES = ("pending", "live", "partial", "error")     # may still change on the exchange
TERMINAL_STATUSES = ("matched", "unmatched", "canceled", "rejected", "unsent")
SCHEMA_VERSION = "1"


SYNCER_NICE = 10


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class PendingOrder:
    """What is journaled before sending: the intent, the client id and the signed order."""

    client_id: str
    intent: OrderIntent
    timestamp_ms: int        # the signed order's timestamp: needed to re-derive the same order
    order_hash: str
    signed_json: str


@dataclass(frozen=True, slots=True)
class OrderRow:
    client_id: str
    group_id: str
    intent: OrderIntent
    timestamp_ms: int
    order_hash: str
    signed_json: str
    status: str
    filled_size_e6: int
    avg_price_e6: int
    fee_e6: int
    error: str
    created_ms: int
    updated_ms: int


@dataclass(frozen=True, slots=True)
class Position:
    token_id: str
    market: str
    size_e6: int          # shares held
    cost_e6: int          # cost basis of the shares held (average cost)
    realised_e6: int      # realised PnL incl. fees paid
    fees_e6: int

    @property
    def avg_price_e6(self) -> int:
        return self.cost_e6 * E6 // self.size_e6 if self.size_e6 else 0

    def unrealised_e6(self, mark_e6: int) -> int:
        return self.size_e6 * mark_e6 // E6 - self.cost_e6


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    ts_ms: int
    kind: str
    data: dict[str, Any]


def apply_fill(pos: Position | None, fill: Fill) -> tuple[Position, int]:
    """Average-cost accounting. Returns the new position and the PnL this fill realised."""
    p = pos or Position(fill.token_id, fill.market, 0, 0, 0, 0)
    size, cost, realised = p.size_e6, p.cost_e6, -fill.fee_e6
    if fill.side == "BUY":
        size += fill.size_e6
        cost += fill.size_e6 * fill.price_e6 // E6
    else:
        closing = min(fill.size_e6, max(size, 0))
        basis = cost * closing // size if size else 0
        realised += closing * fill.price_e6 // E6 - basis
        size -= fill.size_e6
        cost -= basis
        if size <= 0:  # nothing (or a short the exchange would not allow) left: no basis either
            cost = 0 if size == 0 else size * fill.price_e6 // E6
    new = Position(p.token_id, p.market or fill.market, size, cost, p.realised_e6 + realised,
                   p.fees_e6 + fill.fee_e6)
    return new, realised


class JournalError(RuntimeError):
    pass


def _market_buy_amount(d: dict[str, Any]) -> int:
    """A FOK/FAK BUY's dollars are its signed makerAmount (kept in the signed order, no column),
    so re-deriving a journaled order gives the same order."""
    if d["side"] != "BUY" or d["order_type"] not in ("FOK", "FAK"):
        return 0
    try:
        return int(json.loads(d["signed_json"])["order"]["makerAmount"])
    except (ValueError, KeyError, TypeError):
        return 0


_INTENT_COLS = ("market", "token_id", "side", "price_e6", "size_e6", "order_type", "tick_size_e6",
                "neg_risk", "post_only", "expiration_s", "reason")
_ORDER_COLS = ("client_id", "group_id", *_INTENT_COLS, "timestamp_ms", "order_hash", "signed_json", "status",
               "filled_size_e6", "avg_price_e6", "fee_e6", "error", "created_ms", "updated_ms")
_FILL_COLS = ("trade_id", "order_id", "client_id", "market", "token_id", "side", "price_e6", "size_e6",
              "fee_e6", "ts_ms", "realised_e6")
_POS_COLS = ("token_id", "market", "size_e6", "cost_e6", "realised_e6", "fees_e6", "updated_ms")
_INSERT_ORDER = f"INSERT INTO orders ({', '.join(_ORDER_COLS)}) VALUES ({', '.join('?' * len(_ORDER_COLS))})"
TABLES: dict[str, tuple[str, ...]] = {
    "orders": _ORDER_COLS, "fills": _FILL_COLS, "positions": _POS_COLS,
    "events": ("id", "ts_ms", "kind", "data"), "kv": ("key", "value", "updated_ms"),
}


def _ddl(serial: str) -> list[str]:
    return [
        "CREATE TABLE IF NOT EXISTS orders (client_id TEXT PRIMARY KEY, group_id TEXT NOT NULL,"
        " market TEXT NOT NULL, token_id TEXT NOT NULL, side TEXT NOT NULL, price_e6 BIGINT NOT NULL,"
        " size_e6 BIGINT NOT NULL, order_type TEXT NOT NULL, tick_size_e6 BIGINT NOT NULL,"
        " neg_risk INTEGER NOT NULL, post_only INTEGER NOT NULL, expiration_s BIGINT NOT NULL,"
        " reason TEXT NOT NULL, timestamp_ms BIGINT NOT NULL, order_hash TEXT NOT NULL UNIQUE,"
        " signed_json TEXT NOT NULL, status TEXT NOT NULL, filled_size_e6 BIGINT NOT NULL DEFAULT 0,"
        " avg_price_e6 BIGINT NOT NULL DEFAULT 0, fee_e6 BIGINT NOT NULL DEFAULT 0,"
        " error TEXT NOT NULL DEFAULT '', created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS orders_status ON orders (status)",
        "CREATE TABLE IF NOT EXISTS fills (trade_id TEXT PRIMARY KEY, order_id TEXT NOT NULL,"
        " client_id TEXT NOT NULL, market TEXT NOT NULL, token_id TEXT NOT NULL, side TEXT NOT NULL,"
        " price_e6 BIGINT NOT NULL, size_e6 BIGINT NOT NULL, fee_e6 BIGINT NOT NULL, ts_ms BIGINT NOT NULL,"
        " realised_e6 BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS fills_ts ON fills (ts_ms)",
        "CREATE TABLE IF NOT EXISTS positions (token_id TEXT PRIMARY KEY, market TEXT NOT NULL,"
        " size_e6 BIGINT NOT NULL, cost_e6 BIGINT NOT NULL, realised_e6 BIGINT NOT NULL,"
        " fees_e6 BIGINT NOT NULL, updated_ms BIGINT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS events (id {serial}, ts_ms BIGINT NOT NULL, kind TEXT NOT NULL,"
        " data TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_ms BIGINT NOT NULL)",
    ]


class _Cursor(Protocol):
    rowcount: int

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...


class Journal:
    """Backend-independent logic; subclasses provide the connection and SQL dialect details."""

    url: str
    # True: `record_pending(..., durable=False)` is cheap enough for the event loop thread (no
    # network, no fsync) and `sync_soon()` makes it durable against power loss shortly after.
    inline_pending = False

    def __init__(self) -> None:
        self._lock = threading.RLock()

    # -- backend hooks --------------------------------------------------------------------------
    @contextmanager
    def _tx(self, durable: bool = False, snapshot: bool = False) -> Iterator[Any]:
        """A transaction; yields what `_exec` runs statements on. durable: fsync'd on commit;
        snapshot: one consistent read view."""
        raise NotImplementedError
        yield

    def _exec(self, tx: Any, sql: str, params: Sequence[Any] = ()) -> _Cursor:
        return tx.execute(sql, tuple(params))  # type: ignore[no-any-return]

    def close(self) -> None:
        raise NotImplementedError

    def backup_to(self, directory: str | Path) -> Path:
        raise NotImplementedError

    def sync_soon(self) -> None:
        """Make every commit so far durable against power loss, in the background. Backends
        whose commits are always durable have nothing to do."""

    # -- orders ---------------------------------------------------------------------------------
    def record_pending(self, orders: Sequence[PendingOrder], *, durable: bool = True) -> None:
        """All legs of a group in one transaction, before anything is sent. durable=False (only
        where `inline_pending`): committed to the OS, not yet fsync'd; call `sync_soon()` next."""
        ts = now_ms()
        sql = _INSERT_ORDER
        rows = []
        for p in orders:
            i = p.intent
            rows.append((p.client_id, i.group_id, i.market, i.token_id, i.side, i.price_e6, i.size_e6, i.order_type,
                         i.tick_size_e6, int(i.neg_risk), int(i.post_only), i.expiration_s, i.reason,
                         p.timestamp_ms, p.order_hash.lower(), p.signed_json, "pending", 0, 0, 0, "", ts, ts))
        with self._tx(durable=durable) as tx:
            for row in rows:
                self._exec(tx, sql, row)

    def record_results(self, results: Sequence[OrderResult]) -> None:
        """The exchange's answers to one group, in one transaction (not fsync'd: reconcile can
        always re-read them from the exchange)."""
        ts = now_ms()
        with self._tx() as tx:
            for r in results:
                cur = self._exec(tx, "UPDATE orders SET status = ?, updated_ms = ?, filled_size_e6 = ?,"
                                     " avg_price_e6 = ?, error = ? WHERE client_id = ?",
                                 (r.status, ts, r.filled_size_e6, r.avg_price_e6, r.error, r.client_id))
                if cur.rowcount != 1:
                    raise JournalError(f"record_results: unknown client_id {r.client_id!r}")

    def update_order(self, client_id: str, status: str, *, filled_size_e6: int | None = None,
                     avg_price_e6: int | None = None, fee_e6: int | None = None, error: str | None = None) -> None:
        sets, params = ["status = ?", "updated_ms = ?"], [status, now_ms()]
        for col, val in (("filled_size_e6", filled_size_e6), ("avg_price_e6", avg_price_e6),
                         ("fee_e6", fee_e6), ("error", error)):
            if val is not None:
                sets.append(f"{col} = ?")
                params.append(val)
        with self._tx() as tx:
            cur = self._exec(tx, f"UPDATE orders SET {', '.join(sets)} WHERE client_id = ?", (*params, client_id))
            if cur.rowcount != 1:
                raise JournalError(f"update_order: unknown client_id {client_id!r}")

    def _row_to_order(self, r: Sequence[Any]) -> OrderRow:
        d = dict(zip(_ORDER_COLS, r, strict=True))
        intent = OrderIntent(
            market=d["market"], token_id=d["token_id"], side=d["side"], price_e6=int(d["price_e6"]),
            size_e6=int(d["size_e6"]), order_type=d["order_type"], tick_size_e6=int(d["tick_size_e6"]),
            neg_risk=bool(d["neg_risk"]), post_only=bool(d["post_only"]), expiration_s=int(d["expiration_s"]),
            group_id=d["group_id"], reason=d["reason"], amount_e6=_market_buy_amount(d))
        return OrderRow(d["client_id"], d["group_id"], intent, int(d["timestamp_ms"]), d["order_hash"],
                        d["signed_json"], d["status"], int(d["filled_size_e6"]), int(d["avg_price_e6"]),
                        int(d["fee_e6"]), d["error"], int(d["created_ms"]), int(d["updated_ms"]))

    def orders(self, statuses: Sequence[str] | None = None) -> list[OrderRow]:
        sql = f"SELECT {', '.join(_ORDER_COLS)} FROM orders"
        params: tuple[Any, ...] = ()
        if statuses:
            sql += f" WHERE status IN ({', '.join('?' * len(statuses))})"
            params = tuple(statuses)
        with self._tx() as tx:
            rows = self._exec(tx, sql + " ORDER BY created_ms, client_id", params).fetchall()
        return [self._row_to_order(r) for r in rows]

    def order(self, client_id: str) -> OrderRow | None:
        with self._tx() as tx:
            r = self._exec(tx, f"SELECT {', '.join(_ORDER_COLS)} FROM orders WHERE client_id = ?",
                           (client_id,)).fetchone()
        return self._row_to_order(r) if r else None

    def order_by_hash(self, order_hash: str) -> OrderRow | None:
        with self._tx() as tx:
            r = self._exec(tx, f"SELECT {', '.join(_ORDER_COLS)} FROM orders WHERE order_hash = ?",
                           (order_hash.lower(),)).fetchone()
        return self._row_to_order(r) if r else None

    def newest_order_ms(self) -> int | None:
        """When the newest journaled order was written (None: no order yet)."""
        with self._tx() as tx:
            r = self._exec(tx, "SELECT MAX(created_ms) FROM orders").fetchone()
        return int(r[0]) if r and r[0] is not None else None

    def count_orders(self) -> int:
        with self._tx() as tx:
            return int(self._exec(tx, "SELECT COUNT(*) FROM orders").fetchone()[0])

    # -- fills and positions --------------------------------------------------------------------
    def record_fills(self, fills: Sequence[Fill], client_ids: dict[str, str] | None = None) -> list[Fill]:
        """Insert fills not seen before (idempotent on trade_id) and update positions in the same
        transaction. Returns the fills that were new. `client_ids` maps order ids to client ids."""
        new: list[Fill] = []
        client_ids = client_ids or {}
        with self._tx() as tx:
            for f in fills:
                r = self._exec(tx, "SELECT token_id, market, size_e6, cost_e6, realised_e6, fees_e6 FROM positions"
                                   " WHERE token_id = ?", (f.token_id,)).fetchone()
                pos = Position(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5])) if r else None
                updated, realised = apply_fill(pos, f)
                cur = self._exec(
                    tx, f"INSERT INTO fills ({', '.join(_FILL_COLS)}) VALUES ({', '.join('?' * len(_FILL_COLS))})"
                        " ON CONFLICT (trade_id) DO NOTHING",
                    (f.trade_id, f.order_id, client_ids.get(f.order_id, ""), f.market, f.token_id, f.side,
                     f.price_e6, f.size_e6, f.fee_e6, f.ts_ms, realised))
                if cur.rowcount != 1:
                    continue
                self._exec(tx, f"INSERT INTO positions ({', '.join(_POS_COLS)}) VALUES (?, ?, ?, ?, ?, ?, ?)"
                               " ON CONFLICT (token_id) DO UPDATE SET market = excluded.market,"
                               " size_e6 = excluded.size_e6, cost_e6 = excluded.cost_e6,"
                               " realised_e6 = excluded.realised_e6, fees_e6 = excluded.fees_e6,"
                               " updated_ms = excluded.updated_ms",
                           (updated.token_id, updated.market, updated.size_e6, updated.cost_e6,
                            updated.realised_e6, updated.fees_e6, now_ms()))
                new.append(f)
        return new

    def fills(self, since_ms: int = 0) -> list[Fill]:
        with self._tx() as tx:
            rows = self._exec(tx, "SELECT trade_id, order_id, market, token_id, side, price_e6, size_e6, fee_e6, ts_ms"
                                  " FROM fills WHERE ts_ms >= ? ORDER BY ts_ms, trade_id", (since_ms,)).fetchall()
        return [Fill(r[0], r[1], r[2], r[3], r[4], int(r[5]), int(r[6]), int(r[7]), int(r[8])) for r in rows]

    def fill_totals(self, order_id: str) -> tuple[int, int, int]:
        """(shares, collateral, fees) filled so far for one exchange order id."""
        with self._tx() as tx:
            r = self._exec(tx, "SELECT COALESCE(SUM(size_e6), 0), COALESCE(SUM(size_e6 * price_e6 / 1000000), 0),"
                               " COALESCE(SUM(fee_e6), 0) FROM fills WHERE order_id = ?", (order_id,)).fetchone()
        return int(r[0]), int(r[1]), int(r[2])

    def trade_ids(self) -> set[str]:
        with self._tx() as tx:
            return {r[0] for r in self._exec(tx, "SELECT trade_id FROM fills").fetchall()}

    def positions(self) -> dict[str, Position]:
        with self._tx() as tx:
            rows = self._exec(tx, "SELECT token_id, market, size_e6, cost_e6, realised_e6, fees_e6 FROM positions"
                                  " ORDER BY token_id").fetchall()
        return {r[0]: Position(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows}

    def realised_since(self, since_ms: int) -> int:
        with self._tx() as tx:
            r = self._exec(tx, "SELECT COALESCE(SUM(realised_e6), 0) FROM fills WHERE ts_ms >= ?",
                           (since_ms,)).fetchone()
        return int(r[0])

    # -- events and kv --------------------------------------------------------------------------
    def add_event(self, kind: str, data: dict[str, Any] | None = None) -> None:
        with self._tx(durable=True) as tx:
            self._exec(tx, "INSERT INTO events (ts_ms, kind, data) VALUES (?, ?, ?)",
                       (now_ms(), kind, json.dumps(data or {}, separators=(",", ":"), default=str)))

    def events(self, kind: str | None = None) -> list[Event]:
        sql = "SELECT id, ts_ms, kind, data FROM events"
        params: tuple[str, ...] = ()
        if kind:
            sql, params = sql + " WHERE kind = ?", (kind,)
        with self._tx() as tx:
            rows = self._exec(tx, sql + " ORDER BY id", params).fetchall()
        return [Event(int(r[0]), int(r[1]), r[2], json.loads(r[3])) for r in rows]

    def kv_get(self, key: str) -> Any:
        with self._tx() as tx:
            r = self._exec(tx, "SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return json.loads(r[0]) if r else None

    def kv_set(self, key: str, value: Any) -> None:
        with self._tx(durable=True) as tx:
            self._exec(tx, "INSERT INTO kv (key, value, updated_ms) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
                           " SET value = excluded.value, updated_ms = excluded.updated_ms",
                       (key, json.dumps(value, separators=(",", ":")), now_ms()))

    # -- backup / restore (logical, backend-independent) -----------------------------------------
    def dump(self) -> dict[str, list[list[Any]]]:
        """Every row of every table from one consistent snapshot."""
        out: dict[str, list[list[Any]]] = {}
        with self._tx(snapshot=True) as tx:
            for table, cols in TABLES.items():
                out[table] = [list(r) for r in self._exec(tx, f"SELECT {', '.join(cols)} FROM {table}").fetchall()]
        return out

    def load(self, data: dict[str, list[list[Any]]]) -> None:
        """Replace the whole journal with `data` (one transaction)."""
        unknown = set(data) - set(TABLES)
        if unknown:
            raise JournalError(f"backup has unknown tables {sorted(unknown)}")
        with self._tx(durable=True) as tx:
            for table, cols in TABLES.items():
                self._exec(tx, f"DELETE FROM {table}")
                for row in data.get(table, []):
                    self._exec(tx, f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                               row)
            self._after_load(tx)

    def _after_load(self, tx: Any) -> None:
        pass

    def restore_from(self, file: str | Path) -> None:
        """Restore from a backup written by `backup_to` of either backend (.sqlite or .json.gz)."""
        path = Path(file)
        if not path.is_file():
            raise JournalError(f"backup file {path} not found")
        if path.name.endswith(".json.gz"):
            with gzip.open(path, "rt") as fh:
                doc = json.load(fh)
            if doc.get("format") != "botfleet-journal":
                raise JournalError(f"{path} is not a botfleet journal backup")
            self.load(doc["tables"])
            return
        src = SqliteJournal(path, read_only=True)
        try:
            self.load(src.dump())
        finally:
            src.close()

    def _write_logical_backup(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"journal-{_stamp()}.json.gz"
        tmp = path.with_suffix(".tmp")
        with gzip.open(tmp, "wt") as fh:
            json.dump({"format": "botfleet-journal", "schema": SCHEMA_VERSION, "tables": self.dump()}, fh)
        tmp.replace(path)
        return path


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


class SqliteJournal(Journal):
    """WAL mode, synchronous=NORMAL: a commit is a write() into the WAL (safe against a process
    crash); durable writes add an fsync of the WAL, outside the lock, so an inline `pending`
    write never waits behind another thread's fsync. Checkpoints (copying the WAL into the
    database) run on the syncer thread's own connection, never inside a caller's commit."""

    CHECKPOINT_EVERY_COMMITS = 256      # ~1-2 MB of WAL between background checkpoints
    CHECKPOINT_IDLE_S = 0.05
    # SQLite's own checkpoint-on-commit, as a backstop only (the syncer thread not running):
    # it would land in whichever commit crosses it, possibly the event loop's
    AUTOCHECKPOINT_PAGES = 20_000

    def __init__(self, path: str | Path, read_only: bool = False, *, fsync_before_send: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.inline_pending = not fsync_before_send
        self._wal_path = f"{self.path}-wal"
        self._wal_fd: int | None = None
        self._sync_lock = threading.Lock()
        self._sync_wanted = threading.Event()
        self._syncer: threading.Thread | None = None
        self._closed = False
        self._commits = 0                 # since the last background checkpoint
        self._ckpt_conn: sqlite3.Connection | None = None
        self.sync_error = ""              # set when an fsync failed: no order is journaled after it
        if read_only:
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None,
                                         check_same_thread=False)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.execute(f"PRAGMA wal_autocheckpoint={self.AUTOCHECKPOINT_PAGES}")
        with self._tx(durable=True) as tx:
            for stmt in _ddl("INTEGER PRIMARY KEY AUTOINCREMENT"):
                tx.execute(stmt)

    @contextmanager
    def _tx(self, durable: bool = False, snapshot: bool = False) -> Iterator[Any]:
        with self._lock:
            if durable and self.sync_error:
                raise JournalError(f"journal disk sync failed earlier ({self.sync_error}): restart the bot")
            self._conn.execute("BEGIN")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._commits += 1
        if durable:  # outside the lock: other threads' commits proceed while the disk works
            self.sync()

    def record_pending(self, orders: Sequence[PendingOrder], *, durable: bool = True) -> None:
        if self.sync_error:  # a disk that cannot fsync must not take new orders
            raise JournalError(f"journal disk sync failed ({self.sync_error}): nothing is sent; restart the bot")
        if durable:
            super().record_pending(orders, durable=True)
            return
        # the event loop's path: the same rows as the generic version, fewer Python layers
        ts = now_ms()
        rows = [(p.client_id, i.group_id, i.market, i.token_id, i.side, i.price_e6, i.size_e6, i.order_type,
                 i.tick_size_e6, int(i.neg_risk), int(i.post_only), i.expiration_s, i.reason, p.timestamp_ms,
                 p.order_hash.lower(), p.signed_json, "pending", 0, 0, 0, "", ts, ts)
                for p in orders for i in (p.intent,)]
        conn = self._conn
        with self._lock:
            conn.execute("BEGIN")
            try:
                conn.executemany(_INSERT_ORDER, rows)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._commits += 1

    def sync(self) -> None:
        """Everything committed so far is on disk when this returns: an fsync of the WAL, what
        synchronous=FULL does inside every commit."""
        with self._sync_lock:
            try:
                fd = self._wal()
                if fd is not None:
                    os.fsync(fd)
                else:  # no WAL file: everything was checkpointed into the database file
                    fd = os.open(self.path, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            except OSError as exc:
                self.sync_error = f"{type(exc).__name__}: {exc}"
                raise JournalError(f"journal fsync failed: {self.sync_error}") from exc

    def _wal(self) -> int | None:
        """A descriptor of the WAL file, re-opened if SQLite replaced the file; None without one."""
        fd = self._wal_fd
        try:
            ino: int | None = os.stat(self._wal_path).st_ino
        except FileNotFoundError:
            ino = None
        if fd is not None and os.fstat(fd).st_ino != ino:
            os.close(fd)
            fd = self._wal_fd = None
        if fd is None and ino is not None:
            fd = self._wal_fd = os.open(self._wal_path, os.O_RDONLY)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)  # a new WAL's directory entry, once
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return fd

    def sync_soon(self) -> None:
        """Wake the syncer thread (~5 us here): it fsyncs, then checkpoints when due."""
        if self._syncer is None:
            if self._closed:
                return
            self._syncer = threading.Thread(target=self._sync_loop, name="journal-sync", daemon=True)
            self._syncer.start()
        self._sync_wanted.set()

    def _sync_loop(self) -> None:
        # Below the event loop's priority (Linux: nice is per thread): on the core the bot is
        # pinned to, a waking fsync or a checkpoint must not delay the next order.
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SYNCER_NICE)
        while True:
            due = self._commits >= self.CHECKPOINT_EVERY_COMMITS
            asked = self._sync_wanted.wait(self.CHECKPOINT_IDLE_S if due else None)
            if self._closed:
                return
            try:
                if asked:
                    self._sync_wanted.clear()  # a commit after this point asks again: never left unsynced
                    self.sync()
                # a checkpoint waits for a quiet moment (no order for CHECKPOINT_IDLE_S), unless
                # the WAL grows too long without one
                if due and (not asked or self._commits >= 16 * self.CHECKPOINT_EVERY_COMMITS):
                    self._checkpoint()
            except Exception as exc:  # sync() latched it: record_pending refuses from now on
                log.error("journal sync failed: no new orders until restart", error=str(exc))

    def _checkpoint(self) -> None:
        """Copy the WAL into the database from a second connection: a PASSIVE checkpoint takes no
        lock that a writer waits for."""
        self._commits = 0
        if self._ckpt_conn is None:
            self._ckpt_conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._ckpt_conn.execute("PRAGMA synchronous=NORMAL")
        self._ckpt_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def close(self) -> None:
        self._closed = True
        if self._syncer is not None:
            self._sync_wanted.set()
            self._syncer.join()
        if self._ckpt_conn is not None:
            self._ckpt_conn.close()
        with self._lock:
            self._conn.close()
        if self._wal_fd is not None:
            os.close(self._wal_fd)
            self._wal_fd = None

    def backup_to(self, directory: str | Path) -> Path:
        """A consistent copy while trading, with SQLite's online backup API."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"journal-{_stamp()}.sqlite"
        tmp = path.with_suffix(".tmp")
        dst = sqlite3.connect(tmp)
        try:
            with self._lock:
                self._conn.backup(dst)
        finally:
            dst.close()
        tmp.replace(path)
        return path


class PostgresJournal(Journal):
    def __init__(self, url: str) -> None:
        super().__init__()
        import psycopg

        self.url = url
        try:
            self._conn = psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError as exc:
            raise JournalError(f"cannot connect to the journal database {redact_url(url)}: "
                               f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        with self._tx() as tx:
            for stmt in _ddl("BIGSERIAL PRIMARY KEY"):
                tx.execute(stmt)

    @contextmanager
    def _tx(self, durable: bool = False, snapshot: bool = False) -> Iterator[Any]:
        # PostgreSQL commits are durable by default (synchronous_commit=on).
        with self._lock:
            if snapshot:
                self._conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    yield self._conn.cursor()
                finally:
                    self._conn.execute("COMMIT")
                return
            with self._conn.transaction():
                yield self._conn.cursor()

    def _exec(self, tx: Any, sql: str, params: Sequence[Any] = ()) -> _Cursor:
        tx.execute(sql.replace("?", "%s"), tuple(params))
        return tx  # type: ignore[no-any-return]

    def _after_load(self, tx: Any) -> None:
        tx.execute("SELECT setval(pg_get_serial_sequence('events', 'id'), COALESCE(MAX(id), 0) + 1, false)"
                   " FROM events")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def backup_to(self, directory: str | Path) -> Path:
        return self._write_logical_backup(directory)


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{netloc}", parts.path, parts.query, parts.fragment))


def open_journal(url: str, *, fsync_before_send: bool = False) -> Journal:
    """`sqlite:///relative/path`, `sqlite:////absolute/path`, `postgresql://...` or `postgres://...`.
    fsync_before_send (SQLite): every order waits for the disk before it is sent (PostgreSQL
    always commits durably before the send)."""
    if url.startswith("sqlite:///"):
        return SqliteJournal(url[len("sqlite:///"):], fsync_before_send=fsync_before_send)
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return PostgresJournal(url.replace("postgresql+psycopg://", "postgresql://", 1))
    raise JournalError(f"journal.url {redact_url(url)!r} is not supported; use sqlite:///PATH or postgresql://...")
