"""The real node's images without a registry: a pause image (a static Go binary on an empty root)
and the botfleet image (our Dockerfile, image.py: debootstrap + buildah), exported to
docker archives that the node imports into containerd's ``k8s.io`` namespace.

Both are cached: the pause image by its source, the botfleet image by a hash of everything the
Dockerfile copies, so an unchanged checkout rebuilds nothing (a changed one rebuilds in minutes).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot_runtime import __version__
from botfleet_tools.devcluster import image
from botfleet_tools.devcluster.binaries import repo_root

PAUSE_REF = "localhost/botfleet-pause:1"
# The operator's default bot image (botfleet_operator.resources): pods find it with IfNotPresent.
BOT_REF = f"docker.io/botfleet/botfleet:{__version__}"
# The sandbox ("pause") process: holds the pod's namespaces until told to stop.
PAUSE_GO = """package main

import (
\t"os"
\t"os/signal"
\t"syscall"
)

func main() {
\tc := make(chan os.Signal, 1)
\tsignal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
\t<-c
}
"""


@dataclass(frozen=True)
class NodeImages:
    pause: str
    bot: str
    archives: list[Path]


def source_hash(root: Path) -> str:
    """Hash of the files the Dockerfile copies (and the Dockerfile): the botfleet image's cache key."""
    h = hashlib.sha256()
    files = [root / "Dockerfile", root / "pyproject.toml", root / "README.md", root / "requirements.lock"]
    for sub in ("bot_runtime", "operator"):
        files += sorted(p for p in (root / sub).rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    for f in (f for f in files if f.is_file()):
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _run(cmd: list[str], **kwargs: object) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-3000:]}")


def ensure_node_images(log: Callable[[str], None] = lambda _m: None) -> NodeImages:
    """Build what is missing (one build at a time per cache: a second caller waits and reuses it)."""
    with image._locked(image.cache_dir() / ".node-images.lock"):
        return _ensure(log)


def _ensure(log: Callable[[str], None]) -> NodeImages:
    root = repo_root()
    if root is None:
        raise RuntimeError("the real node's images are built from a botfleet source checkout (its Dockerfile)")
    missing = image.missing_requirements()
    if missing:
        raise RuntimeError("building the node's images needs " + "; ".join(missing))
    buildah = image.Buildah()
    archives = image.cache_dir() / "archives"
    archives.mkdir(parents=True, exist_ok=True)

    pause_archive = archives / f"pause-{hashlib.sha256(PAUSE_GO.encode()).hexdigest()[:12]}.tar"
    if not pause_archive.exists():
        log("node images: building the pause image (go build + buildah)")
        with tempfile.TemporaryDirectory(prefix="botfleet-pause-") as tmp:
            (Path(tmp) / "main.go").write_text(PAUSE_GO)
            (Path(tmp) / "go.mod").write_text("module botfleet.io/pause\n\ngo 1.22\n")
            env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
            _run(["go", "build", "-trimpath", "-ldflags=-s -w", "-o", f"{tmp}/pause", "."], cwd=tmp, env=env)
            ctr = buildah("from", "scratch").strip()
            try:
                buildah("copy", ctr, f"{tmp}/pause", "/pause")
                buildah("config", "--entrypoint", '["/pause"]', ctr)
                buildah("commit", "--rm", ctr, PAUSE_REF)
            except BaseException:
                subprocess.run(["buildah", "--root", str(buildah.root), "--runroot", str(buildah.runroot),
                                "--storage-driver", "vfs", "rm", ctr], capture_output=True, check=False)
                raise
        _push(buildah, PAUSE_REF, pause_archive, PAUSE_REF)

    key = source_hash(root)
    bot_archive = archives / f"botfleet-{key}.tar"
    if not bot_archive.exists():
        tag = f"localhost/botfleet:src-{key}"
        if not buildah.image_exists(tag):
            log("node images: building the botfleet image (debootstrap base once, then buildah bud; minutes)")
            base = image.ensure_base_image(buildah)
            image.build_image(buildah, base, tag, root)
        _push(buildah, tag, bot_archive, BOT_REF)
        # Older archives of the botfleet image are dead weight (hundreds of MB each).
        for old in archives.glob("botfleet-*.tar"):
            if old != bot_archive:
                old.unlink(missing_ok=True)
    return NodeImages(PAUSE_REF, BOT_REF, [pause_archive, bot_archive])


def _push(buildah: object, source: str, archive: Path, name: str) -> None:
    partial = archive.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    buildah("push", source, f"docker-archive:{partial}:{name}")  # type: ignore[operator]
    partial.rename(archive)
