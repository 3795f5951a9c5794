"""Helpers of the control-plane reliability tests: a supervised operator process (restarted when
it exits, as Kubernetes restarts a pod), fleet creation, and the convergence / orphan checks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

OWNED_KINDS = ("serviceaccount", "configmap", "service", "networkpolicy", "deployment", "cronjob")
# Objects of a kind per bot: the bot's NetworkPolicy and its Jobs' (`<bot>-jobs`); no Service (the
# chart's PodMonitor scrapes the bot pods).
PER_BOT = {"networkpolicy": 2, "service": 0}
REPO = Path(__file__).resolve().parents[2]
RBAC = REPO / "deploy" / "rbac" / "operator.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def eventually(probe: Callable[[], Any], what: str, timeout: float = 120, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as exc:   # the API may be down for a moment: keep asking
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Operator:
    """`python -m botfleet_operator operator` as the operator's ServiceAccount, restarted on exit."""

    def __init__(self, kubeconfig: Path, log: Path, identity: str, workers: int = 16,
                 extra_env: dict[str, str] | None = None) -> None:
        self.kubeconfig, self.log, self.identity, self.workers = kubeconfig, log, identity, workers
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port = 0
        self.restarts = 0
        self.exits: list[int] = []
        self._supervise = False
        self._thread: threading.Thread | None = None

    def _spawn(self) -> None:
        self.metrics_port, health = free_port(), free_port()
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PYTHONUNBUFFERED": "1", **self.extra_env}
        cmd = [sys.executable, "-m", "botfleet_operator", "operator", "--all-namespaces",
               "--lease-namespace", "botfleet-system", "--identity", self.identity,
               "--metrics-port", str(self.metrics_port), "--health-port", str(health),
               "--workers", str(self.workers)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)

    def start(self, supervise: bool = True) -> None:
        self._spawn()
        self._supervise = supervise
        if supervise:
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        while self._supervise:
            p = self.proc
            if p is not None and p.poll() is not None and self._supervise:
                self.exits.append(p.returncode)
                time.sleep(1.0)          # a crash-looping pod is not restarted at once either
                if self._supervise:
                    self.restarts += 1
                    self._spawn()
            time.sleep(0.2)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()  # type: ignore[no-any-return]

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        self._supervise = False
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def kubectl_json(kubectl: Callable[..., Any], *args: str) -> Any:
    r = kubectl("get", *args, "-o", "json", check=False)
    return json.loads(r.stdout) if r.returncode == 0 else None


def bot(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot", "metadata": {"name": name},
            "spec": {"strategy": "arbhunter", "mode": "paper", **spec}}


def apply_all(kubectl: Callable[..., Any], docs: list[dict[str, Any]], namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}), timeout=300)


def persistent_volumes(kubectl: Callable[..., Any], prefix: str, count: int) -> None:
    """Static PVs for the bots' journal claims: the local control plane has no provisioner."""
    docs = [{"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"{prefix}-{i:04d}"},
             "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"],
                      "persistentVolumeReclaimPolicy": "Delete", "hostPath": {"path": f"/tmp/{prefix}-{i:04d}"}}}
            for i in range(count)]
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}), timeout=300)


def ready_names(kubectl: Callable[..., Any], namespace: str) -> set[str]:
    bots = kubectl_json(kubectl, "tradingbots", "-n", namespace) or {"items": []}
    out = set()
    for b in bots["items"]:
        st = b.get("status") or {}
        conds = {c["type"]: c["status"] for c in st.get("conditions") or []}
        if conds.get("Ready") == "True" and st.get("observedGeneration") == b["metadata"]["generation"]:
            out.add(b["metadata"]["name"])
    return out


def fleet_problems(kubectl: Callable[..., Any], namespace: str) -> list[str]:
    """Every bot owns exactly its objects of each kind, every owned object has a live owner, and the
    journal PVC (retained on delete, so never owned: spec.retention) exists once per bot."""
    bots = {b["metadata"]["uid"]: b["metadata"]["name"]
            for b in (kubectl_json(kubectl, "tradingbots", "-n", namespace) or {"items": []})["items"]}
    problems: list[str] = []
    for kind in OWNED_KINDS:
        items = (kubectl_json(kubectl, kind, "-n", namespace) or {"items": []})["items"]
        per_bot: dict[str, int] = {}
        for obj in items:
            refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("kind") == "TradingBot"]
            if not refs:
                if (obj["metadata"].get("labels") or {}).get("botfleet.io/bot"):
                    problems.append(f"orphan {kind}/{obj['metadata']['name']}: no owner")
                continue
            if len(refs) != 1 or refs[0]["uid"] not in bots:
                problems.append(f"orphan {kind}/{obj['metadata']['name']}: owner {refs} gone")
                continue
            per_bot[refs[0]["uid"]] = per_bot.get(refs[0]["uid"], 0) + 1
        for uid, name in bots.items():
            n = per_bot.get(uid, 0)
            if n != PER_BOT.get(kind, 1):
                problems.append(f"{name}: {n} {kind}s")
    pvcs = (kubectl_json(kubectl, "persistentvolumeclaim", "-n", namespace) or {"items": []})["items"]
    claims = {p["metadata"]["name"] for p in pvcs}
    problems += [f"{name}: no journal PVC" for name in bots.values() if name not in claims]
    pods = (kubectl_json(kubectl, "pods", "-n", namespace, "-l", "app.kubernetes.io/component=bot")
            or {"items": []})["items"]
    alive: dict[str, int] = {}
    for p in pods:
        if p["metadata"].get("deletionTimestamp"):
            continue
        name = (p["metadata"].get("labels") or {}).get("botfleet.io/bot", "?")
        alive[name] = alive.get(name, 0) + 1
    problems += [f"{name}: {n} bot pods" for name, n in alive.items() if n > 1]
    return problems
