"""Container image builds without Docker: a Debian base made with debootstrap, imported into a
private buildah storage (vfs driver, chroot isolation), then our Dockerfile built on top of it.

Everything lives under ``<cache>/image/`` (``BOTFLEET_CACHE`` or ``<repo>/.cache``):

- ``base-<key>.tar``: the debootstrapped root filesystem; ``<key>`` hashes the suite, variant,
  architecture and package list, so changing the list makes a new base and nothing else does;
- ``storage/``, ``runroot/``: buildah's storage, kept between runs so the base image and the
  Dockerfile's layers are reused (``buildah bud --layers``).

Needs root, ``debootstrap`` and ``buildah`` (Debian packages); :func:`missing_requirements` says
which are absent so a test can skip with that reason.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from botfleet_tools.devcluster.mounts import unmount_under

# The checkout: tools/botfleet_tools/devcluster/image.py -> repository root (the Dockerfile's context).
REPO = Path(__file__).resolve().parents[3]
SUITE = "bookworm"
VARIANT = "minbase"
# python3 is 3.11 on bookworm, the version the Dockerfile's default base (python:3.11-slim) has;
# ca-certificates so pip and the bot can verify TLS.
BASE_PACKAGES: tuple[str, ...] = ("python3", "python3-venv", "python3-pip", "ca-certificates")
MIRROR = os.environ.get("BOTFLEET_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_REV = "1"  # bump when the way the base is made changes


def cache_dir() -> Path:
    return Path(os.environ.get("BOTFLEET_CACHE", REPO / ".cache")) / "image"


def base_key(packages: Sequence[str] = BASE_PACKAGES, suite: str = SUITE, variant: str = VARIANT,
             arch: str | None = None) -> str:
    """Cache key of a base: the inputs that change its content, nothing else."""
    arch = arch or platform.machine()
    text = "\n".join([BASE_REV, suite, variant, arch, *sorted(packages)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def missing_requirements() -> list[str]:
    """What prevents a build here (empty when a build can run)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (debootstrap and buildah's chroot isolation need it)")
    missing += [f"the '{tool}' command (apt-get install {tool})"
                for tool in ("debootstrap", "buildah") if shutil.which(tool) is None]
    return missing


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _run(cmd: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc  # type: ignore[no-any-return]




def _skip_pseudo_fs(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Keep the /proc and /sys mount points, not whatever is below them."""
    parts = info.name.split("/")
    return None if len(parts) > 1 and parts[0] in ("proc", "sys") else info


def ensure_base_tarball(packages: Sequence[str] = BASE_PACKAGES, cache: Path | None = None) -> Path:
    """The debootstrapped root filesystem as a tar, made once per package list."""
    cache = cache or cache_dir()
    tarball = cache / f"base-{base_key(packages)}.tar"
    with _locked(cache / ".base.lock"):
        if tarball.exists():
            return tarball
        with tempfile.TemporaryDirectory(prefix="botfleet-rootfs-", dir=cache) as tmp:
            root = Path(tmp) / "rootfs"
            try:
                _run(["debootstrap", f"--variant={VARIANT}", f"--include={','.join(packages)}", SUITE, str(root),
                      MIRROR])
            finally:
                # debootstrap mounts /proc (and maybe /sys) in the tree; a failed run can leave them,
                # and neither the tar nor the temporary directory's removal may descend into them.
                unmount_under(root)
            # Package lists and the .deb cache are ~60 MB of nothing the image needs.
            for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for entry in (root / sub).glob("*"):
                    if entry.is_file():
                        entry.unlink()
            partial = tarball.with_suffix(".tar.partial")
            with tarfile.open(partial, "w") as tar:
                for entry in sorted(root.iterdir()):
                    tar.add(entry, arcname=entry.name, filter=_skip_pseudo_fs)
            partial.rename(tarball)
    return tarball


@dataclass
class Buildah:
    """buildah with a private vfs storage and chroot isolation: no daemon, no overlay, no user namespaces."""

    root: Path = field(default_factory=lambda: cache_dir() / "storage")
    runroot: Path = field(default_factory=lambda: cache_dir() / "runroot")

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(BUILDAH_ISOLATION="chroot", STORAGE_DRIVER="vfs")
        return env

    def __call__(self, *args: str, timeout: float = 3600) -> str:
        cmd = ["buildah", "--root", str(self.root), "--runroot", str(self.runroot), "--storage-driver", "vfs", *args]
        return _run(cmd, env=self.env(), timeout=timeout).stdout

    def image_exists(self, name: str) -> bool:
        proc = subprocess.run(["buildah", "--root", str(self.root), "--runroot", str(self.runroot),
                               "--storage-driver", "vfs", "inspect", "--type", "image", name],
                              capture_output=True, text=True, env=self.env(), check=False)
        return proc.returncode == 0


def ensure_base_image(buildah: Buildah, packages: Sequence[str] = BASE_PACKAGES) -> str:
    """A local image of the debootstrap base, named for its key; returns its name."""
    name = f"localhost/botfleet-base:{base_key(packages)}"
    with _locked(cache_dir() / ".image.lock"):
        if buildah.image_exists(name):
            return name
        tarball = ensure_base_tarball(packages)
        ctr = buildah("from", "scratch").strip()
        try:
            buildah("add", ctr, str(tarball), "/")  # a local tar is unpacked, as Dockerfile ADD does
            buildah("config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "--env", "LANG=C.UTF-8", "--cmd", "/bin/bash", ctr)
            buildah("commit", "--rm", ctr, name)
        except BaseException:
            subprocess.run(["buildah", "--root", str(buildah.root), "--runroot", str(buildah.runroot),
                            "--storage-driver", "vfs", "rm", ctr], capture_output=True, check=False)
            raise
    return name


def host_ca_bundle() -> Path | None:
    """The host's CA bundle when it is the one pip must use (a TLS-inspecting egress proxy)."""
    cert = os.environ.get("PIP_CERT") or os.environ.get("REQUESTS_CA_BUNDLE")
    return Path(cert) if cert and Path(cert).is_file() else None


def build_image(buildah: Buildah, base: str, tag: str, context: Path = REPO) -> str:
    """`buildah bud` of our Dockerfile on `base`; returns the image id."""
    # No --layers: with the vfs driver every cached layer is a full copy of the tree (gigabytes,
    # and minutes of diffing). What is cached between runs is the base (debootstrap) and pip's
    # download cache (a RUN cache mount; it stays empty behind a proxy that marks responses
    # uncacheable, as this sandbox's does).
    args = ["bud", "--isolation", "chroot", "--layers=false", "--build-arg", f"BASE_IMAGE={base}", "-t", tag,
            "-f", str(context / "Dockerfile")]
    ca = host_ca_bundle()
    if ca is not None:
        # The build's pip goes through the same proxy as ours: lend it the CA bundle for the RUN
        # steps only (a bind mount, not a layer), so the image never contains it.
        args += ["--volume", f"{ca}:/run/botfleet-build/ca.crt:ro",
                 "--build-arg", "PIP_CERT=/run/botfleet-build/ca.crt"]
    buildah(*args, str(context))
    return buildah("inspect", "--type", "image", "--format", "{{.FromImageID}}", tag).strip()


@dataclass
class Container:
    """A working container of an image; `run` executes a command in it as the image's user."""

    buildah: Buildah
    name: str

    def run(self, *command: str, timeout: float = 300) -> str:
        return self.buildah("run", "--isolation", "chroot", self.name, "--", *command, timeout=timeout)

    def command(self, *command: str) -> list[str]:
        """The argv of `run`, for a process the caller starts (and stops) itself; env: `buildah.env()`."""
        return ["buildah", "--root", str(self.buildah.root), "--runroot", str(self.buildah.runroot),
                "--storage-driver", "vfs", "run", "--isolation", "chroot", self.name, "--", *command]


@contextmanager
def container(buildah: Buildah, image: str) -> Iterator[Container]:
    ctr = buildah("from", "--pull-never", image).strip()
    try:
        yield Container(buildah, ctr)
    finally:
        subprocess.run(["buildah", "--root", str(buildah.root), "--runroot", str(buildah.runroot),
                        "--storage-driver", "vfs", "rm", ctr], capture_output=True, check=False)


def prune(buildah: Buildah) -> None:
    """Drop images no tag points to any more (earlier builds); the base and the last build stay."""
    subprocess.run(["buildah", "--root", str(buildah.root), "--runroot", str(buildah.runroot),
                    "--storage-driver", "vfs", "rmi", "--prune"], capture_output=True, check=False)


def main(argv: Sequence[str] | None = None) -> int:
    """`make image`: the botfleet image with docker where a Docker engine runs, else buildah."""
    import argparse

    parser = argparse.ArgumentParser(description="Build (and optionally push) the botfleet image.")
    parser.add_argument("--tag", required=True, help="e.g. registry.example.com/botfleet/botfleet:0.1.0")
    parser.add_argument("--base", choices=["official", "debootstrap"], default="official",
                        help="official: the Dockerfile's pinned python:3.11-slim base (needs its registry); "
                             "debootstrap: a Debian bookworm base made here (no registry needed).")
    parser.add_argument("--push", action="store_true", help="Push the tag to its registry after the build.")
    args = parser.parse_args(argv)
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "info"], capture_output=True, check=False).returncode == 0:
        if args.base != "official":
            print("with docker, build on the Dockerfile's base (--base official); --base debootstrap is for "
                  "buildah on machines without a registry", file=sys.stderr)
            return 2
        _run([docker, "build", "-t", args.tag, str(REPO)], timeout=3600)
        if args.push:
            _run([docker, "push", args.tag], timeout=3600)
        print(f"built {args.tag} with docker" + (" and pushed it" if args.push else ""))
        return 0
    missing = missing_requirements()
    if missing:
        print("cannot build the image here: no Docker engine and " + "; ".join(missing), file=sys.stderr)
        return 2
    buildah = Buildah()
    base = ensure_base_image(buildah) if args.base == "debootstrap" else ""
    if base:
        image_id = build_image(buildah, base, args.tag)
    else:
        buildah("bud", "--isolation", "chroot", "--layers=false", "-t", args.tag, "-f", str(REPO / "Dockerfile"),
                str(REPO))
        image_id = buildah("inspect", "--type", "image", "--format", "{{.FromImageID}}", args.tag).strip()
    print(f"built {args.tag} ({image_id[:12]}) in buildah's storage {buildah.root}")
    if args.push:
        buildah("push", args.tag, f"docker://{args.tag}")
        print(f"pushed {args.tag}")
    else:
        print(f"push it with: buildah --root {buildah.root} --runroot {buildah.runroot} --storage-driver vfs "
              f"push {args.tag} docker://{args.tag}   (or `make image IMAGE={args.tag} PUSH=1`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
