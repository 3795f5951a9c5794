"""Bots as real containers on the real node (issue 13): the botfleet image runs under containerd,
the kubelet probes it, the operator on the host reconciles, and the bot trades against
`botfleet sim` on the host through the node's network.

The bot is given a wallet Secret and, being a paper bot, must not use it: it trades on its own
paper account (the key beside its journal, on the volume). Credential rotation signs with the
wallet and so runs for live bots only, which never talk to the simulator: it is covered against the
API server by tests/e2e/test_operator_scenarios.py and against the simulator by
tests/integration/runtime/test_rotation.py, not here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot_runtime.contract.config import SIM_CHAIN_ID
from bot_runtime.execution.paper_wallet import PAPER_KEY_FILE
from bot_runtime.types import OrderIntent
from bot_runtime.venue.polymarket.signing import OrderSigner
from tests.support.controlplane import Cluster
from tests.support.controlplane_wait import eventually
from tests.support.helm import BOT_PODMONITOR_SELECTOR
from tests.support.realnode import HostProcess, RealCluster, http_json, operator, sim_admin, simulator

pytestmark = pytest.mark.timeout(1200)

REPO = Path(__file__).resolve().parents[3]
BOT_SELECTOR = "botfleet.io/bot=arb,app.kubernetes.io/component=bot"


def get_json(cluster: Cluster, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def conditions(cluster: Cluster, ns: str, name: str) -> dict[str, dict[str, Any]]:
    bot = get_json(cluster, "tradingbot", name, "-n", ns)
    return {c["type"]: c for c in (bot.get("status") or {}).get("conditions") or []}


def bot_pod(cluster: Cluster, ns: str) -> dict[str, Any] | None:
    pods = [p for p in get_json(cluster, "pods", "-n", ns, "-l", BOT_SELECTOR)["items"]
            if not p["metadata"].get("deletionTimestamp")]
    return pods[0] if len(pods) == 1 else None


def ready_pod(cluster: Cluster, ns: str) -> dict[str, Any] | None:
    pod = bot_pod(cluster, ns)
    if pod is None:
        return None
    statuses = pod["status"].get("containerStatuses") or []
    return pod if statuses and all(s.get("ready") for s in statuses) else None


MONITORING_NS = "monitoring"  # the operator's default scraper namespace (its NetworkPolicy's ingress)


def scraper_pod(cluster: Cluster) -> str:
    """A pod in the `monitoring` namespace, where Prometheus would run: the bots' policy lets it in."""
    if cluster.kubectl("get", "pod", "scraper", "-n", MONITORING_NS, check=False).returncode != 0:
        cluster.kubectl("create", "namespace", MONITORING_NS, check=False)
        cluster.kubectl("run", "scraper", "-n", MONITORING_NS, "--image=docker.io/botfleet/botfleet:0.1.0",
                        "--image-pull-policy=Never", "--restart=Never", "--command", "--", "sleep", "86400")
    cluster.kubectl("wait", "--for=condition=Ready", "pod/scraper", "-n", MONITORING_NS, "--timeout=120s",
                    timeout=150)
    return "scraper"


FETCH = ("import sys, urllib.request\n"
         "print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())\n")


def metrics_via_podmonitor(cluster: Cluster, ns: str, bot: str) -> str:
    """Scrape /metrics the way Prometheus does with the chart's PodMonitor: the ready pods its
    selector picks, their container port named `metrics`, from a pod in the monitoring namespace
    (the only place the bot's NetworkPolicy admits scrapes from)."""
    selector = ",".join(f"{k}={v}" for k, v in {**BOT_PODMONITOR_SELECTOR, "botfleet.io/bot": bot}.items())
    pods = get_json(cluster, "pods", "-n", ns, "-l", selector)["items"]
    targets = [(p["status"]["podIP"], port["containerPort"]) for p in pods
               if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])
               for c in p["spec"]["containers"] for port in c.get("ports") or [] if port.get("name") == "metrics"]
    assert targets, f"no ready pod of bot {bot} with a metrics port: {[p['metadata']['name'] for p in pods]}"
    ip, port = targets[0]
    out = cluster.kubectl("exec", "-n", MONITORING_NS, scraper_pod(cluster), "--", "python3", "-c", FETCH,
                          f"http://{ip}:{port}/metrics", check=False, timeout=60)
    return out.stdout if out.returncode == 0 else ""


