"""Mount points below a directory: listed, unmounted, and in the way of deleting it.

A real node's kubelet and containers mount below the cluster's work dir (volumes, pod tmpfs,
container root filesystems); an image build mounts /proc and /sys into its root.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def mounts_under(root: Path, mounts: str | None = None) -> list[str]:
    """Mount points below ``root`` (``mounts``: the text of /proc/mounts, read when None)."""
    prefix = str(root.resolve()) + "/"
    text = Path("/proc/mounts").read_text() if mounts is None else mounts
    points = [line.split()[1].replace("\\040", " ") for line in text.splitlines() if len(line.split()) > 1]
    return [m for m in points if m.startswith(prefix)]


def unmount_under(root: Path) -> None:
    """Lazily unmount everything below ``root``, the deepest first."""
    for mnt in sorted(mounts_under(root), key=len, reverse=True):
        subprocess.run(["umount", "-l", mnt], capture_output=True, check=False)


def remove_workdir(workdir: Path, mounts: str | None = None) -> list[str]:
    """Delete a stopped plane's work dir (etcd's data; with a real node, its images and containers:
    1-1.6 GB each). Never while something is still mounted below it (a real node's kubelet or
    container mounts, when its clean-up failed): a recursive delete would reach through the mount.
    The mounts left, if any (then nothing was deleted)."""
    left = mounts_under(workdir, mounts)
    if not left:
        shutil.rmtree(workdir, ignore_errors=True)
    return left
