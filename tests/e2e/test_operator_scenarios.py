"""The operator against a real control plane (issue 3 scenarios 1-12).

The operator runs as a subprocess (`python -m botfleet_operator operator`) with the kubeconfig of
its ServiceAccount, bound to the least-privilege ClusterRole of deploy/rbac/operator.yaml: it is
never admin. The tests themselves act as admin through kubectl, as a user would.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.controlplane import Cluster
from tests.support.controlplane_wait import eventually
from tests.support.helm import BOT_PODMONITOR_SELECTOR

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
RBAC = REPO / "deploy" / "rbac" / "operator.yaml"
OWNED_KINDS = ("serviceaccount", "configmap", "persistentvolumeclaim", "networkpolicy",
               "deployment", "cronjob")
TEST_PRIVATE_KEY = "0x" + "11" * 32  # test-only key (tests/support/sim.py)
OTHER_PRIVATE_KEY = "0x" + "12" * 32  # test-only: a rotated wallet key

pytestmark = pytest.mark.timeout(900)


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------

def get_json(cluster: Cluster, *args: str, check: bool = True) -> Any:
    result = cluster.kubectl("get", *args, "-o", "json", check=check)
    return json.loads(result.stdout) if result.returncode == 0 else None


def apply(cluster: Cluster, doc: dict[str, Any] | str, namespace: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    return cluster.kubectl("apply", "-n", namespace, "-f", "-", input=text, check=check)


def example(name: str, **spec: Any) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    doc["spec"].update(spec)
    return doc


def bot_doc(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot", "metadata": {"name": name},
            "spec": {"strategy": "arbhunter", **spec}}


def conditions(cluster: Cluster, ns: str, name: str) -> dict[str, dict[str, Any]]:
    bot = get_json(cluster, "tradingbot", name, "-n", ns, check=False) or {}
    return {c["type"]: c for c in (bot.get("status") or {}).get("conditions") or []}


def wait_condition(cluster: Cluster, ns: str, name: str, type_: str, status: str, reason: str | None = None,
                   timeout: float = 90) -> dict[str, Any]:
    seen: list[Any] = [None]

    def probe() -> dict[str, Any] | None:
        c = seen[0] = conditions(cluster, ns, name).get(type_)
        if c and c["status"] == status and (reason is None or c["reason"] == reason):
            return c
        return None
    try:
        return eventually(probe, f"{ns}/{name} {type_}={status} {reason or ''}", timeout=timeout)
    except AssertionError as exc:  # say what it was instead, and what its Deployment said
        dep = deployment(cluster, ns, name) or {}
        raise AssertionError(f"{exc}; the condition was {seen[0]!r}; Deployment generation "
                             f"{dep.get('metadata', {}).get('generation')} status {dep.get('status')!r}") from None


def deployment(cluster: Cluster, ns: str, name: str) -> dict[str, Any] | None:
    return get_json(cluster, "deployment", name, "-n", ns, check=False)  # type: ignore[no-any-return]


def template_annotations(cluster: Cluster, ns: str, name: str) -> dict[str, str]:
    dep = deployment(cluster, ns, name) or {}
    return ((dep.get("spec") or {}).get("template") or {}).get("metadata", {}).get("annotations") or {}


def secret_doc(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "stringData": data,
            "metadata": {"name": name, "labels": {"botfleet.io/bots": "all"}}}  # opted in for the bots


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OperatorProcess:
    """`python -m botfleet_operator operator` as the operator's ServiceAccount."""

    def __init__(self, cluster: Cluster, log: Path) -> None:
        self.cluster = cluster
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port = 0

    def start(self) -> None:
        self.metrics_port, health = _free_port(), _free_port()
        env = {**os.environ, "KUBECONFIG": str(self.cluster.operator_kubeconfig), "PYTHONUNBUFFERED": "1"}
        env.pop("BOTFLEET_SIM_URL", None)
        cmd = [sys.executable, "-m", "botfleet_operator", "operator", "--all-namespaces",
               "--lease-namespace", "botfleet-system", "--identity", "e2e-operator",
               "--metrics-port", str(self.metrics_port), "--health-port", str(health), "--workers", "16",
               *(["--verbose"] if os.environ.get("BOTFLEET_E2E_VERBOSE") else [])]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)

        def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"operator exited {self.proc.returncode}; log: {self.log}")
            with contextlib.suppress(OSError), \
                    urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=2) as r:
                return r.status == 200
            return False
        eventually(healthy, "operator liveness endpoint", timeout=60)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()  # type: ignore[no-any-return]

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def _persistent_volumes(cluster: Cluster, count: int) -> None:
    """Static PVs for the bots' journal claims: the local control plane has no volume provisioner."""
    docs = [{"apiVersion": "v1", "kind": "PersistentVolume",
             "metadata": {"name": f"e2e-pv-{i:03d}", "labels": {"botfleet.io/e2e": "true"}},
             "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"],
                      "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": f"/tmp/e2e-pv-{i:03d}"}}}
            for i in range(count)]
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))


@pytest.fixture(scope="module")
def operator(cluster: Cluster) -> Iterator[OperatorProcess]:
    cluster.kubectl("apply", "-f", str(RBAC))
    _persistent_volumes(cluster, 120)
    logs = REPO / ".cache" / "e2e-operator"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"operator-{time.strftime('%Y%m%dT%H%M%S')}.log"
    op = OperatorProcess(cluster, log)
    op.start()
    try:
        yield op
    finally:
        op.stop()
        text = log.read_text(errors="replace")
        for leaked in (TEST_PRIVATE_KEY[2:], OTHER_PRIVATE_KEY[2:], "REPLACE_ME", base64.b64encode(b"REPLACE_ME").decode(),
                       S3_SECRET_VALUE, S3_SECRET_VALUE_2):
            assert leaked not in text, "a Secret value reached the operator's log"


def _apply_example(cluster: Cluster, ns: str, name: str, **spec: Any) -> None:
    docs = [d for d in yaml.safe_load_all((EXAMPLES / f"{name}-secret.yaml").read_text()) if d]
    for doc in docs:
        if spec.get("mode") == "live" and "PRIVATE_KEY" in doc.get("stringData", {}):
            # the example's placeholder is refused for a live bot (SecretValueInvalid): a test key instead
            doc["stringData"]["PRIVATE_KEY"] = TEST_PRIVATE_KEY
        apply(cluster, doc, ns)
    apply(cluster, example(name, **spec), ns)


# ----------------------------------------------------------------------------------------------
# scenarios
# ----------------------------------------------------------------------------------------------

