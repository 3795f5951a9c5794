"""Operator at scale on the local control plane (etcd, kube-apiserver, controller-manager,
scheduler, kwok; the same code as the e2e fixture): N TradingBots applied at once, then one shared
wallet Secret rotated under all of them.

One command, prints JSON:
    .venv/bin/python benchmarks/bench_operator_scale.py [--bots 1000] [--workers 32]

Measured: time from the first apply until every bot is Ready (at its generation) and the p50/p99
of apply -> Ready per bot (Ready seen by polling the API every 0.5 s, so +-0.5 s); time from the
Secret update until every bot's Deployment carries the new secrets hash (rolled); the operator's
peak RSS (VmHWM) and CPU seconds (utime+stime) from /proc. The operator runs as a subprocess under
its least-privilege ServiceAccount, as in the e2e suite. Targets: 1,000 Ready within 60 s,
operator under 250 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OPERATOR_USER = "system:serviceaccount:botfleet-system:botfleet-operator"
OPERATOR_GROUPS = ("system:serviceaccounts", "system:serviceaccounts:botfleet-system")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {"nproc": os.cpu_count(), "cpu": model, "loadavg": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version()}


class ProcWatch(threading.Thread):
    """Samples a process's RSS and CPU time from /proc every 0.5 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_rss_mb = 0.0
        self.cpu_s = 0.0
        self.stop = threading.Event()

    def sample(self) -> None:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
            stat = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                self.peak_rss_mb = max(self.peak_rss_mb, int(line.split()[1]) / 1024)
        tick = os.sysconf("SC_CLK_TCK")
        self.cpu_s = (int(stat[11]) + int(stat[12])) / tick

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            time.sleep(0.5)


def _kubectl(plane: Any, *args: str, input: str | None = None) -> str:
    return str(plane.kubectl(*args, input=input, timeout=600).stdout)


def _bots_state(plane: Any, ns: str) -> dict[str, dict[str, Any]]:
    out = json.loads(_kubectl(plane, "get", "tradingbots", "-n", ns, "-o", "json"))
    return {b["metadata"]["name"]: b for b in out["items"]}


def _ready(b: dict[str, Any]) -> bool:
    st = b.get("status") or {}
    conds = {c["type"]: c["status"] for c in st.get("conditions") or []}
    return conds.get("Ready") == "True" and st.get("observedGeneration") == b["metadata"]["generation"]


