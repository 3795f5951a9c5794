"""The HMAC key of a hand-started operator: made once in its namespace, then always the same."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from botfleet_operator import hashkey
from botfleet_operator.apiclient import KubeError


class Store:
    """An API server's Secrets for the one namespace, with the answers a test scripts."""

    def __init__(self, existing: dict[str, Any] | None = None, create_error: KubeError | None = None,
                 get_error: KubeError | None = None) -> None:
        self.objects: dict[str, Any] = {} if existing is None else {hashkey.SECRET_NAME: existing}
        self.create_error, self.get_error = create_error, get_error
        self.created: list[dict[str, Any]] = []
        self.gets = 0

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        assert (kind, namespace) == ("Secret", "ops")
        self.gets += 1
        if self.get_error:
            raise self.get_error
        return self.objects.get(name)

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        if self.create_error:
            error, self.create_error = self.create_error, None
            raise error
        self.created.append(obj)
        self.objects[obj["metadata"]["name"]] = obj
        return obj


def _secret(value: bytes) -> dict[str, Any]:
    return {"metadata": {"name": hashkey.SECRET_NAME}, "data": {"key": base64.b64encode(value).decode()}}


def test_first_start_makes_a_random_key_and_later_starts_read_it() -> None:
    store = Store()
    key = hashkey.ensure(store, "ops")
    (made,) = store.created
    assert made["metadata"]["namespace"] == "ops" and made["type"] == "Opaque"
    assert len(key) == 64 and hashkey.key_of(made) == key
    assert hashkey.ensure(store, "ops") == key and len(store.created) == 1  # a restart: same key, no roll
    assert hashkey.ensure(Store(), "ops") != key  # random, not derived from anything


def test_an_existing_key_is_used_as_the_chart_gives_it() -> None:
    store = Store(_secret(b"chart-made-key\n"))
    assert hashkey.ensure(store, "ops") == b"chart-made-key"
    assert store.created == []


def test_two_operators_starting_at_once_end_with_one_key() -> None:
    store = Store(create_error=KubeError("create Secret: 409 AlreadyExists", 409))
    other = _secret(b"the-other-operators-key")
    real_get = store.get

    def get(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        found = real_get(kind, namespace, name)
        if store.gets == 2:  # made by the other operator between our read and our create
            store.objects[name] = other
            return other
        return found
    store.get = get  # type: ignore[method-assign]
    assert hashkey.ensure(store, "ops") == b"the-other-operators-key"


@pytest.mark.parametrize("store", [
    Store(get_error=KubeError("get Secret ops/botfleet-standalone-hash-key: 403 Forbidden", 403)),
    Store(create_error=KubeError("create Secret ops/botfleet-standalone-hash-key: 403 Forbidden", 403)),
])
def test_no_permission_names_the_secret_and_the_fix(store: Store) -> None:
    with pytest.raises(hashkey.HashKeyError) as err:
        hashkey.ensure(store, "ops")
    message = str(err.value)
    assert "ops/botfleet-standalone-hash-key" in message and "403" in message
    assert "BOTFLEET_HASH_KEY" in message and "create Secrets in ops" in message


def test_an_empty_key_is_refused_not_used() -> None:
    with pytest.raises(hashkey.HashKeyError, match=r"has no 'key'.*delete it"):
        hashkey.ensure(Store({"metadata": {"name": hashkey.SECRET_NAME}, "data": {}}), "ops")