def metric(text: str, name: str) -> float:
    """Sum of every series of ``name`` in a Prometheus text exposition."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture(scope="module")
def sim_url(real_cluster: RealCluster) -> Iterator[str]:
    with simulator(real_cluster.host_ip) as url:
        yield url


@pytest.fixture(scope="module")
def op(real_cluster: RealCluster, sim_url: str) -> Iterator[HostProcess]:
    with operator(real_cluster.cluster, sim_url) as proc:
        yield proc


def wallet_key(ns: str) -> str:
    """A test-only wallet per namespace: its Secret is given to the paper bot, which must ignore it."""
    return "0x" + hashlib.sha256(ns.encode()).hexdigest()


def wallet_address(ns: str) -> str:
    from eth_account import Account

    return str(Account.from_key(wallet_key(ns)).address)


def paper_key(cluster: Cluster, ns: str) -> str:
    """The key the paper bot signs with: its own, kept beside its journal on the volume."""
    path = volume_dir(cluster, ns) / PAPER_KEY_FILE
    text = eventually(lambda: path.is_file() and path.read_text().strip(), f"the bot's paper key at {path}")
    return str(text)


def bot_address(cluster: Cluster, ns: str) -> str:
    """The bot's account at the simulator (each namespace's bot has its own paper key)."""
    from eth_account import Account

    return str(Account.from_key(paper_key(cluster, ns)).address)


def assert_wallet_unused(sim_url: str, ns: str) -> None:
    """Nothing reached the exchange signed by the wallet Secret's key (paper mode never uses it)."""
    assert sim_admin(sim_url, f"/_sim/orders?maker={wallet_address(ns)}") == []


def deploy_bot(cluster: Cluster, ns: str, **spec: Any) -> None:
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "arb-wallet", "labels": {"botfleet.io/bots": "arb"}},
        "stringData": {"PRIVATE_KEY": wallet_key(ns), "SIGNATURE_TYPE": "0"}}))
    doc = yaml.safe_load((REPO / "examples" / "arbhunter.yaml").read_text())
    doc["metadata"]["name"] = "arb"
    doc["spec"]["walletSecretRef"] = {"name": "arb-wallet"}
    doc["spec"].update(spec)
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(doc))


def wait_ready(rc: RealCluster, ns: str, timeout: float = 300) -> dict[str, Any]:
    c = rc.cluster

    def probe() -> dict[str, Any] | None:
        ready = conditions(c, ns, "arb").get("Ready")
        return ready_pod(c, ns) if ready and ready["status"] == "True" else None

    try:
        return eventually(probe, "TradingBot arb Ready through its pod's readiness probe", timeout=timeout)
    except AssertionError:
        described = c.kubectl("describe", "pods", "-n", ns, check=False).stdout[-4000:]
        logs = c.kubectl("logs", "-n", ns, "-l", BOT_SELECTOR, "--tail=40", check=False)
        raise AssertionError(f"{described}\n--- bot logs ---\n{logs.stdout}{logs.stderr}") from None


def test_bot_runs_in_a_container_trades_and_is_scraped(real_cluster: RealCluster, real_ns: str, sim_url: str,
                                                      op: HostProcess) -> None:
    c = real_cluster.cluster
    deploy_bot(c, real_ns)
    pod = wait_ready(real_cluster, real_ns)
    # A real container on the real node, from the imported image, with its real readiness probe.
    assert pod["spec"]["nodeName"] == real_cluster.node.name
    (status,) = pod["status"]["containerStatuses"]
    assert status["imageID"], status
    assert status["containerID"].startswith("containerd://")
    assert real_cluster.container_pid(status["containerID"]) > 1
    # Its journal claim bound by itself (default StorageClass + the dev provisioner).
    pvc = get_json(c, "pvc", "arb", "-n", real_ns)
    assert pvc["status"]["phase"] == "Bound"
    assert pvc["spec"]["storageClassName"] == "botfleet-local"

    text = traded(c, real_ns)
    assert metric(text, "botfleet_orders_total") > 0
    ledger = sim_admin(sim_url, "/_sim/ledger")
    address = bot_address(c, real_ns).lower()
    mine = [f for f in ledger if address in (f["taker"].lower(), f["maker"].lower())]
    assert mine, "the simulator's ledger has no fill of the bot's paper account"
    assert address != wallet_address(real_ns).lower()
    assert_wallet_unused(sim_url, real_ns)
    print(f"\nbot trading in a container: {len(mine)} fills of its paper account in the simulator's ledger")


def volume_dir(cluster: Cluster, ns: str, claim: str = "arb") -> Path:
    """The host directory behind a claim (the dev provisioner's hostPath volumes)."""
    pvc = get_json(cluster, "pvc", claim, "-n", ns)
    pv = get_json(cluster, "pv", pvc["spec"]["volumeName"])
    return Path(pv["spec"]["hostPath"]["path"])


