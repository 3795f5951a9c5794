"""The e2e `cluster` fixture (session scope): a real Kubernetes API for the operator's tests.

Which cluster (first match wins):
1. ``BOTFLEET_KUBECONFIG=/path`` — an existing cluster, used as is (nothing is started or stopped);
2. ``BOTFLEET_E2E_CLUSTER=local|kind`` forces one of the two below;
3. ``kind`` and a working ``docker info`` on the PATH — a throwaway kind cluster;
4. otherwise the local control plane built from Go modules (tools/controlplane/build.sh; built on
   first use), on loopback: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok.

In every mode the CRDs under ``crds/`` are installed first. Component logs of a failed session are
kept under ``.cache/controlplane-logs/<timestamp>/`` (the path is printed).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from botfleet_tools.devcluster.binaries import Binaries, ensure_binaries
from botfleet_tools.devcluster.manifests import install_crds
from botfleet_tools.devcluster.modes import choose_mode, kind_available
from botfleet_tools.devcluster.mounts import remove_workdir
from botfleet_tools.devcluster.plane import ControlPlaneError, LocalControlPlane
from botfleet_tools.devcluster.realnode import RealNode, delete_network
from tests.support.controlplane_csr import kubeconfig_via_csr
from tests.support.controlplane_kind import KindCluster

REPO = Path(__file__).resolve().parents[2]
CRDS_DIR = REPO / "crds"
# The identity the operator runs as in e2e: exactly what Kubernetes would authenticate for the
# chart's ServiceAccount, so a ClusterRoleBinding to that ServiceAccount applies to it unchanged.
OPERATOR_NAMESPACE = "botfleet-system"
OPERATOR_SERVICE_ACCOUNT = "botfleet-operator"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_SERVICE_ACCOUNT}"
OPERATOR_GROUPS = ("system:serviceaccounts", f"system:serviceaccounts:{OPERATOR_NAMESPACE}")

@dataclass
class Cluster:
    """What the e2e tests get. ``kubeconfig`` is the admin's (same file as ``admin_kubeconfig``)."""

    mode: str
    admin_kubeconfig: Path
    operator_kubeconfig: Path
    logs_dir: Path
    kubectl_bin: str
    _user_kubeconfig: Callable[[str, Sequence[str]], Path] = field(repr=False)
    startup_seconds: float = 0.0

    @property
    def kubeconfig(self) -> Path:
        return self.admin_kubeconfig

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True,
        kubeconfig: Path | None = None, timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl (as admin unless ``kubeconfig``); raises with stderr when ``check`` and it fails."""
        cmd = [self.kubectl_bin, f"--kubeconfig={kubeconfig or self.admin_kubeconfig}", *args]
        result = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}{result.stdout}"
            )
        return result

    def kubeconfig_for_user(self, name: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig that authenticates as user ``name`` in ``groups`` (a client certificate)."""
        return self._user_kubeconfig(name, tuple(groups))


def _kubectl_binary() -> str:
    return shutil.which("kubectl") or ensure_binaries(build=True).path("kubectl")


def _keep_logs(logs: Path) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    dest = REPO / ".cache" / "controlplane-logs" / f"{stamp}-{os.getpid()}"
    dest.mkdir(parents=True, exist_ok=True)
    if logs.is_dir():
        shutil.copytree(logs, dest, dirs_exist_ok=True)
    return dest


@contextlib.contextmanager
def _visible_output(config: pytest.Config) -> Iterator[None]:
    """Let build progress and start-up messages reach the terminal despite output capture."""
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        yield
        return
    with capman.global_and_fixture_disabled():
        yield


def _say(msg: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] controlplane: {msg}", file=sys.stderr, flush=True)


def prebuild(session: pytest.Session) -> None:
    """Build missing binaries after collection, before the first test: a first build takes far
    longer than pytest-timeout allows a test (its fixture setup included)."""
    if session.config.option.collectonly or not session.items:
        return
    if choose_mode(os.environ, kind_available) != "local":
        return
    with _visible_output(session.config):
        ensure_binaries(build=True)