def test_example_becomes_ready_with_owned_objects_and_columns(cluster: Cluster, operator: OperatorProcess,
                                                              namespace: str) -> None:
    _apply_example(cluster, namespace, "arbhunter")
    wait_condition(cluster, namespace, "arbhunter", "Ready", "True", "Available")
    bot = get_json(cluster, "tradingbot", "arbhunter", "-n", namespace)
    for kind in OWNED_KINDS:
        name = "arbhunter-backup" if kind == "cronjob" else "arbhunter"
        obj = get_json(cluster, kind, name, "-n", namespace)
        if kind == "persistentvolumeclaim":  # spec.retention.journal defaults to Retain: not owned
            assert "ownerReferences" not in obj["metadata"]
            continue
        (ref,) = obj["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == \
            ("TradingBot", "arbhunter", bot["metadata"]["uid"], True)
    pods = get_json(cluster, "pods", "-n", namespace, "-l", "botfleet.io/bot=arbhunter,app.kubernetes.io/component=bot")
    assert [p["status"]["phase"] for p in pods["items"]] == ["Running"]
    table = cluster.kubectl("get", "tradingbots", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "STRATEGY", "MODE", "RISK", "READY", "REASON", "AGE"]
    assert table[1].split()[:6] == ["arbhunter", "arbhunter", "paper", "balanced", "True", "Available"]
    assert bot["status"]["observedGeneration"] == bot["metadata"]["generation"]
    assert len(bot["status"]["credentialsHash"]) == 64
    events = get_json(cluster, "events", "-n", namespace, "--field-selector", "involvedObject.name=arbhunter")
    assert any(e["reason"] == "Created" and "Deployment" in e["message"] for e in events["items"])
    assert "botfleet_operator_reconciles_total" in operator.metrics()


def test_an_operator_without_a_key_keeps_its_hmac_key_in_its_namespace(cluster: Cluster, operator: OperatorProcess,
                                                                        namespace: str) -> None:
    """Started as the README starts it (no BOTFLEET_HASH_KEY), the operator still publishes an HMAC
    of the Secrets, not a plain SHA-256 a tenant could test guessed values against: its key is a
    random Secret it made in its own namespace."""
    from botfleet_operator.api import TradingBot
    from botfleet_operator.secrets import secrets_hash, view_of

    apply(cluster, secret_doc("hk-wallet", PRIVATE_KEY=TEST_PRIVATE_KEY, SIGNATURE_TYPE="0"), namespace)
    apply(cluster, bot_doc("hk", mode="live", walletSecretRef={"name": "hk-wallet"}), namespace)
    wait_condition(cluster, namespace, "hk", "Ready", "True")
    stored = get_json(cluster, "secret", "botfleet-standalone-hash-key", "-n", "botfleet-system")
    key = base64.b64decode(stored["data"]["key"]).strip()
    assert key  # made by this operator (random: tests/unit/operator/test_operator_hashkey.py) or an earlier one
    bot = get_json(cluster, "tradingbot", "hk", "-n", namespace)
    spec = TradingBot.parse(bot).spec
    views = {"hk-wallet": view_of(get_json(cluster, "secret", "hk-wallet", "-n", namespace))}
    assert bot["status"]["credentialsHash"] == secrets_hash(spec, views, key)
    assert bot["status"]["credentialsHash"] != secrets_hash(spec, views)


def test_spec_change_updates_config_rolls_and_advances_generation(cluster: Cluster, operator: OperatorProcess,
                                                                  namespace: str) -> None:
    _apply_example(cluster, namespace, "arbhunter")
    wait_condition(cluster, namespace, "arbhunter", "Ready", "True")
    before = template_annotations(cluster, namespace, "arbhunter")["botfleet.io/config-hash"]
    cluster.kubectl("patch", "tradingbot", "arbhunter", "-n", namespace, "--type", "merge", "-p",
                    json.dumps({"spec": {"riskProfile": "aggressive", "params": {"maxBookAgeMs": 1500}}}))
    bot = get_json(cluster, "tradingbot", "arbhunter", "-n", namespace)
    generation = bot["metadata"]["generation"]
    assert generation >= 2

    def config_updated() -> bool:
        cm = get_json(cluster, "configmap", "arbhunter", "-n", namespace)
        cfg = json.loads(cm["data"]["config.json"])
        return cfg["riskProfile"] == "aggressive" and cfg["params"]["maxBookAgeMs"] == 1500
    eventually(config_updated, "ConfigMap with the new spec")
    eventually(lambda: template_annotations(cluster, namespace, "arbhunter")["botfleet.io/config-hash"] != before,
               "Deployment rolled")
    eventually(lambda: get_json(cluster, "tradingbot", "arbhunter", "-n", namespace)["status"].get(
        "observedGeneration") == generation, "observedGeneration advanced")
    wait_condition(cluster, namespace, "arbhunter", "Ready", "True")


def test_secret_change_rolls_without_two_pods(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    # live: only a live bot mounts its wallet Secret, so only its wallet's change rolls it (kwok runs no container)
    _apply_example(cluster, namespace, "arbhunter", mode="live")
    wait_condition(cluster, namespace, "arbhunter", "Ready", "True")
    before = template_annotations(cluster, namespace, "arbhunter")["botfleet.io/secrets-hash"]
    first_pod = get_json(cluster, "pods", "-n", namespace, "-l", "botfleet.io/bot=arbhunter,app.kubernetes.io/component=bot")
    assert len(first_pod["items"]) == 1
    watcher = subprocess.Popen(
        [cluster.kubectl_bin, f"--kubeconfig={cluster.admin_kubeconfig}", "get", "pods", "-n", namespace, "-l",
         "botfleet.io/bot=arbhunter,app.kubernetes.io/component=bot", "--watch", "-o", "json", "--output-watch-events"],
        stdout=subprocess.PIPE, text=True)
    try:
        apply(cluster, secret_doc("arbhunter-wallet", PRIVATE_KEY=OTHER_PRIVATE_KEY, SIGNATURE_TYPE="0"), namespace)
        eventually(lambda: template_annotations(cluster, namespace, "arbhunter")["botfleet.io/secrets-hash"] != before,
                   "secrets-hash annotation changed")
        assert deployment(cluster, namespace, "arbhunter")["spec"]["strategy"]["type"] == "Recreate"  # type: ignore[index]

        def new_pod_ready() -> bool:
            pods = get_json(cluster, "pods", "-n", namespace, "-l",
                            "botfleet.io/bot=arbhunter,app.kubernetes.io/component=bot")["items"]
            return len(pods) == 1 and pods[0]["metadata"]["uid"] != first_pod["items"][0]["metadata"]["uid"] \
                and pods[0]["status"].get("phase") == "Running"
        eventually(new_pod_ready, "replacement pod running")
        wait_condition(cluster, namespace, "arbhunter", "Ready", "True")
    finally:
        watcher.terminate()
        out, _ = watcher.communicate(timeout=10)
    # Replay the watch: at no point were two pods alive (not yet deleted) at once.
    alive: set[str] = set()
    decoder = json.JSONDecoder()
    pos, peak = 0, 0
    while pos < len(out):
        while pos < len(out) and out[pos].isspace():
            pos += 1
        if pos >= len(out):
            break
        event, pos = decoder.raw_decode(out, pos)
        pod = event["object"]
        uid = pod["metadata"]["uid"]
        if event["type"] == "DELETED" or pod["status"].get("phase") in ("Succeeded", "Failed") \
                or pod["metadata"].get("deletionTimestamp"):
            alive.discard(uid)
        else:
            alive.add(uid)
        peak = max(peak, len(alive))
    assert peak == 1


def test_missing_secret_reports_then_heals(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    apply(cluster, example("arbhunter", mode="live"), namespace)  # the Secret is not there yet (live: it is required)
    c = wait_condition(cluster, namespace, "arbhunter", "SecretsReady", "False", "SecretNotFound")
    assert "arbhunter-wallet" in c["message"]
    assert conditions(cluster, namespace, "arbhunter")["Ready"]["status"] == "False"
    assert deployment(cluster, namespace, "arbhunter") is None  # no rollout onto a broken Secret
    assert conditions(cluster, namespace, "arbhunter")["Degraded"]["reason"] == "SecretNotFound"
    apply(cluster, secret_doc("arbhunter-wallet", SIGNATURE_TYPE="0"), namespace)
    c = wait_condition(cluster, namespace, "arbhunter", "SecretsReady", "False", "SecretKeyMissing")
    assert "PRIVATE_KEY" in c["message"]
    wait_condition(cluster, namespace, "arbhunter", "Degraded", "True", "SecretKeyMissing")
    # the example Secret's placeholder: only the bot's crash loop said so before (kwok runs no container)
    apply(cluster, secret_doc("arbhunter-wallet", PRIVATE_KEY="REPLACE_ME", SIGNATURE_TYPE="0"), namespace)
    c = wait_condition(cluster, namespace, "arbhunter", "SecretsReady", "False", "SecretValueInvalid")
    assert "Secret arbhunter-wallet (spec.walletSecretRef) key PRIVATE_KEY: PRIVATE_KEY must be" in c["message"]
    assert "REPLACE_ME" not in json.dumps(get_json(cluster, "tradingbot", "arbhunter", "-n", namespace)["status"])
    wait_condition(cluster, namespace, "arbhunter", "Degraded", "True", "SecretValueInvalid")
    assert conditions(cluster, namespace, "arbhunter")["Ready"]["status"] == "False"
    assert deployment(cluster, namespace, "arbhunter") is None
    apply(cluster, secret_doc("arbhunter-wallet", PRIVATE_KEY=TEST_PRIVATE_KEY, SIGNATURE_TYPE="0"), namespace)
    wait_condition(cluster, namespace, "arbhunter", "SecretsReady", "True")
    wait_condition(cluster, namespace, "arbhunter", "Ready", "True")
    wait_condition(cluster, namespace, "arbhunter", "Degraded", "False", "AsExpected")


S3_SECRET_VALUE, S3_SECRET_VALUE_2 = "e2e-s3-secret-0001", "e2e-s3-secret-0002"


def test_an_s3_secret_change_does_not_roll_the_bot(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    """Only the Secrets the bot's pod reads roll it (Recreate: downtime, open orders cancelled); the
    backup Job reads its Secrets afresh at each run."""
    apply(cluster, secret_doc("s3w", PRIVATE_KEY=TEST_PRIVATE_KEY, SIGNATURE_TYPE="0"), namespace)
    apply(cluster, secret_doc("s3", AWS_ACCESS_KEY_ID="AKIAE2E", AWS_SECRET_ACCESS_KEY=S3_SECRET_VALUE), namespace)
    apply(cluster, secret_doc("s3-key", BACKUP_ENCRYPTION_KEY=base64.b64encode(bytes(range(32))).decode()), namespace)
    apply(cluster, bot_doc("s3bot", mode="live", walletSecretRef={"name": "s3w"}, backup={
        "s3": {"endpoint": "https://s3.eu-west-1.amazonaws.com", "bucket": "bots", "secretRef": {"name": "s3"}},
        "encryption": {"secretRef": {"name": "s3-key"}}}), namespace)
    wait_condition(cluster, namespace, "s3bot", "Ready", "True")
    hash_before = get_json(cluster, "tradingbot", "s3bot", "-n", namespace)["status"]["credentialsHash"]
    dep = deployment(cluster, namespace, "s3bot")
    assert dep is not None
    generation = dep["metadata"]["generation"]
    selector = "botfleet.io/bot=s3bot,app.kubernetes.io/component=bot"
    (pod,) = get_json(cluster, "pods", "-n", namespace, "-l", selector)["items"]
    apply(cluster, secret_doc("s3", AWS_ACCESS_KEY_ID="AKIAE2E", AWS_SECRET_ACCESS_KEY=S3_SECRET_VALUE_2), namespace)
    # the operator saw the change: the status digest over every referenced Secret moved
    eventually(lambda: get_json(cluster, "tradingbot", "s3bot", "-n", namespace)["status"]["credentialsHash"]
               != hash_before, "status.credentialsHash changed")
    time.sleep(3)  # a roll would have been applied by now
    dep = deployment(cluster, namespace, "s3bot")
    assert dep is not None and dep["metadata"]["generation"] == generation
    assert [p["metadata"]["uid"] for p in get_json(cluster, "pods", "-n", namespace, "-l", selector)["items"]] \
        == [pod["metadata"]["uid"]]
    cron = get_json(cluster, "cronjob", "s3bot-backup", "-n", namespace)
    volumes = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
    assert "s3" in [(v.get("secret") or {}).get("secretName") for v in volumes]  # read afresh by each backup Job
    assert conditions(cluster, namespace, "s3bot")["Ready"]["status"] == "True"


WALLET = "0x56687bf447db6ffa42ffe2204a05edaa20f55839"
_S3 = {"endpoint": "https://s3.example.com", "bucket": "bots", "secretRef": {"name": "s3"}}
_ENC = {"secretRef": {"name": "backup-key"}}
_ROT = {"walletSecretRef": {"name": "w"}, "credentialsSecretRef": {"name": "c"}}

# (case, spec, what `kubectl apply` must print: the field and the fix)
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("unknown-strategy", {"strategy": "scalper"},
     'spec.strategy: Unsupported value: "scalper": supported values: "arbhunter", "polyai", "elitemimic"'),
    ("live-without-wallet", {"mode": "live"}, "spec.walletSecretRef is required when spec.mode is live"),
    ("negative-limit", {"limits": {"maxDailyLossUsd": -5}},
     "spec.limits.maxDailyLossUsd in body should be greater than 0"),
    ("copy-ratio-above-1", {"strategy": "elitemimic", "params": {"copyRatio": 1.5}},
     "spec.params.copyRatio in body should be less than or equal to 1"),
    ("param-of-other-strategy", {"params": {"copyRatio": 0.5}},
     "spec.params.copyRatio is a parameter of elitemimic, not arbhunter; remove it from spec.params"),
    ("unknown-param", {"params": {"nonsense": 1}}, 'unknown field "spec.params.nonsense"'),
    ("bad-mode", {"mode": "yolo"}, 'spec.mode: Unsupported value: "yolo": supported values: "paper", "live"'),
    ("bad-risk", {"riskProfile": "reckless"},
     'spec.riskProfile: Unsupported value: "reckless": supported values: "conservative", "balanced", "aggressive"'),
    ("order-above-position", {"limits": {"maxOrderUsd": 5000, "maxPositionPerMarketUsd": 100}},
     "spec.limits.maxOrderUsd must not exceed spec.limits.maxPositionPerMarketUsd"),
    ("order-above-exposure", {"limits": {"maxOrderUsd": 3000, "maxTotalExposureUsd": 2000}},
     "spec.limits.maxOrderUsd must not exceed spec.limits.maxTotalExposureUsd"),
    ("position-above-exposure", {"limits": {"maxPositionPerMarketUsd": 6000, "maxTotalExposureUsd": 5000}},
     "spec.limits.maxPositionPerMarketUsd must not exceed spec.limits.maxTotalExposureUsd; lower it or raise "
     "maxTotalExposureUsd"),
    ("postgres-without-url", {"journal": {"backend": "postgres"}},
     "spec.journal.urlSecretRef is required when spec.journal.backend is postgres"),
    ("env-secret-name", {"env": [{"name": "PRIVATE_KEY", "value": "x"}]}, "spec.env must not set Secret key names"),
    ("env-botfleet-prefix", {"env": [{"name": "BOTFLEET_MODE", "value": "live"}]}, "names starting with BOTFLEET_"),
    ("env-name-format", {"env": [{"name": "1ST", "value": "x"}]}, "must be an environment variable name"),
    ("env-not-allowlisted", {"env": [{"name": "TZ", "value": "UTC"}, {"name": "OPENAI_BASE_URL", "value": "x"}]},
     "spec.env: only TZ"),
    ("env-preload", {"env": [{"name": "LD_PRELOAD", "value": "/tmp/x.so"}]}, "spec.env: only TZ"),
    ("rotation-without-secrets", {"keyRotation": {"schedule": "@weekly"}},
     "spec.keyRotation.schedule needs spec.walletSecretRef"),
    ("bad-cron", {"backup": {"schedule": "every hour"}}, "spec.backup.schedule must be 5 fields"),
    ("bad-rotation-cron", {**_ROT, "keyRotation": {"schedule": "0 3 * *"}}, "spec.keyRotation.schedule must be 5 fields"),
    ("cron-minute-60", {"backup": {"schedule": "60 * * * *"}},
     "spec.backup.schedule: the minute field (1st) must be '*', a value 0-59"),
    ("cron-hour-24", {"backup": {"schedule": "0 24 * * *"}}, "the hour field (2nd) must be '*', a value 0-23"),
    ("cron-dom-0", {"backup": {"schedule": "0 0 0 * *"}}, "the day-of-month field (3rd)"),
    ("cron-month-13", {**_ROT, "keyRotation": {"schedule": "0 3 1 13 *"}},
     "spec.keyRotation.schedule: the month field (4th)"),
    ("cron-dow-8", {"backup": {"schedule": "0 0 * * 8"}}, "the day-of-week field (5th)"),
    # The CronJob's parser (robfig/cron v3) has Sunday as 0 only, and ranges that do not wrap around.
    ("cron-dow-7", {"backup": {"schedule": "59 23 31 12 7"}},
     "spec.backup.schedule: the day-of-week field (5th) must be '*', '?', a value 0-6 or SUN-SAT"),
    ("cron-range-reversed", {"backup": {"schedule": "30-5 * * * *"}},
     "spec.backup.schedule: the minute field (1st) must be '*', a value 0-59, a range a-b with a not after b "
     "(ranges do not wrap around: write 22-23,0-2 instead of 22-2)"),
    ("cron-step-0", {"backup": {"schedule": "*/0 * * * *"}}, "the minute field (1st)"),
    ("wallet-key-mapping", {"walletSecretRef": {"name": "w", "keys": {"OPENAI_API_KEY": "x"}}},
     "spec.walletSecretRef.keys: only PRIVATE_KEY, FUNDER_ADDRESS, SIGNATURE_TYPE"),
    ("secret-name", {"walletSecretRef": {"name": "My_Wallet"}}, "must be a DNS subdomain"),
    ("wallet-address", {"strategy": "elitemimic", "params": {"wallets": ["0x1234"]}},
     "must be a wallet address: 0x followed by 40 hex digits"),
    ("condition-id", {"markets": {"conditionIds": ["0xabc"]}}, "must be a condition id: 0x followed by 64 hex"),
    ("slug", {"markets": {"slugs": ["Will Trump Win?"]}}, "must be a slug"),
    ("llm-url", {"strategy": "polyai", "params": {"llmBaseUrl": "api.openai.com/v1"}},
     "must be an http:// or https:// URL"),
    ("s3-endpoint", {"backup": {"s3": {**_S3, "endpoint": "s3.example.com"}, "encryption": _ENC}},
     "must be an https:// URL"),
    ("s3-http", {"backup": {"s3": {**_S3, "endpoint": "http://minio.storage:9000"}, "encryption": _ENC}},
     "must be an https:// URL with a host (plain http is refused)"),
    ("s3-unencrypted", {"backup": {"s3": _S3}}, "spec.backup.s3 requires spec.backup.encryption"),
    ("s3-bucket", {"backup": {"s3": {**_S3, "bucket": "My_Bucket"}, "encryption": _ENC}}, "must be an S3 bucket name"),
    ("quantity", {"resources": {"limits": {"memory": "512MB"}}}, "must be a Kubernetes quantity"),
    ("resource-name", {"resources": {"limits": {"gpu": "1"}}}, 'unknown field "spec.resources.limits.gpu"'),
    ("memory-in-bytes", {"resources": {"requests": {"memory": "512"}}},
     "spec.resources.requests.memory (512) must be at least 16Mi: a bare number is bytes"),
    ("memory-in-millibytes", {"resources": {"limits": {"memory": "512m"}}},
     "spec.resources.limits.memory (512m) must be at least 16Mi"),
    ("cpu-zero", {"resources": {"limits": {"cpu": 0}}}, "spec.resources.limits.cpu must be greater than 0"),
    # A CRD field is int-or-string at most (no float): the type error is all the API server says.
    ("cpu-fraction-number", {"resources": {"limits": {"cpu": 0.5}}},
     "spec.resources.limits.cpu in body must be of type integer,string"),
    ("requests-above-limits", {"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}},
     "spec.resources.requests.memory (2Gi) must not exceed the memory limit (1Gi)"),
    ("request-above-default-limit", {"resources": {"requests": {"cpu": "2"}}},
     "spec.resources.requests.cpu (2) must not exceed the cpu limit (1)"),
    ("backup-pvc-size", {"backup": {"storage": {"pvc": {"size": "ten gigs"}}}}, "must be a Kubernetes quantity"),
    ("backup-pvc-size-zero", {"backup": {"storage": {"pvc": {"size": "0"}}}},
     "spec.backup.storage.pvc.size (0) must be greater than 0"),
    ("image", {"image": "Botfleet:Latest!"}, "must be an image reference"),
    ("node-selector-key", {"nodeSelector": {"bad key": "x"}}, "spec.nodeSelector: every key must be a label key"),
    ("node-selector-value", {"nodeSelector": {"pool": "-x-"}}, "must be a label value"),
    ("toleration-exists-value", {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]},
     "a toleration with operator Exists must not have a value"),
    ("toleration-seconds", {"tolerations": [{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}]},
     "tolerationSeconds only applies to effect NoExecute"),
    ("toleration-without-key", {"tolerations": [{"operator": "Exists"}]},
     "spec.tolerations: every toleration needs a key"),
    ("toleration-control-plane", {"tolerations": [{"key": "node-role.kubernetes.io/control-plane",
                                                   "operator": "Exists", "effect": "NoSchedule"}]},
     "spec.tolerations: bots may not run on control-plane nodes"),
    ("node-selector-control-plane", {"nodeSelector": {"node-role.kubernetes.io/control-plane": ""}},
     "spec.nodeSelector: bots may not run on control-plane nodes"),
    ("affinity-typo", {"affinity": {"nodeAffinty": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}},
     "spec.affinity: only nodeAffinity, podAffinity, podAntiAffinity may be set"),
    ("retention", {"retention": {"journal": "Keep"}},
     'spec.retention.journal: Unsupported value: "Keep": supported values: "Retain", "Delete"'),
]

# Edge cases that must be accepted.
ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("cron-edges", {"backup": {"schedule": "59 23 31 12 6"}}),
    ("cron-ranges-not-reversed", {"backup": {"schedule": "59-59 22-23,0-2 1-31/2 1-DEC SUN-6"}}),
    ("cron-names-lists-steps", {"backup": {"schedule": "0,30 9-17/2 ? JAN-MAR mon-fri"}}),
    ("cron-macro", {"backup": {"schedule": "@daily"}}),
    ("partial-resource-limits", {"resources": {"limits": {"memory": "128Mi"}}}),
    ("smallest-resources", {"resources": {"requests": {"cpu": "1m", "memory": "16Mi"}}}),
    ("smallest-pvc", {"backup": {"storage": {"pvc": {"size": "1Mi"}}}}),
    ("requests-equal-limits", {"resources": {"requests": {"cpu": 1, "memory": "1Gi"}, "limits": {"cpu": "1000m", "memory": "1024Mi"}}}),
    ("partial-money-limits", {"limits": {"maxTotalExposureUsd": 500}}),
    ("partial-money-limits-up", {"limits": {"maxOrderUsd": 2000}}),
    ("image-digest", {"image": "registry.example.com:5000/team/botfleet:1.2@sha256:" + "ab" * 32}),
    ("wallets", {"strategy": "elitemimic", "params": {"wallets": [WALLET, WALLET.upper().replace("0X", "0x")]}}),
    ("placement", {"nodeSelector": {"topology.kubernetes.io/zone": "eu-1a"},
                   "tolerations": [{"key": "example.com/dedicated", "operator": "Exists"},
                                   {"key": "k", "effect": "NoExecute", "tolerationSeconds": 30}],
                   "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                       {"weight": 1, "preference": {"matchExpressions": [
                           {"key": "pool", "operator": "In", "values": ["trading"]}]}}]}}}),
    ("retention-delete", {"retention": {"journal": "Delete", "backups": "Delete"}}),
]


