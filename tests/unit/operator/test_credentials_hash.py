"""status.credentialsHash and the pod's secrets-hash annotation are readable by tenants who may not
read the Secrets: a tenant who knows the key names (Events and conditions name them) and has a few
candidate values must not be able to tell which one is in the Secret."""

from __future__ import annotations

from botfleet_operator import resources
from botfleet_operator.api import TradingBot
from botfleet_operator.reconcile import Snapshot, reconcile
from botfleet_operator.resources import ANN_SECRETS_HASH, Settings
from botfleet_operator.secrets import secrets_hash
from tests.unit.operator.tb_fixtures import bot, secret, views
from tests.unit.operator.test_operator_reconcile import NOW, FakeKube

KEY = b"k" * 64
REAL = "0x" + "3e" * 32
# e.g. a leaked list, keys of a known test wallet, a value the tenant saw in an old .env file
CANDIDATES = ["0x" + "11" * 32, "0x" + "3e" * 32, "0x" + "ab" * 32, "0x" + "00" * 31 + "01"]


def _published(settings: Settings) -> tuple[str, str]:
    body = bot(mode="live", walletSecretRef={"name": "w"})
    secrets = views(secret("w", PRIVATE_KEY=REAL, SIGNATURE_TYPE="0"))
    result = reconcile(Snapshot(bot=body, secrets=secrets), FakeKube(), settings, NOW)
    dep = resources.deployment(TradingBot.parse(body), settings, secrets)
    return (result.status or {})["credentialsHash"], dep["spec"]["template"]["metadata"]["annotations"][ANN_SECRETS_HASH]


def _guesses(published: tuple[str, str]) -> list[str]:
    """What the tenant can compute: the published algorithm over each candidate (no key)."""
    spec = TradingBot.parse(bot(mode="live", walletSecretRef={"name": "w"})).spec
    hits = []
    for candidate in CANDIDATES:
        guess = secrets_hash(spec, views(secret("w", PRIVATE_KEY=candidate, SIGNATURE_TYPE="0")))
        if guess == published[0] or guess[:16] == published[1]:
            hits.append(candidate)
    return hits


def test_without_a_key_a_guess_can_be_confirmed() -> None:
    """Why the key: the unkeyed digest (development default) confirms the right candidate."""
    assert _guesses(_published(Settings(image="img:1"))) == [REAL]


def test_with_the_operators_key_no_guess_matches() -> None:
    settings = Settings.from_env({"BOTFLEET_BOT_IMAGE": "img:1", "BOTFLEET_HASH_KEY": KEY.decode()})
    assert settings.hash_key == KEY and KEY.decode() not in repr(settings)
    assert _guesses(_published(settings)) == []


def test_the_keyed_digest_still_tracks_the_data() -> None:
    spec = TradingBot.parse(bot(mode="live", walletSecretRef={"name": "w"})).spec
    a = secrets_hash(spec, views(secret("w", PRIVATE_KEY="1")), KEY)
    assert a == secrets_hash(spec, views(secret("w", PRIVATE_KEY="1")), KEY)  # stable: no rollout on restart
    assert a != secrets_hash(spec, views(secret("w", PRIVATE_KEY="2")), KEY)
    assert a != secrets_hash(spec, views(secret("w", PRIVATE_KEY="1")), b"another operator's key")
