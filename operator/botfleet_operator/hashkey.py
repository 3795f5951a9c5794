"""The key of the operator's HMAC over Secret digests (status.credentialsHash, the bots'
secrets-hash annotation) when none is configured.

The Helm chart always gives one (BOTFLEET_HASH_KEY, from a Secret it makes at install). An operator
started by hand (`botfleet operator`, the README's quick start) had none and published a plain
SHA-256 of the Secrets' contents, which anyone who may read a TradingBot's status could test
guessed values against. Such an operator now keeps its key in a Secret of its own namespace, made
once with a random value: the same key after every restart, so the bots' pods do not roll.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any, Protocol

from botfleet_operator.apiclient import KubeError

Obj = dict[str, Any]
SECRET_NAME = "botfleet-standalone-hash-key"
DATA_KEY = "key"  # as the chart's Secret (helm/botfleet/templates/hashkey-secret.yaml)


class HashKeyError(RuntimeError):
    pass


class KeyStore(Protocol):
    def get(self, kind: str, namespace: str, name: str) -> Obj | None: ...
    def create(self, obj: Obj) -> Obj: ...


def key_of(secret: Obj) -> bytes | None:
    """The key a Secret holds (its value, stripped, as BOTFLEET_HASH_KEY would give it); None if empty."""
    value = (secret.get("data") or {}).get(DATA_KEY)
    if not value:
        return None
    return base64.b64decode(value).strip() or None


def new_secret(namespace: str) -> Obj:
    value = secrets.token_urlsafe(48)  # 64 characters, as the chart's randAlphaNum 64
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": SECRET_NAME, "namespace": namespace,
                         "labels": {"app.kubernetes.io/name": "botfleet", "app.kubernetes.io/component": "operator"}},
            "data": {DATA_KEY: base64.b64encode(value.encode()).decode()}}


def ensure(kube: KeyStore, namespace: str) -> bytes:
    """The key in `namespace`/botfleet-standalone-hash-key, made first if the Secret does not exist.
    Create, never apply: two operators starting at once must not overwrite each other's key."""
    where = f"Secret {namespace}/{SECRET_NAME}"
    fix = (f"set BOTFLEET_HASH_KEY, or let the operator get and create Secrets in {namespace} "
           "(deploy/rbac/operator.yaml)")
    for _ in range(2):
        try:
            found = kube.get("Secret", namespace, SECRET_NAME)
            if found is None:
                found = kube.create(new_secret(namespace))
        except KubeError as exc:
            if exc.status == 409:
                continue  # made by another operator since our read: read it
            raise HashKeyError(f"cannot read or create {where}, the key of status.credentialsHash: "
                               f"{exc}; {fix}") from None
        key = key_of(found)
        if key is None:
            raise HashKeyError(f"{where} has no '{DATA_KEY}': delete it (a new one is made) or set BOTFLEET_HASH_KEY")
        return key
    raise HashKeyError(f"{where} was created and then could not be read; {fix}")
