"""`botfleet backup` and `botfleet restore`: snapshots of the embedded SQLite order journal.

The backup CronJob runs `botfleet backup --to /backups --retain N` next to a trading bot. SQLite's
online backup API copies a consistent snapshot while the bot keeps writing (it restarts the copy
if a page changes under it), so no trade is half-recorded in a backup. Each snapshot is named with
a UTC timestamp and has a manifest (`<file>.json`: sha256, size, row counts) that `restore`
verifies before touching anything.

`botfleet restore --from FILE` refuses to replace the journal of a running bot (the bot holds an
exclusive lock on `<journal>.lock` while it runs) unless `--force`; the replaced journal is kept as
`<journal>.pre-restore-<timestamp>`.

With a key (`BOTFLEET_BACKUP_ENCRYPTION_KEY_FILE`, from spec.backup.encryption; required for an S3
copy) every snapshot is encrypted before it is written (`<name>.enc`, AES-256-GCM: backup_crypto.py);
`restore` decrypts it with the same key (`--key-file`), and a wrong key or an altered file is refused
with a message, not a traceback. The manifest's checksum is that of the encrypted file.

The S3 copy goes to https endpoints only; its keys are read from files (`BOTFLEET_BACKUP_S3_CREDENTIALS_DIR`,
the Secret mounted by the operator), or from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` when run by hand.

Both journal backends are handled through the journal's own `backup_to` / `restore_from`
(bot_runtime/execution/journal.py): SQLite gives a `.sqlite` file, PostgreSQL/Supabase a logical
`.json.gz` dump taken in one REPEATABLE READ snapshot. For PostgreSQL, a running bot is detected by
its heartbeat in the journal (`runtime.heartbeat`, written every few seconds).

Exit codes: 0 ok; 1 the backup/restore failed (I/O, checksum mismatch, corrupt file, bot running);
2 bad arguments or configuration.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from bot_runtime import backup_crypto
from bot_runtime.backup_crypto import CryptoError
from bot_runtime.execution.journal import Journal, JournalError, open_journal, redact_url
from bot_runtime.execution.journal_lock import (
    HEARTBEAT_FRESH_S,
    HEARTBEAT_KEY,
    JournalLocked,
    JournalUrlError,
    heartbeat_fresh,
    journal_in_use,
    sqlite_path,
)
from bot_runtime.telemetry.logs import register_secret

PREFIX = "journal-"
PLAIN_SUFFIXES = (".sqlite", ".json.gz")
SUFFIXES = (*PLAIN_SUFFIXES, *(s + backup_crypto.SUFFIX for s in PLAIN_SUFFIXES))
_STAMP_RE = re.compile(r"^journal-(?:(?P<bot>.+)-)?(?P<stamp>\d{8}T\d{6}\d*Z)(?:\.sqlite|\.json\.gz)(?:\.enc)?$")


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why and what to do."""


class UsageError(ValueError):
    """Bad arguments (exit code 2); so is a bad journal URL (JournalUrlError)."""


@dataclass(frozen=True)
class Manifest:
    file: str
    sha256: str
    bytes: int
    created: str          # RFC 3339 UTC
    source: str           # the journal path that was copied
    bot: str
    tables: dict[str, int]  # row counts, to eyeball what a backup holds
    encryption: str = ""    # "" or backup_crypto.ALGORITHM
    key_id: str = ""        # which key encrypted it (backup_crypto.key_id; reveals nothing of the key)

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)


# -- pure helpers ---------------------------------------------------------------------
def backup_name(bot: str, now: datetime, suffix: str) -> str:
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", bot) if bot else ""
    return f"{PREFIX}{safe + '-' if safe else ''}{stamp}{suffix}"


def backup_stamp(name: str) -> str | None:
    m = _STAMP_RE.match(name)
    return m.group("stamp") if m else None