def test_invalid_resources_are_refused_by_the_api_server(cluster: Cluster, namespace: str) -> None:
    assert len(INVALID) >= 25
    wrong = []
    for case, spec, message in INVALID:
        result = apply(cluster, bot_doc(f"bad-{case}", **spec), namespace, check=False)
        if result.returncode == 0 or message not in result.stderr:
            wrong.append(f"{case}: rc={result.returncode} {result.stderr.strip()[:400]}")
    for case, spec in ACCEPTED:
        result = apply(cluster, bot_doc(f"ok-{case}", **spec), namespace, check=False)
        if result.returncode != 0:
            wrong.append(f"{case} (must be accepted): {result.stderr.strip()[:400]}")
    assert not wrong, "\n".join(wrong)
    bad_name = apply(cluster, bot_doc("1-bad-name"), namespace, check=False)
    assert bad_name.returncode != 0 and "metadata.name" in bad_name.stderr
    apply(cluster, bot_doc("immutable"), namespace)
    changed = apply(cluster, bot_doc("immutable", strategy="polyai"), namespace, check=False)
    assert changed.returncode != 0 and "spec.strategy is immutable" in changed.stderr


def test_an_image_outside_the_policy_is_reported_and_not_run(cluster: Cluster, operator: OperatorProcess,
                                                             namespace: str) -> None:
    """A tenant names an image the cluster admin did not allow: nothing is created, the status says why."""
    apply(cluster, bot_doc("foreign-image", image="evil.example.net/miner:1"), namespace)
    c = wait_condition(cluster, namespace, "foreign-image", "Degraded", "True", reason="NotAllowed")
    assert "spec.image 'evil.example.net/miner:1' is not allowed" in c["message"]
    assert deployment(cluster, namespace, "foreign-image") is None