def run(n: int, workers: int, timeout_s: float) -> dict[str, Any]:
    from botfleet_tools.devcluster import plane as plane_module
    from botfleet_tools.devcluster.binaries import ensure_binaries
    from botfleet_tools.devcluster.manifests import install_crds
    from botfleet_tools.devcluster.plane import FAKE_NODE, LocalControlPlane

    # The local plane's defaults fit the e2e suite, not 1,000 bots: its Service range is a /24
    # (254 ClusterIPs, one Service per bot) and its one fake node takes 110 pods. Widen the range
    # and add fake nodes (kwok runs every node annotated kwok.x-k8s.io/node=fake).
    plane_module.SERVICE_CIDR = "10.96.0.0/16"
    workdir = Path(tempfile.mkdtemp(prefix="bench-op-"))
    plane = LocalControlPlane(ensure_binaries(build=False), workdir)
    t_plane = time.monotonic()
    plane.start()
    result: dict[str, Any] = {"benchmark": "operator_scale", "bots": n, "workers": workers,
                              "control_plane_start_s": round(time.monotonic() - t_plane, 1)}
    op: subprocess.Popen[bytes] | None = None
    watch: ProcWatch | None = None
    try:
        install_crds(lambda *a, **k: plane.kubectl(*a, **k), REPO / "crds")
        _kubectl(plane, "apply", "-f", str(REPO / "deploy" / "rbac" / "operator.yaml"))
        nodes = []
        for i in range(1, (n + 99) // 100 + 1):
            node = json.loads(json.dumps(FAKE_NODE))
            name = f"kwok-bench-{i}"
            node["metadata"]["name"] = name
            node["metadata"]["labels"]["kubernetes.io/hostname"] = name
            nodes.append(node)
        _kubectl(plane, "apply", "--validate=false", "-f", "-",
                 input=json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes}))
        result["fake_nodes"] = len(nodes) + 1
        ns = "bench"
        _kubectl(plane, "create", "namespace", ns)
        pvs = [{"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"bench-pv-{i:05d}"},
                "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"],
                         "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": f"/tmp/bench-pv-{i:05d}"}}}
               for i in range(n)]
        for i in range(0, n, 500):
            _kubectl(plane, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                  "items": pvs[i:i + 500]}))
        secret: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shared-wallet"},
                  "stringData": {"PRIVATE_KEY": "0x" + "5a" * 32, "SIGNATURE_TYPE": "0"}}
        _kubectl(plane, "apply", "-n", ns, "-f", "-", input=json.dumps(secret))

        kubeconfig = plane.kubeconfig_for_user(OPERATOR_USER, OPERATOR_GROUPS)
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
        env.pop("BOTFLEET_SIM_URL", None)
        log = open(workdir / "operator.log", "wb")  # noqa: SIM115 - handed to the child
        op = subprocess.Popen([sys.executable, "-m", "botfleet_operator", "operator", "--all-namespaces",
                               "--lease-namespace", "botfleet-system", "--identity", "bench",
                               "--metrics-port", str(_free_port()), "--health-port", str(_free_port()),
                               "--workers", str(workers)], stdout=log, stderr=subprocess.STDOUT, env=env)
        watch = ProcWatch(op.pid)
        watch.start()
        time.sleep(3)
        idle_rss = watch.peak_rss_mb

        names = [f"bot-{i:05d}" for i in range(n)]
        docs: list[dict[str, Any]] = [{"apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot", "metadata": {"name": nm},
                 "spec": {"strategy": "arbhunter", "mode": "paper", "walletSecretRef": {"name": "shared-wallet"}}}
                for nm in names]
        applied: dict[str, float] = {}
        t0 = time.monotonic()
        cpu0 = watch.cpu_s
        for i in range(0, n, 100):     # kubectl apply of a List: 100 objects per request batch
            _kubectl(plane, "apply", "-n", ns, "-f", "-",
                     input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs[i:i + 100]}))
            now = time.monotonic()
            for d in docs[i:i + 100]:
                applied[d["metadata"]["name"]] = now
        result["apply_s"] = round(time.monotonic() - t0, 1)
        ready_at: dict[str, float] = {}
        while len(ready_at) < n and time.monotonic() - t0 < timeout_s:
            state = _bots_state(plane, ns)
            now = time.monotonic()
            for nm, b in state.items():
                if nm not in ready_at and _ready(b):
                    ready_at[nm] = now
            time.sleep(0.5)
        lat = [ready_at[nm] - applied[nm] for nm in ready_at]
        result.update({
            "ready": len(ready_at), "all_ready_s": round(max(ready_at.values()) - t0, 1) if len(ready_at) == n else None,
            "apply_to_ready_p50_s": round(_pct(lat, 0.5), 1), "apply_to_ready_p99_s": round(_pct(lat, 0.99), 1),
            "operator_cpu_s_create": round(watch.cpu_s - cpu0, 1),
        })

        # rotate the shared Secret: every bot must roll (new secrets hash on its pod template)
        def hashes() -> dict[str, str]:
            out = json.loads(_kubectl(plane, "get", "deployments", "-n", ns, "-o", "json"))
            return {d["metadata"]["name"]: (d["spec"]["template"]["metadata"].get("annotations") or {})
                    .get("botfleet.io/secrets-hash", "") for d in out["items"]}
        before = hashes()
        secret["stringData"]["PRIVATE_KEY"] = "0x" + "6b" * 32
        t1 = time.monotonic()
        cpu1 = watch.cpu_s
        _kubectl(plane, "apply", "-n", ns, "-f", "-", input=json.dumps(secret))
        rolled: set[str] = set()
        while len(rolled) < len(before) and time.monotonic() - t1 < timeout_s:
            rolled = {k for k, v in hashes().items() if v and v != before.get(k)}
            time.sleep(0.5)
        result.update({"rotation_rolled": len(rolled), "rotation_all_rolled_s":
                       round(time.monotonic() - t1, 1) if len(rolled) == len(before) else None,
                       "operator_cpu_s_rotation": round(watch.cpu_s - cpu1, 1)})
        watch.sample()
        result.update({"operator_idle_rss_mb": round(idle_rss, 1), "operator_peak_rss_mb": round(watch.peak_rss_mb, 1),
                       "operator_cpu_s_total": round(watch.cpu_s, 1),
                       "targets": {"all_ready_within_60s": result["all_ready_s"] is not None and result["all_ready_s"] <= 60,
                                   "operator_under_250mb": watch.peak_rss_mb < 250}})
    finally:
        if watch is not None:
            watch.stop.set()
        if op is not None:
            op.terminate()
            try:
                op.wait(15)
            except subprocess.TimeoutExpired:
                op.kill()
        plane.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    result["machine"] = machine()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bots", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=32, help="the operator's --workers (its default: 32)")
    ap.add_argument("--timeout", type=float, default=900, help="give up waiting after this many seconds")
    a = ap.parse_args()
    print(json.dumps(run(a.bots, a.workers, a.timeout), indent=1))


if __name__ == "__main__":
    main()
