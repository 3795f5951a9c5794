"""memdump: off unless asked for; on SIGUSR2 it writes where the memory is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import os, signal, time
from botfleet_operator import memdump
memdump.install()
os.kill(os.getpid(), signal.SIGUSR2)
time.sleep(0.6)
"""


def test_a_signal_writes_mappings_allocator_statistics_and_objects(tmp_path: Path) -> None:
    env = {**os.environ, "BOTFLEET_MEMORY_DUMP": str(tmp_path / "op")}
    env.pop("PYTHONTRACEMALLOC", None)
    subprocess.run([sys.executable, "-c", SCRIPT], env=env, check=True, timeout=60)
    dumps = [p for p in tmp_path.iterdir() if p.name != "op.samples"]
    assert len(dumps) == 1
    text = dumps[0].read_text()
    assert "[heap]" in text and "arenas allocated current" in text
    assert "types: [('" in text and "dict shapes:" in text
    samples = (tmp_path / "op.samples").read_text().splitlines()
    assert samples and all(len(line.split()) == 3 for line in samples)


def test_nothing_is_installed_without_the_environment(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BOTFLEET_MEMORY_DUMP", "PYTHONTRACEMALLOC")}
    # SIGUSR2's default action ends the process: the handler is not there.
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, timeout=60, cwd=tmp_path)
    assert result.returncode == -signal.SIGUSR2
    assert list(tmp_path.iterdir()) == []
