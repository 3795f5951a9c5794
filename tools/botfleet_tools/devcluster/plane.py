"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (which plays the kubelet for one fake node).

The same class serves the e2e fixture (processes are children, stopped on teardown) and
`botfleet dev cluster up` (processes detached, their ids kept in ``state.json`` for `down`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from botfleet_tools.devcluster import pki, provisioner
from botfleet_tools.devcluster.binaries import Binaries

if TYPE_CHECKING:
    from botfleet_tools.devcluster.realnode import RealNode

SERVICE_CIDR = "10.0.0.0/16"  # virtual ClusterIPs only; room for a fleet of 1,000+ bots
# Extra flags of the controllers, for a plane sized for a fleet (benchmarks/bench_operator_scale.py):
# kube-controller-manager talks to the API server at 20 requests/s per controller by default, so
# its Deployment controller alone needs minutes for 1,000 new Deployments. Large clusters raise it.
KCM_EXTRA_ARGS: list[str] = []
SCHEDULER_EXTRA_ARGS: list[str] = []
APISERVER_EXTRA_ARGS: list[str] = []  # e.g. --profiling=true, for a CPU profile of a benchmark
SERVICE_IP = "10.0.0.1"  # first address of SERVICE_CIDR: the `kubernetes` Service
NODE_NAME = "kwok-node-0"
CLUSTER_NAME = "botfleet-local"
ADMIN_USER = "botfleet-admin"
# Start order; stopped in reverse. The last four exist only with a real node (realnode.py).
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok",
              "provisioner", "containerd", "kubelet", "kube-proxy", "kube-router")
# kwok's default stages, as kwokctl wires them: node init + lease heartbeat, pod ready/complete/delete.
KWOK_STAGE_FILES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)

FAKE_NODE = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "name": NODE_NAME,
        "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
        "labels": {
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/os": "linux",
            "kubernetes.io/hostname": NODE_NAME,
            "kubernetes.io/role": "agent",
            "node-role.kubernetes.io/agent": "",
            "type": "kwok",
        },
    },
    # No taint: ordinary pods (the operator's bots) schedule here without tolerations.
    "spec": {},
    "status": {
        "allocatable": {"cpu": "32", "memory": "256Gi", "ephemeral-storage": "100Gi", "pods": "110"},
        "capacity": {"cpu": "32", "memory": "256Gi", "ephemeral-storage": "100Gi", "pods": "110"},
        "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "fake"},
        "phase": "Running",
    },
}


# The fake node's taint when a real node runs beside it: real pods by default, fake ones opt in.
FAKE_NODE_TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}


class ControlPlaneError(RuntimeError):
    pass


def _die_with_parent() -> None:
    """Child-side (preexec): die with the parent, so a killed pytest leaves no orphans. SIGKILL, as
    a graceful API server shutdown can hang once etcd is gone, and the data is throwaway anyway."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux/glibc: orphans are then stopped by hand


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(what: str, check: Callable[[], bool], timeout: float, on_fail: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {what}\n{on_fail()}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited child not yet reaped) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def stop_pids(pids: Sequence[int], grace: float = 10.0) -> None:
    """Stop each pid in turn: SIGTERM, then SIGKILL if it is still alive after ``grace`` seconds."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@dataclass
class Ports:
    etcd_client: int = field(default_factory=free_port)
    etcd_peer: int = field(default_factory=free_port)
    apiserver: int = field(default_factory=free_port)
    controller_manager: int = field(default_factory=free_port)
    scheduler: int = field(default_factory=free_port)
    kwok: int = field(default_factory=free_port)


