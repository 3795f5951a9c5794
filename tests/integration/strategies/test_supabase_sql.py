"""PolyAI's Supabase memory against the SQL it ships: the migration on a real PostgreSQL with
pgvector, reached through the real `supabase` client and a PostgREST stand-in that executes SQL
(only PostgREST itself, which cannot run here, is stood in for)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import psycopg
import pytest
import pytest_asyncio

from bot_runtime.ai.memory import SUPABASE_SQL, MemoryRecord, SupabaseMemory
from tests.support.postgres import PostgresServer, pgvector_server
from tests.support.postgrest import PostgREST, serve_postgrest

__all__ = ["pgvector_server"]

DIM = 1536


def _vec(*weights: tuple[int, float]) -> tuple[float, ...]:
    v = [0.0] * DIM
    for i, w in weights:
        v[i] = w
    return tuple(v)


def _rec(question: str, emb: tuple[float, ...], market: str = "0xm") -> MemoryRecord:
    return MemoryRecord(market, question, f"summary of {question}", 0.6, 70, 0.5, 1_700_000_000_000, emb)


@pytest.fixture
def supabase_db(pgvector_server: PostgresServer) -> str:
    url = pgvector_server.create_database(f"supa_{id(object())}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SUPABASE_SQL)
    return url


@pytest_asyncio.fixture
async def postgrest(supabase_db: str) -> AsyncIterator[PostgREST]:
    async for server in serve_postgrest(supabase_db):
        yield server


def test_migration_is_idempotent_and_indexes_by_cosine_distance(supabase_db: str) -> None:
    with psycopg.connect(supabase_db, autocommit=True) as conn:
        conn.execute(SUPABASE_SQL)  # a second apply changes nothing and fails on nothing
        (indexdef,) = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'polyai_memory_embedding_hnsw'").fetchone() or ("",)
        assert "USING hnsw" in indexdef and "vector_cosine_ops" in indexdef
        (n,) = conn.execute("SELECT count(*) FROM pg_proc WHERE proname = 'match_polyai_memory'").fetchone() or (0,)
        assert n == 1


async def test_supabase_memory_finds_the_nearest_analyses_through_the_shipped_sql(postgrest: PostgREST) -> None:
    m = SupabaseMemory(postgrest.url, "service-role-key")
    await m.add(_rec("rates", _vec((0, 1.0))))
    await m.add(_rec("election", _vec((1, 1.0))))
    await m.add(_rec("rates again", _vec((0, 1.0), (2, 0.2))))
    got = await m.search(list(_vec((0, 1.0), (2, 0.1))), k=2)
    assert [r.question for r in got] == ["rates again", "rates"]
    cos = (1.0 + 0.02) / (math.sqrt(1.04) * math.sqrt(1.01))
    assert got[0].similarity == pytest.approx(cos, abs=1e-6)
    assert got[0].summary == "summary of rates again" and got[0].created_ms == 1_700_000_000_000
    assert [r.question for r in await m.search(list(_vec((1, 0.5))), k=1)] == ["election"]
    assert postgrest.errors == []


async def test_rows_the_sql_refuses_are_errors_not_silent_losses(postgrest: PostgREST) -> None:
    m = SupabaseMemory(postgrest.url, "service-role-key")
    with pytest.raises(Exception, match=r"dimensions|check constraint"):
        await m.add(_rec("wrong size", (0.1, 0.2)))  # the embedding model and the column disagree
    bad = MemoryRecord("0xm", "p>1", "s", 1.5, 70, 0.5, 1, _vec((0, 1.0)))
    with pytest.raises(Exception, match="check constraint"):
        await m.add(bad)
    assert len(postgrest.errors) == 2
