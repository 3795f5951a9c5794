"""Every CEL rule of the CRD, with a valid and an invalid case, evaluated with cel-python.

tests/e2e/test_operator_scenarios.py (INVALID / ACCEPTED, test_invalid_resources_are_refused_by_the_api_server)
applies cases of every rule to a real API server and checks the message it prints.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from bot_runtime.contract import formats
from botfleet_operator import crd
from botfleet_operator.tenancy import CONTROL_PLANE_KEYS
from tests.unit.operator.tb_schemacheck import validate

SCHEMA = crd.openapi_schema()


def bot(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot", "metadata": {"name": "b"},
            "spec": {"strategy": "arbhunter", **spec}}


def messages(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [str(p) for p in validate(SCHEMA, obj, old)]


ENV_ATTACKS = ["OPENAI_BASE_URL", "OPENAI_API_BASE", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "ALL_PROXY",
               "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME",
               "PYTHONWARNINGS", "LD_PRELOAD", "LD_LIBRARY_PATH", "PATH", "HOME", "POLYGON_RPC", "SUPABASE_URL_X",
               "WEB3_HTTP_PROVIDER_URI", "NO_PROXY"]

_ENC = {"secretRef": {"name": "backup-key"}}
HTTP_S3_ATTACKS = ["http://minio.storage.svc:9000", "http://s3.amazonaws.com", "HTTP://s3.example.com",
                   "http://169.254.169.254/latest", "ftp://s3.example.com", "https//s3.example.com"]

# (case id, valid spec, invalid spec, text the error must contain)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("live-needs-wallet",
     {"mode": "live", "walletSecretRef": {"name": "w"}}, {"mode": "live"}, "spec.walletSecretRef is required"),
    ("postgres-journal-needs-its-url-secret",
     {"journal": {"backend": "postgres", "urlSecretRef": {"name": "db"}}},
     {"journal": {"backend": "postgres"}}, "spec.journal.urlSecretRef is required"),
    ("rotation-schedule-needs-secrets",
     {"walletSecretRef": {"name": "w"}, "credentialsSecretRef": {"name": "c"}, "keyRotation": {"schedule": "@weekly"}},
     {"walletSecretRef": {"name": "w"}, "keyRotation": {"schedule": "@weekly"}}, "spec.keyRotation.schedule needs"),
    ("order-below-position",
     {"limits": {"maxOrderUsd": 100, "maxPositionPerMarketUsd": 100}},
     {"limits": {"maxOrderUsd": 500, "maxPositionPerMarketUsd": 100}}, "spec.limits.maxOrderUsd must not exceed"),
    ("position-below-exposure",
     {"limits": {"maxPositionPerMarketUsd": 1000, "maxTotalExposureUsd": 1000, "maxOrderUsd": 10}},
     {"limits": {"maxPositionPerMarketUsd": 6000, "maxTotalExposureUsd": 5000}},
     "spec.limits.maxPositionPerMarketUsd must not exceed"),
    ("order-below-exposure-without-position",
     {"limits": {"maxOrderUsd": 2000, "maxTotalExposureUsd": 2000}},
     {"limits": {"maxOrderUsd": 3000, "maxTotalExposureUsd": 2000}},
     "spec.limits.maxOrderUsd must not exceed spec.limits.maxTotalExposureUsd"),
    ("backup-cron", {"backup": {"schedule": "*/15 2-4 * * MON-FRI"}}, {"backup": {"schedule": "every hour"}},
     "spec.backup.schedule must be 5 fields"),
    ("rotation-cron",
     {"walletSecretRef": {"name": "w"}, "credentialsSecretRef": {"name": "c"}, "keyRotation": {"schedule": "0 3 * * 0"}},
     {"walletSecretRef": {"name": "w"}, "credentialsSecretRef": {"name": "c"}, "keyRotation": {"schedule": "0 3 * *"}},
     "spec.keyRotation.schedule must be 5 fields"),
    ("cron-minute", {"backup": {"schedule": "59 * * * *"}}, {"backup": {"schedule": "60 * * * *"}},
     "spec.backup.schedule: the minute field (1st) must be"),
    ("cron-hour", {"backup": {"schedule": "0 23 * * *"}}, {"backup": {"schedule": "0 24 * * *"}},
     "spec.backup.schedule: the hour field (2nd)"),
    ("cron-dom", {"backup": {"schedule": "0 0 31 * *"}}, {"backup": {"schedule": "0 0 0 * *"}},
     "the day-of-month field (3rd)"),
    ("cron-month", {"backup": {"schedule": "0 0 1 12 *"}}, {"backup": {"schedule": "0 0 1 13 *"}},
     "the month field (4th)"),
    # Kubernetes parses schedules with robfig/cron v3: day-of-week is 0-6, 7 is refused.
    ("cron-dow", {"backup": {"schedule": "0 0 * * 6"}}, {"backup": {"schedule": "0 0 * * 7"}},
     "the day-of-week field (5th) must be '*', '?', a value 0-6 or SUN-SAT"),
    ("cron-range-reversed", {"backup": {"schedule": "5-30 * * * *"}}, {"backup": {"schedule": "30-5 * * * *"}},
     "the minute field (1st) must be '*', a value 0-59, a range a-b with a not after b"),
    ("cron-step", {"backup": {"schedule": "*/5 * * * *"}}, {"backup": {"schedule": "*/0 * * * *"}},
     "the minute field (1st)"),
    ("cron-range", {"backup": {"schedule": "0 9-17 * * *"}}, {"backup": {"schedule": "0 9-25 * * *"}},
     "the hour field (2nd)"),
    ("cron-list", {"backup": {"schedule": "0,30 * * * *"}}, {"backup": {"schedule": "0,75 * * * *"}},
     "the minute field (1st)"),
    ("requests-below-limits", {"resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "1Gi"}}},
     {"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}},
     "spec.resources.requests.memory (2Gi) must not exceed the memory limit (1Gi)"),
    ("requests-below-default-limit", {"resources": {"requests": {"cpu": 1}}},
     {"resources": {"requests": {"cpu": "1500m"}}},
     "spec.resources.requests.cpu (1500m) must not exceed the cpu limit (1)"),
    ("partial-limits-below-default-request", {"resources": {"limits": {"memory": "128Mi"}}},
     {"resources": {"limits": {"memory": "128Mi"}, "requests": {"memory": "129Mi"}}},
     "spec.resources.requests.memory (129Mi) must not exceed"),
    ("quantity-format", {"resources": {"limits": {"memory": "512Mi"}}},
     {"resources": {"limits": {"memory": "512MB"}}}, "must be a Kubernetes quantity"),
    ("quantity-int-or-string", {"resources": {"limits": {"cpu": 2}}},
     {"resources": {"limits": {"cpu": "two"}}}, "must be a Kubernetes quantity"),
    ("image-reference", {"image": "registry.example.com:5000/team/botfleet:1.2.3@sha256:" + "a" * 64},
     {"image": "Registry/BotFleet:latest"}, "must be an image reference"),
    ("secret-name", {"walletSecretRef": {"name": "wallet.v2"}}, {"walletSecretRef": {"name": "Wallet_2"}},
     "must be a DNS subdomain"),
    ("wallet-key-name", {"walletSecretRef": {"name": "w", "keys": {"PRIVATE_KEY": "pk.hex"}}},
     {"walletSecretRef": {"name": "w", "keys": {"PRIVATE_KEY": "my key"}}}, "must be a Secret key name"),
    ("s3-endpoint", {"backup": {"s3": {"endpoint": "https://s3.example.com", "bucket": "bots", "secretRef": {"name": "s"}},
                                "encryption": _ENC}},
     {"backup": {"s3": {"endpoint": "s3.example.com", "bucket": "bots", "secretRef": {"name": "s"}}, "encryption": _ENC}},
     "must be an https:// URL"),
    # Backups hold every signed order: never over plain http, not even to an in-cluster endpoint.
    *[(f"s3-http-{i}", {"backup": {"s3": {"endpoint": "https://minio.storage.svc:9000", "bucket": "bots",
                                          "secretRef": {"name": "s"}}, "encryption": _ENC}},
       {"backup": {"s3": {"endpoint": url, "bucket": "bots", "secretRef": {"name": "s"}}, "encryption": _ENC}},
       "must be an https:// URL with a host (plain http is refused)")
      for i, url in enumerate(HTTP_S3_ATTACKS)],
    ("s3-needs-encryption",
     {"backup": {"s3": {"endpoint": "https://s3.example.com", "bucket": "bots", "secretRef": {"name": "s"}},
                 "encryption": _ENC}},
     {"backup": {"s3": {"endpoint": "https://s3.example.com", "bucket": "bots", "secretRef": {"name": "s"}}}},
     "spec.backup.s3 requires spec.backup.encryption"),
    ("s3-bucket", {"backup": {"s3": {"endpoint": "https://minio:9000", "bucket": "bot.backups", "secretRef": {"name": "s"}},
                              "encryption": _ENC}},
     {"backup": {"s3": {"endpoint": "https://minio:9000", "bucket": "Bot_Backups", "secretRef": {"name": "s"}},
                 "encryption": _ENC}},
     "must be an S3 bucket name"),
    ("backup-pvc-size", {"backup": {"storage": {"pvc": {"size": "10Gi"}}}},
     {"backup": {"storage": {"pvc": {"size": "10 GB"}}}}, "must be a Kubernetes quantity"),
    ("backup-pvc-size-zero", {"backup": {"storage": {"pvc": {"size": "1Mi"}}}},
     {"backup": {"storage": {"pvc": {"size": "0"}}}}, "spec.backup.storage.pvc.size (0) must be greater than 0"),
    # Right shape, impossible value: bytes or millibytes of memory, no cpu at all.
    *[(f"memory-floor-request-{value}", {"resources": {"requests": {"memory": "16Mi"}}},
       {"resources": {"requests": {"memory": value}}},
       f"spec.resources.requests.memory ({value}) must be at least 16Mi: a bare number is bytes")
      for value in ("512", "512m", "16383Ki")],
    ("memory-floor-limit-int", {"resources": {"limits": {"memory": 16 * 2**20}}},
     {"resources": {"limits": {"memory": 512}}}, "spec.resources.limits.memory (512) must be at least 16Mi"),
    ("memory-floor-limit", {"resources": {"limits": {"memory": "0.5Gi"}}},
     {"resources": {"limits": {"memory": "512m"}}}, "write it in Mi or Gi, e.g. 512Mi"),
    ("cpu-positive-request", {"resources": {"requests": {"cpu": "1m"}}},
     {"resources": {"requests": {"cpu": "0"}}}, "spec.resources.requests.cpu must be greater than 0, e.g. 250m"),
    ("cpu-positive-limit", {"resources": {"limits": {"cpu": 1}}},
     {"resources": {"limits": {"cpu": 0}}}, "spec.resources.limits.cpu must be greater than 0"),
    ("storage-class", {"backup": {"storage": {"pvc": {"storageClassName": "fast-ssd"}}}},
     {"backup": {"storage": {"pvc": {"storageClassName": "Fast SSD"}}}}, "must be a DNS subdomain"),
    ("node-selector-key", {"nodeSelector": {"topology.kubernetes.io/zone": "eu-1a"}},
     {"nodeSelector": {"bad key": "x"}}, "spec.nodeSelector: every key must be a label key"),
    ("node-selector-value", {"nodeSelector": {"pool": "trading"}}, {"nodeSelector": {"pool": "-trading"}},
     "must be a label value"),
    ("toleration-exists-value", {"tolerations": [{"key": "k", "operator": "Exists"}]},
     {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}, "operator Exists must not have a value"),
    # The operator refuses these whatever the cluster's settings (tenancy.py): admission says so first.
    ("toleration-without-key", {"tolerations": [{"key": "k", "operator": "Exists"}]},
     {"tolerations": [{"operator": "Exists"}]}, "spec.tolerations: every toleration needs a key"),
    ("toleration-empty-key", {"tolerations": [{"key": "k", "operator": "Exists"}]},
     {"tolerations": [{"key": "", "operator": "Exists"}]}, "set key to the taint's key"),
    *[(f"toleration-control-plane-{i}", {"tolerations": [{"key": "example.com/dedicated", "operator": "Exists"}]},
       {"tolerations": [{"key": key, "operator": "Exists", "effect": "NoSchedule"}]},
       "spec.tolerations: bots may not run on control-plane nodes; remove the toleration of")
      for i, key in enumerate(CONTROL_PLANE_KEYS)],
    *[(f"node-selector-control-plane-{i}", {"nodeSelector": {"node-role.kubernetes.io/worker": ""}},
       {"nodeSelector": {key: ""}}, "spec.nodeSelector: bots may not run on control-plane nodes; remove")
      for i, key in enumerate(CONTROL_PLANE_KEYS)],
    ("affinity-keys", {"affinity": {"nodeAffinity": {}, "podAffinity": {}, "podAntiAffinity": {}}},
     {"affinity": {"nodeAffinty": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}},
     "spec.affinity: only nodeAffinity, podAffinity, podAntiAffinity may be set"),
    ("toleration-seconds", {"tolerations": [{"key": "k", "effect": "NoExecute", "tolerationSeconds": 60}]},
     {"tolerations": [{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 60}]},
     "tolerationSeconds only applies to effect NoExecute"),
    ("toleration-key", {"tolerations": [{"key": "example.com/gpu", "operator": "Exists"}]},
     {"tolerations": [{"key": "example.com/", "operator": "Exists"}]}, "must be a taint key"),
    ("env-secret-name", {"env": [{"name": "TZ", "value": "UTC"}]},
     {"env": [{"name": "TZ", "value": "UTC"}, {"name": "PRIVATE_KEY", "value": "x"}]},
     "spec.env must not set Secret key names"),
    ("env-botfleet-prefix", {"env": [{"name": "TZ", "value": "UTC"}]},
     {"env": [{"name": "BOTFLEET_MODE", "value": "live"}]}, "names starting with BOTFLEET_"),
    # An allowlist: these would send the bot's API keys elsewhere (a base URL, a proxy with its CA) or
    # load other code into the process that holds the wallet key.
    *[(f"env-allowlist-{name}", {"env": [{"name": "LC_TIME", "value": "C"}, {"name": "BOT_NOTE", "value": "x"}]},
       {"env": [{"name": "TZ", "value": "UTC"}, {"name": name, "value": "x"}]}, "spec.env: only TZ")
      for name in ENV_ATTACKS],
    ("wallet-key-mapping", {"walletSecretRef": {"name": "w", "keys": {"PRIVATE_KEY": "pk"}}},
     {"walletSecretRef": {"name": "w", "keys": {"OPENAI_API_KEY": "k"}}}, "spec.walletSecretRef.keys: only"),
]


@pytest.mark.parametrize(("valid", "invalid", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_accepts_valid_and_refuses_invalid(valid: dict[str, Any], invalid: dict[str, Any], expected: str) -> None:
    assert messages(bot(**valid)) == []
    problems = messages(bot(**invalid))
    assert len(problems) == 1 and expected in problems[0], problems


def test_strategy_is_immutable() -> None:
    old = bot()
    changed = copy.deepcopy(old)
    changed["spec"]["strategy"] = "polyai"
    assert messages(old, old) == []
    problems = messages(changed, old)
    assert problems == [".spec.strategy: spec.strategy is immutable; delete the TradingBot and create a new "
                        "one to change strategy"]


@pytest.mark.parametrize(("name", "ok"), [("arb-1", True), ("a" * 45, True), ("a" * 46, False), ("1bot", False),
                                          ("bot.v2", False), ("bot-", False)])
def test_bot_name_rule(name: str, ok: bool) -> None:
    b = bot()
    b["metadata"]["name"] = name
    problems = messages(b)
    assert (problems == []) is ok, problems
    if not ok:
        assert ": metadata.name must start with a letter" in problems[0]


OWN_PARAMS = {"arbhunter": {"minProfitThreshold": 0.004, "tradeSizeUsd": 80},
              "polyai": {"scanIntervalMinutes": 3, "tradeSizeUsd": 20},
              "elitemimic": {"copyRatio": 1, "wallets": ["0x" + "aB" * 20]}}


@pytest.mark.parametrize("strategy", list(OWN_PARAMS))
def test_params_of_the_strategy_are_accepted(strategy: str) -> None:
    assert messages(bot(strategy=strategy, params=OWN_PARAMS[strategy])) == []


@pytest.mark.parametrize(("strategy", "key", "value"), [
    ("arbhunter", "copyRatio", 0.5), ("polyai", "minProfitThreshold", 0.01), ("elitemimic", "tradeSizeUsd", 10),
    ("arbhunter", "llmModel", "x"), ("polyai", "wallets", []),
])
def test_params_of_another_strategy_are_refused_naming_the_key(strategy: str, key: str, value: Any) -> None:
    problems = messages(bot(strategy=strategy, params={key: value}))
    assert problems == [f".spec.params.{key}: spec.params.{key} is a parameter of "
                        f"{problems[0].split(' is a parameter of ')[1].split(',')[0]}, not {strategy}; "
                        "remove it from spec.params"]


def test_one_owner_rule_per_param_not_shared_by_all_strategies() -> None:
    from bot_runtime.contract.params import PARAM_MODELS

    names = set().union(*(m.model_fields for m in PARAM_MODELS.values()))
    ruled = {r.field_path.removeprefix(".params.") for r in crd.param_owner_rules() if r.field_path}
    assert ruled == names  # no name is shared by all three today; a shared one would need no rule


@pytest.mark.parametrize(("spec", "field"), [
    ({"strategy": "scalper"}, ".spec.strategy"),
    ({"mode": "yolo"}, ".spec.mode"),
    ({"riskProfile": "reckless"}, ".spec.riskProfile"),
    ({"strategy": "elitemimic", "params": {"copyRatio": 1.5}}, ".spec.params.copyRatio"),
    ({"strategy": "elitemimic", "params": {"copyRatio": 0}}, ".spec.params.copyRatio"),
    ({"limits": {"maxDailyLossUsd": -5}}, ".spec.limits.maxDailyLossUsd"),
    ({"params": {"nonsense": 1}}, ".spec.params.nonsense"),
    ({"backup": {"retain": 0}}, ".spec.backup.retain"),
    ({"walletSecretRef": {"name": "Not_A_Name"}}, ".spec.walletSecretRef.name"),
    ({"env": [{"name": "X", "value": str(i)} for i in range(65)]}, ".spec.env"),
])
def test_openapi_constraints_name_the_field(spec: dict[str, Any], field: str) -> None:
    problems = messages(bot(**spec))
    assert problems and all(p.startswith(field) for p in problems), problems


CRON_OK = ["@hourly", "@daily", "0 0 1 1 *", "5,35 */2 * * 1-5", "0 12 ? * SUN", "0 0 1-15/3 * *",
           "59 23 31 12 6", "0 0 * jan-mar mon", "0 22-23,0-2 * * *", "5/10 * * * *", "0 0 * * 1-SAT",
           "0 0 * * sat-6", "0-0 0 1-1 DEC-12 0-SUN", "*/15 2-4 * * MON-FRI", "0 0 1 DEC *", "00 05 01 01 0"]
CRON_BAD = {"": "must be 5 fields", "* * * *": "must be 5 fields", "* * * * * *": "must be 5 fields",
            "@every 5m": "must be 5 fields", "0 0 * * * rm": "must be 5 fields", "a b c d e f": "must be 5 fields",
            "60 * * * *": "minute", "* 24 * * *": "hour", "* * 32 * *": "day-of-month", "* * 0 * *": "day-of-month",
            "* * * 0 *": "month", "* * * 13 *": "month", "* * * * 8": "day-of-week", "* * * * FUN": "day-of-week",
            "? * * * *": "minute", "*/0 * * * *": "minute", "1-60 * * * *": "minute", "0 0 * JANUARY *": "month",
            # What robfig/cron v3 (the CronJob's parser) refuses: 7 is not a day, ranges do not wrap.
            "* * * * 7": "day-of-week", "* * * * 5-7": "day-of-week", "* * * * FRI-MON": "day-of-week",
            "30-5 * * * *": "minute", "10-5/2 * * * *": "minute", "0 22-2 * * *": "hour",
            "0 0 31-1 * *": "day-of-month", "0 0 * DEC-JAN *": "month", "0 0 * 12-JAN *": "month"}


@pytest.mark.parametrize("schedule", CRON_OK)
def test_cron_accepted_by_cel_and_by_the_model(schedule: str) -> None:
    assert formats.cron_problems(schedule) == []
    assert messages(bot(backup={"schedule": schedule})) == []


@pytest.mark.parametrize(("schedule", "expected"), list(CRON_BAD.items()))
def test_cron_refused_by_cel_and_by_the_model_naming_the_field(schedule: str, expected: str) -> None:
    (problem,) = formats.cron_problems(schedule)
    assert expected in problem
    (cel_problem,) = messages(bot(backup={"schedule": schedule}))
    assert cel_problem.startswith(".spec.backup.schedule: ") and expected in cel_problem, cel_problem


def _robfig_accepts(field: formats.CronField, item: str) -> bool:
    """robfig/cron v3 parser.go getRange for one comma-separated item (the CronJob's parser)."""
    names = {n.lower(): field.name_base + i for i, n in enumerate(field.names)}

    def number(text: str) -> int | None:
        if text.lower() in names:
            return names[text.lower()]
        return int(text) if text.isdigit() else None

    range_and_step = item.split("/")
    low_high = range_and_step[0].split("-")
    if len(range_and_step) > 2 or len(low_high) > 2:
        return False
    if low_high[0] in ("*", "?"):
        start, end = field.low, field.high
    else:
        first = number(low_high[0])
        last = number(low_high[1]) if len(low_high) == 2 else first
        if first is None or last is None:
            return False
        start, end = first, last
    if len(range_and_step) == 2:
        step = number(range_and_step[1]) if range_and_step[1].isdigit() else None
        if step is None or step == 0:
            return False
        if len(low_high) == 1:
            end = field.high  # "a/n" means a-max/n
    return field.low <= start <= end <= field.high


def _items(field: formats.CronField) -> list[str]:
    values = [str(v) for v in range(field.low - 1, field.high + 2)] + [n.lower() for n in field.names] + ["JUNK"]
    ends = values[:: max(1, len(values) // 12)] + values[-3:]
    out = ["*", "*/7", "*/0"] + (["?"] if field.question else [])
    for a in values:
        out += [a, f"{a}/3"] + [f"{a}-{b}" for b in ends] + [f"{a}-{b}/2" for b in ends[:4]]
    return out


@pytest.mark.parametrize("index", range(5), ids=[f.name for f in formats.CRON_FIELDS])
def test_each_cron_field_accepts_exactly_what_the_cronjob_parser_accepts(index: int) -> None:
    """Values, names, ranges (reversed ones too) and steps of each field, against a port of robfig/cron v3."""
    field = formats.CRON_FIELDS[index]
    wrong = [item for item in _items(field)
             if (re.fullmatch(field.regex, item) is not None) != _robfig_accepts(field, item)]
    assert wrong == []


def test_defaults_are_applied_like_the_api_server() -> None:
    from tests.unit.operator.tb_schemacheck import default

    out = default(SCHEMA, bot(limits={}, backup={}, retention={}))
    assert out["spec"]["mode"] == "paper" and out["spec"]["riskProfile"] == "balanced"
    assert out["spec"]["limits"]["maxDailyLossUsd"] == 200.0
    assert out["spec"]["backup"]["schedule"] == "0 */6 * * *"
    assert out["spec"]["retention"] == {"journal": "Retain", "backups": "Retain"}