def test_deleted_or_scaled_deployment_is_restored(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    _apply_example(cluster, namespace, "arbhunter")
    wait_condition(cluster, namespace, "arbhunter", "Ready", "True")
    cluster.kubectl("scale", "deployment", "arbhunter", "-n", namespace, "--replicas=3")
    eventually(lambda: (deployment(cluster, namespace, "arbhunter") or {}).get("spec", {}).get("replicas") == 1,
               "replicas restored to 1")
    uid = deployment(cluster, namespace, "arbhunter")["metadata"]["uid"]  # type: ignore[index]
    cluster.kubectl("delete", "deployment", "arbhunter", "-n", namespace, "--wait=false")
    eventually(lambda: (deployment(cluster, namespace, "arbhunter") or {"metadata": {"uid": uid}})["metadata"]["uid"] != uid,
               "Deployment recreated")
    cluster.kubectl("delete", "configmap", "arbhunter", "-n", namespace)
    eventually(lambda: get_json(cluster, "configmap", "arbhunter", "-n", namespace, check=False), "ConfigMap recreated")
    # Labels removed by hand come back: the bot label (its watch event no longer names the bot),
    # then the one the operator's watch selects on (the object leaves the watch).
    for label in ("botfleet.io/bot", "app.kubernetes.io/managed-by"):
        cluster.kubectl("label", "deployment", "arbhunter", "-n", namespace, f"{label}-")
        eventually(lambda label=label: label in ((deployment(cluster, namespace, "arbhunter") or {})
                                                 .get("metadata", {}).get("labels") or {}), f"label {label} restored")
    wait_condition(cluster, namespace, "arbhunter", "Ready", "True")


def test_paused_scales_to_zero_and_back(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    _apply_example(cluster, namespace, "arbhunter")
    wait_condition(cluster, namespace, "arbhunter", "Ready", "True")
    cluster.kubectl("patch", "tradingbot", "arbhunter", "-n", namespace, "--type", "merge", "-p",
                    '{"spec": {"paused": true}}')
    wait_condition(cluster, namespace, "arbhunter", "Ready", "False", "Paused")
    assert deployment(cluster, namespace, "arbhunter")["spec"]["replicas"] == 0  # type: ignore[index]
    eventually(lambda: not get_json(cluster, "pods", "-n", namespace, "-l",
                                    "botfleet.io/bot=arbhunter,app.kubernetes.io/component=bot")["items"],
               "bot pod gone")
    assert get_json(cluster, "cronjob", "arbhunter-backup", "-n", namespace)["spec"]["suspend"] is True
    cluster.kubectl("patch", "tradingbot", "arbhunter", "-n", namespace, "--type", "merge", "-p",
                    '{"spec": {"paused": false}}')
    wait_condition(cluster, namespace, "arbhunter", "Ready", "True", "Available")


def test_backup_job_success_then_failure(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    _apply_example(cluster, namespace, "arbhunter")
    wait_condition(cluster, namespace, "arbhunter", "Ready", "True")
    cluster.kubectl("create", "job", "manual-backup-1", "-n", namespace, "--from=cronjob/arbhunter-backup")
    # The chart's bot PodMonitor and the bot's NetworkPolicy select the bot pod, never the backup
    # Job's pod (it carries the bot's label too). Bots have no Service any more.
    backup_pods = eventually(lambda: get_json(cluster, "pods", "-n", namespace, "-l",
                                              "job-name=manual-backup-1")["items"], "backup Job pod")
    assert cluster.kubectl("get", "service", "arbhunter", "-n", namespace, check=False).returncode != 0
    np = get_json(cluster, "networkpolicy", "arbhunter", "-n", namespace)["spec"]["podSelector"]["matchLabels"]
    for selector in (BOT_PODMONITOR_SELECTOR, np):
        selected = get_json(cluster, "pods", "-n", namespace, "-l", ",".join(f"{k}={v}" for k, v in selector.items()))
        names = {p["metadata"]["name"] for p in selected["items"]}
        assert names and not names & {p["metadata"]["name"] for p in backup_pods}, (selector, names)
    wait_condition(cluster, namespace, "arbhunter", "BackupSucceeded", "True", "BackupCompleted", timeout=120)
    assert get_json(cluster, "tradingbot", "arbhunter", "-n", namespace)["status"]["lastBackupTime"]
    # A backup that cannot finish: unschedulable pod, 1 s deadline -> the Job fails (DeadlineExceeded).
    job = json.loads(cluster.kubectl("create", "job", "manual-backup-2", "-n", namespace,
                                     "--from=cronjob/arbhunter-backup", "--dry-run=client", "-o", "json").stdout)
    job["spec"]["activeDeadlineSeconds"] = 1
    job["spec"]["backoffLimit"] = 0
    job["spec"]["template"]["spec"]["nodeSelector"] = {"botfleet.io/no-such-node": "true"}
    time.sleep(1.1)  # creationTimestamp has 1 s resolution: make this Job the latest
    apply(cluster, job, namespace)
    wait_condition(cluster, namespace, "arbhunter", "BackupSucceeded", "False", "BackupFailed", timeout=120)
    wait_condition(cluster, namespace, "arbhunter", "Degraded", "True", "BackupFailed")


def test_delete_removes_everything_it_owned(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    # live: rotation objects (ServiceAccount, Role, RoleBinding) exist for live bots only
    _apply_example(cluster, namespace, "elitemimic", mode="live", retention={"journal": "Delete"})
    wait_condition(cluster, namespace, "elitemimic", "Ready", "True")
    assert get_json(cluster, "role", "elitemimic-rotator", "-n", namespace)
    cluster.kubectl("delete", "tradingbot", "elitemimic", "-n", namespace)

    def all_gone() -> bool:
        left = cluster.kubectl("get", "deployment,configmap,service,serviceaccount,pvc,networkpolicy,cronjob,role,"
                               "rolebinding", "-n", namespace, "-l", "botfleet.io/bot=elitemimic", "-o", "name").stdout
        return not left.strip()
    eventually(all_gone, "garbage collection of the bot's objects", timeout=120)


def test_removed_spec_fields_leave_the_deployment(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    apply(cluster, bot_doc("placed", nodeSelector={"botfleet.io/pool": "trading"},
                           tolerations=[{"key": "botfleet.io/dedicated", "operator": "Exists"}],
                           env=[{"name": "TZ", "value": "UTC"}]), namespace)

    def pod_spec() -> dict[str, Any]:
        return (deployment(cluster, namespace, "placed") or {}).get("spec", {}).get("template", {}).get("spec", {})
    eventually(lambda: pod_spec().get("nodeSelector") == {"botfleet.io/pool": "trading"}, "Deployment placed")
    cluster.kubectl("patch", "tradingbot", "placed", "-n", namespace, "--type", "json", "-p", json.dumps([
        {"op": "remove", "path": "/spec/nodeSelector"}, {"op": "remove", "path": "/spec/tolerations"},
        {"op": "remove", "path": "/spec/env"}]))
    generation = get_json(cluster, "tradingbot", "placed", "-n", namespace)["metadata"]["generation"]
    eventually(lambda: "nodeSelector" not in pod_spec() and "tolerations" not in pod_spec(),
               "nodeSelector and tolerations removed from the Deployment")
    env = [e["name"] for e in pod_spec()["containers"][0]["env"]]
    assert "TZ" not in env
    cronjob = get_json(cluster, "cronjob", "placed-backup", "-n", namespace)
    assert "nodeSelector" not in cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    eventually(lambda: get_json(cluster, "tradingbot", "placed", "-n", namespace)["status"].get(
        "observedGeneration") == generation, "observedGeneration advanced")


def test_objects_dropped_from_the_spec_are_deleted(cluster: Cluster, operator: OperatorProcess,
                                                   namespace: str) -> None:
    apply(cluster, secret_doc("p-wallet", PRIVATE_KEY=TEST_PRIVATE_KEY), namespace)
    apply(cluster, secret_doc("p-creds", OPENAI_API_KEY="REPLACE_ME"), namespace)
    apply(cluster, bot_doc("pruned", mode="live", walletSecretRef={"name": "p-wallet"}, credentialsSecretRef={"name": "p-creds"},
                           keyRotation={"schedule": "0 3 * * 0"},
                           backup={"storage": {"pvc": {"size": "1Gi"}}}, retention={"backups": "Delete"}), namespace)
    eventually(lambda: get_json(cluster, "cronjob", "pruned-rotate", "-n", namespace, check=False), "rotation CronJob")
    eventually(lambda: get_json(cluster, "pvc", "pruned-backups", "-n", namespace, check=False), "backup PVC")
    cluster.kubectl("patch", "tradingbot", "pruned", "-n", namespace, "--type", "json", "-p", json.dumps([
        {"op": "remove", "path": "/spec/keyRotation/schedule"}]))
    eventually(lambda: get_json(cluster, "cronjob", "pruned-rotate", "-n", namespace, check=False) is None,
               "rotation CronJob deleted", timeout=90)
    assert get_json(cluster, "role", "pruned-rotator", "-n", namespace)  # still wanted: both Secrets are set
    cluster.kubectl("patch", "tradingbot", "pruned", "-n", namespace, "--type", "json", "-p", json.dumps([
        {"op": "remove", "path": "/spec/credentialsSecretRef"}, {"op": "remove", "path": "/spec/backup"}]))

    def rbac_and_pvc_gone() -> bool:
        left = cluster.kubectl("get", "role,rolebinding,serviceaccount", "-n", namespace, "-o", "name").stdout
        pvc = get_json(cluster, "pvc", "pruned-backups", "-n", namespace, check=False)
        return "pruned-rotator" not in left and (pvc is None or bool(pvc["metadata"].get("deletionTimestamp")))
    eventually(rbac_and_pvc_gone, "rotator RBAC and backup PVC deleted", timeout=90)
    assert get_json(cluster, "serviceaccount", "pruned", "-n", namespace)  # the bot's own objects stay
    events = get_json(cluster, "events", "-n", namespace, "--field-selector", "involvedObject.name=pruned")
    assert any(e["reason"] == "Deleted" and "CronJob pruned-rotate" in e["message"] for e in events["items"])


def test_the_metrics_service_of_an_older_operator_is_pruned(cluster: Cluster, operator: OperatorProcess,
                                                            namespace: str) -> None:
    """Bots made before the PodMonitor had a headless Service each: upgrading the operator deletes
    the bot's own (controlled by this TradingBot), never a Service of the same labels someone else made."""
    apply(cluster, bot_doc("legacy"), namespace)
    wait_condition(cluster, namespace, "legacy", "Ready", "True", "Available")
    uid = get_json(cluster, "tradingbot", "legacy", "-n", namespace)["metadata"]["uid"]
    labels = {"botfleet.io/bot": "legacy", "app.kubernetes.io/managed-by": "botfleet-operator",
              "app.kubernetes.io/component": "bot"}

    def svc(name: str, owned: bool) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
        if owned:
            meta["ownerReferences"] = [{"apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot", "name": "legacy",
                                        "uid": uid, "controller": True, "blockOwnerDeletion": True}]
        return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
                "spec": {"clusterIP": "None", "selector": {"botfleet.io/bot": "legacy"},
                         "ports": [{"name": "metrics", "port": 9100, "targetPort": "metrics"}]}}
    apply(cluster, svc("legacy-mine", owned=False), namespace)
    apply(cluster, svc("legacy", owned=True), namespace)
    eventually(lambda: get_json(cluster, "service", "legacy", "-n", namespace, check=False) is None,
               "the bot's old metrics Service deleted", timeout=90)
    assert get_json(cluster, "service", "legacy-mine", "-n", namespace)  # not the bot's: kept
    events = get_json(cluster, "events", "-n", namespace, "--field-selector", "involvedObject.name=legacy")
    assert any(e["reason"] == "Deleted" and "Service legacy" in e["message"] for e in events["items"])


def test_delete_keeps_the_journal_and_a_new_bot_reuses_it(cluster: Cluster, operator: OperatorProcess,
                                                          namespace: str) -> None:
    apply(cluster, bot_doc("keeper"), namespace)
    wait_condition(cluster, namespace, "keeper", "Ready", "True")
    pvc = get_json(cluster, "pvc", "keeper", "-n", namespace)
    assert "ownerReferences" not in pvc["metadata"]
    cluster.kubectl("delete", "tradingbot", "keeper", "-n", namespace)
    eventually(lambda: deployment(cluster, namespace, "keeper") is None, "the bot's Deployment collected", timeout=120)
    eventually(lambda: get_json(cluster, "configmap", "keeper", "-n", namespace, check=False) is None,
               "the bot's ConfigMap collected", timeout=120)
    kept = get_json(cluster, "pvc", "keeper", "-n", namespace)
    assert kept["metadata"]["uid"] == pvc["metadata"]["uid"] and not kept["metadata"].get("deletionTimestamp")
    apply(cluster, bot_doc("keeper"), namespace)
    wait_condition(cluster, namespace, "keeper", "Ready", "True")
    again = get_json(cluster, "pvc", "keeper", "-n", namespace)
    assert again["metadata"]["uid"] == pvc["metadata"]["uid"]
    dep = deployment(cluster, namespace, "keeper")
    assert dep is not None
    claims = [v["persistentVolumeClaim"]["claimName"] for v in dep["spec"]["template"]["spec"]["volumes"]
              if "persistentVolumeClaim" in v]
    assert claims == ["keeper"]


def test_switching_retention_to_retain_then_deleting_keeps_the_journal(cluster: Cluster, operator: OperatorProcess,
                                                                       namespace: str) -> None:
    """The path that saves an owned journal (retention Delete, or a bot from before spec.retention):
    switching to Retain takes the owner reference off, so deleting the bot then leaves the data."""
    apply(cluster, bot_doc("switch", retention={"journal": "Delete"}), namespace)
    wait_condition(cluster, namespace, "switch", "Ready", "True")
    bot = get_json(cluster, "tradingbot", "switch", "-n", namespace)
    pvc = get_json(cluster, "pvc", "switch", "-n", namespace)
    assert [r["uid"] for r in pvc["metadata"]["ownerReferences"]] == [bot["metadata"]["uid"]]
    cluster.kubectl("patch", "tradingbot", "switch", "-n", namespace, "--type", "merge",
                    "-p", json.dumps({"spec": {"retention": {"journal": "Retain"}}}))
    eventually(lambda: not (get_json(cluster, "pvc", "switch", "-n", namespace)["metadata"].get("ownerReferences")),
               "the journal's owner reference removed")
    cluster.kubectl("delete", "tradingbot", "switch", "-n", namespace)
    eventually(lambda: deployment(cluster, namespace, "switch") is None, "the bot's Deployment collected", timeout=120)
    time.sleep(3)  # the garbage collector had its chance at the claim too
    kept = get_json(cluster, "pvc", "switch", "-n", namespace)
    assert kept["metadata"]["uid"] == pvc["metadata"]["uid"] and not kept["metadata"].get("deletionTimestamp")


def test_a_restarted_operator_applies_nothing_to_converged_bots(cluster: Cluster, operator: OperatorProcess,
                                                                namespace: str) -> None:
    names = ["steady-a", "steady-b"]
    cluster.kubectl("apply", "-n", namespace, "-f", "-",
                    input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [bot_doc(n) for n in names]}))
    for n in names:
        wait_condition(cluster, namespace, n, "Ready", "True", timeout=120)
    operator.stop()
    operator.start()
    # The restarted operator lists every object and reconciles every bot: all are found up to date.
    # (It once re-applied each listed Deployment: a list's items carry no apiVersion. The apply
    # changed nothing, so no watch event followed, and the bot stayed RollingOut.)
    # Each re-applied object would be named in an `Updated` Event of its bot (these were only created).
    time.sleep(8)
    for n in names:
        wait_condition(cluster, namespace, n, "Ready", "True", timeout=30)
    updated = get_json(cluster, "events", "-n", namespace, "--field-selector", "reason=Updated")["items"]
    assert [e["message"] for e in updated] == [], "the restarted operator applied objects that had not changed"


def test_sigkill_mid_reconcile_then_restart_converges(cluster: Cluster, operator: OperatorProcess,
                                                      namespace: str) -> None:
    operator.stop()
    names = [f"fleet-{i:02d}" for i in range(20)]
    try:
        items = [bot_doc(n) for n in names]
        cluster.kubectl("apply", "-n", namespace, "-f", "-",
                        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
        operator.start()

        def some_applied() -> bool:
            out = cluster.kubectl("get", "deployments", "-n", namespace, "-o", "name").stdout.split()
            return len(out) >= 1
        eventually(some_applied, "the operator to start applying", timeout=60, interval=0.05)
        operator.kill()
        operator.start()
        for n in names:
            wait_condition(cluster, namespace, n, "Ready", "True", timeout=180)
    finally:
        if operator.proc is None or operator.proc.poll() is not None:
            operator.start()
    bots = {b["metadata"]["uid"]: b["metadata"]["name"]
            for b in get_json(cluster, "tradingbots", "-n", namespace)["items"]}
    per_bot = {"networkpolicy": 2}  # the bot's and its Jobs'
    for kind in OWNED_KINDS:
        objs = get_json(cluster, kind, "-n", namespace, "-l", "app.kubernetes.io/managed-by=botfleet-operator")["items"]
        if kind == "persistentvolumeclaim":  # retained volumes have no owner: one per bot name
            assert sorted(o["metadata"]["name"] for o in objs) == sorted(bots.values()), kind
            continue
        owners = sorted(o["metadata"]["ownerReferences"][0]["uid"] for o in objs)
        assert sorted(list(bots) * per_bot.get(kind, 1)) == owners, f"{kind}: one per bot, none orphaned"


def test_operator_is_not_admin(cluster: Cluster, operator: OperatorProcess) -> None:
    def can(*args: str) -> bool:
        r = cluster.kubectl("auth", "can-i", *args, kubeconfig=cluster.operator_kubeconfig, check=False)
        return r.stdout.strip() == "yes"
    assert can("patch", "deployments", "-n", "default")
    assert can("patch", "tradingbots", "--subresource=status", "-n", "default")
    assert not can("patch", "tradingbots", "-n", "default")
    assert not can("delete", "deployments", "-n", "default")
    assert not can("create", "pods", "-n", "default")
    assert not can("delete", "secrets", "-n", "default")
    assert not can("create", "clusterrolebindings")
    assert not can("*", "*")
    who = cluster.kubectl("auth", "whoami", "-o", "json", kubeconfig=cluster.operator_kubeconfig).stdout
    assert json.loads(who)["status"]["userInfo"]["username"] == "system:serviceaccount:botfleet-system:botfleet-operator"


def _load_sim_support() -> Any:
    spec = importlib.util.spec_from_file_location("botfleet_tests_support_sim", REPO / "tests" / "support" / "sim.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_rotation_by_annotation_updates_secret_and_rolls(cluster: Cluster, operator: OperatorProcess,
                                                               namespace: str) -> None:
    import asyncio

    from bot_runtime import rotation
    from bot_runtime.contract.config import SIM_CHAIN_ID

    sim_support = _load_sim_support()
    sim = await sim_support.start_sim(seed=1, scenario="static", speed=0)
    try:
        old = sim.create_api_key(sim_support.TEST_ADDRESS)
        await asyncio.to_thread(apply, cluster, secret_doc("rot-wallet", PRIVATE_KEY=TEST_PRIVATE_KEY), namespace)
        await asyncio.to_thread(apply, cluster, secret_doc(
            "rot-creds", CLOB_API_KEY=old.api_key, CLOB_SECRET=old.secret, CLOB_PASSPHRASE=old.passphrase), namespace)
        await asyncio.to_thread(apply, cluster, bot_doc(
            "rot", mode="live", walletSecretRef={"name": "rot-wallet"}, credentialsSecretRef={"name": "rot-creds"},
            keyRotation={"maxAgeDays": 30, "schedule": "0 3 * * 0"}), namespace)
        await asyncio.to_thread(wait_condition, cluster, namespace, "rot", "Ready", "True")
        assert await asyncio.to_thread(get_json, cluster, "cronjob", "rot-rotate", "-n", namespace)
        before = (await asyncio.to_thread(template_annotations, cluster, namespace, "rot"))["botfleet.io/secrets-hash"]

        await asyncio.to_thread(cluster.kubectl, "annotate", "tradingbot", "rot", "-n", namespace,
                                "botfleet.io/rotate-credentials=manual-1", "--overwrite")

        def rotation_job() -> dict[str, Any] | None:
            jobs = get_json(cluster, "jobs", "-n", namespace, "-l", "botfleet.io/bot=rot,app.kubernetes.io/component=rotation")
            return jobs["items"][0] if jobs["items"] else None
        job = await asyncio.to_thread(eventually, rotation_job, "rotation Job")
        assert job["spec"]["template"]["spec"]["serviceAccountName"] == "rot-rotator"
        args = job["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[args.index("--deployment") + 1] == "rot" and "--revoke-old" in args
        assert job["spec"]["backoffLimit"] == 0  # a retry would rotate again from the new key
        # The simulator's key store notes what the cluster looked like when the old key was revoked
        # (its DELETE /auth/api-key handler runs in this event loop; the blocking read is short).
        at_revoke: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        delete = sim.keys.delete

        def noting_delete(api_key: str) -> bool:
            if api_key == old.api_key:
                pods = get_json(cluster, "pods", "-n", namespace, "-l", "botfleet.io/bot=rot,app.kubernetes.io/component=bot")
                at_revoke.append((deployment(cluster, namespace, "rot") or {}, pods["items"]))
            return delete(api_key)
        sim.keys.delete = noting_delete  # type: ignore[method-assign]
        # kwok does not run containers: do what the Job's container does, as the Job's ServiceAccount
        # (proving its Role is enough: the Secret and the one Deployment), against the simulated exchange.
        rotator = await asyncio.to_thread(cluster.kubeconfig_for_user, f"system:serviceaccount:{namespace}:rot-rotator",
                                          ("system:serviceaccounts", f"system:serviceaccounts:{namespace}"))
        kube = rotation.KubeSecrets(str(rotator))
        new_key = await asyncio.to_thread(
            rotation.rotate, kube, namespace=namespace, secret="rot-creds", clob_url=sim.url, chain_id=SIM_CHAIN_ID,
            private_key=TEST_PRIVATE_KEY, revoke_old=True, deployment="rot", rollout_timeout=120, poll_interval=0.5)
        assert new_key != old.api_key and sim.keys.get(old.api_key) is None and sim.keys.get(new_key) is not None
        # The order: the old key was revoked only once the bot had rolled onto the new Secret - the
        # template changed and its rollout finished - and no pod of the old template was left to
        # trade or cancel orders with it. The old code revoked right after writing the Secret (one
        # HTTP call later): sampled then (the sample itself takes a kubectl call, so the operator may
        # have patched the template already), the rollout was never finished - the old pod still up,
        # or the new one not yet available - and the test failed (checked: it fails on the replicas line).
        ((dep, pods),) = at_revoke
        new_hash = dep["spec"]["template"]["metadata"]["annotations"]["botfleet.io/secrets-hash"]
        assert new_hash != before, "old key revoked before the operator rolled the bot onto the new Secret"
        st = dep["status"]
        assert st.get("observedGeneration", 0) >= dep["metadata"]["generation"], st
        assert st.get("replicas") == st.get("updatedReplicas") == st.get("availableReplicas") == 1, st
        assert pods and all(p["metadata"]["annotations"]["botfleet.io/secrets-hash"] == new_hash for p in pods), \
            "a pod of the old template was still there when its key was revoked"
        bot = await asyncio.to_thread(get_json, cluster, "tradingbot", "rot", "-n", namespace)
        assert bot["status"]["rotationTrigger"] == "manual-1"
        await asyncio.to_thread(wait_condition, cluster, namespace, "rot", "RotationDue", "False", "WithinMaxAge")
    finally:
        await sim.stop()