def _start_plane(binaries: Binaries, config: pytest.Config, attempts: int = 2,
                 real_node: Callable[[Path], RealNode] | None = None) -> LocalControlPlane:
    """Start on fresh loopback ports; one retry covers a port taken between probe and bind.
    ``real_node(workdir)`` makes a real node (tests/support/realnode.py) to start with it."""
    for attempt in range(1, attempts + 1):
        workdir = Path(tempfile.mkdtemp(prefix="botfleet-cp-"))
        node = real_node(workdir) if real_node else None
        try:
            plane = LocalControlPlane(binaries, workdir, real_node=node)
        except BaseException:
            if node is not None:  # its network namespace exists already
                delete_network(node.net)
            raise
        try:
            plane.start()
            return plane
        except ControlPlaneError as exc:
            kept = _keep_logs(plane.logs_dir)
            remove_workdir(plane.workdir)
            if attempt == attempts:
                raise ControlPlaneError(f"{exc}\n(component logs kept in {kept})") from exc
            with _visible_output(config):
                _say(f"start-up failed ({str(exc).splitlines()[0]}); logs in {kept}; retrying")
    raise AssertionError("unreachable")


@contextlib.contextmanager
def local_cluster(config: pytest.Config, real_node: Callable[[Path], RealNode] | None = None,
                  ) -> Iterator[tuple[Cluster, LocalControlPlane]]:
    with _visible_output(config):
        binaries = ensure_binaries(build=True)
    start = time.monotonic()
    plane = _start_plane(binaries, config, real_node=real_node)
    workdir = plane.workdir
    try:
        operator = plane.kubeconfig_for_user(OPERATOR_USER, OPERATOR_GROUPS)
        startup = time.monotonic() - start
        with _visible_output(config):
            _say(f"local control plane up in {startup:.1f}s at {plane.server} (work dir {workdir})")
        yield Cluster("local", plane.admin_kubeconfig, operator, plane.logs_dir, binaries.path("kubectl"),
                      plane.kubeconfig_for_user, startup), plane
    finally:
        plane.stop()
        # Every fixture's plane (the real node's too: 1-1.6 GB of images and containers); the logs
        # of a failed run are copied out first, by the fixture.
        left = remove_workdir(workdir)
        if left:
            with _visible_output(config):
                _say(f"{workdir} kept: still mounted below it: {', '.join(left[:3])}")


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    mode = choose_mode(os.environ, kind_available)
    failed = lambda: request.session.testsfailed > 0  # noqa: E731 - read at teardown
    if mode == "local":
        with local_cluster(request.config) as (c, plane):
            try:
                install_crds(c.kubectl, CRDS_DIR)
                yield c
            finally:
                if failed():
                    kept = _keep_logs(plane.logs_dir)
                    with _visible_output(request.config):
                        _say(f"tests failed: component logs kept in {kept}")
        return

    workdir = Path(tempfile.mkdtemp(prefix="botfleet-e2e-"))
    kind: KindCluster | None = None
    start = time.monotonic()
    if mode == "kind":
        kind = KindCluster(workdir / "kind.kubeconfig")
        with _visible_output(request.config):
            kind.create()
        admin = kind.kubeconfig
    else:
        admin = Path(os.environ["BOTFLEET_KUBECONFIG"]).expanduser().resolve()
        if not admin.is_file():
            raise FileNotFoundError(f"BOTFLEET_KUBECONFIG={admin}: no such kubeconfig file")
    try:
        kubectl_bin = _kubectl_binary()
        holder: list[Cluster] = []

        def user_kubeconfig(name: str, groups: Sequence[str]) -> Path:
            safe = "".join(ch if ch.isalnum() else "_" for ch in name)
            return kubeconfig_via_csr(holder[0].kubectl, admin, workdir / f"user-{safe}.kubeconfig",
                                      name, groups)

        logs = workdir / "logs"
        logs.mkdir()
        c = Cluster(mode, admin, admin, logs, kubectl_bin, user_kubeconfig)
        holder.append(c)
        c.operator_kubeconfig = c.kubeconfig_for_user(OPERATOR_USER, OPERATOR_GROUPS)
        c.startup_seconds = time.monotonic() - start
        install_crds(c.kubectl, CRDS_DIR)
        yield c
    finally:
        if kind is not None:
            if failed():
                kind.export_logs(workdir / "logs")
                kept = _keep_logs(workdir / "logs")
                with _visible_output(request.config):
                    _say(f"tests failed: kind logs kept in {kept}")
            kind.delete()
        shutil.rmtree(workdir, ignore_errors=True)
