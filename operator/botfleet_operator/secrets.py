"""What a bot needs from its Secrets, and whether the Secrets have it. Pure functions.

The operator never keeps Secret values: each watched Secret is reduced to a `SecretView` (its key
names, a digest of its data, the public ROTATED_AT stamp and, per key, whether its value is of the
form the bot parses: a yes/no, never the value) as soon as the watch event arrives.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from bot_runtime.contract import secret_values
from bot_runtime.contract.config import (
    BACKUP_ENCRYPTION_KEY,
    CLOB_API_KEY,
    CLOB_PASSPHRASE,
    CLOB_SECRET,
    NEWSAPI_KEY,
    OPENAI_API_KEY,
    ROTATED_AT,
    WALLET_KEYS,
    WALLET_PRIVATE_KEY,
)
from bot_runtime.contract.params import Strategy
from botfleet_operator.api import JournalUrlSecretRef, SecretRef, TradingBotSpec, WalletSecretRef
from botfleet_operator.tenancy import LABEL_SECRET_BOTS, secret_allowed

S3_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
BACKUP_KEY = BACKUP_ENCRYPTION_KEY
CLOB_KEYS = (CLOB_API_KEY, CLOB_SECRET, CLOB_PASSPHRASE)
STRATEGY_CREDENTIALS: dict[Strategy, tuple[str, ...]] = {
    Strategy.ARBHUNTER: (),
    Strategy.POLYAI: (OPENAI_API_KEY, NEWSAPI_KEY),
    Strategy.ELITEMIMIC: (OPENAI_API_KEY,),
}


@dataclass(frozen=True)
class SecretView:
    """A Secret without its values."""

    name: str
    keys: frozenset[str]
    digest: str                      # sha256 over sorted (key, sha256(value)) pairs
    rotated_at: str | None = None    # ROTATED_AT, public
    created: str | None = None       # metadata.creationTimestamp
    bots: str | None = None          # the owner's opt-in label (tenancy.LABEL_SECRET_BOTS), None: not opted in
    # (Secret key, botfleet key) pairs whose value has the form botfleet's key needs
    # (contract.secret_values): every key is tried against every known form, since which key a bot
    # reads under which name (walletSecretRef.keys) is the bot's, not the Secret's. Only the
    # well-formed pairs are kept: few (a value fits one form at most, or two when empty), where the
    # malformed ones would be nearly all of them. None: not checked (a view made without the data).
    wellformed: frozenset[tuple[str, str]] | None = None


# A value whose base64 is longer than this is of no known form (the longest, a 0x-prefixed key, is
# 66 characters plus a newline, 92 in base64): not decoded at all.
_MAX_CHECKED = 4096


def _wellformed(data: dict[str, str]) -> frozenset[tuple[str, str]]:
    good: set[tuple[str, str]] = set()
    for key, encoded in data.items():
        try:
            value = base64.b64decode(encoded).decode() if len(encoded) <= _MAX_CHECKED else None
        except (ValueError, UnicodeDecodeError):
            value = None  # not UTF-8: the bot cannot read it either
        if value is not None:
            good.update((key, name) for name in secret_values.FORMS if not secret_values.malformed(name, value))
    return frozenset(good)


def view_of(secret: dict[str, Any]) -> SecretView:
    """Reduce a Secret object (as watched) to its view; the values go out of scope here."""
    data: dict[str, str] = dict(secret.get("data") or {})
    for key, value in (secret.get("stringData") or {}).items():  # only in unit tests / dry runs
        data[key] = base64.b64encode(str(value).encode()).decode()
    h = hashlib.sha256()
    for key in sorted(data):
        h.update(key.encode() + b"\0" + hashlib.sha256(data[key].encode()).digest())
    rotated = data.get(ROTATED_AT)
    return SecretView(
        name=secret["metadata"]["name"], keys=frozenset(data), digest=h.hexdigest(),
        rotated_at=base64.b64decode(rotated).decode(errors="replace") if rotated else None,
        created=secret["metadata"].get("creationTimestamp"),
        bots=(secret["metadata"].get("labels") or {}).get(LABEL_SECRET_BOTS),
        wellformed=_wellformed(data),
    )


def unlabelled_view(name: str) -> SecretView:
    """A Secret that exists but is not opted in for any bot: the operator knows its name only."""
    return SecretView(name=name, keys=frozenset(), digest="")


@dataclass(frozen=True)
class Requirement:
    secret: str          # Secret name
    ref: str             # spec field that references it, e.g. spec.walletSecretRef
    keys: tuple[str, ...]  # keys that must be present (names as stored in the Secret)
    blocking: bool = True  # False: only the backup needs it, the bot itself can run
    # (Secret key, botfleet key): a value the bot parses, checked for its form when present
    forms: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PodSecrets:
    """The Secrets the bot's pod mounts or reads: what `resources.deployment` puts in the pod and
    what its template hash covers, so a change of any other Secret (the backup's) never rolls it."""

    wallet: WalletSecretRef | None        # mounted at <credentials>/wallet (live bots only)
    credentials: SecretRef | None         # mounted at <credentials>/credentials
    journal_url: JournalUrlSecretRef | None  # BOTFLEET_JOURNAL_URL (a PostgreSQL journal)

    @property
    def names(self) -> set[str]:
        return {r.name for r in (self.wallet, self.credentials, self.journal_url) if r is not None}


def pod_secrets(spec: TradingBotSpec) -> PodSecrets:
    j = spec.journal
    return PodSecrets(
        # a paper bot never mounts the wallet: it signs with a paper key of its own
        wallet=spec.walletSecretRef if spec.mode == "live" else None,
        credentials=spec.credentialsSecretRef,
        journal_url=j.urlSecretRef if j is not None and j.backend == "postgres" else None)


def requirements(spec: TradingBotSpec) -> list[Requirement]:
    out: list[Requirement] = []
    pod = pod_secrets(spec)
    wallet = pod.wallet
    if wallet:
        mapping = wallet.keys or {}
        out.append(Requirement(wallet.name, "spec.walletSecretRef",
                               (mapping.get(WALLET_PRIVATE_KEY, WALLET_PRIVATE_KEY),),
                               forms=tuple((mapping.get(k, k), k) for k in WALLET_KEYS)))
    creds = pod.credentials
    if creds:
        out.append(Requirement(creds.name, "spec.credentialsSecretRef", STRATEGY_CREDENTIALS.get(spec.strategy, ())))
    s3 = spec.backup.s3 if spec.backup else None
    if s3:
        out.append(Requirement(s3.secretRef.name, "spec.backup.s3.secretRef", S3_KEYS, blocking=False))
    encryption = spec.backup.encryption if spec.backup else None
    if encryption:
        out.append(Requirement(encryption.secretRef.name, "spec.backup.encryption.secretRef", (BACKUP_KEY,),
                               blocking=False, forms=((BACKUP_KEY, BACKUP_KEY),)))
    if pod.journal_url:
        out.append(Requirement(pod.journal_url.name, "spec.journal.urlSecretRef", (pod.journal_url.key,)))
    return out


def referenced_secrets(spec: TradingBotSpec) -> set[str]:
    return {r.secret for r in requirements(spec)}


@dataclass(frozen=True)
class SecretsCheck:
    ok: bool                 # every blocking requirement met
    reason: str              # AllSecretsPresent | SecretNotFound | SecretNotAllowed | SecretKeyMissing | SecretValueInvalid
    message: str             # names the Secret and the missing key, never a value
    backup_ok: bool = True
    problems: list[str] = field(default_factory=list)
    not_allowed: str | None = None   # a referenced Secret not opted in for this bot: nothing may use it
    # (reason, message) of every problem the user must fix, the backup's included (Degraded); None: none
    fix: tuple[str, str] | None = None


def check(spec: TradingBotSpec, secrets: dict[str, SecretView], bot: str) -> SecretsCheck:
    """Are the referenced Secrets there, opted in for `bot`, with the keys this bot needs?"""
    problems: list[tuple[str, str, bool]] = []  # (reason, message, blocking)
    refused: list[str] = []
    for req in requirements(spec):
        view = secrets.get(req.secret)
        if view is None:
            problems.append(("SecretNotFound", f"Secret {req.secret} ({req.ref}) not found; create it", req.blocking))
            continue
        if not secret_allowed({LABEL_SECRET_BOTS: view.bots} if view.bots is not None else None, bot):
            refused.append(f"Secret {req.secret} ({req.ref}) is not opted in for this bot: its owner labels it "
                           f"with `kubectl label secret {req.secret} {LABEL_SECRET_BOTS}={bot}` (or =all, or bot "
                           "names joined by _)")
            continue
        for key in req.keys:
            if key not in view.keys:
                problems.append(("SecretKeyMissing", f"Secret {req.secret} ({req.ref}) has no key {key}; add it",
                                 req.blocking))
        for stored, ours in req.forms:
            if view.wellformed is not None and stored in view.keys and (stored, ours) not in view.wellformed:
                named = stored if stored == ours else f"{stored} (read as {ours})"
                problems.append(("SecretValueInvalid", f"Secret {req.secret} ({req.ref}) key {named}: "
                                 f"{secret_values.must_be(ours)}; fix its value (not shown)", req.blocking))
        if req.ref == "spec.credentialsSecretRef":
            present = [k for k in CLOB_KEYS if k in view.keys]
            if present and len(present) < len(CLOB_KEYS):
                missing = ", ".join(k for k in CLOB_KEYS if k not in view.keys)
                problems.append(("SecretKeyMissing", f"Secret {req.secret} ({req.ref}) has only part of the "
                                 f"CLOB API credentials: add {missing} or remove them all", True))
    if refused:
        message = "; ".join(refused)
        return SecretsCheck(False, "SecretNotAllowed", message, False, refused + [p[1] for p in problems], message)
    blocking = [p for p in problems if p[2]]
    backup_ok = not [p for p in problems if not p[2]]
    fix = (problems[0][0], "; ".join(p[1] for p in problems)) if problems else None
    if not blocking:
        msg = "all referenced Secrets have the required keys" if backup_ok else problems[0][1]
        return SecretsCheck(True, "AllSecretsPresent", msg, backup_ok, [p[1] for p in problems], fix=fix)
    blocking_msg = "; ".join(p[1] for p in blocking)
    return SecretsCheck(False, blocking[0][0], blocking_msg, backup_ok, [p[1] for p in problems],
                        fix=(blocking[0][0], "; ".join(p[1] for p in blocking + [p for p in problems if not p[2]])))


def secrets_hash(spec: TradingBotSpec, secrets: dict[str, SecretView], key: bytes = b"", *,
                 pod_only: bool = False) -> str:
    """A digest of the referenced Secrets (`pod_only`: of those the bot's pod reads, `pod_secrets`):
    changes when any of their data changes.

    It is published (status.credentialsHash over all referenced Secrets; the pod template's
    annotation over the pod's own, so that only their change rolls the bot) where tenants who may
    not read the Secrets can: with the operator's `key` it is an HMAC-SHA256, so nobody without the
    key can test a guessed value against it. Without a key (development, tests): plain sha256."""
    h = hmac.new(key, digestmod=hashlib.sha256) if key else hashlib.sha256()
    for name in sorted(pod_secrets(spec).names if pod_only else referenced_secrets(spec)):
        view = secrets.get(name)
        h.update(name.encode() + b"\0" + (view.digest if view else "-").encode() + b"\n")
    return h.hexdigest()
