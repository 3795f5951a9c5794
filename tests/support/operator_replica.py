"""One operator process (`python -m botfleet_operator operator`) for e2e tests, as the operator's
ServiceAccount, watching one namespace with its own Lease, so tests never share a leader."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.controlplane import OPERATOR_NAMESPACE, Cluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Replica:
    def __init__(self, cluster: Cluster, identity: str, namespace: str, lease: str, log: Path,
                 kubeconfig: Path | None = None) -> None:
        self.identity, self.log = identity, log
        self.health = _free_port()
        env = {**os.environ, "KUBECONFIG": str(kubeconfig or cluster.operator_kubeconfig), "PYTHONUNBUFFERED": "1"}
        env.pop("BOTFLEET_SIM_URL", None)
        cmd = [sys.executable, "-m", "botfleet_operator", "operator", "--namespace", namespace,
               "--lease-namespace", OPERATOR_NAMESPACE, "--lease-name", lease, "--identity", identity,
               "--metrics-port", "0", "--health-port", str(self.health), "--workers", "4"]
        with log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)

    def get(self, path: str) -> int:
        """HTTP status of a health endpoint; 0 while nothing answers."""
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.identity} exited {self.proc.returncode}: "
                                 f"{self.log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health}{path}", timeout=3) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
