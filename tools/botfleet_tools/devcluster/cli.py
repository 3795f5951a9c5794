"""`botfleet dev cluster up|down|status`: the e2e control plane, started in the background."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

app = typer.Typer(help="A local Kubernetes control plane (etcd, API server, controllers, kwok) "
                       "on loopback, without Docker.", no_args_is_help=True, add_completion=False)

_DIR_HELP = "Where the cluster keeps its state, certificates and logs."


def default_dir() -> Path:
    from botfleet_tools.devcluster.binaries import repo_root

    if os.environ.get("BOTFLEET_CACHE"):
        return Path(os.environ["BOTFLEET_CACHE"]) / "devcluster"
    root = repo_root()
    if root is not None:
        return root / ".cache" / "devcluster"
    return Path.home() / ".cache" / "botfleet" / "devcluster"


def _read_state(workdir: Path) -> dict[str, object] | None:
    path = workdir / "state.json"
    if not path.is_file():
        return None
    loaded: dict[str, object] = json.loads(path.read_text())
    return loaded


def _owned_pids(state: dict[str, object]) -> dict[str, int]:
    """The recorded pids that still run one of our binaries (a recycled pid is left alone)."""
    from botfleet_tools.devcluster.plane import pid_alive

    bin_dir = str(state.get("bin_dir", ""))
    pids = state.get("pids", {})
    exes = state.get("exes") or {}
    owned: dict[str, int] = {}
    if not isinstance(pids, dict) or not isinstance(exes, dict):
        return owned
    for name, pid in pids.items():
        if not pid_alive(int(pid)):
            continue
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        # containerd and the provisioner (python) run from outside bin_dir: compare with what was started.
        expected = os.path.realpath(str(exes.get(name, ""))) if name in exes else ""
        if exe.startswith(bin_dir) or (expected and exe == expected):
            owned[str(name)] = int(pid)
    return owned


def _print_usage(state: dict[str, object]) -> None:
    kubeconfig = state["kubeconfig"]
    typer.echo(f"export KUBECONFIG={kubeconfig}")
    # Always: an older kubectl on PATH warns of version skew at every call, and helm may be missing.
    typer.echo(f"export PATH={state['bin_dir']}:$PATH   # kubectl and helm of this cluster's version")


@app.command()
def up(
    workdir: Path = typer.Option(None, "--dir", help=_DIR_HELP),
    crds: Path = typer.Option(None, "--crds", help="Directory of CRD manifests to install "
                                                   "(default: crds/ of the checkout)."),
    timeout: float = typer.Option(240.0, help="Seconds to wait for every component."),
    real_node: bool = typer.Option(False, "--real-node", help="Also start a real node (containerd, kubelet, "
                                   "kube-proxy; root) where pods run as containers; kwok's fake node "
                                   "stays for scale, tainted so only pods that tolerate it go there."),
) -> None:
    """Start the control plane in the background and print the KUBECONFIG to export."""
    from botfleet_tools.devcluster.binaries import ensure_binaries, repo_root
    from botfleet_tools.devcluster.manifests import install_crds
    from botfleet_tools.devcluster.mounts import remove_workdir
    from botfleet_tools.devcluster.plane import ControlPlaneError, LocalControlPlane
    from botfleet_tools.devcluster.realnode import RealNode, RealNodeError

    workdir = (workdir or default_dir()).resolve()
    state = _read_state(workdir)
    if state is not None and _owned_pids(state):
        typer.echo(f"already running (state in {workdir}); `botfleet dev cluster down` stops it", err=True)
        _print_usage(state)
        return
    left = remove_workdir(workdir) if workdir.exists() else []  # leftovers of a cluster whose processes are gone
    if left:
        typer.echo(f"{workdir} still has something mounted below it ({left[0]}): `botfleet dev cluster down "
                   f"--dir {workdir}` cleans up after a real node it started; otherwise umount it", err=True)
        raise typer.Exit(1)
    binaries = ensure_binaries(build=True)
    node: RealNode | None = None
    if real_node:
        from botfleet_tools.devcluster.nodeimages import ensure_node_images

        try:
            images = ensure_node_images(log=lambda m: typer.echo(m, err=True))
            node = RealNode.create(workdir, images.archives, images.pause)
        except (RealNodeError, RuntimeError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    plane = LocalControlPlane(binaries, workdir, detach=True, real_node=node)
    typer.echo(f"starting the control plane in {workdir} ...", err=True)
    try:
        plane.start(timeout=timeout)
        root = repo_root()
        crd_dir = crds or (root / "crds" if root else None)
        if crd_dir is not None:
            installed = install_crds(plane.kubectl, crd_dir)
            if installed:
                typer.echo(f"installed CRDs: {', '.join(installed)}", err=True)
    except (ControlPlaneError, RealNodeError) as exc:
        plane.stop()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    nodes = f"real node {node.name} ({node.net.node_ip}, pods {node.net.pod_cidr}) + " if node else ""
    typer.echo(f"ready: API server {plane.server}, {nodes}fake node kwok-node-0, logs in {plane.logs_dir}",
               err=True)
    loaded = _read_state(workdir)
    assert loaded is not None
    _print_usage(loaded)


@app.command()
def down(
    workdir: Path = typer.Option(None, "--dir", help=_DIR_HELP),
    keep: bool = typer.Option(False, help="Keep the state directory (logs, certificates)."),
) -> None:
    """Stop the control plane started by `up` and delete its state."""
    from botfleet_tools.devcluster.mounts import remove_workdir
    from botfleet_tools.devcluster.plane import COMPONENTS, stop_pids
    from botfleet_tools.devcluster.realnode import cleanup_from_state, remove_containers_at

    workdir = (workdir or default_dir()).resolve()
    state = _read_state(workdir)
    if state is None:
        typer.echo(f"no cluster state in {workdir}; nothing to stop", err=True)
        return
    owned = _owned_pids(state)
    order = [n for n in reversed(COMPONENTS) if n in owned]
    first = ("kube-router", "kube-proxy", "kubelet", "provisioner")
    stop_pids([owned[n] for n in order if n in first])
    node = state.get("real_node")
    if "containerd" in owned and isinstance(node, dict):
        remove_containers_at(str(node["socket"]))  # while containerd runs: its shims outlive it
    stop_pids([owned[n] for n in order if n not in first])
    cleanup_from_state(state)
    left = [] if keep else remove_workdir(workdir)
    removed = "" if keep or left else f"; removed {workdir}"
    typer.echo(f"stopped {len(order)} process(es){removed}", err=True)
    if left:
        typer.echo(f"{workdir} kept: still mounted below it: {', '.join(left[:3])} (umount them, then delete it)",
                   err=True)
        raise typer.Exit(1)


@app.command()
def status(workdir: Path = typer.Option(None, "--dir", help=_DIR_HELP)) -> None:
    """Show which components run; exit 1 when the cluster is not fully up."""
    from botfleet_tools.devcluster.plane import COMPONENTS

    workdir = (workdir or default_dir()).resolve()
    state = _read_state(workdir)
    if state is None:
        typer.echo(f"no cluster in {workdir} (start one with `botfleet dev cluster up`)")
        raise typer.Exit(1)
    owned = _owned_pids(state)
    started = state.get("pids") or {}
    expected = [n for n in COMPONENTS if isinstance(started, dict) and n in started]
    for name in expected:
        typer.echo(f"{name:<24} {'running pid ' + str(owned[name]) if name in owned else 'STOPPED'}")
    typer.echo(f"server: {state.get('server')}\nlogs: {state.get('logs_dir')}")
    _print_usage(state)
    if len(owned) != len(expected):
        raise typer.Exit(1)


# `botfleet dev` (entry point `dev` of the `botfleet.commands` group): `botfleet dev cluster up|down|status`.
dev_app = typer.Typer(help="Developer tools.", no_args_is_help=True, add_completion=False)
dev_app.add_typer(app, name="cluster")
