"""A real Prometheus on loopback for the dashboard and alert tests, plus metric sources to scrape.

- :func:`running_prometheus` starts Debian's ``prometheus`` binary (2.42) with a generated config
  (1 s scrape and rule evaluation), a temporary TSDB, and optional rule files; stops it on exit.
- :func:`synthetic_fleet` serves the bots' real metric families (``bot_runtime.telemetry.metrics``)
  and the operator's (``botfleet_operator.metrics``) from this file run as a script, filled by a
  simulated fleet with one bot per strategy, where every problem the alerts look for is present
  (a tripped kill switch, stale market data, failing API calls, old credentials, a not-ready bot,
  a failed, a stale and a missing backup, an overdue rotation, reconcile errors), so every panel and
  alert expression has data. The operator's per-bot series (``botfleet_operator_bot_*``) name the
  same three bots, plus one (``GONE_BOT``) that is deleted ``GONE_BOT_AFTER`` seconds in.
- :func:`botfleet_demo` runs ``botfleet demo --no-ui --metrics-port P`` when the CLI has it.

Run as a script (``python tests/support/prometheus.py --bot-port P --operator-port Q``) it is
the synthetic fleet's exporter.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BOT_JOB = "botfleet-bot"
OPERATOR_JOB = "botfleet-operator"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def promtool_binary() -> str | None:
    return shutil.which("promtool")


def _http_json(url: str, data: Mapping[str, str] | None = None, timeout: float = 10) -> Any:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with urllib.request.urlopen(url, data=body, timeout=timeout) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as exc:  # 400/422 carry a JSON error body
        return json.load(exc)


class PromQLError(Exception):
    pass


@dataclass
class Prometheus:
    url: str
    workdir: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query at now; raises PromQLError with Prometheus' message on a bad expression."""
        out = _http_json(f"{self.url}/api/v1/query", {"query": expr})
        if out.get("status") != "success":
            raise PromQLError(f"{out.get('errorType')}: {out.get('error')} in {expr!r}")
        return list(out["data"]["result"])

    def metadata(self) -> dict[str, list[dict[str, str]]]:
        return dict(_http_json(f"{self.url}/api/v1/metadata")["data"])

    def series_names(self) -> set[str]:
        return set(_http_json(f"{self.url}/api/v1/label/__name__/values")["data"])

    def targets(self) -> list[dict[str, Any]]:
        return list(_http_json(f"{self.url}/api/v1/targets")["data"]["activeTargets"])

    def rule_groups(self) -> list[dict[str, Any]]:
        return list(_http_json(f"{self.url}/api/v1/rules")["data"]["groups"])

    def wait_until(self, expr: str, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.5)


def config_yaml(jobs: Mapping[str, Sequence[tuple[str, Mapping[str, str]]]], rule_files: Sequence[Path] = (),
                interval: str = "1s") -> str:
    """A Prometheus config: one static job per entry of `jobs` (target, extra target labels)."""
    scrape_configs = []
    for job, targets in jobs.items():
        scrape_configs.append({
            "job_name": job, "honor_labels": True, "scrape_interval": interval, "scrape_timeout": interval,
            "static_configs": [{"targets": [t], "labels": dict(labels)} for t, labels in targets]})
    cfg = {"global": {"scrape_interval": interval, "evaluation_interval": interval},
           "rule_files": [str(p) for p in rule_files], "scrape_configs": scrape_configs}
    return json.dumps(cfg, indent=2)  # JSON is YAML


