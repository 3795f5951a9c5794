"""Finds (and if needed builds) the control-plane binaries made by tools/controlplane/build.sh."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REQUIRED = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl")
BIN_ENV = "BOTFLEET_CONTROLPLANE_BIN"


@dataclass(frozen=True)
class Binaries:
    bin_dir: Path

    def path(self, name: str) -> str:
        return str(self.bin_dir / name)

    @property
    def kwok_stages(self) -> Path:
        # build.sh copies kwok's stage definitions next to bin/.
        return self.bin_dir.parent / "kwok-stages"

    def missing(self) -> list[str]:
        absent = [n for n in REQUIRED if not os.access(self.bin_dir / n, os.X_OK)]
        if not self.kwok_stages.is_dir():
            absent.append("kwok-stages/")
        return absent


def controlplane_dir() -> Path | None:
    """tools/controlplane/ of the source checkout this package runs from (editable install), if any:
    the Go modules live beside this package, not in the test tree."""
    folder = Path(__file__).resolve().parents[2] / "controlplane"
    return folder if (folder / "build.sh").is_file() else None


def repo_root() -> Path | None:
    """The source checkout this package runs from (editable install), if any."""
    folder = controlplane_dir()
    return folder.parents[1] if folder is not None else None


def build_script() -> Path:
    folder = controlplane_dir()
    if folder is None:
        raise RuntimeError(
            "the control-plane binaries are built from a botfleet source checkout "
            "(tools/controlplane/build.sh); run from one, or set "
            f"{BIN_ENV} to a directory holding {', '.join(REQUIRED)}"
        )
    return folder / "build.sh"


def ensure_binaries(*, build: bool = True) -> Binaries:
    """Return the binaries, building them first (progress on stderr) when absent and allowed."""
    override = os.environ.get(BIN_ENV)
    if override:
        found = Binaries(Path(override))
        if found.missing():
            raise RuntimeError(f"{BIN_ENV}={override} lacks: {', '.join(found.missing())}")
        return found
    script = build_script()
    bin_dir = subprocess.run(
        ["bash", str(script), "--print-dir"], check=True, capture_output=True, text=True
    ).stdout.strip()
    found = Binaries(Path(bin_dir))
    if not found.missing():
        return found
    if not build:
        raise RuntimeError(
            f"control-plane binaries missing in {bin_dir} ({', '.join(found.missing())}); "
            f"build them with: bash {script}"
        )
    print(f"botfleet: building the control plane with {script} (first time: 15-30 min on 2 cores)",
          file=sys.stderr, flush=True)
    # Progress lines from build.sh go straight to our stderr.
    subprocess.run(["bash", str(script)], check=True, stdout=subprocess.DEVNULL)
    if found.missing():
        raise RuntimeError(f"build.sh finished but {bin_dir} still lacks {', '.join(found.missing())}")
    return found