def to_prune(names: list[str], retain: int) -> list[str]:
    """Backups beyond the newest `retain` (by the timestamp in the name), oldest first."""
    dated = sorted((s, n) for n in names if (s := backup_stamp(n)))
    return [n for _, n in dated[: max(0, len(dated) - retain)]]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def table_counts(backup_file: Path) -> dict[str, int]:
    """Rows per table of a backup of either format."""
    if backup_file.name.endswith(".json.gz"):
        with gzip.open(backup_file, "rt") as fh:
            doc = json.load(fh)
        return {t: len(rows) for t, rows in sorted(doc.get("tables", {}).items())}
    con = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {n: int(con.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0]) for n in names}
    finally:
        con.close()


def check_integrity(backup_file: Path) -> None:
    try:
        if backup_file.name.endswith(".json.gz"):
            with gzip.open(backup_file, "rt") as fh:
                doc = json.load(fh)
            if doc.get("format") != "botfleet-journal" or not isinstance(doc.get("tables"), dict):
                raise BackupError(f"{backup_file} is not a botfleet journal dump")
            return
        con = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
        try:
            result = con.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            con.close()
    except (sqlite3.DatabaseError, OSError, ValueError) as exc:
        raise BackupError(f"{backup_file} is not a usable journal backup: {exc}") from None
    if result != "ok":
        raise BackupError(f"{backup_file} failed its integrity check: {result}")


def _open(url: str) -> Journal:
    try:
        return open_journal(url)
    except JournalError as exc:
        raise BackupError(str(exc)) from None


# -- commands' bodies -----------------------------------------------------------------
def backup(url: str, dest_dir: Path, bot: str = "", retain: int | None = None,
           now: datetime | None = None, key: bytes | None = None) -> Manifest:
    """Snapshot the journal into dest_dir (encrypted with `key` when given); returns its manifest."""
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        raise BackupError(f"journal {path} does not exist: nothing to back up (is the volume mounted?)")
    dest_dir.mkdir(parents=True, exist_ok=True)
    # A staging folder left by a killed run (it may hold a plaintext snapshot): runs never overlap
    # (the CronJob's concurrencyPolicy is Forbid), an hour-old one is nobody's.
    for stale in dest_dir.glob(".backup-*"):
        with contextlib.suppress(OSError):
            if stale.is_dir() and time.time() - stale.stat().st_mtime > 3600:
                shutil.rmtree(stale, ignore_errors=True)
    journal = _open(url)
    staging = Path(tempfile.mkdtemp(prefix=".backup-", dir=dest_dir))
    try:
        produced = journal.backup_to(staging)
        check_integrity(produced)
        tables = table_counts(produced)
        suffix = next((sfx for sfx in PLAIN_SUFFIXES if produced.name.endswith(sfx)), produced.suffix)
        name = backup_name(bot, now or datetime.now(UTC), suffix)
        if key is not None:  # the plaintext stays in the staging folder, removed below
            sealed = staging / (name + backup_crypto.SUFFIX)
            backup_crypto.encrypt_file(produced, sealed, key)
            produced, name = sealed, sealed.name
        final = dest_dir / name
        os.replace(produced, final)
    finally:
        journal.close()
        shutil.rmtree(staging, ignore_errors=True)
    source = str(path) if path is not None else redact_url(url)
    manifest = Manifest(file=name, sha256=sha256_file(final), bytes=final.stat().st_size,
                        created=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                        source=source, bot=bot, tables=tables,
                        encryption=backup_crypto.ALGORITHM if key is not None else "",
                        key_id=backup_crypto.key_id(key).hex() if key is not None else "")
    manifest.write(dest_dir / (name + ".json"))
    if retain is not None:
        names = [p.name for p in dest_dir.iterdir() if p.name.endswith(SUFFIXES)]
        for old in to_prune(names, retain):
            (dest_dir / old).unlink(missing_ok=True)
            (dest_dir / (old + ".json")).unlink(missing_ok=True)
    return manifest


