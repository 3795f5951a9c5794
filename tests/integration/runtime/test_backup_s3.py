"""`botfleet backup` with spec.backup.s3 configured uploads the backup and its manifest (SigV4 PUTs)
to an S3-compatible endpoint: here a minimal one on loopback that records what it receives, served
over TLS with a certificate of a throwaway CA (trusted through SSL_CERT_FILE, as a private CA would be).

As the operator runs it: keys read from files (the mounted S3 Secret), the backup encrypted with
BACKUP_ENCRYPTION_KEY before it is written and uploaded, then restored from the uploaded copy.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sqlite3
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from aiohttp import web
from typer.testing import CliRunner

from bot_runtime.backup import backup_command, restore_command, sha256_file
from bot_runtime.execution.journal import SqliteJournal
from bot_runtime.types import Fill
from botfleet_tools.devcluster.pki import issue_server_cert, make_ca

KEY = base64.b64encode(os.urandom(32)).decode()


class FakeS3:
    def __init__(self, tls_dir: Path) -> None:
        ca = make_ca("fake-s3-ca")
        server = issue_server_cert(ca, ["127.0.0.1"])
        self.ca_file = tls_dir / "ca.pem"
        self.ca_file.write_bytes(ca.cert_pem)
        (tls_dir / "server.pem").write_bytes(server.cert_pem)
        (tls_dir / "server.key").write_bytes(server.key_pem)
        self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ssl.load_cert_chain(tls_dir / "server.pem", tls_dir / "server.key")
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
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self._ssl)
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
def s3(tmp_path: Path) -> Iterator[FakeS3]:
    tls = tmp_path / "tls"
    tls.mkdir()
    srv = FakeS3(tls)
    srv.start()
    yield srv
    srv.stop()


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
    return app


def secret_files(tmp_path: Path) -> tuple[Path, Path]:
    """The S3 Secret and the encryption-key Secret as the operator mounts them (one file per key)."""
    creds, keys = tmp_path / "secrets" / "s3", tmp_path / "secrets" / "backup-key"
    creds.mkdir(parents=True)
    keys.mkdir(parents=True)
    (creds / "AWS_ACCESS_KEY_ID").write_text("AKIDTEST")
    (creds / "AWS_SECRET_ACCESS_KEY").write_text("very-secret-key-123\n")
    (keys / "BACKUP_ENCRYPTION_KEY").write_text(KEY + "\n")
    return creds, keys / "BACKUP_ENCRYPTION_KEY"


def s3_env(s3: FakeS3, creds: Path, key_file: Path | None, scheme: str = "https") -> dict[str, str | None]:
    env: dict[str, str | None] = {
        "BOTFLEET_BACKUP_S3_ENDPOINT": f"{scheme}://127.0.0.1:{s3.port}", "BOTFLEET_BACKUP_S3_BUCKET": "backups",
        "BOTFLEET_BACKUP_S3_PREFIX": "ns/bot-1/", "BOTFLEET_BACKUP_S3_CREDENTIALS_DIR": str(creds),
        "SSL_CERT_FILE": str(s3.ca_file), "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}
    env["BOTFLEET_BACKUP_ENCRYPTION_KEY_FILE"] = str(key_file) if key_file else None
    return env


def fill(i: int) -> Fill:
    return Fill(trade_id=f"t-{i}", order_id=f"o-{i}", market="0x" + "1" * 64, token_id="101", side="BUY",
                price_e6=500_000, size_e6=1_000_000, fee_e6=1_000, ts_ms=1_700_000_000_000 + i)


def test_encrypted_backup_is_copied_to_s3_and_restored_from_it(s3: FakeS3, tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    journal = SqliteJournal(db)
    journal.record_fills([fill(i) for i in range(25)])
    journal.close()
    creds, key_file = secret_files(tmp_path)
    res = CliRunner().invoke(cli(), ["backup", "--to", str(tmp_path / "b"), "--journal", f"sqlite:///{db}"],
                             env=s3_env(s3, creds, key_file))
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    name = out["file"]
    assert name.endswith(".sqlite.enc") and out["encryption"] == "aes-256-gcm-chunked-v1"
    assert out["s3"] == [f"backups/ns/bot-1/{name}", f"backups/ns/bot-1/{name}.json"]
    local = tmp_path / "b" / name
    uploaded = s3.objects[f"/backups/ns/bot-1/{name}"]
    assert uploaded == local.read_bytes()
    # Neither copy is readable: no SQLite header, no order id of the journal in the bytes.
    assert not uploaded.startswith(b"SQLite format 3") and b"o-7" not in uploaded and b"t-12" not in uploaded
    assert not list(tmp_path.joinpath("b").glob("*.sqlite"))  # no plaintext left beside it
    manifest = json.loads(s3.objects[f"/backups/ns/bot-1/{name}.json"])
    assert manifest["sha256"] == sha256_file(local) and manifest["tables"]["fills"] == 25
    assert all(a.startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/") for a in s3.auth)
    assert "very-secret-key-123" not in res.output and KEY not in res.output

    # Restore from the uploaded copy into a fresh journal, with the key.
    got = tmp_path / "restore"
    got.mkdir()
    (got / name).write_bytes(uploaded)
    (got / (name + ".json")).write_bytes(s3.objects[f"/backups/ns/bot-1/{name}.json"])
    target = tmp_path / "new" / "journal.sqlite"
    SqliteJournal(target).close()
    res = CliRunner().invoke(cli(), ["restore", "--from", str(got / name), "--journal", f"sqlite:///{target}",
                                     "--key-file", str(key_file)])
    assert res.exit_code == 0, res.output
    with contextlib.closing(sqlite3.connect(target)) as con:
        assert con.execute("SELECT COUNT(*) FROM fills").fetchone()[0] == 25
    assert not [p for p in target.parent.rglob("*") if p.name.startswith(".restore-")]  # plaintext scratch gone


def test_restore_with_a_wrong_or_missing_key_says_which_key(s3: FakeS3, tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    SqliteJournal(db).close()
    creds, key_file = secret_files(tmp_path)
    res = CliRunner().invoke(cli(), ["backup", "--to", str(tmp_path / "b"), "--journal", f"sqlite:///{db}"],
                             env=s3_env(s3, creds, key_file))
    assert res.exit_code == 0, res.output
    backup_file = tmp_path / "b" / json.loads(res.output.strip().splitlines()[-1])["file"]
    target = f"sqlite:///{tmp_path / 'other.sqlite'}"
    wrong = tmp_path / "wrong.key"
    wrong.write_text(base64.b64encode(os.urandom(32)).decode())
    res = CliRunner().invoke(cli(), ["restore", "--from", str(backup_file), "--journal", target, "--key-file",
                                     str(wrong)])
    assert res.exit_code == 1 and "encrypted with another key" in res.output
    assert "BACKUP_ENCRYPTION_KEY" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(cli(), ["restore", "--from", str(backup_file), "--journal", target],
                             env={"BOTFLEET_BACKUP_ENCRYPTION_KEY_FILE": None})
    assert res.exit_code == 1 and "is encrypted: give its key" in res.output
    raw = bytearray(backup_file.read_bytes())
    raw[100] ^= 1
    backup_file.write_bytes(bytes(raw))
    res = CliRunner().invoke(cli(), ["restore", "--from", str(backup_file), "--journal", target, "--key-file",
                                     str(key_file), "--no-verify"])
    assert res.exit_code == 1 and "failed authentication" in res.output and "Traceback" not in res.output


def test_plain_http_endpoint_is_refused(s3: FakeS3, tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    SqliteJournal(db).close()
    creds, key_file = secret_files(tmp_path)
    res = CliRunner().invoke(cli(), ["backup", "--to", str(tmp_path / "b"), "--journal", f"sqlite:///{db}"],
                             env=s3_env(s3, creds, key_file, scheme="http"))
    assert res.exit_code == 2 and "must be an https:// URL" in res.output
    assert not s3.objects and not (tmp_path / "b").exists()


def test_s3_copy_without_an_encryption_key_is_refused(s3: FakeS3, tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    SqliteJournal(db).close()
    creds, _ = secret_files(tmp_path)
    res = CliRunner().invoke(cli(), ["backup", "--to", str(tmp_path / "b"), "--journal", f"sqlite:///{db}"],
                             env=s3_env(s3, creds, None))
    assert res.exit_code == 2 and "needs an encryption key" in res.output and not s3.objects


def test_an_untrusted_certificate_is_refused(s3: FakeS3, tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    SqliteJournal(db).close()
    creds, key_file = secret_files(tmp_path)
    env = s3_env(s3, creds, key_file)
    env["SSL_CERT_FILE"] = None  # public CAs only: the throwaway CA is not among them
    res = CliRunner().invoke(cli(), ["backup", "--to", str(tmp_path / "b"), "--journal", f"sqlite:///{db}"], env=env)
    assert res.exit_code == 1 and "S3 copy" in res.output and not s3.objects


def test_incomplete_s3_settings_are_a_usage_error(tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    SqliteJournal(db).close()
    res = CliRunner().invoke(cli(), ["backup", "--to", str(tmp_path / "b"), "--journal", f"sqlite:///{db}"],
                             env={"BOTFLEET_BACKUP_S3_BUCKET": "backups", "BOTFLEET_BACKUP_S3_ENDPOINT": "https://x",
                                  "AWS_ACCESS_KEY_ID": None, "BOTFLEET_BACKUP_S3_CREDENTIALS_DIR": None})
    assert res.exit_code == 2 and "AWS_ACCESS_KEY_ID" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(cli(), ["backup", "--to", str(tmp_path / "b"), "--journal", f"sqlite:///{db}"],
                             env={"BOTFLEET_BACKUP_S3_BUCKET": "backups", "BOTFLEET_BACKUP_S3_ENDPOINT": "https://x",
                                  "BOTFLEET_BACKUP_S3_CREDENTIALS_DIR": str(empty)})
    assert res.exit_code == 2 and "AWS_ACCESS_KEY_ID" in res.output and "spec.backup.s3.secretRef" in res.output
