"""The container image, built for real without Docker: debootstrap base -> buildah bud -> buildah run.

Slow (minutes cold, well under one cached): the base root filesystem and buildah's storage are kept
under .cache/image/ (tools/botfleet_tools/devcluster/image.py). Needs root, debootstrap and buildah; skipped with the
reason otherwise. Times are printed, not asserted (benchmarks/ holds performance checks).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot_runtime.contract.config import Endpoints
from tests.support import image

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

TAG = "localhost/botfleet:image-test"


@pytest.fixture(scope="module")
def built() -> Iterator[tuple[image.Buildah, str]]:
    missing = image.missing_requirements()
    if missing:
        pytest.skip("image build needs " + "; ".join(missing))
    buildah = image.Buildah()
    t0 = time.monotonic()
    base = image.ensure_base_image(buildah)
    t1 = time.monotonic()
    image.build_image(buildah, base, TAG)
    t2 = time.monotonic()
    print(f"\nimage: base {t1 - t0:.1f}s, buildah bud {t2 - t1:.1f}s", file=sys.stderr)
    yield buildah, TAG
    image.prune(buildah)


@pytest.fixture(scope="module")
def ctr(built: tuple[image.Buildah, str]) -> Iterator[image.Container]:
    with image.container(*built) as c:
        yield c


def test_image_metadata(built: tuple[image.Buildah, str]) -> None:
    buildah, tag = built
    cfg = json.loads(buildah("inspect", "--type", "image", tag))["OCIv1"]["config"]
    assert cfg["User"] == "65532:65532"
    assert cfg["Entrypoint"] == ["botfleet"]
    assert cfg["Cmd"] == ["--help"]
    env = dict(e.split("=", 1) for e in cfg["Env"])
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].startswith("/opt/botfleet/bin:")
    labels = cfg["Labels"]
    for key in ("title", "version", "revision", "source", "licenses", "created"):
        assert f"org.opencontainers.image.{key}" in labels
    # Build-time pip settings (proxy CA, index) stay in the builder stage.
    assert not any(k.startswith("PIP_") for k in env)


def test_version_runs_as_non_root(ctr: image.Container) -> None:
    from bot_runtime import __version__

    assert ctr.run("botfleet", "--version").strip() == f"botfleet {__version__}"
    assert ctr.run("id", "-u").strip() == "65532"
    # A named user: kopf (the operator) calls getpass.getuser(), a KeyError for a nameless uid.
    assert ctr.run("python3", "-c", "import getpass; print(getpass.getuser())").strip() == "botfleet"


def test_nothing_outside_data_and_tmp_is_writable(ctr: image.Container) -> None:
    """The pod runs with readOnlyRootFilesystem: nothing in the image may need to write elsewhere."""
    script = ("import os, sys\n"
              "bad = [d for d in ('/', '/opt/botfleet', '/opt/botfleet/lib', '/etc', '/usr') if os.access(d, os.W_OK)]\n"
              "bad += [] if os.access('/data', os.W_OK) else ['/data is not writable']\n"
              "missing = [m for m in ('bot_runtime', 'botfleet_operator') if not __import__(m).__file__]\n"
              "print(','.join(bad + missing) or 'ok')\n")
    assert ctr.run("python3", "-c", script).strip() == "ok"


def test_no_installer_in_the_runtime_venv(ctr: image.Container) -> None:
    """pip, setuptools and wheel were removed from the virtualenv: nothing can be installed in a pod."""
    script = ("import importlib.util as u, pathlib\n"
              "found = [m for m in ('pip', 'setuptools', 'wheel') if u.find_spec(m)]\n"
              "found += [p.name for p in pathlib.Path('/opt/botfleet/bin').glob('pip*')]\n"
              "print(','.join(found) or 'none')\n")
    assert ctr.run("/opt/botfleet/bin/python", "-c", script).strip() == "none"


def test_bytecode_is_precompiled(ctr: image.Container) -> None:
    """With a read-only root and PYTHONDONTWRITEBYTECODE, .pyc files must come with the image."""
    script = ("import pathlib, bot_runtime\n"
              "root = pathlib.Path(bot_runtime.__file__).parent\n"
              "print(len(list(root.rglob('__pycache__/*.pyc'))) > 0)\n")
    assert ctr.run("python3", "-c", script).strip() == "True"


def test_image_has_the_bot_and_operator_commands_only(ctr: image.Container) -> None:
    """The image ships bot_runtime and botfleet_operator; the developer tools (botfleet_tools) stay out,
    and their commands are hidden rather than broken."""
    help_text = ctr.run("botfleet", "--help")
    for command in ("run", "backup", "restore", "kill-switch", "rotate-credentials", "operator", "crd"):
        assert f" {command} " in help_text, help_text
    for command in ("sim", "demo", "record", "backtest", "dev"):
        assert f" {command} " not in help_text, help_text
    assert ctr.run("python3", "-c", "import importlib.util as u; print(u.find_spec('botfleet_tools'))").strip() == "None"


def test_short_paper_run(ctr: image.Container, tmp_path: Path) -> None:
    """A bot trades in paper mode inside the image: `botfleet run` against the simulated exchange,
    which runs on the host (the image has no simulator); chroot isolation shares the host's network."""
    sim_port, metrics_port = free_port(), free_port()
    sim_log = (tmp_path / "sim.log").open("w")
    sim = subprocess.Popen([sys.executable, "-m", "bot_runtime.cli", "sim", "--port", str(sim_port),
                            "--scenario", "demo"], stdout=sim_log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{sim_port}"
    config = {"name": "image-paper", "namespace": "test", "strategy": "arbhunter", "mode": "paper",
              "endpoints": Endpoints.for_sim(url).model_dump(mode="json"),
              "journal": {"url": "sqlite:////tmp/journal.sqlite"}, "telemetry": {"port": metrics_port}}
    script = 'printf %s "$1" > /tmp/config.json && exec timeout 300 botfleet run --config /tmp/config.json'
    bot_log = (tmp_path / "bot.log").open("w")
    bot = None
    try:
        assert wait_for(lambda: sim_up(url), 60), "simulator did not start"
        # Its own session: `buildah run` does not pass our signals on to the bot inside, so the whole
        # session is stopped at the end (a leaked bot kept running after the test before).
        bot = subprocess.Popen(ctr.command("sh", "-c", script, "sh", json.dumps(config)), stdout=bot_log,
                               stderr=subprocess.STDOUT, env=ctr.buildah.env(), start_new_session=True)
        # The bot's own log says it sent orders (the simulator's books also hold its market makers' orders).
        traded = wait_for(lambda: bot.poll() is None and _sent_orders(tmp_path / "bot.log"), 240)
        assert traded, (tmp_path / "bot.log").read_text()[-3000:]
        assert "BOT STARTING" in (tmp_path / "bot.log").read_text()
    finally:
        if bot is not None:
            _stop_group(bot)
        if sim.poll() is None:
            sim.terminate()
            try:
                sim.wait(timeout=60)
            except subprocess.TimeoutExpired:
                sim.kill()
        sim_log.close()
        bot_log.close()


def _session_pids(sid: int) -> list[int]:
    """Every process of a session (`timeout` inside the container moves the bot to a process group of
    its own, but not out of the session our Popen started)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:  # field 6 of /proc/PID/stat: the session id
                pids.append(int(stat.parent.name))
    return pids


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole session (the bot cancels and exits), SIGKILL to whatever is left."""
    for sig, wait_s in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        for pid in _session_pids(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while _session_pids(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _session_pids(proc.pid):
            break
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sim_up(url: str) -> bool:
    """The trading port answers (its `/_sim/*` admin endpoints live on another, token-protected port)."""
    try:
        with urllib.request.urlopen(f"{url}/ok", timeout=5) as resp:  # loopback simulator
            return int(resp.status) == 200
    except OSError:
        return False


def _sent_orders(log: Path) -> bool:
    text = log.read_text()
    return "ORDERS SENT" in text or "EXECUTED" in text


def wait_for(condition: Callable[[], bool], limit_s: float) -> bool:
    """Poll a condition with a generous limit (no fixed sleeps in assertions)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return condition()
