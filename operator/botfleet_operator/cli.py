"""`botfleet operator` and `botfleet crd`: typer command functions entry points of the `botfleet.commands` group (pyproject.toml)."""

from __future__ import annotations

import os
import sys

import typer


def crd_command(
    output: str = typer.Option("-", "--output", "-o", help="File to write; '-' prints to stdout."),
) -> None:
    """Print the TradingBot CustomResourceDefinition."""  # generated from the API models
    from botfleet_operator.crd import crd_yaml

    text = crd_yaml()
    if output == "-":
        typer.echo(text, nl=False)
    else:
        with open(output, "w") as fh:
            fh.write(text)


def operator_command(
    namespace: list[str] = typer.Option(
        [], "--namespace", "-n", help="Namespace to watch (repeatable). Default: --all-namespaces."),
    all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A", help="Watch every namespace."),
    dev: bool = typer.Option(
        False, "--dev", help="Local run: no leader election, verbose logs (kopf --dev style)."),
    metrics_port: int = typer.Option(8080, "--metrics-port", envvar="BOTFLEET_OPERATOR_METRICS_PORT",
                                     help="Port of the operator's Prometheus metrics (0 = off)."),
    health_port: int = typer.Option(8081, "--health-port", envvar="BOTFLEET_OPERATOR_HEALTH_PORT",
                                    help="Port of /healthz (liveness), /readyz (readiness) and /leader (0 = off)."),
    leader_election: bool = typer.Option(
        True, "--leader-election/--no-leader-election",
        help="Take a coordination.k8s.io Lease so that only one replica acts."),
    lease_namespace: str = typer.Option(
        "", "--lease-namespace", envvar="POD_NAMESPACE", help="Namespace of the Lease (default: the pod's, else 'default')."),
    lease_name: str = typer.Option(
        "botfleet-operator", "--lease-name", help="Name of the Lease (replicas of one operator share it)."),
    lease_duration: int = typer.Option(
        15, "--lease-duration", help="Seconds a standby waits after it last saw the Lease change."),
    lease_renew_deadline: float = typer.Option(
        10.0, "--lease-renew-deadline", help="The leader exits when it could not renew for this long (< duration)."),
    lease_retry: float = typer.Option(2.0, "--lease-retry", help="Seconds between Lease attempts (< renew deadline)."),
    identity: str = typer.Option("", "--identity", envvar="POD_NAME", help="Holder identity (default: host-pid)."),
    workers: int = typer.Option(32, "--workers", envvar="BOTFLEET_OPERATOR_WORKERS",
                                help="Bots reconciled concurrently."),
    bot_status_seconds: float | None = typer.Option(
        None, "--bot-status-interval", envvar="BOTFLEET_OPERATOR_BOT_STATUS_INTERVAL",
        help="Seconds between reads of each running bot pod's /status (kill switch); 0 = off. "
             "Default: 30 in a cluster, off outside one (pod IPs are not reachable from there)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logs."),
    kubeconfig: str | None = typer.Option(
        None, "--kubeconfig", help="Kubeconfig file. Default: $KUBECONFIG, ~/.kube/config, else the pod's "
                                   "service account."),
) -> None:
    """Run the Kubernetes operator (kopf)."""  # against the current kubeconfig or in-cluster config
    from botfleet_operator.leader import Timing

    try:
        timing = Timing(duration=lease_duration, renew_deadline=lease_renew_deadline, retry=lease_retry,
                        request_timeout=min(5.0, lease_renew_deadline / 2))
    except ValueError as exc:
        raise typer.BadParameter(f"{exc}; e.g. --lease-duration 60 --lease-renew-deadline 40 --lease-retry 5",
                                 param_hint="--lease-duration/--lease-renew-deadline/--lease-retry") from None

    if namespace and all_namespaces:
        raise typer.BadParameter("use either --namespace or --all-namespaces, not both", param_hint="--namespace")
    # The operator reaches the API server through kubeconfig.py and apiclient.py. kopf would still
    # import the kubernetes client's models (~10 MB of the idle operator) just because the image
    # has that package (the rotation Job uses it): refuse it to this process before kopf loads.
    if "kubernetes" not in sys.modules:
        sys.modules["kubernetes"] = None  # type: ignore[assignment]  # the documented import block
    from botfleet_operator.kubeconfig import ConfigError
    from botfleet_operator.runner import OperatorOptions, run

    try:
        run(OperatorOptions(
            namespaces=list(namespace), dev=dev, metrics_port=metrics_port, health_port=health_port,
            leader_election=leader_election and not dev, lease_namespace=lease_namespace or "default",
            lease_name=lease_name, lease_timing=timing, identity=identity, workers=workers, verbose=verbose or dev,
            kubeconfig=kubeconfig,
            bot_status_seconds=default_bot_status_seconds(dict(os.environ)) if bot_status_seconds is None
            else bot_status_seconds,
        ))
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def default_bot_status_seconds(env: dict[str, str]) -> float:
    """Read bot pods' /status every 30 s in a cluster; outside one (a laptop, CI) pod IPs do not
    route, and thousands of connects timing out would only load the operator."""
    return 30.0 if env.get("KUBERNETES_SERVICE_HOST") else 0.0
