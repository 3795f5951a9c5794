"""A real node for the local control plane: containerd + runc + CNI, kubelet and kube-proxy, all
inside a network namespace of their own, so pods really run (no Docker, no registry).

Layout (index ``i`` is the first free one, so clusters side by side do not collide):

- network namespace ``botfleet-node-<i>``, joined to the host by a veth pair: host end
  ``bfh<i>`` = 10.213.<i>.1/30 (the API server listens there), node end ``bfn<i>`` = 10.213.<i>.2
  (the node's InternalIP); pods get 10.214.<i>.0/24 on a bridge inside the namespace, and the host
  has a route to that range through the veth. Nothing is routed anywhere else: no traffic leaves
  the machine, and kube-proxy's iptables rules live in the namespace, not on the host;
- containerd with its own root, state, socket and CNI configuration under ``<workdir>/node``;
  images come from archives imported into its ``k8s.io`` namespace (``ctr images import``);
- kube-router (its firewall only) enforces NetworkPolicy, with iptables and ipsets of the namespace;
- kubelet settings for this VM (cgroup v1, no swap limits, no QoS cgroups), see docs/local-cluster.md
  for what a cgroup v2 host changes;

Needs root and the Debian packages containerd, runc, containernetworking-plugins, iptables,
conntrack (:func:`missing_requirements` names what is absent).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from botfleet_tools.devcluster import pki
from botfleet_tools.devcluster.mounts import unmount_under

if TYPE_CHECKING:
    from botfleet_tools.devcluster.plane import LocalControlPlane

CNI_BIN_DIR = Path("/usr/lib/cni")
CONTAINERD = "/usr/bin/containerd"
CTR = "/usr/bin/ctr"
NODE_PREFIX = "botfleet-node"
NODE_COMPONENTS = ("containerd", "kubelet", "kube-proxy", "kube-router")
KUBE_ROUTER_HEALTH_PORT = 20244  # in the node's namespace: no clash between clusters
# The kubelet sets these host-wide sysctls at start-up (its "kernel tunables"); the VM is shared, so
# their values are put back when the node stops.
KERNEL_TUNABLES = ("vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
                   "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes")


class RealNodeError(RuntimeError):
    pass


def missing_requirements() -> list[str]:
    """What prevents a real node here (empty when one can start)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (containerd, network namespaces and the kubelet need it)")
    for tool, package in (("containerd", "containerd"), ("runc", "runc"), ("ctr", "containerd"),
                          ("iptables", "iptables"), ("conntrack", "conntrack"), ("ipset", "ipset"),
                          ("nsenter", "util-linux"),
                          ("ip", "iproute2")):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            missing.append(f"the '{tool}' command (apt-get install {package})")
    for plugin in ("bridge", "host-local", "loopback", "portmap"):
        if not (CNI_BIN_DIR / plugin).exists():
            missing.append(f"CNI plugin {CNI_BIN_DIR / plugin} (apt-get install containernetworking-plugins)")
    return missing


