"""Memory of past analyses, searched by embedding similarity (top-k cosine).

Two stores with one interface: `SQLiteMemory` (embedded default: one file, vectors searched in
process) and `SupabaseMemory` (production: a table plus a pgvector match function called over
PostgREST with the `supabase` client; the SQL is the migration `migrations/0001_polyai_memory.sql`).
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    market: str
    question: str
    summary: str               # what was concluded, fed back to the LLM as context
    probability: float
    confidence: int
    yes_price: float
    created_ms: int
    embedding: tuple[float, ...] = ()
    similarity: float = 0.0    # set by search()


class MemoryStore(Protocol):
    async def add(self, rec: MemoryRecord) -> None: ...

    async def search(self, embedding: list[float], k: int = 3) -> list[MemoryRecord]: ...

    async def close(self) -> None: ...


def cosine(a: list[float] | tuple[float, ...], b: list[float] | tuple[float, ...]) -> float:
    if len(a) != len(b) or not a:
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def _pack(v: list[float] | tuple[float, ...]) -> bytes:
    return struct.pack(f"<{len(v)}f", *v)


def _unpack(b: bytes) -> tuple[float, ...]:
    return struct.unpack(f"<{len(b) // 4}f", b)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS analyses (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  market TEXT NOT NULL, question TEXT NOT NULL, summary TEXT NOT NULL,
  probability REAL NOT NULL, confidence INTEGER NOT NULL, yes_price REAL NOT NULL,
  created_ms INTEGER NOT NULL, embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS analyses_market ON analyses(market);
CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector BLOB NOT NULL);
"""


class SQLiteMemory:
    """Embedded store. Vectors are kept in memory too, so a search is one pass of dot products."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), check_same_thread=False)
        self.db.executescript(_SCHEMA)
        self._vecs: list[tuple[int, tuple[float, ...]]] = [
            (int(i), _unpack(e)) for i, e in self.db.execute("SELECT id, embedding FROM analyses")]

    async def add(self, rec: MemoryRecord) -> None:
        cur = self.db.execute(
            "INSERT INTO analyses (market, question, summary, probability, confidence, yes_price, created_ms,"
            " embedding) VALUES (?,?,?,?,?,?,?,?)",
            (rec.market, rec.question, rec.summary, rec.probability, rec.confidence, rec.yes_price,
             rec.created_ms, _pack(rec.embedding)))
        self.db.commit()
        self._vecs.append((int(cur.lastrowid or 0), tuple(rec.embedding)))

    async def search(self, embedding: list[float], k: int = 3) -> list[MemoryRecord]:
        scored = sorted(((cosine(embedding, v), i) for i, v in self._vecs), key=lambda t: (-t[0], t[1]))[:k]
        out = []
        for sim, i in scored:
            row = self.db.execute(
                "SELECT market, question, summary, probability, confidence, yes_price, created_ms FROM analyses"
                " WHERE id = ?", (i,)).fetchone()
            if row:
                out.append(MemoryRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6], (), sim))
        return out

    def get_embedding(self, key: str) -> list[float] | None:
        row = self.db.execute("SELECT vector FROM embeddings WHERE key = ?", (key,)).fetchone()
        return list(_unpack(row[0])) if row else None

    def put_embedding(self, key: str, vec: list[float]) -> None:
        self.db.execute("INSERT OR REPLACE INTO embeddings (key, vector) VALUES (?, ?)", (key, _pack(vec)))
        self.db.commit()

    def __len__(self) -> int:
        return len(self._vecs)

    async def close(self) -> None:
        self.db.close()


class SupabaseMemory:
    """Supabase store: rows in `table`, similarity search through the RPC function `match_fn`
    (pgvector `<=>`), as Supabase documents for vector search. The client is synchronous, so its
    calls run in a worker thread."""

    def __init__(self, url: str, key: str, table: str = "polyai_memory",
                 match_fn: str = "match_polyai_memory", client: Any = None) -> None:
        if client is None:
            from supabase import create_client

            client = create_client(url, key)
        self.client = client
        self.table = table
        self.match_fn = match_fn

    def _insert(self, rec: MemoryRecord) -> None:
        self.client.table(self.table).insert({
            "market": rec.market, "question": rec.question, "summary": rec.summary,
            "probability": rec.probability, "confidence": rec.confidence, "yes_price": rec.yes_price,
            "created_ms": rec.created_ms, "embedding": list(rec.embedding),
        }).execute()

    def _match(self, embedding: list[float], k: int) -> list[MemoryRecord]:
        res = self.client.rpc(self.match_fn, {"query_embedding": embedding, "match_count": k}).execute()
        out = []
        for r in res.data or []:
            out.append(MemoryRecord(
                str(r.get("market", "")), str(r.get("question", "")), str(r.get("summary", "")),
                float(r.get("probability", 0.0)), int(r.get("confidence", 0)), float(r.get("yes_price", 0.0)),
                int(r.get("created_ms", 0)), (), float(r.get("similarity", 0.0))))
        return out

    async def add(self, rec: MemoryRecord) -> None:
        await asyncio.to_thread(self._insert, rec)

    async def search(self, embedding: list[float], k: int = 3) -> list[MemoryRecord]:
        return await asyncio.to_thread(self._match, embedding, k)

    async def close(self) -> None:
        return None


# The SQL SupabaseMemory relies on, shipped as a migration (one copy; docs/strategies.md shows how to apply it).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SUPABASE_SQL = (MIGRATIONS_DIR / "0001_polyai_memory.sql").read_text()
