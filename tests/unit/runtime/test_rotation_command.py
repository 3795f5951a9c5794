"""rotate-credentials: new key from the wallet, written to the Secret, old key revoked; nothing leaks."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from bot_runtime import rotation

WALLET = "0x" + "11" * 32  # test-only key
NOW = datetime(2026, 3, 1, tzinfo=UTC)


class Resp:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code = status
        self._body = body
        self.headers = {"content-type": "application/json"}

    def json(self) -> Any:
        return self._body


class FakeKube:
    def __init__(self, data: dict[str, str]) -> None:
        self.data = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        self.patches: list[dict[str, Any]] = []

    def read(self, namespace: str, name: str) -> dict[str, str]:
        assert (namespace, name) == ("ns", "creds")
        return dict(self.data)

    def patch(self, namespace: str, name: str, data: dict[str, str]) -> None:
        assert (namespace, name) == ("ns", "creds")
        self.patches.append({"data": data})
        self.data.update(data)


@pytest.fixture
def http(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, str]]]:
    calls: list[tuple[str, str, dict[str, str]]] = []

    def post(url: str, headers: dict[str, str], timeout: float) -> Resp:
        calls.append(("POST", url, headers))
        return Resp(200, {"apiKey": "new-key", "secret": base64.urlsafe_b64encode(b"s" * 32).decode(),
                          "passphrase": "new-pass"})

    def delete(url: str, headers: dict[str, str], timeout: float) -> Resp:
        calls.append(("DELETE", url, headers))
        return Resp(200, "OK")

    monkeypatch.setattr(requests, "post", post)
    monkeypatch.setattr(requests, "delete", delete)
    return calls


def test_rotate_writes_new_keys_and_revokes_the_old(http: list[tuple[str, str, dict[str, str]]]) -> None:
    old_secret = base64.urlsafe_b64encode(b"o" * 32).decode()
    kube = FakeKube({"CLOB_API_KEY": "old-key", "CLOB_SECRET": old_secret, "CLOB_PASSPHRASE": "old-pass",
                     "OPENAI_API_KEY": "keep"})
    key = rotation.rotate(kube, namespace="ns", secret="creds", clob_url="http://sim/", chain_id=137,
                          private_key=WALLET, revoke_old=True, now=NOW)
    assert key == "new-key"
    (patch,) = kube.patches
    decoded = {k: base64.b64decode(v).decode() for k, v in patch["data"].items()}
    assert decoded["CLOB_API_KEY"] == "new-key" and decoded["CLOB_PASSPHRASE"] == "new-pass"
    assert decoded["ROTATED_AT"] == "2026-03-01T00:00:00Z" and "OPENAI_API_KEY" not in decoded
    assert [c[0] for c in http] == ["POST", "DELETE"]
    assert http[0][1] == "http://sim/auth/api-key" and http[0][2]["POLY_NONCE"] == str(int(NOW.timestamp()))
    assert http[1][2]["POLY_API_KEY"] == "old-key" and http[1][2]["POLY_PASSPHRASE"] == "old-pass"


def test_no_revoke_without_old_keys(http: list[tuple[str, str, dict[str, str]]]) -> None:
    kube = FakeKube({})
    rotation.rotate(kube, namespace="ns", secret="creds", clob_url="http://sim", chain_id=137,
                    private_key=WALLET, revoke_old=True, now=NOW)
    assert [c[0] for c in http] == ["POST"]


def test_failure_message_names_the_step_not_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests, "post", lambda *a, **k: Resp(401, {"error": "bad signature"}))
    with pytest.raises(rotation.RotationError) as exc:
        rotation.rotate(FakeKube({}), namespace="ns", secret="creds", clob_url="http://sim", chain_id=137,
                        private_key=WALLET, revoke_old=False, now=NOW)
    assert "HTTP 401" in str(exc.value) and WALLET[2:] not in str(exc.value)