def _journal(cluster: Cluster, ns: str) -> sqlite3.Connection:
    path = volume_dir(cluster, ns) / "journal.sqlite"
    assert path.is_file(), f"no journal at {path}"
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def journal_orders(cluster: Cluster, ns: str) -> dict[str, str]:
    """order_hash -> status of the bot's journal, read on the host from its volume's directory."""
    with contextlib.closing(_journal(cluster, ns)) as db:
        return {h.lower(): st for h, st in db.execute("SELECT order_hash, status FROM orders")}


def journal_events(cluster: Cluster, ns: str, kind: str) -> list[dict[str, Any]]:
    with contextlib.closing(_journal(cluster, ns)) as db:
        return [json.loads(d) for (d,) in db.execute("SELECT data FROM events WHERE kind = ?", (kind,))]


def traded(cluster: Cluster, ns: str, min_fills: float = 1) -> str:
    """The bot's /metrics (scraped as the chart's PodMonitor does) once it reports ``min_fills`` fills."""
    def probe() -> str | None:
        text = metrics_via_podmonitor(cluster, ns, "arb")
        return text if metric(text, "botfleet_fills_total") >= min_fills else None

    return eventually(probe, "fills in the bot's /metrics (scraped as the PodMonitor does)", timeout=240)


def test_kill_9_restarts_the_bot_journal_survives_no_duplicate_order(
        real_cluster: RealCluster, real_ns: str, sim_url: str, op: HostProcess) -> None:
    c = real_cluster.cluster
    deploy_bot(c, real_ns)
    pod = wait_ready(real_cluster, real_ns)
    traded(c, real_ns)
    before = journal_orders(c, real_ns)
    assert before, "the bot traded but its journal has no order"
    (status,) = pod["status"]["containerStatuses"]
    pid = real_cluster.container_pid(status["containerID"])
    os.kill(pid, signal.SIGKILL)  # the bot process itself, from the host: no chance to clean up

    def restarted() -> dict[str, Any] | None:
        p = ready_pod(c, real_ns)
        if p is None or p["metadata"]["uid"] != pod["metadata"]["uid"]:
            return None
        (s,) = p["status"]["containerStatuses"]
        return p if s["restartCount"] >= 1 else None

    again = eventually(restarted, "kubelet restarted the killed container and it is Ready again", timeout=300)
    (s,) = again["status"]["containerStatuses"]
    assert s["lastState"]["terminated"]["exitCode"] == 137  # SIGKILL
    assert s["containerID"] != status["containerID"]
    # The exchange first, then the journal: the restarted bot keeps trading, and an order is journaled
    # before it is sent, so every order the exchange holds now is in any later read of the journal.
    orders = sim_admin(sim_url, f"/_sim/orders?maker={bot_address(c, real_ns)}")
    after = journal_orders(c, real_ns)
    assert set(before) <= set(after), "orders journaled before the kill are gone"
    # Every order the exchange holds for this account was journaled (before sending), and none twice:
    # a re-sent journaled order has the same hash (the simulator keeps one), an unjournaled one would
    # not be in the journal.
    ids = [o["id"].lower() for o in orders]
    assert ids and len(ids) == len(set(ids))
    assert set(ids) <= set(after), f"orders at the exchange missing from the journal: {set(ids) - set(after)}"


def _watch_pods(cluster: Cluster, ns: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [cluster.kubectl_bin, f"--kubeconfig={cluster.admin_kubeconfig}", "get", "pods", "-n", ns, "-l",
         BOT_SELECTOR, "--watch", "-o", "json", "--output-watch-events"], stdout=subprocess.PIPE, text=True)


def _events(out: str) -> list[dict[str, Any]]:
    decoder, pos, events = json.JSONDecoder(), 0, []
    while pos < len(out):
        while pos < len(out) and out[pos].isspace():
            pos += 1
        if pos >= len(out):
            break
        event, pos = decoder.raw_decode(out, pos)
        events.append(event)
    return events


