"""The bot refuses a malformed wallet Secret at start with the contract's words, the very check the
operator reports as SecretValueInvalid before the pod ever starts (tests/unit/operator/test_secret_values.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from bot_runtime.app_execution import ExecutionPlan, _signer
from bot_runtime.contract.secret_values import must_be
from bot_runtime.errors import StartupError

KEY = "0x" + "ab" * 32
LIVE = ExecutionPlan("live", paper_wallet=False, derive_api_creds=False, chain_id=137)


def _deps(**creds: str) -> Any:
    return SimpleNamespace(credentials=creds)


@pytest.mark.parametrize(("private_key", "creds", "key"), [
    ("REPLACE_ME", {}, "PRIVATE_KEY"),
    (KEY[:-2], {}, "PRIVATE_KEY"),
    ("0x" + "00" * 32, {}, "PRIVATE_KEY"),
    (KEY, {"SIGNATURE_TYPE": "+1"}, "SIGNATURE_TYPE"),
    (KEY, {"SIGNATURE_TYPE": "5"}, "SIGNATURE_TYPE"),
    (KEY, {"FUNDER_ADDRESS": "0x56687bf447db6ffa42ffe2204a05edaa20f5583"}, "FUNDER_ADDRESS"),
])
def test_a_malformed_wallet_value_stops_the_bot_naming_the_key(private_key: str, creds: dict[str, str],
                                                                key: str) -> None:
    with pytest.raises(StartupError) as err:
        _signer(_deps(**creds), private_key, LIVE)
    assert str(err.value) == f"wallet Secret: {must_be(key)}"
    assert private_key not in str(err.value) and all(v not in str(err.value) for v in creds.values())


def test_well_formed_values_sign() -> None:
    funder = "0x56687bf447db6ffa42ffe2204a05edaa20f55839"
    signer = _signer(_deps(SIGNATURE_TYPE="2\n", FUNDER_ADDRESS=funder), KEY + "\n", LIVE)
    assert signer.signature_type == 2 and signer.maker.lower() == funder
    assert _signer(_deps(SIGNATURE_TYPE=""), KEY[2:], LIVE).signature_type == 0
    assert _signer(_deps(FUNDER_ADDRESS=funder[2:]), KEY, LIVE).maker.lower() == funder
