"""What a crash or an error prints, checked on the real `botfleet` command (a subprocess of the
installed console script): each test plants a recognisable secret, drives the command to its error,
and searches every output (stdout, stderr, files it wrote) for the secret, plain and base64.

Attempts (docs/security.md#threat-model): the S3 secret key in an uncaught backup crash (a real
one, and one whose exception quotes the key), the RPC provider key in the path of the Polygon RPC
URL of a running bot, the wallet key and the credentials of a failing rotation."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bot_runtime.contract.config import Endpoints
from tests.integration.runtime.test_run_sigterm import free_port, write_secret

BOTFLEET = str(Path(sys.executable).with_name("botfleet"))
S3_SECRET = "S3secretKEYplanted0123456789abcdefXYZ"
RPC_KEY = "alchemyKEYplanted0123456789AbCdEf"
# Test-only wallet key (never used anywhere real); 0x+64 hex like a real one.
PRIVATE_KEY = "0x" + "5c" * 32


def _forms(secret: str) -> list[str]:
    raw = secret.encode()
    return [secret, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")]


def _leaks(secrets: list[str], texts: list[str], *outputs: Path) -> list[str]:
    """Every (form of a) secret found in the texts or in any file under the output folders (not the
    test's inputs: the Secret volume and config it wrote)."""
    corpus = list(texts)
    for folder in outputs:
        corpus += [p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file()]
    return [f for s in secrets for f in _forms(s) if any(f in t for t in corpus)]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BOTFLEET_", "CLOB_", "PRIVATE_KEY", "AWS_", "POLYGON_"))}
    return {**env, **extra}


def _journal(tmp: Path) -> str:
    import sqlite3

    path = tmp / "journal.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("create table t(x)")
    return f"sqlite:///{path}"


def _backup(tmp: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    out = tmp / "out"
    return subprocess.run([BOTFLEET, "backup", "--to", str(out), "--journal", _journal(tmp)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


BACKUP_KEY = "q0Ik0gXb7Ck1m3f8gYd9wQ5p2Jr6tLs4vNz8xHa1cEo="  # planted: 32 bytes in base64


def _s3_env(endpoint: str, tmp: Path, files: bool = False, **extra: str) -> dict[str, str]:
    """By hand (keys in the environment) or as the operator runs it (keys and encryption key in files)."""
    (tmp / "backup-key").write_text(BACKUP_KEY)
    keys = {"AWS_ACCESS_KEY_ID": "AKIAPLANTED", "AWS_SECRET_ACCESS_KEY": S3_SECRET}
    if files:
        (tmp / "s3").mkdir()
        for k, v in keys.items():
            (tmp / "s3" / k).write_text(v)
        keys = {"BOTFLEET_BACKUP_S3_CREDENTIALS_DIR": str(tmp / "s3")}
    return _clean_env(BOTFLEET_BACKUP_S3_ENDPOINT=endpoint, BOTFLEET_BACKUP_S3_BUCKET="bots-backup",
                      BOTFLEET_BACKUP_ENCRYPTION_KEY_FILE=str(tmp / "backup-key"), **keys, **extra)


def test_backup_crash_prints_no_s3_secret(tmp_path: Path) -> None:
    """An invalid S3 endpoint port makes the S3 client's constructor raise outside any handler:
    the traceback is printed, without local variables (the S3 target with its secret key)."""
    proc = _backup(tmp_path, _s3_env("https://s3.example.com:99999", tmp_path))
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" in proc.stderr and "ValueError" in proc.stderr, proc.stderr[-2000:]
    assert "secret_key=" not in proc.stderr.replace("secret_key=target.secret_key", "")  # no locals
    assert _leaks([S3_SECRET, BACKUP_KEY], [proc.stdout, proc.stderr], tmp_path / "out") == []


@pytest.mark.parametrize("files", [False, True], ids=["keys-in-env", "keys-in-files"])
def test_a_dependency_quoting_the_secret_in_its_crash_is_scrubbed(tmp_path: Path, files: bool) -> None:
    """The worst case of a library: its exception message carries the secret it was given. The
    fault is injected into the real command (a sitecustomize that replaces the S3 client)."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent("""
        import minio

        class Leaky:
            def __init__(self, endpoint, access_key=None, secret_key=None, **kw):
                raise RuntimeError(f"cannot sign for {access_key}:{secret_key} at {endpoint}")

        minio.Minio = Leaky
    """))
    env = _s3_env("https://s3.example.com", tmp_path, files, PYTHONPATH=str(hook))
    proc = _backup(tmp_path, env)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "RuntimeError: cannot sign for AKIAPLANTED:[REDACTED]" in proc.stderr, proc.stderr[-2000:]
    assert _leaks([S3_SECRET, BACKUP_KEY], [proc.stdout, proc.stderr], tmp_path / "out") == []


def test_rotation_failure_prints_no_key_and_logs_through_the_redactor(tmp_path: Path) -> None:
    """Rotation against an unreachable API server and CLOB: one JSON error line; the client
    libraries' warnings (urllib3 retries) go through the same redacting JSON logger as the bot's."""
    wallet = tmp_path / "wallet"
    write_secret(wallet, {"PRIVATE_KEY": PRIVATE_KEY})
    dead = free_port()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": f"http://127.0.0.1:{dead}"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "planted-bearer-token-0123456789"}}]}))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"name": "rot", "strategy": "arbhunter",
                                  "endpoints": Endpoints.for_sim(f"http://127.0.0.1:{dead}").model_dump()}))
    proc = subprocess.run([BOTFLEET, "rotate-credentials", "--secret", "creds", "--namespace", "trading",
                           "--config", str(config), "--wallet-dir", str(wallet), "--kubeconfig", str(kubeconfig)],
                          env=_clean_env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("{") for ln in lines), "every stderr line is a JSON log line:\n" + proc.stderr
    assert json.loads(lines[-1])["event"] == "rotation_failed"
    assert _leaks([PRIVATE_KEY, PRIVATE_KEY[2:], "planted-bearer-token-0123456789"],
                  [proc.stdout, proc.stderr]) == []


async def test_rpc_errors_do_not_print_the_key_in_the_url_path(start_sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """EliteMimic's chain source polls an RPC URL of the Alchemy/Infura shape (key in the path)
    that refuses connections; urllib3's error names the path alone, which the redactor only knew
    as part of the whole URL."""
    sim = await start_sim(seed=1, scenario="static", speed=1.0)
    try:
        rpc_url = f"http://127.0.0.1:{free_port()}/v2/{RPC_KEY}"
        secrets = tmp_path / "secrets"
        write_secret(secrets / "credentials", {"POLYGON_RPC_URL": rpc_url})
        config = {"name": "mimic", "strategy": "elitemimic", "mode": "paper",
                  "endpoints": Endpoints.for_sim(sim.url).model_dump(),
                  "params": {"source": "chain", "wallets": ["0x" + "11" * 20]},
                  "journal": {"url": f"sqlite:///{tmp_path / 'data' / 'journal.sqlite'}"},
                  "telemetry": {"port": free_port(), "logLevel": "debug"}, "credentialsDir": str(secrets)}
        (tmp_path / "config.json").write_text(json.dumps(config))
        out_path, err_path = tmp_path / "stdout.log", tmp_path / "stderr.log"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(BOTFLEET, "run", "--config", str(tmp_path / "config.json"),
                                                        env=_clean_env(), stdout=out, stderr=err)
            try:
                deadline = time.monotonic() + 120
                while "OrderFilled poll failed" not in out_path.read_text() and time.monotonic() < deadline:
                    assert proc.returncode is None, err_path.read_text()[-2000:]
                    await asyncio.sleep(0.5)
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), 60)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        text = out_path.read_text()
        failures = [ln for ln in text.splitlines() if "OrderFilled poll failed" in ln]
        assert failures, "the RPC error was never logged:\n" + text[-3000:]
        assert "Max retries exceeded with url: [REDACTED]" in failures[0], failures[0]
        assert _leaks([RPC_KEY, rpc_url], [out_path.read_text(), err_path.read_text()], tmp_path / "data") == []
    finally:
        await sim.stop()


@pytest.mark.parametrize("command", ["run", "backup", "restore", "kill-switch", "trades", "rotate-credentials",
                                     "operator", "crd", "sim", "demo", "record", "backtest", "dev", "fleet"])
def test_no_command_shows_locals_in_tracebacks(command: str) -> None:
    """typer before 0.19 printed every frame's local variables in a crash by default."""
    from bot_runtime.cli import app
    from bot_runtime.commands import _load, available

    assert app.pretty_exceptions_show_locals is False
    ep = available().get(command)
    if ep is None:
        pytest.skip(f"{command}: package not installed")
    _load(command, ep)
    obj = ep.load()
    if hasattr(obj, "pretty_exceptions_show_locals"):
        assert obj.pretty_exceptions_show_locals is False
