"""`botfleet fleet …`: the guide's daily routine for a fleet on Kubernetes."""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from typer.exceptions import Abort, Exit, TyperException

from botfleet_tools.fleet.errors import EXIT_FAILED, EXIT_NO_RUN, EXIT_PARTIAL, BotProblem, Where, explain
from botfleet_tools.fleet.rows import (
    BotRow,
    Check,
    bot_row,
    health_checks,
    parse_metrics,
    pick_pod,
    why_unreadable,
)

fleet_app = typer.Typer(help="Operate a fleet of TradingBots through the Kubernetes API (your kubeconfig).",
                        no_args_is_help=True, add_completion=False)

_NS = typer.Option(None, "--namespace", "-n", help="Namespace (default: every namespace you can list).")
_SEL = typer.Option("", "--selector", "-l", help="Label selector of the TradingBots (default: all).")
_KCFG = typer.Option(None, "--kubeconfig", envvar="KUBECONFIG", help="kubeconfig file.")


F = TypeVar("F", bound=Callable[..., None])


def _where(selector: str, kubeconfig: str | None) -> Where:
    """What the command was pointed at, read after the failure (best effort: only for the message)."""
    context = server = ""
    try:
        from kubernetes import client

        from botfleet_tools.fleet.kube import current_context

        context = current_context(kubeconfig)
        server = str(client.Configuration.get_default_copy().host or "")
    except Exception:  # the message is still useful without them
        pass
    return Where(selector=selector, kubeconfig=kubeconfig, context=context, server=server)


