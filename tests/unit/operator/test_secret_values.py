"""Issue #12: what admission cannot know (a Secret's content) is reported in status with the field
named; only the Secrets the bot's pod reads roll it; every Secret problem to fix sets Degraded.

The operator checks each known key with the very functions the bot runs at start
(bot_runtime.contract.secret_values), keeps a yes/no per key, and never a value."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from bot_runtime.contract import secret_values
from botfleet_operator import conditions, resources
from botfleet_operator.conditions import Observed, compute_status
from botfleet_operator.reconcile import Snapshot, reconcile
from botfleet_operator.resources import ANN_SECRETS_HASH, Settings
from botfleet_operator.secrets import check, secrets_hash, view_of
from tests.unit.operator.tb_fixtures import FAKE_KEY, bot, secret, spec_of, tb, views
from tests.unit.operator.test_operator_reconcile import NOW, SETTINGS, FakeKube, observed_from

BACKUP_KEY = base64.b64encode(bytes(range(32))).decode()
N = secret_values.SECP256K1_ORDER

# (botfleet key, value, well-formed)
VALUES: list[tuple[str, str, bool]] = [
    ("PRIVATE_KEY", FAKE_KEY, True),
    ("PRIVATE_KEY", FAKE_KEY[2:], True),                      # 0x optional
    ("PRIVATE_KEY", FAKE_KEY + "\n", True),                   # `--from-file` keeps the newline; the bot strips it
    ("PRIVATE_KEY", "0x" + "00" * 31 + "01", True),
    ("PRIVATE_KEY", f"{N - 1:064x}", True),
    ("PRIVATE_KEY", "REPLACE_ME", False),                     # the example Secret's placeholder
    ("PRIVATE_KEY", "", False),
    ("PRIVATE_KEY", FAKE_KEY[:-1], False),                    # 63 hex digits
    ("PRIVATE_KEY", FAKE_KEY + "ab", False),
    ("PRIVATE_KEY", "0x" + "zz" * 32, False),
    ("PRIVATE_KEY", "0x" + "00" * 32, False),                 # not a secp256k1 key: zero
    ("PRIVATE_KEY", f"{N:064x}", False),                      # ... nor the group order
    ("PRIVATE_KEY", "0X" + "ab" * 32, False),                 # the bot's signer takes a lowercase 0x only
    ("FUNDER_ADDRESS", "0x56687bf447db6ffa42ffe2204a05edaa20f55839", True),
    ("FUNDER_ADDRESS", "0x56687BF447DB6FFA42FFE2204A05EDAA20F55839", True),
    ("FUNDER_ADDRESS", "", True),                             # empty: the key's own address
    ("FUNDER_ADDRESS", "56687bf447db6ffa42ffe2204a05edaa20f55839", True),   # the signer always took it
    ("FUNDER_ADDRESS", "0x56687bf447db6ffa42ffe2204a05edaa20f55839ab", False),
    ("FUNDER_ADDRESS", "0x56687bf447db6ffa42ffe2204a05edaa20f5583g", False),
    ("FUNDER_ADDRESS", "0x56687bf447db6ffa42ffe2204a05edaa20f5583", False),
    ("FUNDER_ADDRESS", "REPLACE_ME", False),
    ("SIGNATURE_TYPE", "0", True),
    ("SIGNATURE_TYPE", "3", True),
    ("SIGNATURE_TYPE", " 2\n", True),
    ("SIGNATURE_TYPE", "", True),                             # empty: EOA
    ("SIGNATURE_TYPE", "4", False),
    ("SIGNATURE_TYPE", "-1", False),
    ("SIGNATURE_TYPE", "EOA", False),
    ("SIGNATURE_TYPE", "1.0", False),
    ("BACKUP_ENCRYPTION_KEY", BACKUP_KEY, True),
    ("BACKUP_ENCRYPTION_KEY", base64.urlsafe_b64encode(bytes(range(200, 232))).decode().rstrip("="), True),
    ("BACKUP_ENCRYPTION_KEY", base64.b64encode(b"x" * 16).decode(), False),   # 16 bytes: too short
    ("BACKUP_ENCRYPTION_KEY", "REPLACE_ME", False),
    ("BACKUP_ENCRYPTION_KEY", "not base64 at all!", False),
]


@pytest.mark.parametrize(("key", "value", "good"), VALUES)
def test_the_contract_tells_well_formed_values_from_bad_ones(key: str, value: str, good: bool) -> None:
    assert secret_values.malformed(key, value) is not good


@pytest.mark.parametrize(("key", "value", "good"), VALUES)
def test_the_view_keeps_a_yes_no_per_key_never_the_value(key: str, value: str, good: bool) -> None:
    view = view_of(secret("w", **{key: value}))
    assert view.wellformed is not None and ((key, key) in view.wellformed) is good
    if len(value.strip()) >= 8:  # a short one ("0") is in any hex digest
        assert value.strip() not in repr(view)


def test_the_bot_and_backup_agree_with_the_contract() -> None:
    """The bot refuses at start exactly what the operator reports: the same functions."""
    from bot_runtime import backup_crypto
    from botfleet_tools.fleet.auth import auth_check

    assert backup_crypto.parse_key(BACKUP_KEY) == bytes(range(32))
    with pytest.raises(backup_crypto.CryptoError, match="32 random bytes in base64"):
        backup_crypto.parse_key("REPLACE_ME")
    ok, detail = auth_check("http://127.0.0.1:9", 1, {"PRIVATE_KEY": "REPLACE_ME"}, {})  # refused before any request
    assert not ok and detail == secret_values.must_be("PRIVATE_KEY") and "REPLACE_ME" not in detail


LIVE = {"mode": "live", "walletSecretRef": {"name": "w"}}
BACKUP = {"backup": {"s3": {"endpoint": "https://s3.eu-west-1.amazonaws.com", "bucket": "bkt",
                            "secretRef": {"name": "s3"}},
                     "encryption": {"secretRef": {"name": "bk"}}}}
S3 = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3-secret-value-1"}


@pytest.mark.parametrize(("spec", "data", "key", "form"), [
    (LIVE, {"PRIVATE_KEY": "REPLACE_ME"}, "key PRIVATE_KEY:",
     "PRIVATE_KEY must be a secp256k1 private key: 64 hex characters, optionally 0x-prefixed"),
    (LIVE, {"PRIVATE_KEY": FAKE_KEY, "SIGNATURE_TYPE": "proxy"}, "key SIGNATURE_TYPE:", "SIGNATURE_TYPE must be 0 (EOA)"),
    (LIVE, {"PRIVATE_KEY": FAKE_KEY, "FUNDER_ADDRESS": "me"}, "key FUNDER_ADDRESS:",
     "FUNDER_ADDRESS must be empty or a wallet address: 40 hex digits, optionally 0x-prefixed"),
    # a mapped key is named as stored and as read
    ({"mode": "live", "walletSecretRef": {"name": "w", "keys": {"PRIVATE_KEY": "pk"}}}, {"pk": "0x1234"},
     "key pk (read as PRIVATE_KEY):", "PRIVATE_KEY must be a secp256k1"),
])
def test_a_malformed_wallet_value_holds_the_bot_naming_field_secret_key_and_form(
        spec: dict[str, Any], data: dict[str, str], key: str, form: str) -> None:
    result = check(spec_of(strategy="arbhunter", **spec), views(secret("w", **data)), "b1")
    assert (result.ok, result.reason) == (False, "SecretValueInvalid")
    assert f"Secret w (spec.walletSecretRef) {key}" in result.message and form in result.message
    assert result.fix == (result.reason, result.message)
    for value in data.values():
        if value not in (FAKE_KEY,):
            assert value not in result.message


def test_a_paper_bot_s_wallet_is_not_checked() -> None:
    result = check(spec_of(strategy="arbhunter", walletSecretRef={"name": "w"}),
                   views(secret("w", PRIVATE_KEY="REPLACE_ME")), "b1")
    assert (result.ok, result.reason, result.fix) == (True, "AllSecretsPresent", None)


def test_an_unknown_key_and_a_credentials_secret_are_not_judged() -> None:
    """Only values the bot parses have a form: API keys and the like are opaque to both."""
    result = check(spec_of(strategy="polyai", mode="live", walletSecretRef={"name": "w"},
                           credentialsSecretRef={"name": "c"}),
                   views(secret("w", PRIVATE_KEY=FAKE_KEY, NOTE="hello"),
                         secret("c", OPENAI_API_KEY="sk-x", NEWSAPI_KEY="0", PRIVATE_KEY="x")), "b1")
    assert (result.ok, result.fix) == (True, None)


def test_a_bad_backup_key_is_reported_but_does_not_hold_the_bot() -> None:
    result = check(spec_of(strategy="arbhunter", **LIVE, **BACKUP),
                   views(secret("w", PRIVATE_KEY=FAKE_KEY), secret("s3", **S3),
                         secret("bk", BACKUP_ENCRYPTION_KEY="REPLACE_ME")), "b1")
    assert result.ok and not result.backup_ok
    assert result.fix is not None and result.fix[0] == "SecretValueInvalid"
    assert "Secret bk (spec.backup.encryption.secretRef) key BACKUP_ENCRYPTION_KEY: BACKUP_ENCRYPTION_KEY must be " \
           "32 random bytes in base64" in result.fix[1]


def test_a_value_that_is_not_utf8_is_malformed() -> None:
    doc = secret("w")
    doc["data"] = {"PRIVATE_KEY": base64.b64encode(b"\xff" * 64).decode()}
    assert ("PRIVATE_KEY", "PRIVATE_KEY") not in (view_of(doc).wellformed or ())


# Degraded ----------------------------------------------------------------------------------------

def _status(spec: dict[str, Any], *present: dict[str, Any], policy_error: str | None = None) -> dict[str, Any]:
    t = tb(**spec)
    secrets = views(*present)
    obs = Observed(secrets=secrets, secrets_check=check(t.spec, secrets, t.name), policy_error=policy_error)
    return {c["type"]: c for c in compute_status(t, obs, NOW, "h")["conditions"]}


@pytest.mark.parametrize(("present", "reason"), [
    ((), "SecretNotFound"),
    ((secret("w", SIGNATURE_TYPE="0"),), "SecretKeyMissing"),
    ((secret("w", PRIVATE_KEY="REPLACE_ME"),), "SecretValueInvalid"),
])
def test_a_secret_that_holds_the_bot_sets_degraded_with_its_reason_and_message(
        present: tuple[dict[str, Any], ...], reason: str) -> None:
    conds = _status(LIVE, *present)
    assert (conds["SecretsReady"]["status"], conds["SecretsReady"]["reason"]) == ("False", reason)
    assert (conds["Ready"]["status"], conds["Ready"]["reason"]) == ("False", reason)
    assert (conds["Degraded"]["status"], conds["Degraded"]["reason"]) == ("True", reason)
    assert conds["Degraded"]["message"] == conds["SecretsReady"]["message"]


@pytest.mark.parametrize(("present", "reason", "text"), [
    ((secret("bk", BACKUP_ENCRYPTION_KEY=BACKUP_KEY),), "SecretNotFound", "Secret s3 (spec.backup.s3.secretRef) not found"),
    ((secret("s3", **S3), secret("bk", BACKUP_ENCRYPTION_KEY="short")), "SecretValueInvalid", "BACKUP_ENCRYPTION_KEY must be"),
])
def test_a_backup_secret_problem_sets_degraded_while_the_bot_runs(
        present: tuple[dict[str, Any], ...], reason: str, text: str) -> None:
    conds = _status({**LIVE, **BACKUP}, secret("w", PRIVATE_KEY=FAKE_KEY), *present)
    assert conds["SecretsReady"]["status"] == "True"   # the bot has what it needs
    assert (conds["Degraded"]["status"], conds["Degraded"]["reason"]) == ("True", reason)
    assert text in conds["Degraded"]["message"]


def test_a_secret_not_opted_in_is_degraded_not_allowed_once() -> None:
    conds = _status(LIVE, secret("w", bots=None, PRIVATE_KEY=FAKE_KEY), policy_error="Secret w is not opted in")
    assert conds["SecretsReady"]["reason"] == "SecretNotAllowed"
    assert (conds["Degraded"]["status"], conds["Degraded"]["reason"]) == ("True", "NotAllowed")
    assert conds["Degraded"]["message"] == "Secret w is not opted in"


def test_good_secrets_are_no_problem() -> None:
    conds = _status({**LIVE, **BACKUP}, secret("w", PRIVATE_KEY=FAKE_KEY, SIGNATURE_TYPE="1"), secret("s3", **S3),
                    secret("bk", BACKUP_ENCRYPTION_KEY=BACKUP_KEY))
    assert (conds["Degraded"]["status"], conds["Degraded"]["reason"]) == ("False", "AsExpected")
    assert set(conditions.TYPES) == set(conds)


# Only the pod's Secrets roll the bot ------------------------------------------------------------

POD_SPEC = {**LIVE, "credentialsSecretRef": {"name": "c"}, **BACKUP,
            "journal": {"backend": "postgres", "urlSecretRef": {"name": "j"}}}
BASE = {"w": {"PRIVATE_KEY": FAKE_KEY}, "c": {"OPENAI_API_KEY": "sk-1"}, "s3": S3,
        "bk": {"BACKUP_ENCRYPTION_KEY": BACKUP_KEY}, "j": {"JOURNAL_URL": "postgresql://u:p@db/bots"}}


def _secrets(**changes: dict[str, str]) -> dict[str, Any]:
    return views(*(secret(name, **(changes.get(name) or data)) for name, data in BASE.items()))


def _template(secrets: dict[str, Any], settings: Settings = SETTINGS) -> dict[str, Any]:
    return resources.deployment(tb(**POD_SPEC), settings, secrets)["spec"]["template"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("change", [
    {"s3": {**S3, "AWS_SECRET_ACCESS_KEY": "s3-secret-value-2"}},
    {"bk": {"BACKUP_ENCRYPTION_KEY": base64.b64encode(bytes(range(1, 33))).decode()}},
])
def test_a_change_of_a_backup_only_secret_leaves_the_pod_template(change: dict[str, dict[str, str]]) -> None:
    before, after = _secrets(), _secrets(**change)
    assert _template(before) == _template(after)
    # status.credentialsHash still sums up every referenced Secret (documented so)
    spec = tb(**POD_SPEC).spec
    assert secrets_hash(spec, before) != secrets_hash(spec, after)


@pytest.mark.parametrize("change", [
    {"w": {"PRIVATE_KEY": "0x" + "cd" * 32}},
    {"w": {"PRIVATE_KEY": FAKE_KEY, "SIGNATURE_TYPE": "1"}},
    {"c": {"OPENAI_API_KEY": "sk-2"}},
    {"j": {"JOURNAL_URL": "postgresql://u:q@db/bots"}},
])
def test_a_change_of_a_secret_the_pod_reads_changes_the_pod_template(change: dict[str, dict[str, str]]) -> None:
    before, after = _template(_secrets()), _template(_secrets(**change))
    assert before["metadata"]["annotations"][ANN_SECRETS_HASH] != after["metadata"]["annotations"][ANN_SECRETS_HASH]


def test_the_hash_covers_exactly_the_secrets_the_pod_mounts_or_reads() -> None:
    """Derived from one decision (secrets.pod_secrets): a Secret the pod references is in the hash."""
    pod = _template(_secrets())["spec"]
    used = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    used |= {e["valueFrom"]["secretKeyRef"]["name"] for e in pod["containers"][0]["env"]
             if "secretKeyRef" in (e.get("valueFrom") or {})}
    assert used == {"w", "c", "j"}
    for name in BASE:
        changed = _secrets(**{name: {**BASE[name], "EXTRA": "v"}})
        rolled = _template(changed)["metadata"]["annotations"] != _template(_secrets())["metadata"]["annotations"]
        assert rolled is (name in used), name


def test_an_s3_secret_change_applies_no_deployment() -> None:
    b = bot(**POD_SPEC)
    kube = FakeKube()
    reconcile(Snapshot(bot=b, secrets=_secrets()), kube, SETTINGS, NOW)
    owned = observed_from(kube)
    b["status"] = kube.statuses[-1]
    kube2 = FakeKube()
    changed = _secrets(s3={**S3, "AWS_SECRET_ACCESS_KEY": "s3-secret-value-2"})
    reconcile(Snapshot(bot=b, secrets=changed, owned=owned), kube2, SETTINGS, NOW)
    assert "Deployment" not in [o["kind"] for o in kube2.applied]
    assert kube2.statuses[-1]["credentialsHash"] != b["status"]["credentialsHash"]


# Never the value ---------------------------------------------------------------------------------

def test_an_attacker_learns_no_malformed_value_from_status_events_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Malformed values are often near misses of the real one (a truncated key, a key with a stray
    character): whatever the operator publishes about them must hold none of it."""
    caplog.set_level(logging.DEBUG)
    near_miss = FAKE_KEY[:-1]                  # 63 hex digits of a real key
    bad = {"PRIVATE_KEY": near_miss, "FUNDER_ADDRESS": "0xfunder-typo-4711", "SIGNATURE_TYPE": "sig-typo-0815"}
    b = bot(**{**LIVE, **BACKUP})
    secrets = views(secret("w", **bad), secret("s3", **S3), secret("bk", BACKUP_ENCRYPTION_KEY="bk-typo-Zm9vYmFy"))
    kube = FakeKube()
    result = reconcile(Snapshot(bot=b, secrets=secrets), kube, Settings.from_env(
        {"BOTFLEET_BOT_IMAGE": "img:1", "BOTFLEET_HASH_KEY": "k" * 64}), NOW)
    st = kube.statuses[-1]
    sr = conditions.condition(st, "SecretsReady")
    assert sr is not None and sr["reason"] == "SecretValueInvalid"
    for key in ("PRIVATE_KEY", "FUNDER_ADDRESS", "SIGNATURE_TYPE"):
        assert f"key {key}:" in sr["message"]
    assert any(e[1] == "SecretValueInvalid" for e in kube.events)
    everything = json.dumps([kube.applied, kube.statuses, kube.events, result.errors]) + caplog.text + repr(secrets)
    for value in (*bad.values(), near_miss[2:], near_miss[2:40], "bk-typo-Zm9vYmFy", "s3-secret-value-1",
                  *(base64.b64encode(v.encode()).decode() for v in bad.values())):
        assert value not in everything, value



def test_fleet_check_reports_the_placeholder_key_as_the_operator_does() -> None:
    """`botfleet fleet check` runs the operator's check: a live bot's REPLACE_ME wallet key is caught
    before any request to the exchange, with the same words."""
    from botfleet_tools.fleet.preflight import preflight

    class Kube:
        def secret_data(self, ns: str, name: str) -> tuple[dict[str, str], dict[str, str]]:
            return {"PRIVATE_KEY": "REPLACE_ME", "SIGNATURE_TYPE": "0"}, {"botfleet.io/bots": "all"}

        def config_json(self, ns: str, name: str) -> str:
            raise AssertionError("the exchange is not asked with a malformed key")

    secrets_row, auth_row = preflight(Kube(), bot(**LIVE))
    assert not secrets_row.ok and not auth_row.ok
    assert "key PRIVATE_KEY: PRIVATE_KEY must be a secp256k1 private key" in secrets_row.detail
    assert "REPLACE_ME" not in secrets_row.detail + auth_row.detail