def read_manifest(backup_file: Path) -> Manifest:
    path = backup_file.with_name(backup_file.name + ".json")
    try:
        data = json.loads(path.read_text())
        return Manifest(**data)
    except FileNotFoundError:
        raise BackupError(f"manifest {path} is missing: cannot verify the backup (pass --no-verify to "
                          "restore anyway)") from None
    except (ValueError, TypeError) as exc:
        raise BackupError(f"manifest {path} is unreadable: {exc}") from None


def verify(backup_file: Path) -> Manifest:
    if not backup_file.is_file():
        raise BackupError(f"backup {backup_file} does not exist")
    manifest = read_manifest(backup_file)
    actual = sha256_file(backup_file)
    if actual != manifest.sha256:
        raise BackupError(f"checksum mismatch for {backup_file}: manifest says {manifest.sha256}, file has "
                          f"{actual}; the backup is damaged, pick another one")
    return manifest


def restore(backup_file: Path, url: str, force: bool = False, check_sum: bool = True,
            key: bytes | None = None) -> Path | None:
    """Replace the journal at `url` with the backup (decrypted with `key` if it is encrypted); returns
    where the previous SQLite journal was kept."""
    if check_sum:
        verify(backup_file)
    elif not backup_file.is_file():
        raise BackupError(f"backup {backup_file} does not exist")
    if not backup_crypto.is_encrypted(backup_file):
        return _restore_plain(backup_file, url, force)
    if key is None:
        raise BackupError(f"{backup_file} is encrypted: give its key with --key-file or "
                          f"{backup_crypto.KEY_FILE_ENV} (the {backup_crypto.KEY_NAME} of the Secret named in "
                          "spec.backup.encryption.secretRef)")
    path = sqlite_path(url)
    # The plaintext goes next to the journal (same volume, room for it), never beside the backups.
    scratch = Path(tempfile.mkdtemp(prefix=".restore-", dir=path.parent if path is not None else None))
    try:
        plain = scratch / backup_file.name.removesuffix(backup_crypto.SUFFIX)
        try:
            backup_crypto.decrypt_file(backup_file, plain, key)
        except CryptoError as exc:
            raise BackupError(str(exc)) from None
        return _restore_plain(plain, url, force)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _restore_plain(backup_file: Path, url: str, force: bool) -> Path | None:
    check_integrity(backup_file)
    path = sqlite_path(url)
    if path is not None and not force and journal_in_use(path):
        raise BackupError(f"journal {path} belongs to a running bot: stop it first (pause it or scale it "
                          "to 0) or pass --force to restore under it, then restart it")
    journal = _open(url)
    try:
        if path is None and not force and heartbeat_fresh(journal.kv_get(HEARTBEAT_KEY), int(time.time() * 1000)):
            raise BackupError("the journal database has a live bot (heartbeat less than "
                              f"{HEARTBEAT_FRESH_S:.0f}s old): stop it first or pass --force")
        kept: Path | None = None
        if path is not None and path.stat().st_size > 0:
            kept = journal.backup_to(path.parent / "pre-restore")
        # one transaction: a reader sees the old or the new journal, never a mix
        journal.restore_from(backup_file)
    except JournalError as exc:
        raise BackupError(str(exc)) from None
    finally:
        journal.close()
    return kept


# -- optional S3-compatible copy (spec.backup.s3; env rendered by the operator) ---------------
S3_ENV = ("BOTFLEET_BACKUP_S3_ENDPOINT", "BOTFLEET_BACKUP_S3_BUCKET")


