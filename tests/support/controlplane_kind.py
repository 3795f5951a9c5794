"""The `kind` path of the e2e fixture (see botfleet_tools.devcluster.modes for when it is used)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


class KindCluster:
    def __init__(self, kubeconfig: Path) -> None:
        self.name = f"botfleet-e2e-{os.getpid()}"
        self.kubeconfig = kubeconfig

    def create(self) -> None:
        print(f"controlplane: creating kind cluster {self.name}", file=sys.stderr, flush=True)
        subprocess.run(
            ["kind", "create", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig),
             "--wait", "180s"],
            check=True,
        )

    def export_logs(self, dest: Path) -> None:
        subprocess.run(["kind", "export", "logs", str(dest), "--name", self.name], check=False,
                       capture_output=True)

    def delete(self) -> None:
        subprocess.run(["kind", "delete", "cluster", "--name", self.name], check=False, capture_output=True)