def api_errors(fn: F) -> F:
    """Every fleet subcommand: an API or connection error becomes one line on stderr and exit 2,
    never a traceback (whose frames could hold a Secret's data, for `check`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        # urllib3 logs each retry of an unreachable server as a WARNING on stderr: the command says
        # it once, in its own error line. Only while the command runs (the level is process-wide).
        pool = logging.getLogger("urllib3.connectionpool")
        level = pool.level
        pool.setLevel(logging.ERROR)
        try:
            fn(*args, **kwargs)
        except (Exit, Abort, TyperException, KeyboardInterrupt):
            raise
        except Exception as e:
            where = _where(str(kwargs.get("selector") or ""), kwargs.get("kubeconfig"))
            typer.echo(f"error: {explain(e, where)}", err=True)
            raise typer.Exit(EXIT_NO_RUN) from None
        finally:
            pool.setLevel(level)

    return wrapper  # type: ignore[return-value]


def _kube(kubeconfig: str | None) -> Any:
    from botfleet_tools.fleet.kube import FleetKube

    return FleetKube(kubeconfig)  # a failure is explained by api_errors


def _report(problems: list[BotProblem]) -> None:
    for p in problems:
        typer.echo(p.line, err=True)


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
        text, why = texts.get((key[0], pod["metadata"]["name"]), (None, "")) if pod else (None, "")
        rows.append(bot_row(b, pod, parse_metrics(text) if text else None, why_unreadable(b, pod) or why))
    return rows


def unread_problems(rows: list[BotRow]) -> list[BotProblem]:
    """The bots whose numbers are missing although they should be there (a paused bot has no pod)."""
    return [BotProblem(r.namespace, r.name, r.unread or "its metrics could not be read")
            for r in rows if not r.reached and not r.paused]


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
@api_errors
def status(
    namespace: str = _NS, selector: str = _SEL, kubeconfig: str = _KCFG,
    watch: bool = typer.Option(sys.stdout.isatty(), "--watch/--once", help="Refresh until Ctrl-C (default on a terminal)."),
    interval: float = typer.Option(5.0, "--interval", min=1.0, help="Seconds between refreshes."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document instead of the table."),
) -> None:
    """Every bot at a glance: state, PnL today vs its daily-loss limit, exposure, orders, data age,
    kill switch, pod memory and CPU (what `pm2 monit` showed for processes). A running bot whose
    numbers could not be read is named on stderr with the reason, and `--once`/`--json` exit 1."""
    kube = _kube(kubeconfig)
    if as_json or not watch:
        rows = collect(kube, namespace, selector)
        if as_json:
            typer.echo(json.dumps([r.__dict__ | {"state": r.state} for r in rows], indent=2))
        else:
            _console().print(fleet_table(rows))
        problems = unread_problems(rows)
        _report(problems)
        if problems:
            raise typer.Exit(EXIT_FAILED)
        return
    console = _console()
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
                notes = [Text(p.line, style="red") for p in unread_problems(rows)]
                live.update(Group(fleet_table(rows, rates), *notes))
                time.sleep(interval)
        except KeyboardInterrupt:
            pass


def _targets(kube: Any, namespace: str | None, selector: str) -> list[tuple[str, str]]:
    bots = kube.bots(namespace, selector)
    if not bots:
        typer.echo("no TradingBots matched", err=True)
        raise typer.Exit(EXIT_FAILED)
    return [(b["metadata"]["namespace"], b["metadata"]["name"]) for b in bots]


def _set_paused(paused: bool, namespace: str | None, selector: str, kubeconfig: str | None, dry_run: bool,
                resume_all: bool = False) -> None:
    from botfleet_operator.fleet import set_paused

    where = Where(selector=selector, kubeconfig=kubeconfig)
    out = set_paused(_kube(kubeconfig), namespace, selector, paused, dry_run=dry_run, echo=typer.echo,
                     resume_all=resume_all, describe=lambda e: explain(e, where))
    if not (out.changed or out.unchanged or out.left_paused or out.failed):
        typer.echo("no TradingBots matched", err=True)
        raise typer.Exit(EXIT_FAILED)
    if out.failed:  # every other bot was still handled; say which ones were not
        _report([BotProblem(ident.partition("/")[0], ident.partition("/")[2], reason) for ident, reason in out.failed])
        raise typer.Exit(EXIT_FAILED)


_DRY = typer.Option(False, "--dry-run", help="Say what would change, change nothing.")


@fleet_app.command("pause")
@api_errors
def pause(namespace: str = _NS, selector: str = _SEL, kubeconfig: str = _KCFG, dry_run: bool = _DRY) -> None:
    """Pause trading (spec.paused: true): the bot scales to zero, cancelling its open orders on SIGTERM.
    Marks each bot it pauses (annotation botfleet.io/paused-by=fleet) so `resume` knows them; a bot
    already paused is left as it is, unmarked."""
    _set_paused(True, namespace, selector, kubeconfig, dry_run)


@fleet_app.command("resume")
@api_errors
def resume(
    namespace: str = _NS, selector: str = _SEL, kubeconfig: str = _KCFG, dry_run: bool = _DRY,
    resume_all: bool = typer.Option(False, "--all", help="Also resume bots paused by hand (not by `fleet pause`)."),
) -> None:
    """Resume trading (spec.paused: false) of the bots a `fleet pause` paused: each starts again and
    reconciles from its journal. Bots paused by hand stay paused (listed as such) unless --all."""
    _set_paused(False, namespace, selector, kubeconfig, dry_run, resume_all)


@fleet_app.command("restart")
@api_errors
def restart(namespace: str = _NS, selector: str = _SEL, kubeconfig: str = _KCFG) -> None:
    """Restart the bots' pods (as `kubectl rollout restart`): each bot cancels its orders on SIGTERM,
    and the new pod reconciles with the exchange from its journal before trading."""
    kube = _kube(kubeconfig)
    where = Where(selector=selector, kubeconfig=kubeconfig)
    problems = []
    for ns, name in _targets(kube, namespace, selector):
        try:
            kube.restart(ns, name)
        except Exception as e:  # the other bots are still restarted; this one is named below
            problems.append(BotProblem(ns, name, explain(e, where)))
            continue
        typer.echo(f"{ns}/{name} restarting")
    _report(problems)
    if problems:
        raise typer.Exit(EXIT_FAILED)


def merge_csv(header: str, parts: list[str]) -> str:
    """Pure: one CSV from each bot's `botfleet trades` output (each with its header line): one header,
    always, so an export with no fills is still a CSV that says which columns it has."""
    out = [header.rstrip("\n") + "\n"]
    for text in parts:
        rows = text.splitlines(keepends=True)[1:]
        out.extend(r if r.endswith("\n") else r + "\n" for r in rows)
    return "".join(out)


@fleet_app.command("trades")
@api_errors
def trades(
    since: str = typer.Option("today", "--since", help="First day (UTC): YYYY-MM-DD, ISO time or 'today'."),
    csv_out: bool = typer.Option(True, "--csv", help="Ignored, accepted for compatibility: CSV is the only format."),
    output: str = typer.Option("-", "--output", "-o", help="File to write ('-' = stdout)."),
    allow_partial: bool = typer.Option(False, "--allow-partial",
                                       help="Write the bots that could be read even if some could not; the "
                                            "missing ones are named on stderr and the exit code is 3."),
    namespace: str = _NS, selector: str = _SEL, kubeconfig: str = _KCFG,
) -> None:
    """Export every bot's fills since a date as one CSV, read from each bot's journal (in its pod).
    A bot that cannot be read (no running pod, exec refused, the command failed in the pod) is named
    on stderr with the reason and nothing is written, exit 1; with --allow-partial the rest is written
    and the exit code is 3. The CSV always has its header row."""
    from bot_runtime.trades import COLUMNS, parse_since

    parse_since(since)  # a bad date fails here, before any pod is touched
    kube = _kube(kubeconfig)
    where = Where(selector=selector, kubeconfig=kubeconfig)
    pods = kube.bot_pods(namespace)
    parts: list[str] = []
    problems: list[BotProblem] = []
    header = ",".join(COLUMNS)
    bots = kube.bots(namespace, selector)
    if not bots:
        typer.echo("no TradingBots matched", err=True)
        raise typer.Exit(EXIT_FAILED)
    for b in bots:
        ns, name = b["metadata"]["namespace"], b["metadata"]["name"]
        pod = pick_pod([p for p in pods if p["metadata"]["namespace"] == ns], name)
        why = why_unreadable(b, pod)  # paused or not, a bot without a running pod is missing from the export
        if why or pod is None:
            problems.append(BotProblem(ns, name, f"{why}; its journal is on its volume "
                                       "(`botfleet trades --config …` beside a restored backup)"))
            continue
        cmd = ["botfleet", "trades", "--since", since]
        try:
            text = kube.exec_text(ns, pod["metadata"]["name"], cmd)
        except Exception as e:  # the pod vanished, exec was refused, the command failed: this bot only
            problems.append(BotProblem(ns, name, explain(e, where)))
            continue
        first = text.partition("\n")[0]
        if not first.startswith(f"{COLUMNS[0]},"):
            problems.append(BotProblem(ns, name, f"`botfleet trades` printed no CSV header: {first[:120]!r}"))
            continue
        if parts and first != header:  # rows under another bot's header would land in the wrong columns
            problems.append(BotProblem(ns, name, f"its CSV columns ({first}) differ from the other bots' ({header}): "
                                       "another image version; export it alone with -l"))
            continue
        header = first  # the bots' own header (their image's columns), not this tool's copy
        parts.append(text)
    _report(problems)
    if problems and not allow_partial:
        typer.echo(f"error: {len(problems)} bot(s) could not be read; nothing written "
                   "(--allow-partial writes the others, exit 3)", err=True)
        raise typer.Exit(EXIT_FAILED)
    text = merge_csv(header, parts)
    if output == "-":
        typer.echo(text, nl=False)
    else:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
        typer.echo(f"wrote {output} ({len(parts)} bot(s)" + (f", {len(problems)} missing)" if problems else ")"),
                   err=True)
    if problems:
        raise typer.Exit(EXIT_PARTIAL)


@fleet_app.command("check")
@api_errors
def check(namespace: str = _NS, selector: str = _SEL, kubeconfig: str = _KCFG) -> None:
    """Preflight: each bot's Secrets have the keys it needs and, for live bots, the exchange accepts
    them (one authenticated read, never an order). Exit 1 if any bot fails."""
    from botfleet_tools.fleet.preflight import preflight

    kube = _kube(kubeconfig)
    where = Where(selector=selector, kubeconfig=kubeconfig)
    checks: list[Check] = []
    for b in kube.bots(namespace, selector):
        try:
            checks.extend(preflight(kube, b))
        except Exception as e:  # e.g. RBAC refuses reading this bot's Secret: this bot fails, the rest go on
            checks.append(Check(f"{b['metadata']['namespace']}/{b['metadata']['name']} read", False, explain(e, where)))
    if not checks:
        checks.append(Check("fleet", False, "no TradingBots matched"))
    _print_checks(checks, "preflight")


@fleet_app.command("health")
@api_errors
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
        raise typer.Exit(EXIT_FAILED)
