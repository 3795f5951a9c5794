"""The container image, built for real without Docker: debootstrap base -> buildah bud -> buildah run.

Slow (minutes cold, well under one cached): the base root filesystem and buildah's storage are kept
under .cache/image/ (tests/support/image.py). Needs root, debootstrap and buildah; skipped with the
reason otherwise. Times are printed, not asserted (benchmarks/ holds performance checks).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator

import pytest

from tests.support import image
from tests.support.prometheus import DEMO_FALLBACK

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


def test_nothing_outside_data_and_tmp_is_writable(ctr: image.Container) -> None:
    """The pod runs with readOnlyRootFilesystem: nothing in the image may need to write elsewhere."""
    script = ("import os, sys\n"
              "bad = [d for d in ('/', '/opt/botfleet', '/opt/botfleet/lib', '/etc', '/usr') if os.access(d, os.W_OK)]\n"
              "bad += [] if os.access('/data', os.W_OK) else ['/data is not writable']\n"
              "missing = [m for m in ('bot_runtime', 'botfleet_operator') if not __import__(m).__file__]\n"
              "print(','.join(bad + missing) or 'ok')\n")
    assert ctr.run("python3", "-c", script).strip() == "ok"


def test_bytecode_is_precompiled(ctr: image.Container) -> None:
    """With a read-only root and PYTHONDONTWRITEBYTECODE, .pyc files must come with the image."""
    script = ("import pathlib, bot_runtime\n"
              "root = pathlib.Path(bot_runtime.__file__).parent\n"
              "print(len(list(root.rglob('__pycache__/*.pyc'))) > 0)\n")
    assert ctr.run("python3", "-c", script).strip() == "True"


def test_short_paper_run(ctr: image.Container) -> None:
    """A bot trades in paper mode inside the image: `botfleet demo` (simulated exchange in-process)."""
    args = ["--duration", "5", "--no-ui", "--metrics-port", "0"]
    if "demo" in ctr.run("botfleet", "--help"):
        out = ctr.run("botfleet", "demo", *args, timeout=300)
    else:  # the demo exists but is not mounted in the CLI yet: run its command function
        out = ctr.run("python3", "-c", DEMO_FALLBACK, *args, timeout=300)
    assert "summary:" in out, out
    for strategy in ("arbhunter", "polyai", "elitemimic"):
        assert f"demo-{strategy}" in out, out