@dataclass(frozen=True)
class S3Target:
    endpoint: str           # https://s3.eu-west-1.amazonaws.com, http://minio:9000
    bucket: str
    prefix: str
    access_key: str
    secret_key: str = field(repr=False)  # never in a repr: tracebacks, debug logs
    region: str = "us-east-1"

    @classmethod
    def from_env(cls, env: dict[str, str]) -> S3Target | None:
        """None when no S3 copy is configured; UsageError naming the missing variable otherwise.

        The keys come from files in BOTFLEET_BACKUP_S3_CREDENTIALS_DIR (the operator mounts the S3
        Secret there) or, run by hand, from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."""
        if not any(env.get(k) for k in S3_ENV):
            return None
        for k in S3_ENV:
            if not env.get(k):
                raise UsageError(f"S3 backup copy configured but {k} is empty (spec.backup.s3)")
        endpoint = env["BOTFLEET_BACKUP_S3_ENDPOINT"]
        if not endpoint.lower().startswith("https://"):
            raise UsageError(f"BOTFLEET_BACKUP_S3_ENDPOINT must be an https:// URL, got {endpoint!r}: backups "
                             "hold every signed order and are never sent in clear (a private CA: SSL_CERT_FILE)")
        keys = _s3_keys(env)
        return cls(endpoint, env["BOTFLEET_BACKUP_S3_BUCKET"], env.get("BOTFLEET_BACKUP_S3_PREFIX", ""),
                   keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"],
                   env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1")

    def key(self, name: str) -> str:
        prefix = self.prefix.strip("/")
        return f"{prefix}/{name}" if prefix else name


S3_KEY_NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def _s3_keys(env: dict[str, str]) -> dict[str, str]:
    folder = env.get("BOTFLEET_BACKUP_S3_CREDENTIALS_DIR")
    out: dict[str, str] = {}
    for k in S3_KEY_NAMES:
        if folder:
            try:
                out[k] = (Path(folder) / k).read_text().strip()
            except OSError as exc:
                raise UsageError(f"cannot read {k} in {folder} ({exc.strerror or exc}): the S3 Secret of "
                                 "spec.backup.s3.secretRef needs that key") from None
        else:
            out[k] = env.get(k, "")
        if not out[k]:
            raise UsageError(f"S3 backup copy configured but {k} is empty (the Secret of spec.backup.s3.secretRef)")
    register_secret(out["AWS_SECRET_ACCESS_KEY"])  # read from a file: the crash scrubber would not know it
    return out


def upload_s3(target: S3Target, files: list[Path]) -> list[str]:
    """PUT each file (backup, then manifest) to the bucket; returns the object keys."""
    from urllib.parse import urlsplit

    from minio import Minio
    from minio.error import MinioException
    from urllib3.exceptions import HTTPError as Urllib3Error

    url = urlsplit(target.endpoint)
    if url.scheme != "https":  # from_env refuses it already; a caller of this function too
        raise UsageError(f"S3 endpoint {target.endpoint!r} is not https")
    # minio verifies the server against SSL_CERT_FILE if set, else certifi's public CAs.
    client = Minio(url.netloc, access_key=target.access_key, secret_key=target.secret_key,
                   secure=True, region=target.region)
    keys = []
    try:
        for f in files:
            key = target.key(f.name)
            client.fput_object(target.bucket, key, str(f))
            keys.append(key)
    # Urllib3Error: TLS (an untrusted certificate) and connection errors; ValueError: e.g. an invalid
    # bucket name. The message names the endpoint, bucket and key, never the credentials.
    except (MinioException, Urllib3Error, OSError, ValueError) as exc:
        raise BackupError(f"S3 copy to {url.netloc}/{target.bucket} failed: {type(exc).__name__}: "
                          f"{str(exc)[:500]}") from None
    return keys


# -- typer commands -------------------------------------------------------------------
def _journal_from_args(config: str | None, journal_url: str | None) -> tuple[str, str]:
    """(journal URL, bot name) from --journal or the bot's config."""
    from bot_runtime.contract.config import ConfigError, load_config

    if journal_url:
        sqlite_path(journal_url)  # validates the scheme
        return journal_url, os.environ.get("BOTFLEET_NAME", "")
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if not (config or os.environ.get("BOTFLEET_CONFIG")) and "BOTFLEET_JOURNAL_URL" not in os.environ:
        raise UsageError("say which journal: --config FILE (or BOTFLEET_CONFIG) or --journal sqlite:///PATH")
    sqlite_path(cfg.journal.url)
    return cfg.journal.url, cfg.name


def _key_from(path: Path | None) -> bytes | None:
    """The encryption key from --key-file or BOTFLEET_BACKUP_ENCRYPTION_KEY_FILE; None without either."""
    given = path or (Path(p) if (p := os.environ.get(backup_crypto.KEY_FILE_ENV)) else None)
    if given is None:
        return None
    try:
        key = backup_crypto.read_key_file(given)
    except CryptoError as exc:
        raise UsageError(str(exc)) from None
    for form in (given.read_text().strip(), base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()):
        register_secret(form)
    return key


_KEY_HELP = (f"File holding the base64 {backup_crypto.KEY_NAME} (default: ${backup_crypto.KEY_FILE_ENV}; "
             "the operator mounts spec.backup.encryption.secretRef).")


def backup_command(
    to: Path = typer.Option(..., "--to", help="Directory receiving the snapshot and its manifest."),
    retain: int = typer.Option(0, "--retain", min=0, help="Keep only the newest N backups (0 = keep all)."),
    config: str = typer.Option(None, "--config", help="Bot config.json (default: $BOTFLEET_CONFIG)."),
    journal: str = typer.Option(None, "--journal", help="Journal URL instead of the config's (sqlite:///PATH)."),
    key_file: Path = typer.Option(None, "--key-file", help="Encrypt the backup. " + _KEY_HELP),
) -> None:
    """Snapshot the order journal while the bot trades."""
    try:
        url, bot = _journal_from_args(config, journal)
        s3 = S3Target.from_env(dict(os.environ))
        key = _key_from(key_file)
        if s3 is not None and key is None:
            raise UsageError("an S3 copy needs an encryption key: set spec.backup.encryption (a Secret with "
                             f"{backup_crypto.KEY_NAME}), or --key-file / {backup_crypto.KEY_FILE_ENV} by hand")
        manifest = backup(url, to, bot=bot, retain=retain or None, key=key)
        uploaded = upload_s3(s3, [to / manifest.file, to / (manifest.file + ".json")]) if s3 else []
    except (UsageError, JournalUrlError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except (BackupError, JournalLocked, OSError, sqlite3.Error) as exc:
        typer.echo(f"backup failed: {exc}", err=True)
        raise typer.Exit(1) from None
    out: dict[str, Any] = {"backup": str(to / manifest.file), **asdict(manifest)}
    if uploaded:
        out["s3"] = [f"{s3.bucket}/{k}" for k in uploaded] if s3 else []
    typer.echo(json.dumps(out))


def restore_command(
    from_: Path = typer.Option(..., "--from", help="Backup file written by `botfleet backup`."),
    config: str = typer.Option(None, "--config", help="Bot config.json (default: $BOTFLEET_CONFIG)."),
    journal: str = typer.Option(None, "--journal", help="Journal URL instead of the config's (sqlite:///PATH)."),
    force: bool = typer.Option(False, "--force", help="Restore even though the bot holds the journal."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip the manifest checksum (not recommended)."),
    key_file: Path = typer.Option(None, "--key-file", help="Decrypt an encrypted backup (.enc). " + _KEY_HELP),
) -> None:
    """Replace the journal with a verified backup."""
    try:
        url, _ = _journal_from_args(config, journal)
        kept = restore(from_, url, force=force, check_sum=not no_verify, key=_key_from(key_file))
    except (UsageError, JournalUrlError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except (BackupError, JournalLocked, OSError, sqlite3.Error) as exc:
        typer.echo(f"restore failed: {exc}", err=True)
        raise typer.Exit(1) from None
    out: dict[str, Any] = {"restored": redact_url(url), "from": str(from_)}
    if kept:
        out["previous"] = str(kept)
    typer.echo(json.dumps(out))
