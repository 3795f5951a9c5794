"""A PostgREST stand-in: Supabase's HTTP layer over a real PostgreSQL (PostgREST itself cannot run
here). It executes what PostgREST would for the two calls the Supabase memory makes — an insert
(`POST /rest/v1/<table>`, rows built with json_populate_recordset as PostgREST does) and an RPC
(`POST /rest/v1/rpc/<function>`, arguments passed by name and cast to the function's declared
types) — so the SQL under test is the shipped migration, not a copy of it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from aiohttp import web
from psycopg import sql

from tests.support.openai_server import start_loopback


@dataclass
class PostgREST:
    db_url: str
    url: str = ""
    errors: list[str] = field(default_factory=list)


def _error(status: int, e: psycopg.Error) -> web.Response:
    diag = e.diag
    return web.json_response({"code": diag.sqlstate or "", "message": diag.message_primary or str(e),
                              "details": diag.message_detail, "hint": diag.message_hint}, status=status)


def build_app(state: PostgREST) -> web.Application:
    async def insert(request: web.Request) -> web.Response:
        table = request.match_info["table"]
        body = await request.json()
        rows = body if isinstance(body, list) else [body]
        cols = sorted({k for r in rows for k in r})
        ident = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
        q = sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM json_populate_recordset(null::{t}, %s) RETURNING *").format(
            t=sql.Identifier(table), c=ident)
        try:
            async with await psycopg.AsyncConnection.connect(state.db_url, autocommit=True) as conn:
                cur = await conn.execute(q, (json.dumps(rows),))
                names = [d.name for d in cur.description or []]
                out = [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]
        except psycopg.Error as e:
            state.errors.append(str(e))
            return _error(400, e)
        return web.json_response(out, status=201, dumps=lambda o: json.dumps(o, default=str))

    async def rpc(request: web.Request) -> web.Response:
        fn = request.match_info["fn"]
        args: dict[str, Any] = await request.json()
        try:
            async with await psycopg.AsyncConnection.connect(state.db_url, autocommit=True) as conn:
                cur = await conn.execute(
                    "SELECT unnest(p.proargnames), unnest(p.proargtypes::regtype[]::text[]) FROM pg_proc p"
                    " WHERE p.proname = %s", (fn,))
                types = dict(await cur.fetchall())
                if set(args) - set(types):
                    return web.json_response({"code": "PGRST202", "message": f"no function {fn} with {sorted(args)}"},
                                             status=404)
                call = sql.SQL("SELECT * FROM {f}({a})").format(f=sql.Identifier(fn), a=sql.SQL(", ").join(
                    sql.SQL("{n} => %s::{t}").format(n=sql.Identifier(n), t=sql.SQL(types[n])) for n in args))
                params = [json.dumps(v) if isinstance(v, list | dict) else v for v in args.values()]
                cur = await conn.execute(call, params)
                names = [d.name for d in cur.description or []]
                out = [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]
        except psycopg.Error as e:
            state.errors.append(str(e))
            return _error(400, e)
        return web.json_response(out, dumps=lambda o: json.dumps(o, default=str))

    app = web.Application()
    app.router.add_post("/rest/v1/rpc/{fn}", rpc)
    app.router.add_post("/rest/v1/{table}", insert)
    return app


async def serve_postgrest(db_url: str) -> AsyncIterator[PostgREST]:
    state = PostgREST(db_url)
    runner, state.url = await start_loopback(build_app(state))
    try:
        yield state
    finally:
        await runner.cleanup()
