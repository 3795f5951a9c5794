"""Every CEL rule of the CRD, with a valid and an invalid case, evaluated with cel-python.

The same cases run against a real API server in tests/e2e/test_operator_validation.py.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from botfleet_operator import crd
from botfleet_operator.crd import CRON_REGEX
from tests.unit.operator.tb_schemacheck import validate

SCHEMA = crd.openapi_schema()


def bot(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot", "metadata": {"name": "b"},
            "spec": {"strategy": "arbhunter", **spec}}


def messages(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [str(p) for p in validate(SCHEMA, obj, old)]


# (case id, valid spec, invalid spec, text the error must contain)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("live-needs-wallet",
     {"mode": "live", "walletSecretRef": {"name": "w"}}, {"mode": "live"}, "spec.walletSecretRef is required"),
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
    ("backup-cron", {"backup": {"schedule": "*/15 2-4 * * MON-FRI"}}, {"backup": {"schedule": "every hour"}},
     "spec.backup.schedule is not a valid cron"),
    ("rotation-cron",
     {"walletSecretRef": {"name": "w"}, "credentialsSecretRef": {"name": "c"}, "keyRotation": {"schedule": "0 3 * * 0"}},
     {"walletSecretRef": {"name": "w"}, "credentialsSecretRef": {"name": "c"}, "keyRotation": {"schedule": "0 3 * *"}},
     "spec.keyRotation.schedule is not a valid cron"),
    ("env-secret-name", {"env": [{"name": "HTTP_PROXY", "value": "x"}]},
     {"env": [{"name": "A", "value": "1"}, {"name": "PRIVATE_KEY", "value": "x"}]},
     "spec.env must not set Secret key names"),
    ("env-botfleet-prefix", {"env": [{"name": "TZ", "value": "UTC"}]},
     {"env": [{"name": "BOTFLEET_MODE", "value": "live"}]}, "names starting with BOTFLEET_"),
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
              "elitemimic": {"copyRatio": 1, "wallets": ["0xabc"]}}


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


@pytest.mark.parametrize("schedule", ["@hourly", "@daily", "0 0 1 1 *", "5,35 */2 * * 1-5", "0 12 ? * SUN", "0 0 1-15/3 * *"])
def test_cron_regex_accepts(schedule: str) -> None:
    import re

    assert re.fullmatch(CRON_REGEX, schedule)


@pytest.mark.parametrize("schedule", ["", "* * * *", "* * * * * *", "@every 5m", "0 0 * * * rm", "a b c d e f"])
def test_cron_regex_refuses(schedule: str) -> None:
    import re

    assert not re.fullmatch(CRON_REGEX, schedule)


def test_defaults_are_applied_like_the_api_server() -> None:
    from tests.unit.operator.tb_schemacheck import default

    out = default(SCHEMA, bot(limits={}, backup={}))
    assert out["spec"]["mode"] == "paper" and out["spec"]["riskProfile"] == "balanced"
    assert out["spec"]["limits"]["maxDailyLossUsd"] == 200.0
    assert out["spec"]["backup"]["schedule"] == "0 */6 * * *"
