"""The example TradingBots and Secrets are valid and contain no real-looking secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot_runtime.contract.config import ALL_SECRET_KEYS, BotConfig
from botfleet_operator import crd, tenancy
from botfleet_operator.api import TradingBotSpec
from tests.unit.operator.tb_schemacheck import validate

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
BOTS = ["arbhunter", "polyai", "elitemimic"]


@pytest.mark.parametrize("name", BOTS)
def test_example_validates_against_the_crd_schema(name: str) -> None:
    doc = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    assert doc["apiVersion"] == "botfleet.io/v1alpha1" and doc["kind"] == "TradingBot"
    assert validate(crd.openapi_schema(), doc) == []
    spec = TradingBotSpec.model_validate(doc["spec"])
    assert spec.strategy.value == name and spec.mode == "paper"
    # The runtime accepts the same parameters.
    BotConfig(name=name, strategy=spec.strategy, riskProfile=spec.riskProfile, params=spec.params or {})


@pytest.mark.parametrize("name", BOTS)
def test_example_secrets_reference_and_placeholders(name: str) -> None:
    spec = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())["spec"]
    secrets = list(yaml.safe_load_all((EXAMPLES / f"{name}-secret.yaml").read_text()))
    names = {s["metadata"]["name"] for s in secrets}
    for ref in ("walletSecretRef", "credentialsSecretRef"):
        if ref in spec:
            assert spec[ref]["name"] in names
    for secret in secrets:
        assert secret["kind"] == "Secret"
        # Opted in for the example's bot, and only it: the operator uses no other Secret.
        assert tenancy.secret_allowed(secret["metadata"].get("labels"), name)
        assert not tenancy.secret_allowed(secret["metadata"].get("labels"), name + "-other")
        for key, value in secret["stringData"].items():
            assert key in ALL_SECRET_KEYS
            assert not re.search(r"[0-9a-fA-F]{64}", str(value)), f"{key} looks like a real key"
            if key != "SIGNATURE_TYPE":
                assert value == "REPLACE_ME"
