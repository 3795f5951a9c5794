"""`botfleet backup` with spec.backup.s3 configured uploads the backup and its manifest (SigV4 PUTs)
to an S3-compatible endpoint: here a minimal one on loopback that records what it receives."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from aiohttp import web
from typer.testing import CliRunner

from bot_runtime.backup import backup_command, sha256_file
from bot_runtime.execution.journal import SqliteJournal


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.auth: list[str] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _put(self, request: web.Request) -> web.Response:
        self.auth.append(request.headers.get("Authorization", ""))
        self.objects[request.path] = await request.read()
        return web.Response(status=200, headers={"ETag": '"0"'})

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_put("/{tail:.*}", self._put)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def s3() -> Iterator[FakeS3]:
    srv = FakeS3()
    srv.start()
    yield srv
    srv.stop()


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(backup_command)
    return app


def test_backup_is_copied_to_s3(s3: FakeS3, tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    SqliteJournal(db).close()
    env = {"BOTFLEET_BACKUP_S3_ENDPOINT": f"http://127.0.0.1:{s3.port}", "BOTFLEET_BACKUP_S3_BUCKET": "backups",
           "BOTFLEET_BACKUP_S3_PREFIX": "ns/bot-1/", "AWS_ACCESS_KEY_ID": "AKIDTEST",
           "AWS_SECRET_ACCESS_KEY": "very-secret-key-123"}
    res = CliRunner().invoke(cli(), ["--to", str(tmp_path / "b"), "--journal", f"sqlite:///{db}"], env=env)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    name = out["file"]
    assert out["s3"] == [f"backups/ns/bot-1/{name}", f"backups/ns/bot-1/{name}.json"]
    local = tmp_path / "b" / name
    assert s3.objects[f"/backups/ns/bot-1/{name}"] == local.read_bytes()
    manifest = json.loads(s3.objects[f"/backups/ns/bot-1/{name}.json"])
    assert manifest["sha256"] == sha256_file(local)
    assert all(a.startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/") for a in s3.auth)
    assert "very-secret-key-123" not in res.output


def test_incomplete_s3_settings_are_a_usage_error(tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    SqliteJournal(db).close()
    res = CliRunner().invoke(cli(), ["--to", str(tmp_path / "b"), "--journal", f"sqlite:///{db}"],
                             env={"BOTFLEET_BACKUP_S3_BUCKET": "backups", "BOTFLEET_BACKUP_S3_ENDPOINT": "http://x"})
    assert res.exit_code == 2 and "AWS_ACCESS_KEY_ID" in res.output
