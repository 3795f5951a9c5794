"""Which Kubernetes cluster the e2e suite uses: an existing one, kind, or the local control plane."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping

MODES = ("existing", "kind", "local")


def choose_mode(env: Mapping[str, str], kind_ok: Callable[[], bool]) -> str:
    """Pure: ``BOTFLEET_KUBECONFIG`` wins, then ``BOTFLEET_E2E_CLUSTER=local|kind``, then kind when it
    can run, else the local control plane."""
    if env.get("BOTFLEET_KUBECONFIG"):
        return "existing"
    forced = env.get("BOTFLEET_E2E_CLUSTER", "").strip().lower()
    if forced:
        if forced not in ("kind", "local"):
            raise ValueError(
                f"BOTFLEET_E2E_CLUSTER={forced!r}: use 'local' or 'kind' "
                "(or BOTFLEET_KUBECONFIG=/path for an existing cluster)"
            )
        return forced
    return "kind" if kind_ok() else "local"


def kind_available() -> bool:
    """`kind` is installed and Docker answers (a docker client without a daemon does not count)."""
    if not shutil.which("kind") or not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