class LocalControlPlane:
    """Start with :meth:`start`, stop with :meth:`stop`. ``detach`` keeps the processes alive after
    this Python process exits (for `botfleet dev cluster up`)."""

    def __init__(self, binaries: Binaries, workdir: Path, *, detach: bool = False,
                 real_node: RealNode | None = None) -> None:
        self.binaries = binaries
        self.workdir = workdir
        self.detach = detach
        # With a real node the API server listens on the host end of the node's veth (pods and the
        # kubelet reach it there); without one, on loopback.
        self.real_node = real_node
        self.address = real_node.net.host_ip if real_node else "127.0.0.1"
        self.ports = Ports()
        if real_node:
            # The port API servers usually have (kubeadm): NetworkPolicies see the endpoint's port, and
            # the operator's Job policy allows 443 and 6443. The address is the node's own: no clash.
            self.ports.apiserver = 6443
        self.pki_dir = workdir / "pki"
        self.logs_dir = workdir / "logs"
        self.kubeconfig_dir = workdir / "kubeconfigs"
        self.admin_kubeconfig = self.kubeconfig_dir / "admin.kubeconfig"
        self.state_file = workdir / "state.json"
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._exes: dict[str, str] = {}
        self._ca: pki.CertPair | None = None

    @property
    def server(self) -> str:
        return f"https://{self.address}:{self.ports.apiserver}"

    # -- credentials -----------------------------------------------------------------------------
    def _write_pki(self) -> None:
        ca = pki.make_ca()
        self._ca = ca
        d = self.pki_dir
        pki.write_private(d / "ca.crt", ca.cert_pem)
        pki.write_private(d / "ca.key", ca.key_pem)
        serving = pki.issue_server_cert(
            ca,
            ["kubernetes", "kubernetes.default", "kubernetes.default.svc",
             "kubernetes.default.svc.cluster.local", "localhost", "127.0.0.1", SERVICE_IP, self.address],
        )
        pki.write_private(d / "apiserver.crt", serving.cert_pem)
        pki.write_private(d / "apiserver.key", serving.key_pem)
        sa_private, sa_public = pki.make_service_account_key()
        pki.write_private(d / "sa.key", sa_private)
        pki.write_private(d / "sa.pub", sa_public)
        admin = pki.issue_client_cert(ca, ADMIN_USER, ("system:masters",))
        pki.write_private(d / "admin.crt", admin.cert_pem)
        pki.write_private(d / "admin.key", admin.key_pem)
        self._write_kubeconfig(self.admin_kubeconfig, ADMIN_USER, admin)
        # Each component gets the identity its bootstrap RBAC role expects.
        for name, user in (
            ("kube-controller-manager", "system:kube-controller-manager"),
            ("kube-scheduler", "system:kube-scheduler"),
        ):
            self._write_kubeconfig(self.kubeconfig_dir / f"{name}.kubeconfig", user,
                                   pki.issue_client_cert(ca, user))
        # kwok writes node and pod status like a kubelet would, for any node: admin is simplest.
        self._write_kubeconfig(self.kubeconfig_dir / "kwok.kubeconfig", "kwok",
                               pki.issue_client_cert(ca, "kwok", ("system:masters",)))
        # The volume provisioner creates and deletes PersistentVolumes cluster-wide: a dev tool, admin.
        self._write_kubeconfig(self.kubeconfig_dir / "provisioner.kubeconfig", "botfleet-provisioner",
                               pki.issue_client_cert(ca, "botfleet-provisioner", ("system:masters",)))
        if self.real_node is not None:
            self.real_node.write_pki(self)

    def _write_kubeconfig(self, path: Path, user: str, cert: pki.CertPair) -> Path:
        assert self._ca is not None
        return pki.write_private(
            path, pki.kubeconfig_yaml(self.server, self._ca.cert_pem, user, client=cert,
                                      cluster_name=CLUSTER_NAME)
        )

    def _load_ca(self) -> pki.CertPair:
        if self._ca is None:
            self._ca = pki.CertPair((self.pki_dir / "ca.crt").read_bytes(),
                                    (self.pki_dir / "ca.key").read_bytes())
        return self._ca

    def kubeconfig_for_user(self, name: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig authenticating as user ``name`` in ``groups`` (client cert from our CA)."""
        self._load_ca()
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        cert = pki.issue_client_cert(self._load_ca(), name, tuple(groups))
        return self._write_kubeconfig(self.kubeconfig_dir / f"user-{safe}.kubeconfig", name, cert)

    # -- processes -------------------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str], *, exe: str | None = None, netns: str | None = None) -> None:
        """Start component ``name`` (``exe``, default: our binary of that name), inside network
        namespace ``netns`` when given (nsenter execs, so the pid is the component's)."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        exe = exe or self.binaries.path(name.split(":")[0])
        prefix = ["nsenter", f"--net=/run/netns/{netns}", "--"] if netns else []
        self._exes[name] = exe
        log = open(self.logs_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            proc = subprocess.Popen(
                [*prefix, exe, *args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.workdir, start_new_session=self.detach,
                preexec_fn=None if self.detach else _die_with_parent,
            )
        finally:
            log.close()
        self._procs[name] = proc
        self._save_state()

    def _log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs_dir / f"{name}.log"
        if not path.exists():
            return f"({name}: no log)"
        text = path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- last lines of {path} ---\n" + "\n".join(text)

    def _alive_or_raise(self, name: str) -> None:
        proc = self._procs[name]
        if proc.poll() is not None:
            raise ControlPlaneError(f"{name} exited with code {proc.returncode}\n{self._log_tail(name)}")

    def _ssl_context(self, client: bool = True) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki_dir / "ca.crt"))
        if client:
            ctx.load_cert_chain(str(self.pki_dir / "admin.crt"), str(self.pki_dir / "admin.key"))
        return ctx

    def api_get(self, path: str) -> tuple[int, bytes]:
        """GET ``path`` from the API server as admin; (status, body), status 0 when unreachable."""
        try:
            with urllib.request.urlopen(self.server + path, context=self._ssl_context(), timeout=5) as r:
                return int(r.status), r.read()
        except urllib.error.HTTPError as e:
            return int(e.code), e.read()
        except (urllib.error.URLError, OSError):
            return 0, b""

    def _http_ok(self, url: str, ctx: ssl.SSLContext | None = None) -> bool:
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=3) as r:
                return int(r.status) == 200
        except (urllib.error.URLError, OSError):
            return False

    def _wait_component(self, name: str, check: Callable[[], bool], timeout: float) -> None:
        def ok() -> bool:
            self._alive_or_raise(name)
            return check()

        wait_until(name, ok, timeout, lambda: self._log_tail(name))

    def _kwok_config(self) -> Path:
        docs = []
        for rel in KWOK_STAGE_FILES:
            path = self.binaries.kwok_stages / rel
            if not path.is_file():
                raise ControlPlaneError(f"kwok stage file missing: {path} (re-run tools/controlplane/build.sh)")
            docs.append(path.read_text().strip())
        out = self.workdir / "kwok-stages.yaml"
        out.write_text("\n---\n".join(docs) + "\n")
        return out

    def start(self, timeout: float = 180.0) -> None:
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
        for d in (self.workdir, self.logs_dir, self.kubeconfig_dir, self.pki_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._write_pki()
        p, k, pk = self.ports, self.kubeconfig_dir, self.pki_dir

        self._spawn("etcd", [
            "--name=default", f"--data-dir={self.workdir / 'etcd-data'}",
            f"--listen-client-urls=http://127.0.0.1:{p.etcd_client}",
            f"--advertise-client-urls=http://127.0.0.1:{p.etcd_client}",
            f"--listen-peer-urls=http://127.0.0.1:{p.etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{p.etcd_peer}",
            f"--initial-cluster=default=http://127.0.0.1:{p.etcd_peer}",
            # Throwaway data: no fsync keeps the shared 2-core machine responsive.
            "--unsafe-no-fsync=true", "--quota-backend-bytes=2147483648", "--log-level=warn",
        ])
        self._wait_component("etcd", lambda: self._http_ok(f"http://127.0.0.1:{p.etcd_client}/health"), 60)

        self._spawn("kube-apiserver", [
            f"--etcd-servers=http://127.0.0.1:{p.etcd_client}",
            f"--bind-address={self.address}", f"--advertise-address={self.address}", f"--secure-port={p.apiserver}",
            f"--cert-dir={pk}", f"--tls-cert-file={pk / 'apiserver.crt'}",
            f"--tls-private-key-file={pk / 'apiserver.key'}", f"--client-ca-file={pk / 'ca.crt'}",
            "--authorization-mode=Node,RBAC", f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pk / 'sa.pub'}",
            f"--service-account-signing-key-file={pk / 'sa.key'}",
            "--allow-privileged=true", "--profiling=false", "--v=1",
            *(self.real_node.apiserver_args(self) if self.real_node else []), *APISERVER_EXTRA_ARGS,
        ])
        self._wait_component(
            "kube-apiserver", lambda: self.api_get("/readyz")[0] == 200, max(timeout - 30, 60)
        )

        self._spawn("kube-controller-manager", [
            f"--kubeconfig={k / 'kube-controller-manager.kubeconfig'}",
            f"--authentication-kubeconfig={k / 'kube-controller-manager.kubeconfig'}",
            f"--authorization-kubeconfig={k / 'kube-controller-manager.kubeconfig'}",
            "--bind-address=127.0.0.1", f"--secure-port={p.controller_manager}",
            f"--cert-dir={pk / 'kcm'}", "--leader-elect=false", "--controllers=*",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pk / 'sa.key'}", f"--root-ca-file={pk / 'ca.crt'}",
            f"--cluster-signing-cert-file={pk / 'ca.crt'}", f"--cluster-signing-key-file={pk / 'ca.key'}",
            f"--cluster-name={CLUSTER_NAME}", f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--profiling=false", "--v=1", *KCM_EXTRA_ARGS,
        ])
        self._spawn("kube-scheduler", [
            f"--kubeconfig={k / 'kube-scheduler.kubeconfig'}",
            f"--authentication-kubeconfig={k / 'kube-scheduler.kubeconfig'}",
            f"--authorization-kubeconfig={k / 'kube-scheduler.kubeconfig'}",
            "--bind-address=127.0.0.1", f"--secure-port={p.scheduler}",
            f"--cert-dir={pk / 'scheduler'}", "--leader-elect=false", "--profiling=false", "--v=1",
            *SCHEDULER_EXTRA_ARGS,
        ])
        self._spawn("kwok", [
            f"--kubeconfig={k / 'kwok.kubeconfig'}", f"--config={self._kwok_config()}",
            "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--server-address=127.0.0.1:{p.kwok}", "--node-ip=127.0.0.1", "--node-lease-duration-seconds=40",
        ])
        fake_node = json.loads(json.dumps(FAKE_NODE))
        if self.real_node is not None:
            # Pods go to the real node unless they tolerate the fake one (fake scale nodes beside it).
            fake_node["spec"]["taints"] = [FAKE_NODE_TAINT]
        self.kubectl("apply", "-f", "-", input=json.dumps(fake_node))

        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE  # component health ports serve self-signed certs
        self._wait_component(
            "kube-scheduler", lambda: self._http_ok(f"https://127.0.0.1:{p.scheduler}/healthz", insecure), 60
        )
        self._wait_component(
            "kube-controller-manager",
            lambda: self.api_get("/api/v1/namespaces/default/serviceaccounts/default")[0] == 200, 90,
        )
        self._wait_component("kwok", self._node_ready, 60)
        # Claims of the default StorageClass bind by themselves (provisioner.py).
        self._spawn("provisioner", [
            "-m", "botfleet_tools.devcluster.provisioner",
            f"--kubeconfig={k / 'provisioner.kubeconfig'}", f"--dir={self.workdir / 'volumes'}",
        ], exe=sys.executable)
        self.kubectl("apply", "-f", "-", input=json.dumps(provisioner.storage_class()))
        self._alive_or_raise("provisioner")
        if self.real_node is not None:
            self.real_node.start(self, timeout)

    def _node_ready(self, name: str = NODE_NAME) -> bool:
        status, body = self.api_get(f"/api/v1/nodes/{name}")
        if status != 200:
            return False
        conditions = json.loads(body).get("status", {}).get("conditions", [])
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                kubeconfig: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [self.binaries.path("kubectl"), f"--kubeconfig={kubeconfig or self.admin_kubeconfig}", *args]
        result = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise ControlPlaneError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def stop(self) -> None:
        if self.real_node is not None:
            # Kubelet and kube-proxy first, then every container, then containerd and the network.
            self.real_node.stop(self)
        # One at a time, in reverse start order: etcd must outlive the API server's shutdown.
        for name in [n for n in reversed(COMPONENTS) if n in self._procs]:
            proc = self._procs.pop(name)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()

    def running(self) -> dict[str, bool]:
        return {n: p.poll() is None for n, p in self._procs.items()}

    # -- state for `botfleet dev cluster down/status` -------------------------------------------
    def _save_state(self) -> None:
        state = {
            "server": self.server,
            "kubeconfig": str(self.admin_kubeconfig),
            "bin_dir": str(self.binaries.bin_dir),
            "logs_dir": str(self.logs_dir),
            "pids": {n: p.pid for n, p in self._procs.items()},
            "exes": dict(self._exes),
            "real_node": self.real_node.state() if self.real_node else None,
            "ports": vars(self.ports),
        }
        self.state_file.write_text(json.dumps(state, indent=2))
