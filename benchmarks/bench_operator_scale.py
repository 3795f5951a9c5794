"""Operator at scale on the local control plane (etcd, kube-apiserver, controller-manager,
scheduler, kwok; the same code as the e2e fixture): N TradingBots applied at once, then one shared
wallet Secret rotated under all of them.

One command, prints JSON:
    .venv/bin/python benchmarks/bench_operator_scale.py [--bots 1000] [--workers 32] [--controller-qps 200]
With `--floor`, no operator: the bench applies the operator's objects for each bot itself and times
the Deployments until Available (the least any operator could take on this machine); with
`--against-floor`, that first and then the operator, and all-Ready as a multiple of the floor.
Each bot's journal claim gets its volume from the dev cluster's provisioner, as a real cluster's
claims do from theirs (`--volumes prebound`: a PV made beforehand for each, the world before session 9).

The fleet is created server-side: parallel POSTs of the TradingBots straight to the API server
(16 connections), not `kubectl apply` (which spent 312 s on 1,000 bots and was what the earlier
figure measured). Measured: time from the first create until every bot is Ready (at its generation)
and the p50/p99 of create -> Ready per bot; time from the Secret update until every bot's Deployment
carries the new secrets hash (rolled). Both are seen through a watch (when the event arrives): listing
1,000 bots or Deployments twice a second, as this bench once did, cost the API server and this process
tens of CPU-seconds that the measured system then lacked. Also the
operator's peak RSS (VmHWM) and CPU seconds (utime+stime) from /proc, also per bot. The operator runs
as a subprocess under its least-privilege ServiceAccount, as in the e2e suite, without leader
election (one replica; on this loaded machine a slow Lease renewal would stop it mid-run). The machine is shared:
`uptime` before and after is part of the output. Targets: 1,000 bots Ready within 60 s, operator RSS
at most 150 MB, at most 0.05 CPU-seconds per bot.

Where the rest of the machine went, over the same window: each control-plane process's CPU seconds,
the API server's requests per bot by verb and resource (every client's), the Events per bot by
who posted them, and the operator's watch events per bot. `--controller-qps` sizes the controllers'
API clients for a fleet (kube-controller-manager defaults to 20 requests/s per controller).
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
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
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
        self.started = time.monotonic()
        self.timeline: list[tuple[int, int]] = []  # (seconds since `started`, RSS MB) every 5 s: when the peak is
        self._next_mark = 0.0

    def sample(self) -> None:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                self.peak_rss_mb = max(self.peak_rss_mb, int(line.split()[1]) / 1024)
            if line.startswith("VmRSS:") and time.monotonic() >= self._next_mark:
                self.timeline.append((round(time.monotonic() - self.started), round(int(line.split()[1]) / 1024)))
                self._next_mark = time.monotonic() + 5
        self.cpu_s = _cpu_s(self.pid) or self.cpu_s

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            time.sleep(0.5)


def _cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def _plane_cpu(plane: Any) -> dict[str, float]:
    """CPU seconds of each control-plane process: where the rest of the 2 cores went."""
    return {name: _cpu_s(proc.pid) for name, proc in plane._procs.items()}


def _requests(admin: Admin) -> dict[str, float]:
    """The API server's request counters by verb and resource (`apiserver_request_total`), and the
    seconds it spent serving them (`apiserver_request_duration_seconds_sum`, keys prefixed "s:";
    watches excluded: their duration is the stream's)."""
    import re

    _, url, headers, _, _ = admin.api.param_serialize(method="GET", resource_path="/metrics",
                                                      header_params={}, auth_settings=["BearerToken"])
    text = admin.api.call_api("GET", url, header_params=headers, _request_timeout=60).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        for metric, prefix in (("apiserver_request_total{", ""), ("apiserver_request_duration_seconds_sum{", "s:")):
            if line.startswith(metric):
                lab = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
                if prefix and lab.get("verb") == "WATCH":
                    continue
                sub = f"/{lab['subresource']}" if lab.get("subresource") else ""
                k = f"{prefix}{lab.get('verb')} {lab.get('resource')}{sub}"
                out[k] = out.get(k, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _kubectl(plane: Any, *args: str, input: str | None = None) -> str:
    return str(plane.kubectl(*args, input=input, timeout=600).stdout)


class Admin:
    """Direct API calls as admin (the kubernetes client's connection pool, no kubectl process)."""

    def __init__(self, kubeconfig: Path, connections: int = 16) -> None:
        from kubernetes import client, config

        cfg = client.Configuration()
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
        cfg.connection_pool_maxsize = connections
        self.api = client.ApiClient(cfg)
        self.connections = connections

    def call(self, method: str, path: str, body: Any = None, query: list[tuple[str, str]] | None = None) -> Any:
        _, url, headers, data, _ = self.api.param_serialize(
            method=method, resource_path=path, query_params=query or [],
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            body=body, auth_settings=["BearerToken"])
        response = self.api.call_api(method, url, header_params=headers, body=data, _request_timeout=120)
        raw = response.read()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}: {raw[:300]!r}")
        return json.loads(raw or b"{}")

    def watch(self, path: str, resource_version: str, stop: threading.Event) -> Iterator[tuple[str, dict[str, Any]]]:
        """(type, object) of each change under `path` after `resource_version`, until `stop` is set or
        the server ends the watch. One stream, so observing the fleet costs an event per change, not a
        LIST of every object twice a second (which made the API server and this process spend tens
        of CPU-seconds that the measured system then lacked)."""
        query = [("watch", "true"), ("resourceVersion", resource_version), ("allowWatchBookmarks", "true"),
                 ("timeoutSeconds", "1800")]
        _, url, headers, _, _ = self.api.param_serialize(
            method="GET", resource_path=path, query_params=query,
            header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
        response = self.api.rest_client.pool_manager.request(
            "GET", url, headers=headers, preload_content=False, timeout=1900)
        try:
            if response.status >= 400:
                raise RuntimeError(f"watch {path}: HTTP {response.status}")
            for line in response:  # urllib3 yields the stream line by line
                if stop.is_set():
                    return
                if line.strip():
                    event = json.loads(line)
                    yield event["type"], event["object"]
        finally:
            response.release_conn()

    def observe(self, path: str, seen: Callable[[dict[str, Any]], None], stop: threading.Event) -> None:
        """LIST once, then watch: `seen` gets every object as listed, then every new version of one,
        until `stop`. A watch the server ends is resumed from the last version seen."""
        listed = self.call("GET", path)
        for obj in listed["items"]:
            seen(obj)
        rv = listed["metadata"]["resourceVersion"]
        while not stop.is_set():
            try:
                for kind, obj in self.watch(path, rv, stop):
                    rv = obj["metadata"].get("resourceVersion", rv)
                    if kind in ("ADDED", "MODIFIED"):
                        seen(obj)
            except Exception:
                if stop.is_set():  # the plane stopped under the watch: the run is over
                    return
                raise

    def create_all(self, path: str, docs: list[dict[str, Any]]) -> dict[str, float]:
        """POST every doc, `connections` at a time; returns name -> time its create returned."""
        done: dict[str, float] = {}

        def one(doc: dict[str, Any]) -> None:
            self.call("POST", path, doc)
            done[doc["metadata"]["name"]] = time.monotonic()
        with ThreadPoolExecutor(self.connections) as pool:
            list(pool.map(one, docs))
        return done


def _operator_counters(port: int, n: int) -> dict[str, Any]:
    """Reconciles and applies per bot over the whole run, from the operator's own metrics."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    totals = {"reconciles": 0.0, "applies": 0.0, "watch_events": 0.0}
    for line in text.splitlines():
        if line.startswith("botfleet_operator_watch_events_total{"):
            totals["watch_events"] += float(line.rsplit(" ", 1)[1])
        if line.startswith("botfleet_operator_reconciles_total{"):
            totals["reconciles"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("botfleet_operator_applies_total{"):
            totals["applies"] += float(line.rsplit(" ", 1)[1])
    return {f"operator_{k}_per_bot": round(v / n, 1) for k, v in totals.items()}


def _when(stamp: str | None) -> float | None:
    """An API timestamp (RFC 3339, whole seconds) as epoch seconds."""
    if not stamp:
        return None
    from datetime import datetime
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _pipeline(admin: Admin, ns: str, first: str = "tradingbots") -> dict[str, dict[str, float]]:
    """When each stage of bringing a bot up happened, in seconds after the first TradingBot was
    created (the API server's own timestamps, whole seconds; read once, after the fact, so the
    measurement adds no load): its journal claim created by the operator and bound (the PV's
    lastPhaseTransitionTime), its pod created (by the ReplicaSet controller), scheduled and Ready. Shows which stage the fleet waits on.
    `first`: the kind created first (its earliest creationTimestamp is 0), "configmaps" without TradingBots."""
    group = "/apis/botfleet.io/v1alpha1" if first == "tradingbots" else "/api/v1"
    # Only the bots' (the namespace's own kube-root-ca.crt ConfigMap is older than the fleet).
    bots = admin.call("GET", f"{group}/namespaces/{ns}/{first}",
                      query=[("labelSelector", "app.kubernetes.io/managed-by=botfleet-operator")]
                      if first != "tradingbots" else None)["items"]
    start = min(t for b in bots if (t := _when(b["metadata"].get("creationTimestamp"))) is not None)
    stages: dict[str, list[float]] = {"claim_created": [], "claim_bound": [], "pod_created": [], "pod_scheduled": [],
                                      "pod_ready": []}
    for pvc in admin.call("GET", f"/api/v1/namespaces/{ns}/persistentvolumeclaims")["items"]:
        if (t := _when(pvc["metadata"].get("creationTimestamp"))) is not None:
            stages["claim_created"].append(t - start)
    for pv in admin.call("GET", "/api/v1/persistentvolumes")["items"]:
        ref = pv["spec"].get("claimRef") or {}
        t = _when((pv.get("status") or {}).get("lastPhaseTransitionTime"))
        if ref.get("namespace") == ns and pv.get("status", {}).get("phase") == "Bound" and t is not None:
            stages["claim_bound"].append(t - start)
    for pod in admin.call("GET", f"/api/v1/namespaces/{ns}/pods")["items"]:
        if (t := _when(pod["metadata"].get("creationTimestamp"))) is not None:
            stages["pod_created"].append(t - start)
        conds = {c["type"]: c for c in (pod.get("status") or {}).get("conditions") or []}
        for stage, kind in (("pod_scheduled", "PodScheduled"), ("pod_ready", "Ready")):
            c = conds.get(kind) or {}
            if c.get("status") == "True" and (t := _when(c.get("lastTransitionTime"))) is not None:
                stages[stage].append(t - start)
    return {k: {"n": len(v), "p50": round(_pct(v, 0.5), 1), "p99": round(_pct(v, 0.99), 1), "last": round(max(v), 1)}
            for k, v in stages.items() if v}


def _memory_dump(pid: int, log: Path) -> list[str]:
    """The operator's memory dump now (SIGUSR2, memdump.py): the dump
    of a large heap takes a while, so wait for it to be logged."""
    import signal

    before = log.read_text(errors="replace").count("memory dump:")
    os.kill(pid, signal.SIGUSR2)
    for _ in range(240):
        text = log.read_text(errors="replace")
        if text.count("memory dump:") > before:
            time.sleep(1)  # the rest of the lines
            text = log.read_text(errors="replace")
            return text[text.rfind("memory dump:"):].splitlines()[:27]
        time.sleep(0.5)
    return ["no dump within 120 s"]


def _ready(b: dict[str, Any]) -> bool:
    st = b.get("status") or {}
    conds = {c["type"]: c["status"] for c in st.get("conditions") or []}
    return conds.get("Ready") == "True" and st.get("observedGeneration") == b["metadata"]["generation"]


def _size_plane(plane_module: Any, controller_qps: int) -> None:
    # The local plane's defaults fit the e2e suite, not 1,000 bots: its Service range is a /24
    # (254 ClusterIPs, one Service per bot) and its one fake node takes 110 pods. Widen the range
    # and add fake nodes (kwok runs every node annotated kwok.x-k8s.io/node=fake).
    plane_module.SERVICE_CIDR = "10.96.0.0/16"
    if controller_qps:
        # A plane sized for a fleet: kube-controller-manager's clients default to 20 requests/s (its
        # Deployment controller writes ~6 times per new bot), the scheduler's to 50.
        plane_module.KCM_EXTRA_ARGS = [f"--kube-api-qps={controller_qps}", f"--kube-api-burst={2 * controller_qps}",
                                       "--concurrent-deployment-syncs=25", "--concurrent-replicaset-syncs=25"]
        plane_module.SCHEDULER_EXTRA_ARGS = [f"--kube-api-qps={controller_qps}",
                                             f"--kube-api-burst={2 * controller_qps}"]


def _start_plane(controller_qps: int, prefix: str, apiserver_args: tuple[str, ...] = ()) -> tuple[Any, Path]:
    """The local control plane, sized for a fleet (`_size_plane`), started in a fresh work dir."""
    from botfleet_tools.devcluster import plane as plane_module
    from botfleet_tools.devcluster.binaries import ensure_binaries
    from botfleet_tools.devcluster.plane import LocalControlPlane

    _size_plane(plane_module, controller_qps)
    plane_module.APISERVER_EXTRA_ARGS = list(apiserver_args)
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    plane = LocalControlPlane(ensure_binaries(build=False), workdir)
    plane.start()
    return plane, workdir


def _stop_plane(plane: Any, workdir: Path) -> None:
    plane.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def _journal_pvs(plane: Any, ns: str, n: int) -> None:
    """One PV per bot, pre-bound to the journal claim of bot i (claimRef): the PV controller's search
    for a matching volume among 1,000 unbound ones took minutes and would be measured instead."""
    pvs = [{"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"bench-pv-{i:05d}"},
            # The claims' class (the default one): a PV of another class never binds them.
            "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"],
                     "storageClassName": "botfleet-local",
                     "claimRef": {"namespace": ns, "name": f"bot-{i:05d}"},
                     "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": f"/tmp/bench-pv-{i:05d}"}}}
           for i in range(n)]
    for i in range(0, n, 500):
        _kubectl(plane, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                              "items": pvs[i:i + 500]}))


# Where the journal claims' volumes come from (the first, the default): "provisioned", the dev cluster's provisioner on
# the PV controller's cue, as a real cluster's dynamic provisioner (kind's local-path, a cloud's CSI
# driver); "prebound", a PV made beforehand for each claim (claimRef by name), as the figures before
# session 9 were measured: kinder, since the scheduler's selected-node write, the PV controller's
# hand-over write and Event, and the volume's creation are not part of the run.
VOLUMES = ("provisioned", "prebound")


def _fleet_world(plane: Any, n: int, volumes: str) -> tuple[str, dict[str, Any], int]:
    """What a fleet of n bots needs besides the operator: fake nodes (one per 100 bots), the
    namespace, a PV pre-bound to each bot's journal claim (with volumes "prebound"), the
    shared wallet Secret. (namespace, the Secret as applied, number of fake nodes)."""
    from botfleet_tools.devcluster.plane import FAKE_NODE

    nodes = []
    for i in range(1, (n + 99) // 100 + 1):
        node = json.loads(json.dumps(FAKE_NODE))
        name = f"kwok-bench-{i}"
        node["metadata"]["name"] = name
        node["metadata"]["labels"]["kubernetes.io/hostname"] = name
        nodes.append(node)
    _kubectl(plane, "apply", "--validate=false", "-f", "-",
             input=json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes}))
    ns = "bench"
    _kubectl(plane, "create", "namespace", ns)
    if volumes == "prebound":
        # Pre-bound to the journal claim of bot i (claimRef): the PV controller's search for a
        # matching volume among 1,000 unbound ones took minutes and would be measured instead.
        _journal_pvs(plane, ns, n)
    secret: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret",
                              "metadata": {"name": "shared-wallet", "labels": {"botfleet.io/bots": "all"}},
                              "stringData": {"PRIVATE_KEY": "0x" + "5a" * 32, "SIGNATURE_TYPE": "0"}}
    _kubectl(plane, "apply", "-n", ns, "-f", "-", input=json.dumps(secret))
    return ns, secret, len(nodes) + 1


_PATHS = {"ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
          "ConfigMap": "/api/v1/namespaces/{ns}/configmaps",
          "PersistentVolumeClaim": "/api/v1/namespaces/{ns}/persistentvolumeclaims",
          "NetworkPolicy": "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
          "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
          "CronJob": "/apis/batch/v1/namespaces/{ns}/cronjobs"}


def run_floor(n: int, controller_qps: int, timeout_s: float, volumes: str = VOLUMES[0]) -> dict[str, Any]:
    """The floor under all-Ready with the operator's own objects: no operator and no TradingBots;
    this process server-side-applies the very objects `resources.desired_objects` gives for each of
    n live arbhunter bots (ServiceAccount, ConfigMap, journal claim and NetworkPolicies first, then
    Deployment and CronJob, 16 bots at a time, as the operator's two waves), without owner
    references, and times each Deployment until it is Available. What is left is the cluster's own
    work for the fleet: an operator that cost nothing and read, wrote and posted nothing else could
    not make the fleet Ready sooner on this machine."""
    from botfleet_operator import api, resources
    from botfleet_operator.secrets import view_of

    plane, workdir = _start_plane(controller_qps, "bench-floor-")
    result: dict[str, Any] = {"benchmark": "operator_objects_only", "bots": n, "controller_qps": controller_qps,
                              "volumes": volumes, "uptime_before": _uptime()}
    try:
        ns, secret, result["fake_nodes"] = _fleet_world(plane, n, volumes)
        admin = Admin(plane.admin_kubeconfig)
        views = {"shared-wallet": view_of({**secret, "metadata": {**secret["metadata"], "namespace": ns}})}
        settings = resources.Settings()
        bots = []
        for i in range(n):
            tb = api.TradingBot.parse({
                "apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot",
                "metadata": {"name": f"bot-{i:05d}", "namespace": ns, "uid": str(uuid.uuid4()), "generation": 1},
                "spec": {"strategy": "arbhunter", "mode": "live", "walletSecretRef": {"name": "shared-wallet"}}})
            objs = resources.desired_objects(tb, settings, views)
            for obj in objs:  # no TradingBot owns them here: the garbage collector would delete them
                obj["metadata"].pop("ownerReferences", None)
            bots.append(objs)
        deployments = f"/apis/apps/v1/namespaces/{ns}/deployments"
        available_at: dict[str, float] = {}
        all_available = threading.Event()

        def seen(d: dict[str, Any]) -> None:
            st = d.get("status") or {}
            if st.get("availableReplicas") == 1 and st.get("observedGeneration") == d["metadata"]["generation"] \
                    and d["metadata"]["name"] not in available_at:
                available_at[d["metadata"]["name"]] = time.monotonic()
                if len(available_at) == n:
                    all_available.set()
        threading.Thread(target=admin.observe, args=(deployments, seen, all_available), daemon=True).start()
        time.sleep(1)

        def apply(obj: dict[str, Any]) -> None:
            path = _PATHS[obj["kind"]].format(ns=ns) + "/" + obj["metadata"]["name"]
            _, url, headers, data, _ = admin.api.param_serialize(
                method="PATCH", resource_path=path,
                query_params=[("fieldManager", resources.MANAGER), ("force", "true")],
                header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
                body=obj, auth_settings=["BearerToken"])
            response = admin.api.call_api("PATCH", url, header_params=headers, body=data, _request_timeout=120)
            if response.status >= 400:
                raise RuntimeError(f"apply {path}: HTTP {response.status}: {response.read()[:300]!r}")
            response.read()

        def one_bot(objs: list[dict[str, Any]]) -> None:
            first = {"ServiceAccount", "ConfigMap", "PersistentVolumeClaim", "NetworkPolicy"}
            for obj in [o for o in objs if o["kind"] in first] + [o for o in objs if o["kind"] not in first]:
                apply(obj)
        t0 = time.monotonic()
        cpu0 = _plane_cpu(plane)
        req0 = _requests(admin)
        bench_cpu0 = time.process_time()
        with ThreadPoolExecutor(admin.connections) as pool:
            list(pool.map(one_bot, bots))
        result["applied_s"] = round(time.monotonic() - t0, 1)
        all_available.wait(timeout_s)
        all_available.set()
        cpu1 = _plane_cpu(plane)
        req1 = _requests(admin)
        times = [t - t0 for t in available_at.values()]
        per_bot = {k: round((v - req0.get(k, 0.0)) / n, 2) for k, v in req1.items() if not k.startswith("s:")}
        result.update({
            "available": len(available_at), "all_available_s": round(max(times), 1) if len(times) == n else None,
            "available_p50_s": round(_pct(times, 0.5), 1),
            "control_plane_cpu_s": {k: round(cpu1[k] - cpu0.get(k, 0.0), 1) for k in cpu1},
            # This process's applies and watch: the cost of an operator that only applies.
            "bench_process_cpu_s": round(time.process_time() - bench_cpu0, 1),
            "apiserver_requests_per_bot": dict(sorted(((k, v) for k, v in per_bot.items() if v >= 0.05),
                                                      key=lambda kv: -kv[1])),
            "stages_after_first_create_s": _pipeline(admin, ns, first="configmaps"),
            "uptime_after": _uptime()})
    finally:
        _stop_plane(plane, workdir)
    result["machine"] = machine()
    return result


def run_claims(n: int, controller_qps: int, timeout_s: float) -> dict[str, Any]:
    """The floor under all-Ready, without the operator: n claims like the bots' journals created at
    once against their n pre-bound PVs, on the same plane; when the last is Bound is the pace of
    kube-controller-manager's PV controller alone on this machine (nothing else runs)."""
    plane, workdir = _start_plane(controller_qps, "bench-claims-")
    result: dict[str, Any] = {"benchmark": "journal_claims_only", "claims": n, "controller_qps": controller_qps,
                              "uptime_before": _uptime()}
    try:
        ns = "bench"
        _kubectl(plane, "create", "namespace", ns)
        _journal_pvs(plane, ns, n)
        admin = Admin(plane.admin_kubeconfig)
        claims = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
        bound_at: dict[str, float] = {}
        all_bound = threading.Event()

        def seen(pvc: dict[str, Any]) -> None:
            if (pvc.get("status") or {}).get("phase") == "Bound" and pvc["metadata"]["name"] not in bound_at:
                bound_at[pvc["metadata"]["name"]] = time.monotonic()
                if len(bound_at) == n:
                    all_bound.set()
        threading.Thread(target=admin.observe, args=(claims, seen, all_bound), daemon=True).start()
        time.sleep(1)
        docs = [{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": f"bot-{i:05d}"},
                 "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
                for i in range(n)]
        t0 = time.monotonic()
        cpu0 = _plane_cpu(plane)
        admin.create_all(claims, docs)
        result["create_s"] = round(time.monotonic() - t0, 1)
        all_bound.wait(timeout_s)
        all_bound.set()
        cpu1 = _plane_cpu(plane)
        times = [t - t0 for t in bound_at.values()]
        result.update({
            "bound": len(bound_at), "all_bound_s": round(max(times), 1) if len(times) == n else None,
            "bound_p50_s": round(_pct(times, 0.5), 1), "claims_bound_per_s": round(len(times) / max(times), 1),
            "control_plane_cpu_s": {k: round(cpu1[k] - cpu0.get(k, 0.0), 1) for k in cpu1},
            "uptime_after": _uptime()})
    finally:
        _stop_plane(plane, workdir)
    result["machine"] = machine()
    return result


def _profile_apiserver(admin: Admin, out: Path, seconds: int) -> None:
    """The API server's CPU profile (Go pprof) over the first `seconds` of the creation: where the
    control plane's largest share goes. Read it with `go tool pprof -top <out>`."""
    _, url, headers, _, _ = admin.api.param_serialize(
        method="GET", resource_path="/debug/pprof/profile", query_params=[("seconds", str(seconds))],
        header_params={}, auth_settings=["BearerToken"])
    out.write_bytes(admin.api.call_api("GET", url, header_params=headers, _request_timeout=seconds + 60).read())


def run(n: int, workers: int, timeout_s: float, controller_qps: int = 0, trace_memory: bool = False,
        profile_apiserver: Path | None = None, volumes: str = VOLUMES[0]) -> dict[str, Any]:
    from botfleet_tools.devcluster.manifests import install_crds

    t_plane = time.monotonic()
    plane, workdir = _start_plane(controller_qps, "bench-op-", ("--profiling=true",) if profile_apiserver else ())
    result: dict[str, Any] = {"benchmark": "operator_scale", "bots": n, "workers": workers,
                              "controller_qps": controller_qps or "defaults (20 / 50)",
                              "volumes": volumes,
                              "control_plane_start_s": round(time.monotonic() - t_plane, 1),
                              "uptime_before": _uptime()}
    op: subprocess.Popen[bytes] | None = None
    watch: ProcWatch | None = None
    try:
        install_crds(lambda *a, **k: plane.kubectl(*a, **k), REPO / "crds")
        _kubectl(plane, "apply", "-f", str(REPO / "deploy" / "rbac" / "operator.yaml"))
        ns, secret, result["fake_nodes"] = _fleet_world(plane, n, volumes)

        kubeconfig = plane.kubeconfig_for_user(OPERATOR_USER, OPERATOR_GROUPS)
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
        env.pop("BOTFLEET_SIM_URL", None)
        # As the chart runs it: the HMAC key of the Secret digests given (operator/hashkey.py).
        env.setdefault("BOTFLEET_HASH_KEY", uuid.uuid4().hex)
        if trace_memory:  # the operator logs its largest allocation sites on SIGUSR2 (memdump.py)
            env["PYTHONTRACEMALLOC"] = os.environ.get("PYTHONTRACEMALLOC", "1")
        # BOTFLEET_MEMORY_DUMP=<prefix> (passed on): the same signal also writes the operator's
        # mappings, allocator statistics and live objects (memdump.py), with or without tracemalloc.
        dump_memory = trace_memory or bool(env.get("BOTFLEET_MEMORY_DUMP"))
        log = open(workdir / "operator.log", "wb")  # noqa: SIM115 - handed to the child
        metrics_port = _free_port()
        op = subprocess.Popen([sys.executable, "-m", "botfleet_operator", "operator", "--all-namespaces",
                               "--no-leader-election", "--identity", "bench",
                               "--metrics-port", str(metrics_port), "--health-port", str(_free_port()),
                               "--workers", str(workers)], stdout=log, stderr=subprocess.STDOUT, env=env)
        watch = ProcWatch(op.pid)
        watch.start()
        time.sleep(3)
        if op.poll() is not None:  # not a fleet that never gets Ready: an operator that did not start
            log.close()
            tail = (workdir / "operator.log").read_text(errors="replace").splitlines()[-5:]
            raise RuntimeError(f"the operator exited at start ({op.returncode}): " + " | ".join(tail))
        idle_rss = watch.peak_rss_mb

        names = [f"bot-{i:05d}" for i in range(n)]
        # live: only a live bot mounts its wallet Secret, so only its Deployment follows a rotation
        # (kwok pods run no container: nothing trades).
        docs: list[dict[str, Any]] = [{"apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot", "metadata": {"name": nm},
                 "spec": {"strategy": "arbhunter", "mode": "live", "walletSecretRef": {"name": "shared-wallet"}}}
                for nm in names]
        admin = Admin(plane.admin_kubeconfig)
        ready_at: dict[str, float] = {}
        stop_polling = threading.Event()

        def seen(b: dict[str, Any]) -> None:
            nm = b["metadata"]["name"]
            if nm not in ready_at and _ready(b):
                ready_at[nm] = time.monotonic()
                if len(ready_at) == n:
                    stop_polling.set()

        def poll() -> None:  # concurrently with the creates: early bots turn Ready while others are created
            admin.observe(f"/apis/botfleet.io/v1alpha1/namespaces/{ns}/tradingbots", seen, stop_polling)
        t0 = time.monotonic()
        watch.started, watch.timeline = t0, []
        bench_cpu0 = time.process_time()
        cpu0 = watch.cpu_s
        plane0 = _plane_cpu(plane)
        req0 = _requests(admin)
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        profiler = None
        if profile_apiserver:
            profiler = threading.Thread(target=_profile_apiserver, args=(admin, profile_apiserver, 60), daemon=True)
            profiler.start()
        applied = admin.create_all(f"/apis/botfleet.io/v1alpha1/namespaces/{ns}/tradingbots", docs)
        result["create_s"] = round(time.monotonic() - t0, 1)
        stop_polling.wait(timeout=max(0.0, timeout_s - (time.monotonic() - t0)))
        stop_polling.set()
        if profiler is not None:
            profiler.join(120)
        lat = [ready_at[nm] - applied[nm] for nm in ready_at if nm in applied]
        cpu_create = watch.cpu_s - cpu0
        watch.sample()
        result["operator_peak_rss_mb_creating"] = round(watch.peak_rss_mb, 1)  # VmHWM once all are Ready
        result["operator_rss_mb_every_5s_creating"] = [mb for _, mb in watch.timeline]
        if dump_memory:
            result["tracemalloc_all_ready"] = _memory_dump(op.pid, workdir / "operator.log")
        result["bench_process_cpu_s_create"] = round(time.process_time() - bench_cpu0, 1)  # the observer's own cost
        plane1 = _plane_cpu(plane)
        # Same window as the operator's figure: the first create until every bot is Ready.
        result["control_plane_cpu_s_create"] = {k: round(plane1[k] - plane0.get(k, 0.0), 1) for k in plane1}
        req1 = _requests(admin)
        # Every client's requests (operator, controllers, kwok, this bench's polls), per bot.
        per_bot = {k: round((v - req0.get(k, 0.0)) / n, 2) for k, v in req1.items() if not k.startswith("s:")}
        result["apiserver_requests_per_bot_create"] = dict(sorted(
            ((k, v) for k, v in per_bot.items() if v >= 0.05), key=lambda kv: -kv[1]))
        # Where the API server's time went (latency summed, ms per bot): which requests are dear.
        ms = {k[2:]: round(1000 * (v - req0.get(k, 0.0)) / n, 1) for k, v in req1.items() if k.startswith("s:")}
        result["apiserver_ms_per_bot_create"] = dict(sorted(
            ((k, v) for k, v in ms.items() if v >= 1.0), key=lambda kv: -kv[1]))
        result.update({
            "ready": len(ready_at), "all_ready_s": round(max(ready_at.values()) - t0, 1) if len(ready_at) == n else None,
            "create_to_ready_p50_s": round(_pct(lat, 0.5), 1), "create_to_ready_p99_s": round(_pct(lat, 0.99), 1),
            "operator_cpu_s_create": round(cpu_create, 1),
            "operator_cpu_s_per_bot": round(cpu_create / max(1, len(ready_at)), 4),
        })

        # Who posts the Events (an Event is a write and a watch fan-out like any other object).
        reasons: dict[str, int] = {}
        for ev in admin.call("GET", f"/api/v1/namespaces/{ns}/events")["items"]:
            who = ev.get("reportingComponent") or (ev.get("source") or {}).get("component") or "?"
            k = f"{who}: {ev.get('reason')}"
            reasons[k] = reasons.get(k, 0) + int(ev.get("count") or 1)
        result["events_per_bot_by_reason"] = {k: round(v / n, 2) for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])}
        result["stages_after_first_create_s"] = _pipeline(admin, ns)

        # rotate the shared Secret: every bot must roll (new secrets hash on its pod template)
        def secrets_hash(d: dict[str, Any]) -> str:
            return str((d["spec"]["template"]["metadata"].get("annotations") or {}).get("botfleet.io/secrets-hash", ""))
        deployments = f"/apis/apps/v1/namespaces/{ns}/deployments"
        before = {d["metadata"]["name"]: secrets_hash(d) for d in admin.call("GET", deployments)["items"]}
        rolled: set[str] = set()
        rolled_at: list[float] = []
        all_rolled = threading.Event()

        def rolled_one(d: dict[str, Any]) -> None:
            nm, h = d["metadata"]["name"], secrets_hash(d)
            if h and before.get(nm) and h != before[nm] and nm not in rolled:
                rolled.add(nm)
                if len(rolled) == len(before):
                    rolled_at.append(time.monotonic())
                    all_rolled.set()
        observer = threading.Thread(target=admin.observe, args=(deployments, rolled_one, all_rolled), daemon=True)
        observer.start()
        time.sleep(1)  # the watch is open before the Secret changes
        secret["stringData"]["PRIVATE_KEY"] = "0x" + "6b" * 32
        t1 = time.monotonic()
        cpu1 = watch.cpu_s
        _kubectl(plane, "apply", "-n", ns, "-f", "-", input=json.dumps(secret))
        all_rolled.wait(timeout_s)
        all_rolled.set()
        result.update({"rotation_rolled": len(rolled), "rotation_all_rolled_s":
                       round(rolled_at[0] - t1, 1) if rolled_at else None,
                       "operator_cpu_s_rotation": round(watch.cpu_s - cpu1, 1)})
        watch.sample()
        result.update(_operator_counters(metrics_port, n))
        if dump_memory:
            result["tracemalloc_after_rotation"] = _memory_dump(op.pid, workdir / "operator.log")
        result.update({"operator_idle_rss_mb": round(idle_rss, 1), "operator_peak_rss_mb": round(watch.peak_rss_mb, 1),
                       "operator_cpu_s_total": round(watch.cpu_s, 1), "uptime_after": _uptime(),
                       "targets": {"all_ready_within_60s": result["all_ready_s"] is not None and result["all_ready_s"] <= 60,
                                   "operator_rss_at_most_150mb": watch.peak_rss_mb <= 150,
                                   "cpu_at_most_0.05_s_per_bot": result["operator_cpu_s_per_bot"] <= 0.05}})
    finally:
        if watch is not None:
            watch.stop.set()
        if op is not None:
            op.terminate()
            try:
                op.wait(15)
            except subprocess.TimeoutExpired:
                op.kill()
        _stop_plane(plane, workdir)
    result["machine"] = machine()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bots", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=32, help="the operator's --workers (its default: 32)")
    ap.add_argument("--timeout", type=float, default=900, help="give up waiting after this many seconds")
    ap.add_argument("--controller-qps", type=int, default=0,
                    help="kube-controller-manager's and the scheduler's API request rate (0: their defaults, 20 and 50)")
    ap.add_argument("--trace-memory", action="store_true",
                    help="run the operator under tracemalloc (slower) and report its largest allocation sites")
    ap.add_argument("--claims-only", action="store_true",
                    help="no operator: create --bots journal-like claims at once and time their binding "
                         "(the PV controller's pace alone)")
    ap.add_argument("--floor", action="store_true",
                    help="no operator: apply the operator's objects for --bots bots directly and time their Deployments")
    ap.add_argument("--against-floor", action="store_true",
                    help="run --floor first, then the operator on a fresh plane; report all-Ready as a multiple of "
                         "the floor (this shared machine's speed moves by half from one hour to the next)")
    ap.add_argument("--profile-apiserver", type=Path, metavar="FILE",
                    help="write the API server's CPU profile over the first 60 s of the creation (go tool pprof)")
    ap.add_argument("--volumes", choices=VOLUMES, default=VOLUMES[0],
                    help="the journal claims' volumes: made on demand by the dev cluster's provisioner, as a real "
                         "cluster's (default), or made beforehand, pre-bound to each claim (the figures before session 9)")
    a = ap.parse_args()
    if a.floor:
        print(json.dumps(run_floor(a.bots, a.controller_qps, a.timeout, a.volumes), indent=1))
        return
    if a.claims_only:
        print(json.dumps(run_claims(a.bots, a.controller_qps, a.timeout), indent=1))
        return
    floor = None
    if a.against_floor:
        floor = run_floor(a.bots, a.controller_qps, a.timeout, a.volumes)
        time.sleep(15)  # the floor's plane fully gone before the operator's starts
    result = run(a.bots, a.workers, a.timeout, a.controller_qps, a.trace_memory, a.profile_apiserver, a.volumes)
    if floor is not None:
        result["floor"] = floor
        if result["all_ready_s"] and floor["all_available_s"]:
            result["all_ready_over_floor"] = round(result["all_ready_s"] / floor["all_available_s"], 2)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
