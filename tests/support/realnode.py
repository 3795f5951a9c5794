"""The `realnode` fixture (session scope): the local control plane plus a real node, where pods run
as containers (containerd + runc + CNI, kubelet, kube-proxy; tools/botfleet_tools/devcluster/realnode.py),
and helpers for the tests marked ``realnode`` (tests/e2e/realnode/).

Needs root, the Debian packages of the real node and of the image build (buildah, debootstrap); the
fixture skips with the list of what is missing. The botfleet image is built from this checkout
(cached by a hash of its sources) and imported into the node's containerd under the operator's
default name, so bot pods start with the default ``IfNotPresent`` and no registry.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from botfleet_tools.devcluster import realnode
from botfleet_tools.devcluster.nodeimages import NodeImages, ensure_node_images
from botfleet_tools.devcluster.plane import LocalControlPlane, free_port
from tests.support import image
from tests.support.controlplane import CRDS_DIR, Cluster, _say, _visible_output, install_crds, local_cluster
from tests.support.controlplane_wait import eventually

REPO = Path(__file__).resolve().parents[2]


@dataclass
class RealCluster:
    """What the realnode tests get: the cluster (as in e2e), its real node and the plane."""

    cluster: Cluster
    node: realnode.RealNode
    plane: LocalControlPlane
    images: NodeImages

    @property
    def host_ip(self) -> str:
        """The host's address as pods see it: services on the host listen here for them."""
        return self.node.net.host_ip

    def in_node(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` in the node's network namespace (where Service ClusterIPs work)."""
        return subprocess.run(["nsenter", f"--net=/run/netns/{self.node.net.netns}", "--", *cmd],
                              capture_output=True, text=True, timeout=timeout, check=False)

    def container_pid(self, container_id: str) -> int:
        """Host pid of a container's main process (``containerID`` of a pod status, any prefix)."""
        cid = container_id.split("://", 1)[-1]
        for line in self.node.ctr("tasks", "list").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == cid:
                return int(fields[1])
        raise AssertionError(f"no running task {cid} in the node's containerd")


def missing_requirements() -> list[str]:
    return [*realnode.missing_requirements(), *image.missing_requirements()]


def prebuild_images(session: pytest.Session) -> None:
    """Build the node's images before the first test (minutes the first time; pytest-timeout counts
    fixture set-up as part of a test)."""
    if session.config.option.collectonly or missing_requirements():
        return
    with _visible_output(session.config):
        t0 = time.monotonic()
        ensure_node_images(log=_say)
        _say(f"node images ready in {time.monotonic() - t0:.1f}s")


@pytest.fixture(scope="session")
def real_cluster(request: pytest.FixtureRequest) -> Iterator[RealCluster]:
    missing = missing_requirements()
    if missing:
        pytest.skip("a real node needs " + "; ".join(missing))
    images = ensure_node_images()
    nodes: list[realnode.RealNode] = []

    def make_node(workdir: Path) -> realnode.RealNode:
        nodes.append(realnode.RealNode.create(workdir, images.archives, images.pause))
        return nodes[-1]

    t0 = time.monotonic()
    with local_cluster(request.config, real_node=make_node) as (c, plane):
        with _visible_output(request.config):
            _say(f"real node {nodes[-1].name} Ready ({nodes[-1].net.node_ip}) {time.monotonic() - t0:.1f}s "
                 "after start (images imported)")
        install_crds(c.kubectl, CRDS_DIR)
        try:
            yield RealCluster(c, nodes[-1], plane, images)
        finally:
            if request.session.testsfailed:
                from tests.support.controlplane import _keep_logs

                kept = _keep_logs(plane.logs_dir)
                with _visible_output(request.config):
                    _say(f"tests failed: component logs kept in {kept}")


# -- things the scenarios run on the host -----------------------------------------------------------
class HostProcess:
    """A botfleet command on the host (the simulator, the operator), logging to a file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        logs = REPO / ".cache" / "realnode"
        logs.mkdir(parents=True, exist_ok=True)
        self.log = logs / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([str(Path(sys.executable).parent / "botfleet"), *args], stdout=out,
                                         stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.proc.args!r} exited {self.proc.returncode}; log: {self.log}\n"
                                 + self.log.read_text(errors="replace")[-3000:])
        return True

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def http_json(url: str, method: str = "GET", body: Any = None, timeout: float = 5,
              headers: dict[str, str] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def http_ok(url: str, headers: dict[str, str] | None = None) -> bool:
    with contextlib.suppress(OSError), urllib.request.urlopen(
            urllib.request.Request(url, headers=headers or {}), timeout=3) as r:
        return int(r.status) == 200
    return False


# The admin listener (`/_sim/*`, loopback, bearer token) of each simulator started here, by its URL.
_SIM_ADMIN: dict[str, tuple[str, dict[str, str]]] = {}


def sim_admin(sim_url: str, path: str, method: str = "GET", body: Any = None) -> Any:
    """A `/_sim/*` request to the admin listener of the simulator serving `sim_url`, with its token."""
    admin_url, headers = _SIM_ADMIN[sim_url]
    return http_json(admin_url + path, method, body, headers=headers)


@contextlib.contextmanager
def simulator(host: str) -> Iterator[str]:
    """`botfleet sim` on the host, listening where the node's pods reach it; yields its URL. Its admin
    endpoints stay on the host's loopback (pods never reach them): `sim_admin(url, "/_sim/...")`."""
    port, admin_port = free_port(), free_port()
    token_file = REPO / ".cache" / "realnode" / f"sim-admin-{os.getpid()}-{port}.token"
    token_file.parent.mkdir(parents=True, exist_ok=True)
    sim = HostProcess("sim", ["sim", "--host", host, "--port", str(port), "--admin-port", str(admin_port),
                              "--admin-token-file", str(token_file)])
    url = f"http://{host}:{port}"
    admin_url = f"http://127.0.0.1:{admin_port}"

    def up() -> bool:
        if not (sim.alive() and token_file.is_file() and token_file.read_text()):
            return False
        _SIM_ADMIN[url] = (admin_url, {"Authorization": f"Bearer {token_file.read_text().strip()}"})
        return http_ok(f"{url}/ok") and http_ok(f"{admin_url}/_sim/state", _SIM_ADMIN[url][1])

    try:
        eventually(up, "simulator up", timeout=60)
        yield url
    finally:
        sim.stop()
        _SIM_ADMIN.pop(url, None)
        token_file.unlink(missing_ok=True)


@contextlib.contextmanager
def operator(cluster: Cluster, sim_url: str, identity: str = "realnode-operator") -> Iterator[HostProcess]:
    """The operator on the host, as its ServiceAccount (RBAC of deploy/rbac/operator.yaml)."""
    cluster.kubectl("apply", "-f", str(REPO / "deploy" / "rbac" / "operator.yaml"))
    health = free_port()
    op = HostProcess("operator", ["operator", "--all-namespaces", "--lease-namespace", "botfleet-system",
                                  "--identity", identity, "--metrics-port", str(free_port()),
                                  "--health-port", str(health)],
                     env={"KUBECONFIG": str(cluster.operator_kubeconfig), "BOTFLEET_SIM_URL": sim_url})
    try:
        eventually(lambda: op.alive() and http_ok(f"http://127.0.0.1:{health}/healthz"), "operator healthy",
                   timeout=90)
        yield op
    finally:
        op.stop()