def _run(*cmd: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RealNodeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


@dataclass(frozen=True)
class NodeNet:
    """The addresses of node ``index``; pure (creating them is :func:`create_network`)."""

    index: int

    @property
    def netns(self) -> str:
        return f"{NODE_PREFIX}-{self.index}"

    @property
    def host_if(self) -> str:
        return f"bfh{self.index}"

    @property
    def node_if(self) -> str:
        return f"bfn{self.index}"

    @property
    def host_ip(self) -> str:
        return f"10.213.{self.index}.1"

    @property
    def node_ip(self) -> str:
        return f"10.213.{self.index}.2"

    @property
    def pod_cidr(self) -> str:
        return f"10.214.{self.index}.0/24"

    def in_ns(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *cmd]


def create_network(first: int = 1, last: int = 250) -> NodeNet:
    """Claim the first free index (``ip netns add`` fails when taken: that is the lock) and wire it."""
    for index in range(first, last + 1):
        net = NodeNet(index)
        if Path(f"/sys/class/net/{net.host_if}").exists():
            continue
        if _run("ip", "netns", "add", net.netns, check=False).returncode != 0:
            continue
        try:
            _wire(net)
        except BaseException:
            delete_network(net)
            raise
        return net
    raise RealNodeError(f"no free node index in {first}..{last} (`ip netns list` shows {NODE_PREFIX}-*)")


def _wire(net: NodeNet) -> None:
    _run("ip", "link", "add", net.host_if, "type", "veth", "peer", "name", net.node_if, "netns", net.netns)
    _run("ip", "addr", "add", f"{net.host_ip}/30", "dev", net.host_if)
    _run("ip", "link", "set", net.host_if, "up")
    _run(*net.in_ns("ip", "link", "set", "lo", "up"))
    _run(*net.in_ns("ip", "addr", "add", f"{net.node_ip}/30", "dev", net.node_if))
    _run(*net.in_ns("ip", "link", "set", net.node_if, "up"))
    _run(*net.in_ns("ip", "route", "add", "default", "via", net.host_ip))
    # The host reaches pods directly (health checks, scrapes) through the node.
    _run("ip", "route", "add", net.pod_cidr, "via", net.node_ip, "dev", net.host_if)
    # Inside the namespace only: forward between the bridge and the veth, and let bridged pod
    # traffic through iptables (kube-proxy's Service rules for pod -> Service -> pod on one bridge).
    for key in ("net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1"):
        _run(*net.in_ns("sysctl", "-qw", key))


def delete_network(net: NodeNet) -> None:
    """Remove the namespace (its end of the veth goes with it, and the pair with that)."""
    _run("ip", "netns", "delete", net.netns, check=False)
    _run("ip", "link", "delete", net.host_if, check=False)




def _shim_pids(socket_path: str) -> list[int]:
    """containerd-shim processes serving our containerd (their command line names its socket)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if args and b"containerd-shim" in args[0] and socket_path.encode() in args:
            pids.append(int(entry.name))
    return pids


class RealNode:
    """One real node. :meth:`create` claims the network (before the API server, which listens on
    the host end); the control plane then calls :meth:`write_pki`, :meth:`apiserver_args`,
    :meth:`start` and :meth:`stop`."""

    def __init__(self, net: NodeNet, workdir: Path, images: Sequence[Path], pause_image: str,
                 *, name: str | None = None) -> None:
        self.net = net
        self.dir = workdir / "node"
        self.images = list(images)
        self.pause_image = pause_image
        self.name = name or f"{NODE_PREFIX}-{net.index}"
        self.socket = str(self.dir / "containerd.sock")
        self._tunables: dict[str, str] = {}

    @classmethod
    def create(cls, workdir: Path, images: Sequence[Path], pause_image: str) -> RealNode:
        missing = missing_requirements()
        if missing:
            raise RealNodeError("a real node needs " + "; ".join(missing))
        return cls(create_network(), workdir, images, pause_image)

    # -- hooks called by LocalControlPlane ------------------------------------------------------
    def write_pki(self, plane: LocalControlPlane) -> None:
        ca = plane._load_ca()
        d = plane.pki_dir
        for fname, user, groups in (
            ("kubelet", f"system:node:{self.name}", ("system:nodes",)),
            ("kube-proxy", "system:kube-proxy", ()),
            # kube-router watches pods, namespaces and policies cluster-wide: a dev tool, admin.
            ("kube-router", "kube-router", ("system:masters",)),
        ):
            plane._write_kubeconfig(plane.kubeconfig_dir / f"{fname}.kubeconfig", user,
                                    pki.issue_client_cert(ca, user, groups))
        # The API server's identity towards the kubelet (logs, exec, port-forward).
        client = pki.issue_client_cert(ca, "kube-apiserver-kubelet-client", ("system:masters",))
        pki.write_private(d / "apiserver-kubelet-client.crt", client.cert_pem)
        pki.write_private(d / "apiserver-kubelet-client.key", client.key_pem)
        serving = pki.issue_server_cert(ca, [self.name, self.net.node_ip])
        pki.write_private(d / "kubelet-serving.crt", serving.cert_pem)
        pki.write_private(d / "kubelet-serving.key", serving.key_pem)

    def apiserver_args(self, plane: LocalControlPlane) -> list[str]:
        d = plane.pki_dir
        return [f"--kubelet-client-certificate={d / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={d / 'apiserver-kubelet-client.key'}",
                f"--kubelet-certificate-authority={d / 'ca.crt'}",
                "--kubelet-preferred-address-types=InternalIP"]

    def state(self) -> dict[str, object]:
        return {"index": self.net.index, "name": self.name, "dir": str(self.dir), "socket": self.socket,
                "host_ip": self.net.host_ip, "node_ip": self.net.node_ip, "pod_cidr": self.net.pod_cidr,
                "tunables": self._tunables}

    # -- start -----------------------------------------------------------------------------------
    def start(self, plane: LocalControlPlane, timeout: float) -> None:
        missing = [b for b in ("kubelet", "kube-proxy", "kube-router") if not os.access(plane.binaries.path(b), os.X_OK)]
        if missing:
            raise RealNodeError(f"missing {', '.join(missing)} in {plane.binaries.bin_dir} "
                                "(re-run tools/controlplane/build.sh)")
        self.dir.mkdir(parents=True, exist_ok=True)
        self._start_containerd(plane)
        for archive in self.images:
            self.import_image(archive)
        self._tunables = {k: Path(f"/proc/sys/{k}").read_text().strip() for k in KERNEL_TUNABLES
                          if Path(f"/proc/sys/{k}").exists()}
        plane._spawn("kubelet", [
            f"--config={self._kubelet_config(plane)}",
            f"--kubeconfig={plane.kubeconfig_dir / 'kubelet.kubeconfig'}",
            f"--hostname-override={self.name}", f"--node-ip={self.net.node_ip}",
            f"--root-dir={self.dir / 'kubelet'}", f"--cert-dir={self.dir / 'kubelet-pki'}", "--v=1",
        ], netns=self.net.netns)
        plane._spawn("kube-proxy", [f"--config={self._kube_proxy_config(plane)}",
                                    f"--hostname-override={self.name}", "--v=1"], netns=self.net.netns)
        plane._wait_component("kubelet", lambda: plane._node_ready(self.name), max(timeout, 120))
        plane._alive_or_raise("kube-proxy")
        # NetworkPolicy enforcement: kube-router's firewall alone (the bridge CNI routes, kube-proxy
        # serves Services). It looks its Node up at start, hence after the kubelet registered it.
        plane._spawn("kube-router", [
            f"--kubeconfig={plane.kubeconfig_dir / 'kube-router.kubeconfig'}", f"--hostname-override={self.name}",
            "--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--enable-cni=false",
            f"--health-port={KUBE_ROUTER_HEALTH_PORT}", "--metrics-port=0", "--v=1",
        ], netns=self.net.netns)
        plane._wait_component(
            "kube-router", lambda: plane._http_ok(f"http://{self.net.node_ip}:{KUBE_ROUTER_HEALTH_PORT}/healthz"), 60)

    def _start_containerd(self, plane: LocalControlPlane) -> None:
        cni_dir = self.dir / "cni"
        cni_dir.mkdir(parents=True, exist_ok=True)
        (cni_dir / "10-botfleet.conflist").write_text(json.dumps(cni_conflist(self.net, self.dir), indent=2))
        config = self.dir / "containerd.toml"
        config.write_text(containerd_config(self.dir, self.socket, self.pause_image, cni_dir))
        plane._spawn("containerd", [f"--config={config}"], exe=CONTAINERD, netns=self.net.netns)
        plane._wait_component("containerd", lambda: self.ctr("version", check=False).returncode == 0, 60)

    def ctr(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return _run(CTR, f"--address={self.socket}", "--namespace=k8s.io", *args, check=check, timeout=timeout)

    def import_image(self, archive: Path) -> None:
        """Import a docker-archive/OCI archive and unpack it for the CRI's snapshotter."""
        self.ctr("images", "import", "--snapshotter=overlayfs", str(archive))

    def _kubelet_config(self, plane: LocalControlPlane) -> Path:
        pk = plane.pki_dir
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            # This VM: cgroup v1 (deprecated, refused by default since 1.35), cgroupfs (no systemd),
            # no per-QoS cgroups nor node-allocatable enforcement (no cgroup hierarchy of our own).
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupsPerQOS": False,
            "enforceNodeAllocatable": [],
            "failSwapOn": False,
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": str(pk / "ca.crt")}},
            "authorization": {"mode": "Webhook"},
            "tlsCertFile": str(pk / "kubelet-serving.crt"),
            "tlsPrivateKeyFile": str(pk / "kubelet-serving.key"),
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "clusterDomain": "cluster.local",
            # No cluster DNS here; an empty resolv.conf keeps pods from querying the host's resolvers.
            "resolvConf": "",
            "podLogsDir": str(self.dir / "pod-logs"),
            # A shared disk: never evict a developer's bots for disk or memory the host still has.
            "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                             "nodefs.inodesFree": "1%"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "serializeImagePulls": False,
            "maxPods": 110,
        }
        path = self.dir / "kubelet.yaml"
        path.write_text(json.dumps(config, indent=2))
        return path

    def _kube_proxy_config(self, plane: LocalControlPlane) -> Path:
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(plane.kubeconfig_dir / "kube-proxy.kubeconfig")},
            "mode": "iptables",
            "clusterCIDR": self.net.pod_cidr,
            "healthzBindAddress": "127.0.0.1:10256",
            "metricsBindAddress": "127.0.0.1:10249",
            # nf_conntrack_max and the conntrack timeouts are host-wide: leave them alone.
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s",
                          "tcpCloseWaitTimeout": "0s"},
        }
        path = self.dir / "kube-proxy.yaml"
        path.write_text(json.dumps(config, indent=2))
        return path

    # -- stop ------------------------------------------------------------------------------------
    def stop(self, plane: LocalControlPlane) -> None:
        procs = plane._procs
        for name in ("kube-router", "kube-proxy", "kubelet"):
            proc = procs.pop(name, None)
            if proc is not None:
                _terminate(proc.pid, proc.poll)
        containerd = procs.pop("containerd", None)
        if containerd is not None and containerd.poll() is None:
            self.remove_containers()
            _terminate(containerd.pid, containerd.poll)
        cleanup(self.net, self.dir, self.socket, self._tunables)

    def remove_containers(self) -> None:
        remove_containers_at(self.socket)