def place_resting_order(sim_url: str, cluster: Cluster, ns: str, market: dict[str, Any], token: str) -> str:
    """A GTC BUY far below the market on the bot's paper account, through a second API key of it,
    signed as the bot signs (its paper key, the simulator's chain id)."""
    from botfleet_tools.sim.auth import ApiCreds, l2_headers

    signer = OrderSigner(paper_key(cluster, ns), chain_id=SIM_CHAIN_ID)
    raw = sim_admin(sim_url, "/_sim/api-keys", "POST", {"address": signer.address})
    creds = ApiCreds(raw["apiKey"], raw["secret"], raw["passphrase"], signer.address)
    intent = OrderIntent(market=market["conditionId"], token_id=token, side="BUY", price_e6=10_000,
                         size_e6=10_000_000)
    body = signer.sign(intent, "realnode-resting", int(time.time() * 1000)).body_json(raw["apiKey"])
    req = urllib.request.Request(f"{sim_url}/order", data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          **l2_headers(creds, "POST", "/order", body)})
    with urllib.request.urlopen(req, timeout=10) as r:
        answer = json.loads(r.read())
    assert answer.get("status") == "live", answer
    return str(answer["orderID"]).lower()


def test_pod_deletion_sigterm_cancels_open_orders_and_exits_0(
        real_cluster: RealCluster, real_ns: str, sim_url: str, op: HostProcess) -> None:
    c = real_cluster.cluster
    deploy_bot(c, real_ns)
    pod = wait_ready(real_cluster, real_ns)
    traded(c, real_ns)
    market = next(m for m in http_json(f"{sim_url}/gamma/markets") if not m.get("negRisk"))
    token = json.loads(market["clobTokenIds"])[0]
    order_id = place_resting_order(sim_url, c, real_ns, market, token)
    address = bot_address(c, real_ns)
    orders = {o["id"].lower(): o for o in sim_admin(sim_url, f"/_sim/orders?maker={address}")}
    assert orders[order_id]["status"] == "LIVE"  # still open while the bot runs
    watcher = _watch_pods(c, real_ns)
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(watcher.stdout.readline, "")),  # type: ignore[union-attr]
                              daemon=True)
    reader.start()
    uid = pod["metadata"]["uid"]
    try:
        c.kubectl("delete", "pod", pod["metadata"]["name"], "-n", real_ns, "--wait=true", timeout=120)
        # Read the watch up to the pod's DELETED event: the kubelet's final status comes before it.
        eventually(lambda: any(e["type"] == "DELETED" and e["object"]["metadata"]["uid"] == uid
                               for e in _events("".join(chunks))), "the pod's DELETED event", timeout=60)
    finally:
        watcher.terminate()
        watcher.wait(10)
        reader.join(10)
    out = "".join(chunks)
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    terminated = [s["state"]["terminated"] for e in _events(out) if e["object"]["metadata"]["uid"] == pod["metadata"]["uid"]
                  for s in e["object"]["status"].get("containerStatuses") or [] if "terminated" in s.get("state", {})]
    assert terminated, f"no terminated state of the deleted pod's container was seen: {out[-2000:]}"
    # Exit code 0 = the bot's own clean exit (past the grace period the kubelet's SIGKILL gives 137).
    assert terminated[-1]["exitCode"] == 0, terminated[-1]
    assert grace == 30
    orders = {o["id"].lower(): o for o in sim_admin(sim_url, f"/_sim/orders?maker={address}")}
    assert orders[order_id]["status"] == "CANCELED", orders[order_id]
    assert not [o for o in orders.values() if o["status"] == "LIVE"], "an order of the bot is still open"
    # ... canceled by the bot's shutdown path, as its journal (on the volume) records.
    events = journal_events(c, real_ns, "cancel_all")
    assert any(e.get("reason") == "shutdown" and e.get("canceled", 0) >= 1 for e in events), events


def job_pod(cluster: Cluster, ns: str, selector: str) -> dict[str, Any] | None:
    """The finished pod of a Job (by label selector), once its container has terminated."""
    for pod in get_json(cluster, "pods", "-n", ns, "-l", selector)["items"]:
        statuses = pod["status"].get("containerStatuses") or []
        if statuses and "terminated" in statuses[0].get("state", {}):
            return pod  # type: ignore[no-any-return]
    return None