@contextlib.contextmanager
def running_prometheus(jobs: Mapping[str, Sequence[tuple[str, Mapping[str, str]]]],
                       rule_files: Sequence[Path] = (), timeout: float = 30) -> Iterator[Prometheus]:
    binary = prometheus_binary()
    if binary is None:
        raise RuntimeError("the 'prometheus' binary is not on PATH (apt-get install prometheus)")
    workdir = Path(tempfile.mkdtemp(prefix="botfleet-prom-"))
    (workdir / "prometheus.yml").write_text(config_yaml(jobs, rule_files))
    port = free_port()
    log = (workdir / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [binary, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=2h",
         "--log.level=warn"], stdout=log, stderr=subprocess.STDOUT)
    prom = Prometheus(f"http://127.0.0.1:{port}", workdir)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"prometheus exited {proc.returncode}: {(workdir / 'prometheus.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{prom.url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"prometheus not ready in {timeout}s: {(workdir / 'prometheus.log').read_text()}")
            time.sleep(0.2)
        yield prom
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited {proc.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not served within {timeout}s") from None
            time.sleep(0.2)


@contextlib.contextmanager
def _process(cmd: Sequence[str], urls: Sequence[str], timeout: float = 60) -> Iterator[None]:
    proc = subprocess.Popen(list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=REPO, start_new_session=True)
    try:
        for url in urls:
            _wait_http(url, proc, timeout)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def synthetic_fleet() -> Iterator[tuple[str, str]]:
    """(bot metrics address, operator metrics address) of the synthetic fleet's exporter."""
    bot_port, op_port = free_port(), free_port()
    with _process([sys.executable, str(Path(__file__)), "--bot-port", str(bot_port), "--operator-port", str(op_port)],
                  [f"http://127.0.0.1:{bot_port}/metrics", f"http://127.0.0.1:{op_port}/metrics"]):
        yield f"127.0.0.1:{bot_port}", f"127.0.0.1:{op_port}"


def botfleet_cli() -> str | None:
    exe = Path(sys.executable).with_name("botfleet")
    return str(exe) if exe.exists() else shutil.which("botfleet")


# `botfleet demo` before the command is mounted in the CLI: the same function, run by typer.
DEMO_FALLBACK = "import typer; from botfleet_tools.demo import demo_command; typer.run(demo_command)"


def demo_argv() -> list[str] | None:
    """How to start the demo here: `botfleet demo`, else its command function; None if neither exists."""
    cli = botfleet_cli()
    if cli is not None:
        proc = subprocess.run([cli, "demo", "--help"], capture_output=True, text=True, check=False, timeout=60)
        if proc.returncode == 0 and "--metrics-port" in proc.stdout:
            return [cli, "demo"]
    proc = subprocess.run([sys.executable, "-c", DEMO_FALLBACK, "--help"], capture_output=True, text=True,
                          check=False, timeout=60)
    if proc.returncode == 0 and "--metrics-port" in proc.stdout:
        return [sys.executable, "-c", DEMO_FALLBACK]
    return None


def demo_available() -> bool:
    return demo_argv() is not None


@contextlib.contextmanager
def botfleet_demo(timeout: float = 120) -> Iterator[str]:
    """Address of the metrics endpoint of a running `botfleet demo --no-ui`."""
    argv = demo_argv()
    if argv is None:
        raise RuntimeError("no `botfleet demo` in this checkout")
    port = free_port()
    # The demo keeps its log for the user (in the temp dir by default); a test's goes with the test.
    with tempfile.TemporaryDirectory(prefix="botfleet-test-demo-") as logs, \
            _process([*argv, "--no-ui", "--metrics-port", str(port), "--log-file", str(Path(logs) / "demo.log")],
                     [f"http://127.0.0.1:{port}/metrics"], timeout):
        yield f"127.0.0.1:{port}"


# ---- what the dashboards and rules ask Prometheus ----

DASHBOARDS_DIR = REPO / "helm" / "botfleet" / "dashboards"
RULES_FILE = REPO / "helm" / "botfleet" / "rules" / "botfleet.rules.yaml"
# Grafana's variables as a test substitutes them: "All" is `.*`; $__rate_interval a few scrapes.
GRAFANA_VARS = {"$namespace": ".*", "$bot": ".*", "$strategy": ".*", "$mode": "paper", "$__rate_interval": "20s",
                "$__interval": "5s", "$__range": "1h"}
METRIC_RE = re.compile(r"\b(botfleet_[a-z0-9_]+|up)\b(?=\s*[{\[)])")


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    expr: str  # with Grafana's variables substituted

    @property
    def metrics(self) -> set[str]:
        return set(METRIC_RE.findall(self.expr))


def substitute(expr: str) -> str:
    for var, value in sorted(GRAFANA_VARS.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(var, value)
    return expr


def dashboard_queries(directory: Path = DASHBOARDS_DIR) -> list[PanelQuery]:
    out = []
    for path in sorted(directory.glob("*.json")):
        dash = json.loads(path.read_text())
        for panel in dash["panels"]:
            for target in panel.get("targets", []):
                out.append(PanelQuery(path.stem, panel["title"], substitute(target["expr"])))
    return out


def alert_rules(path: Path = RULES_FILE) -> list[dict[str, Any]]:
    import yaml

    return [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]


def family_of(series: str, families: set[str]) -> str | None:
    """The metadata family a series name belongs to (counter `x_total` is family `x`, etc.)."""
    if series in families:
        return series
    for suffix in ("_total", "_bucket", "_sum", "_count", "_info", "_created"):
        if series.endswith(suffix) and series[: -len(suffix)] in families:
            return series[: -len(suffix)]
    return None


# ---- the synthetic fleet (runs in its own process) ----

SYNTHETIC_BOTS = (("arb-1", "arbhunter"), ("polyai-1", "polyai"), ("mimic-1", "elitemimic"))


SYNTHETIC_NAMESPACE = "trading"
SYNTHETIC_LIVE_BOT, SYNTHETIC_LIVE = "polyai-1", "live"
GONE_BOT = "deleted-1"      # a TradingBot the synthetic operator sees at first, then deleted ...
GONE_BOT_AFTER = 30.0       # ... this many seconds after the exporter started


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def synthetic_tradingbots(now: float) -> list[dict[str, Any]]:
    """The TradingBots (metadata, spec, status) the synthetic operator exports per-bot series for."""
    def tb(name: str, strategy: str, conditions: dict[str, str], mode: str = "paper",
           last_backup: float | None = None) -> dict[str, Any]:
        status: dict[str, Any] = {"conditions": [{"type": t, "status": v} for t, v in conditions.items()]}
        if last_backup is not None:
            status["lastBackupTime"] = _iso(last_backup)
        return {"metadata": {"namespace": SYNTHETIC_NAMESPACE, "name": name},
                "spec": {"strategy": strategy, "mode": mode, "riskProfile": "balanced"}, "status": status}

    return [
        tb("arb-1", "arbhunter", {"Ready": "True", "Degraded": "False", "BackupSucceeded": "True",
                                  "RotationDue": "False"}, last_backup=now - 3 * 3600),
        tb("polyai-1", "polyai", {"Ready": "False", "Degraded": "True", "BackupSucceeded": "False",
                                  "RotationDue": "True"}, mode="live", last_backup=now - 2 * 86400),
        tb("mimic-1", "elitemimic", {"Ready": "True", "Degraded": "False", "RotationDue": "False"}),
        tb(GONE_BOT, "arbhunter", {"Ready": "True", "BackupSucceeded": "True"}, last_backup=now - 3600),
    ]


def _serve_synthetic(bot_port: int, operator_port: int, step: float = 0.2) -> None:  # pragma: no cover - subprocess
    from prometheus_client import start_http_server

    from bot_runtime.telemetry.metrics import BotMetrics
    from botfleet_operator import metrics as op

    m = BotMetrics()
    start_http_server(bot_port, addr="127.0.0.1", registry=m.registry)
    start_http_server(operator_port, addr="127.0.0.1", registry=op.REGISTRY)
    rng = random.Random(7)
    pnl = dict.fromkeys(SYNTHETIC_BOTS, 0.0)
    exposure = dict.fromkeys(SYNTHETIC_BOTS, 400.0)
    for bot, strategy in SYNTHETIC_BOTS:
        # polyai-1 trades live beside two paper bots: the dashboards must never add their money up.
        mode = SYNTHETIC_LIVE if bot == SYNTHETIC_LIVE_BOT else "paper"
        m.build_info.labels(bot=bot, strategy=strategy).info({"version": "0.1.0", "mode": mode})
        for limit, usd in (("maxDailyLossUsd", 100.0), ("maxTotalExposureUsd", 2000.0)):
            m.limit.labels(bot, strategy, limit).set(usd)
        m.paused.labels(bot, strategy).set(0)
        m.markets_tracked.labels(bot, strategy).set(rng.randint(20, 60))
        # Problems the alerts look for: mimic-1's kill switch, arb-1's stale book, polyai-1's old keys.
        m.kill_switch.labels(bot, strategy).set(1 if bot == "mimic-1" else 0)
        m.credential_age.labels(bot, strategy).set(40 * 86400 if bot == "polyai-1" else 3 * 86400)
    # The operator's view of the same bots: arb-1 healthy; polyai-1 not ready, its backups failing
    # for two days and its rotation due; mimic-1 never backed up. GONE_BOT exists at first and is
    # deleted a while later (its series must disappear from Prometheus).
    now = time.time()
    tradingbots = synthetic_tradingbots(now)
    op.track_bots(lambda: tradingbots)  # as the operator exports its cache: at each scrape
    op.LEADER.set(1)
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        for bot, strategy in SYNTHETIC_BOTS:
            lb = (bot, strategy)
            m.ws_frames.labels(*lb).inc(rng.randint(5, 40))
            m.market_data_age.labels(*lb).set(90 + elapsed if bot == "arb-1" else rng.uniform(0.05, 1.5))
            m.tick_to_order.labels(*lb).observe(rng.lognormvariate(-7.6, 0.5))  # ~0.5 ms median
            kind = {"arbhunter": "binary", "polyai": "statarb", "elitemimic": "copy"}[strategy]
            if rng.random() < 0.6:
                m.opportunities.labels(bot, strategy, kind).inc()
                m.edge.labels(bot, strategy, kind).observe(rng.uniform(0.002, 0.03))
            outcome = rng.choice(("filled", "filled", "filled", "partial", "canceled", "rejected_risk"))
            m.orders.labels(bot, strategy, outcome).inc()
            if outcome in ("filled", "partial"):
                usd = rng.uniform(20, 200)
                m.fills.labels(*lb).inc()
                m.filled_usd.labels(*lb).inc(usd)
                m.fees_usd.labels(*lb).inc(usd * 0.001)
            if outcome == "rejected_risk":
                m.risk_rejections.labels(bot, strategy, rng.choice(("max_exposure", "max_order"))).inc()
            pnl[lb] += rng.gauss(0.05, 1.0)
            m.pnl_realized.labels(*lb).set(pnl[lb])
            m.pnl_unrealized.labels(*lb).set(rng.gauss(0, 1))
            m.pnl_today.labels(*lb).set(pnl[lb] / 2)
            exposure[lb] = min(900.0, max(100.0, exposure[lb] + rng.gauss(0, 8)))
            m.exposure.labels(*lb).set(exposure[lb])
            m.open_orders.labels(*lb).set(rng.randint(0, 6))
            m.api_requests.labels(bot, strategy, "order", "2xx").inc(10)
            if bot == "polyai-1":  # 2 of 12 requests fail: 17%
                m.api_requests.labels(bot, strategy, "order", "5xx").inc(2)
                m.api_errors.labels(bot, strategy, "order", "5xx").inc(2)
            elif rng.random() < 0.2:
                m.api_requests.labels(bot, strategy, "book", "429").inc()
                m.api_errors.labels(bot, strategy, "book", "429").inc()
            if rng.random() < 0.01:
                m.ws_reconnects.labels(*lb).inc()
        m.arb_results.labels("arb-1", "arbhunter", rng.choice(("won", "won", "won", "lost", "failed"))).inc()
        m.ai_predictions.labels("polyai-1", "polyai", rng.choice(("correct", "correct", "wrong"))).inc()
        m.llm_requests.labels("polyai-1", "polyai", "gpt-4o-mini", rng.choice(("ok",) * 9 + ("error",))).inc()
        m.llm_tokens.labels("polyai-1", "polyai", "gpt-4o-mini", "prompt").inc(rng.randint(300, 900))
        m.llm_tokens.labels("polyai-1", "polyai", "gpt-4o-mini", "completion").inc(rng.randint(50, 200))
        m.llm_cost.labels("polyai-1", "polyai", "gpt-4o-mini").inc(rng.uniform(0.0001, 0.0005))
        m.embedding_cache.labels("polyai-1", "polyai", rng.choice(("hit", "hit", "miss"))).inc()
        m.whale_signals.labels("mimic-1", "elitemimic", rng.choice(("chain", "dataapi"))).inc()
        m.copies.labels("mimic-1", "elitemimic", rng.choice(("copied", "copied", "skipped_ai", "skipped_size"))).inc()
        m.copy_outcomes.labels("mimic-1", "elitemimic", rng.choice(("win", "win", "loss"))).inc()
        op.RECONCILES.labels(result=rng.choice(("success", "success", "success", "error"))).inc()
        op.DURATION.observe(rng.lognormvariate(-3.5, 0.6))
        op.QUEUE.set(rng.randint(0, 4))
        if rng.random() < 0.3:
            op.ERRORS.inc()
        if elapsed > GONE_BOT_AFTER and len(tradingbots) > len(SYNTHETIC_BOTS):
            # The operator's gauge loop after the bot's deletion: only the remaining bots.
            tradingbots = [b for b in tradingbots if b["metadata"]["name"] != GONE_BOT]
        time.sleep(step)


if __name__ == "__main__":  # pragma: no cover - the synthetic fleet's exporter process
    import argparse

    sys.path.insert(0, str(REPO))
    parser = argparse.ArgumentParser(description="Serve a synthetic botfleet fleet's metrics.")
    parser.add_argument("--bot-port", type=int, required=True)
    parser.add_argument("--operator-port", type=int, required=True)
    ns = parser.parse_args()
    _serve_synthetic(ns.bot_port, ns.operator_port)