def remove_containers_at(socket_path: str) -> None:
    """Kill and delete every container while containerd still runs (its shims would outlive it)."""
    def ctr(*args: str) -> subprocess.CompletedProcess[str]:
        return _run(CTR, f"--address={socket_path}", "--namespace=k8s.io", *args, check=False, timeout=30)

    containers = ctr("containers", "list", "--quiet").stdout.split()
    # Pod sandboxes' network namespaces (/var/run/netns/cni-*): the CRI removes them when a pod
    # stops, deleting its containers by force does not.
    pod_netns: set[str] = set()
    for container in containers:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            spec = json.loads(ctr("containers", "info", container).stdout)["Spec"]
            pod_netns.update(ns["path"] for ns in spec["linux"]["namespaces"]
                             if ns.get("type") == "network" and ns.get("path", "").startswith("/var/run/netns/"))
    tasks = ctr("tasks", "list", "--quiet").stdout.split()
    for task in tasks:
        ctr("tasks", "kill", "--all", "--signal=SIGKILL", task)
    for task in tasks:
        ctr("tasks", "delete", "--force", task)
    for container in containers:
        ctr("containers", "delete", container)
    for path in pod_netns:
        _run("ip", "netns", "delete", Path(path).name, check=False)


def _terminate(pid: int, poll: object = None, grace: float = 10.0) -> None:
    from botfleet_tools.devcluster.plane import stop_pids

    stop_pids([pid], grace)
    if callable(poll):
        poll()  # reap our child


