"""`botfleet fleet …`: the guide's daily routine for a fleet on Kubernetes."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from botfleet_tools.fleet.rows import BotRow, Check, bot_row, health_checks, parse_metrics, pick_pod

fleet_app = typer.Typer(help="Operate a fleet of TradingBots through the Kubernetes API (your kubeconfig).",
                        no_args_is_help=True)

_NS = typer.Option(None, "--namespace", "-n", help="Namespace (default: every namespace you can list).")
_SEL = typer.Option("", "--selector", "-l", help="Label selector of the TradingBots (default: all).")
_KCFG = typer.Option(None, "--kubeconfig", envvar="KUBECONFIG", help="kubeconfig file.")


def _kube(kubeconfig: str | None) -> Any:
    from botfleet_tools.fleet.kube import FleetKube

    try:
        return FleetKube(kubeconfig)
    except Exception as e:  # no kubeconfig, bad context: say so, no traceback
        typer.echo(f"error: cannot reach a cluster ({type(e).__name__}: {e}); set --kubeconfig or KUBECONFIG",
                   err=True)
        raise typer.Exit(2) from None


def collect(kube: Any, namespace: str | None, selector: str) -> list[BotRow]:
    bots = kube.bots(namespace, selector)
    pods = kube.bot_pods(namespace)
    chosen = {(b["metadata"]["namespace"], b["metadata"]["name"]):
              pick_pod([p for p in pods if p["metadata"]["namespace"] == b["metadata"]["namespace"]],
                       b["metadata"]["name"]) for b in bots}
    running = [(ns, p["metadata"]["name"]) for (ns, _), p in chosen.items()
               if p is not None and (p.get("status") or {}).get("phase") == "Running"]
    texts = kube.metrics_many(running)
    rows = []
    for b in bots:
        key = (b["metadata"]["namespace"], b["metadata"]["name"])
        pod = chosen[key]
        text = texts.get((key[0], pod["metadata"]["name"])) if pod else None
        rows.append(bot_row(b, pod, parse_metrics(text) if text else None))
    return rows


def _console() -> Console:
    # Piped or captured output keeps every column whole (a terminal gets its own width).
    return Console() if sys.stdout.isatty() else Console(width=240)


def _usd(v: float | None, limit: float | None = None, signed: bool = False) -> Text:
    if v is None:
        return Text("-", style="dim")
    s = f"{v:+,.2f}" if signed else f"{v:,.2f}"
    if limit:
        s += f" / {limit:,.0f}"
    style = "red" if signed and v < 0 else "green" if signed and v > 0 else ""
    if limit and signed and v < 0 and -v >= 0.8 * limit:
        style = "bold red"
    return Text(s, style=style)


def fleet_table(rows: list[BotRow], cpu_rate: dict[tuple[str, str], float] | None = None) -> Table:
    t = Table(title=f"botfleet · {len(rows)} bots", title_justify="left", expand=True)
    for col in ("namespace", "bot", "strategy", "mode", "state", "PnL today / limit $", "exposure / limit $",
                "orders", "data age", "kill", "memory", "cpu", "restarts"):
        t.add_column(col, no_wrap=True, justify="right" if col in ("orders", "restarts", "cpu") else "left")
    for r in rows:
        style = {"ready": "green", "paused": "yellow", "KILLED": "bold red"}.get(r.state, "red")
        mem = "-" if r.rss_bytes is None else f"{r.rss_bytes / 2**20:.0f}" + (
            f"/{r.memory_limit_bytes / 2**20:.0f} MiB" if r.memory_limit_bytes else " MiB")
        cpu = (cpu_rate or {}).get((r.namespace, r.name))
        t.add_row(r.namespace, r.name, r.strategy, Text(r.mode, style="bold magenta" if r.mode == "live" else ""),
                  Text(r.state[:32], style=style), _usd(r.pnl_today_usd, r.max_daily_loss_usd, signed=True),
                  _usd(r.exposure_usd, r.max_exposure_usd), "-" if r.open_orders is None else str(r.open_orders),
                  "-" if r.data_age_s is None else f"{r.data_age_s:.1f}s",
                  Text("TRIPPED", style="bold red") if r.kill_switch else Text("ok" if r.reached else "-"),
                  mem, "-" if cpu is None else f"{cpu:.2f}", str(r.restarts))
    return t


@fleet_app.command("status")
def status(
    namespace: str = _NS, selector: str = _SEL, kubeconfig: str = _KCFG,
    watch: bool = typer.Option(sys.stdout.isatty(), "--watch/--once", help="Refresh until Ctrl-C (default on a terminal)."),
    interval: float = typer.Option(5.0, "--interval", min=1.0, help="Seconds between refreshes."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document instead of the table."),
) -> None:
    """Every bot at a glance: state, PnL today vs its daily-loss limit, exposure, orders, data age,
    kill switch, pod memory and CPU (what `pm2 monit` showed for processes)."""
    kube = _kube(kubeconfig)
    if as_json:
        rows = collect(kube, namespace, selector)
        typer.echo(json.dumps([r.__dict__ | {"state": r.state} for r in rows], indent=2))
        return
    console = _console()
    if not watch:
        console.print(fleet_table(collect(kube, namespace, selector)))
        return
    from rich.live import Live

    last: dict[tuple[str, str], tuple[float, float]] = {}
    with Live(console=console, refresh_per_second=2, screen=False) as live:
        try:
            while True:
                rows = collect(kube, namespace, selector)
                now, rates = time.monotonic(), {}
                for r in rows:
                    key = (r.namespace, r.name)
                    if r.cpu_seconds is not None:
                        prev = last.get(key)
                        if prev and now > prev[0] and r.cpu_seconds >= prev[1]:
                            rates[key] = (r.cpu_seconds - prev[1]) / (now - prev[0])
                        last[key] = (now, r.cpu_seconds)
                live.update(fleet_table(rows, rates))
                time.sleep(interval)
        except KeyboardInterrupt:
            pass


def _targets(kube: Any, namespace: str | None, selector: str) -> list[tuple[str, str]]:
    bots = kube.bots(namespace, selector)
    if not bots:
        typer.echo("no TradingBots matched", err=True)
        raise typer.Exit(1)
    return [(b["metadata"]["namespace"], b["metadata"]["name"]) for b in bots]


def _set_paused(paused: bool, namespace: str | None, selector: str, kubeconfig: str | None, dry_run: bool) -> None:
    from botfleet_operator.fleet import set_paused

    out = set_paused(_kube(kubeconfig), namespace, selector, paused, dry_run=dry_run, echo=typer.echo)
    if not (out.changed or out.unchanged or out.failed):
        typer.echo("no TradingBots matched", err=True)
        raise typer.Exit(1)
    if out.failed:  # every other bot was still handled; say which ones were not
        raise typer.Exit(1)


_DRY = typer.Option(False, "--dry-run", help="Say what would change, change nothing.")


@fleet_app.command("pause")
def pause(namespace: str = _NS, selector: str = _SEL, kubeconfig: str = _KCFG, dry_run: bool = _DRY) -> None:
    """Pause trading (spec.paused: true): the bot scales to zero, cancelling its open orders on SIGTERM."""
    _set_paused(True, namespace, selector, kubeconfig, dry_run)


@fleet_app.command("resume")
def resume(namespace: str = _NS, selector: str = _SEL, kubeconfig: str = _KCFG, dry_run: bool = _DRY) -> None:
    """Resume trading (spec.paused: false): the bot starts again and reconciles from its journal."""
    _set_paused(False, namespace, selector, kubeconfig, dry_run)


@fleet_app.command("restart")
def restart(namespace: str = _NS, selector: str = _SEL, kubeconfig: str = _KCFG) -> None:
    """Restart the bots' pods (as `kubectl rollout restart`): each bot cancels its orders on SIGTERM,
    and the new pod reconciles with the exchange from its journal before trading."""
    kube = _kube(kubeconfig)
    for ns, name in _targets(kube, namespace, selector):
        kube.restart(ns, name)
        typer.echo(f"{ns}/{name} restarting")


@fleet_app.command("trades")
def trades(
    since: str = typer.Option("today", "--since", help="First day (UTC): YYYY-MM-DD, ISO time or 'today'."),
    csv_out: bool = typer.Option(True, "--csv", help="CSV output (the only format)."),
    output: str = typer.Option("-", "--output", "-o", help="File to write ('-' = stdout)."),
    namespace: str = _NS, selector: str = _SEL, kubeconfig: str = _KCFG,
) -> None:
    """Export every bot's fills since a date as one CSV, read from each bot's journal (in its pod)."""
    from bot_runtime.trades import parse_since

    parse_since(since)  # a bad date fails here, before any pod is touched
    kube = _kube(kubeconfig)
    pods = kube.bot_pods(namespace)
    parts, header = [], True
    for ns, name in _targets(kube, namespace, selector):
        pod = pick_pod([p for p in pods if p["metadata"]["namespace"] == ns], name)
        if pod is None or (pod.get("status") or {}).get("phase") != "Running":
            typer.echo(f"warning: {ns}/{name} has no running pod; its journal is on its volume "
                       f"(`botfleet trades --config …` beside a restored backup)", err=True)
            continue
        cmd = ["botfleet", "trades", "--since", since] + ([] if header else ["--no-header"])
        parts.append(kube.exec_text(ns, pod["metadata"]["name"], cmd))
        header = False
    text = "".join(parts)
    if output == "-":
        typer.echo(text, nl=False)
    else:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
        typer.echo(f"wrote {output}", err=True)


@fleet_app.command("check")
def check(namespace: str = _NS, selector: str = _SEL, kubeconfig: str = _KCFG) -> None:
    """Preflight: each bot's Secrets have the keys it needs and, for live bots, the exchange accepts
    them (one authenticated read, never an order). Exit 1 if any bot fails."""
    from botfleet_tools.fleet.preflight import preflight

    kube = _kube(kubeconfig)
    checks = [c for b in kube.bots(namespace, selector) for c in preflight(kube, b)]
    _print_checks(checks, "preflight")


@fleet_app.command("health")
def health(namespace: str = _NS, selector: str = _SEL, kubeconfig: str = _KCFG) -> None:
    """The guide's daily health check as one command: every bot running, API error rate under 5%,
    trading, memory under its limit, daily loss under its limit. Exit 1 if anything fails."""
    kube = _kube(kubeconfig)
    _print_checks(health_checks(collect(kube, namespace, selector)), "health")


def _print_checks(checks: list[Check], what: str) -> None:
    console = _console()
    t = Table(title=what, title_justify="left")
    for col in ("", "check", "detail"):
        t.add_column(col)
    for c in checks:
        t.add_row(Text("ok", style="green") if c.ok else Text("FAIL", style="bold red"), c.name, c.detail)
    console.print(t)
    failed = sum(not c.ok for c in checks)
    console.print(f"{what}: {len(checks) - failed} ok, {failed} failing")
    if failed:
        raise typer.Exit(1)