def test_backup_job_runs_botfleet_backup_in_a_container(
        real_cluster: RealCluster, real_ns: str, sim_url: str, op: HostProcess) -> None:
    c = real_cluster.cluster
    deploy_bot(c, real_ns)
    wait_ready(real_cluster, real_ns)
    traded(c, real_ns)
    c.kubectl("create", "job", "manual-backup-1", "-n", real_ns, "--from=cronjob/arb-backup")
    pod = eventually(lambda: job_pod(c, real_ns, "job-name=manual-backup-1"), "backup pod finished", timeout=300)
    assert pod["spec"]["nodeName"] == real_cluster.node.name
    (status,) = pod["status"]["containerStatuses"]
    assert status["state"]["terminated"]["exitCode"] == 0, c.kubectl("logs", "-n", real_ns, pod["metadata"]["name"],
                                                                     check=False).stdout
    assert pod["spec"]["containers"][0]["args"][0] == "backup"
    ready = eventually(lambda: (conditions(c, real_ns, "arb").get("BackupSucceeded") or {}).get("status") == "True",
                       "BackupSucceeded=True", timeout=180)
    assert ready
    bot = get_json(c, "tradingbot", "arb", "-n", real_ns)
    assert bot["status"]["lastBackupTime"]
    # The backup is in the bot's volume: a consistent SQLite copy of the journal, with its orders.
    backups = sorted((volume_dir(c, real_ns) / "backups").glob("journal-*.sqlite"))
    assert len(backups) == 1, backups
    with contextlib.closing(sqlite3.connect(f"file:{backups[0]}?mode=ro", uri=True)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM orders").fetchone()[0] > 0


@contextlib.contextmanager
def tcp_listener(host: str) -> Iterator[tuple[int, list[str]]]:
    """A TCP port on the host that records who connected (peer addresses)."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind((host, 0))
    srv.listen(16)
    srv.settimeout(0.5)
    peers: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, addr = srv.accept()
            except OSError:
                continue
            peers.append(addr[0])
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(srv.getsockname()[1]), peers
    finally:
        stop.set()
        thread.join(5)
        srv.close()


CONNECT = ("import socket, sys\n"
           "try:\n"
           "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=4).close(); print('open')\n"
           "except OSError as e:\n"
           "    print('blocked', type(e).__name__)\n")


def connect_from(cluster: Cluster, ns: str, pod: str, host: str, port: int) -> str:
    out = cluster.kubectl("exec", "-n", ns, pod, "--", "python3", "-c", CONNECT, host, str(port), timeout=60)
    return out.stdout.strip()


def test_network_policy_lets_the_bot_reach_only_the_exchange(
        real_cluster: RealCluster, real_ns: str, sim_url: str, op: HostProcess) -> None:
    """The operator's NetworkPolicy, enforced by kube-router: the bot trades with the simulator (its
    allowed egress port) and is scraped on 9100 from the monitoring namespace, but reaches no other
    port, and nothing else reaches it; a pod without a policy in the same namespace reaches the
    host's port the bot cannot (the control)."""
    c = real_cluster.cluster
    deploy_bot(c, real_ns)
    pod = wait_ready(real_cluster, real_ns)
    policy = get_json(c, "networkpolicy", "arb", "-n", real_ns)
    sim_port = int(sim_url.rsplit(":", 1)[1])
    assert any({"protocol": "TCP", "port": sim_port} in rule.get("ports", []) for rule in policy["spec"]["egress"])
    traded(c, real_ns)  # egress to the simulator's port works under enforcement, and so does the scrape
    c.kubectl("run", "control", "-n", real_ns, "--image=docker.io/botfleet/botfleet:0.1.0",
              "--image-pull-policy=Never", "--restart=Never", "--command", "--", "sleep", "600")
    c.kubectl("wait", "--for=condition=Ready", "pod/control", "-n", real_ns, "--timeout=120s", timeout=150)
    bot = pod["metadata"]["name"]
    with tcp_listener(real_cluster.host_ip) as (port, peers):
        assert connect_from(c, real_ns, "control", real_cluster.host_ip, port) == "open"
        assert connect_from(c, real_ns, bot, real_cluster.host_ip, sim_port) == "open"
        assert connect_from(c, real_ns, bot, real_cluster.host_ip, port).startswith("blocked")
        assert len(peers) == 1, peers  # only the control pod's connection arrived
    # Ingress: 9100 from the monitoring namespace only; a second listener in the bot's pod (port 8000)
    # from nowhere.
    c.kubectl("exec", "-n", real_ns, bot, "--", "sh", "-c",
              "nohup python3 -m http.server 8000 --directory /tmp >/dev/null 2>&1 &")
    bot_ip = pod["status"]["podIP"]
    eventually(lambda: "open" in connect_from(c, real_ns, bot, "127.0.0.1", 8000), "listener up in the bot's pod")
    scraper = scraper_pod(c)
    assert connect_from(c, MONITORING_NS, scraper, bot_ip, 9100) == "open"
    assert connect_from(c, MONITORING_NS, scraper, bot_ip, 8000).startswith("blocked")
    assert connect_from(c, real_ns, "control", bot_ip, 9100).startswith("blocked")