def cleanup(net: NodeNet, node_dir: Path, socket_path: str, tunables: dict[str, str]) -> None:
    """What remains once the processes are stopped: stray shims, mounts, the network, sysctls."""
    for pid in _shim_pids(socket_path):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    unmount_under(node_dir)
    delete_network(net)
    for key, value in tunables.items():
        with contextlib.suppress(OSError):
            Path(f"/proc/sys/{key}").write_text(value)


def cleanup_from_state(state: dict[str, object]) -> None:
    """`botfleet dev cluster down`: the node's leftovers, from what `up` recorded."""
    node = state.get("real_node")
    if not isinstance(node, dict):
        return
    socket_path = str(node["socket"])
    tunables = node.get("tunables") or {}
    cleanup(NodeNet(int(node["index"])), Path(str(node["dir"])), socket_path,
            {str(k): str(v) for k, v in tunables.items()} if isinstance(tunables, dict) else {})


# -- configuration files (pure) -------------------------------------------------------------------
def containerd_config(node_dir: Path, socket_path: str, pause_image: str, cni_conf_dir: Path) -> str:
    """containerd 1.6 (config version 2) with everything under ``node_dir``."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{node_dir / 'containerd-root'}"
state = "{node_dir / 'containerd-state'}"
oom_score = 0

[grpc]
  address = "{socket_path}"

[ttrpc]
  address = "{socket_path}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{node_dir / 'containerd-opt'}"

[{cri}]
  # No registry: the pod sandbox's image is one we imported.
  sandbox_image = "{pause_image}"
  # Processes here lack CAP_SYS_RESOURCE: a sandbox's oom_score_adj of -998 makes runc fail with
  # "can't get final child's PID from pipe: EOF" unless it is clamped to ours.
  restrict_oom_score_adj = true

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{cni_conf_dir}"
"""


def cni_conflist(net: NodeNet, node_dir: Path) -> dict[str, object]:
    return {
        "cniVersion": "1.0.0",
        "name": net.netns,
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": True, "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": net.pod_cidr}]],
                      "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(node_dir / "cni-ipam")}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
