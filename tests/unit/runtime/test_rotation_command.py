"""rotate-credentials: new key from the wallet, written to the Secret, old key revoked only once the
bot's Deployment rolled onto the new Secret (never on timeout); nothing leaks."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import typer
from typer.testing import CliRunner

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


def deployment(secrets_hash: str, *, generation: int = 1, observed: int = 1, replicas: int = 1, current: int = 1,
               updated: int = 1, available: int = 1) -> dict[str, Any]:
    return {"metadata": {"name": "bot", "generation": generation},
            "spec": {"replicas": replicas,
                     "template": {"metadata": {"annotations": {"botfleet.io/secrets-hash": secrets_hash}}}},
            "status": {"observedGeneration": observed, "replicas": current, "updatedReplicas": updated,
                       "availableReplicas": available}}


ROLLING = [  # what the bot's Deployment goes through after the Secret write (Recreate strategy)
    deployment("old-hash"),                                                                # operator not there yet
    deployment("new-hash", generation=2, observed=1),                                      # template changed
    deployment("new-hash", generation=2, observed=2, current=1, updated=0, available=1),   # old pod still up
    deployment("new-hash", generation=2, observed=2, current=0, updated=0, available=0),   # old pod gone
    deployment("new-hash", generation=2, observed=2, current=1, updated=1, available=0),   # new pod starting
    deployment("new-hash", generation=2, observed=2),                                      # rolled
]


class FakeKube:
    """The Secret and the bot's Deployment: after the Secret is patched, each read of the
    Deployment moves it one step along `rollout` (and stays on the last one)."""

    def __init__(self, data: dict[str, str], rollout: list[dict[str, Any]] | None = None,
                 events: list[str] | None = None) -> None:
        self.data = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        self.patches: list[dict[str, Any]] = []
        self.rollout = rollout if rollout is not None else ROLLING
        self.step = 0
        self.events = events if events is not None else []

    def read(self, namespace: str, name: str) -> dict[str, str]:
        assert (namespace, name) == ("ns", "creds")
        return dict(self.data)

    def patch(self, namespace: str, name: str, data: dict[str, str]) -> None:
        assert (namespace, name) == ("ns", "creds")
        self.patches.append({"data": data})
        self.data.update(data)
        self.events.append("secret written")

    def read_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        assert (namespace, name) == ("ns", "bot")
        if not self.patches:
            return deployment("old-hash")
        state = self.rollout[min(self.step, len(self.rollout) - 1)]
        self.step += 1
        rolled, _ = rotation.rollout_state(state, "old-hash")
        self.events.append("deployment rolled" if rolled else "deployment rolling")
        return state


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


OLD_SECRET = base64.urlsafe_b64encode(b"o" * 32).decode()
OLD = {"CLOB_API_KEY": "old-key", "CLOB_SECRET": OLD_SECRET, "CLOB_PASSPHRASE": "old-pass"}


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


def run(kube: FakeKube, clock: Clock, **kw: Any) -> str:
    args: dict[str, Any] = {"namespace": "ns", "secret": "creds", "clob_url": "http://sim/", "chain_id": 137,
                            "private_key": WALLET, "revoke_old": True, "deployment": "bot", "now": NOW,
                            "clock": clock, "sleep": clock.sleep, **kw}
    return rotation.rotate(kube, **args)


def test_rotate_writes_new_keys_and_revokes_the_old(http: list[tuple[str, str, dict[str, str]]]) -> None:
    kube = FakeKube({**OLD, "OPENAI_API_KEY": "keep"})
    key = run(kube, Clock())
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
    run(kube, Clock())
    assert [c[0] for c in http] == ["POST"] and kube.step == 0  # nothing to revoke: nothing to wait for


def test_revoke_happens_only_after_the_deployment_reports_the_roll(monkeypatch: pytest.MonkeyPatch) -> None:
    """The old pod trades (and cancels its orders on SIGTERM) with the old key until the new pod
    runs: the DELETE must come after the Deployment finished rolling, never between."""
    events: list[str] = []
    monkeypatch.setattr(requests, "post", lambda *a, **k: Resp(200, {
        "apiKey": "new-key", "secret": base64.urlsafe_b64encode(b"s" * 32).decode(), "passphrase": "p"}))

    def delete(*args: Any, **kwargs: Any) -> Resp:
        events.append("old key revoked")
        return Resp(200, "OK")

    monkeypatch.setattr(requests, "delete", delete)
    clock = Clock()
    run(FakeKube(dict(OLD), events=events), clock, poll_interval=2)
    assert events == ["secret written", *["deployment rolling"] * (len(ROLLING) - 1), "deployment rolled",
                      "old key revoked"]
    assert clock.now == 2 * (len(ROLLING) - 1)


def test_timeout_keeps_the_old_key(http: list[tuple[str, str, dict[str, str]]]) -> None:
    stuck = [deployment("new-hash", generation=2, observed=2, current=1, updated=1, available=0)]  # never ready
    kube, clock = FakeKube(dict(OLD), rollout=stuck), Clock()
    with pytest.raises(rotation.OldKeyKept) as exc:
        run(kube, clock, rollout_timeout=30, poll_interval=2)
    assert [c[0] for c in http] == ["POST"]            # created, never revoked
    assert kube.patches and exc.value.new_key == "new-key" and exc.value.old_key == "old-key"
    assert "within 30s" in str(exc.value) and "0/1 new pod(s) available" in str(exc.value)
    assert "old key was kept" in str(exc.value) and clock.now == 30
    assert OLD_SECRET not in str(exc.value)


def test_no_deployment_or_no_access_fails_before_any_key_is_created(
        http: list[tuple[str, str, dict[str, str]]]) -> None:
    with pytest.raises(rotation.RotationError, match="--revoke-old needs --deployment"):
        run(FakeKube(dict(OLD)), Clock(), deployment=None)

    class Missing(FakeKube):
        def read_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
            return None

    class Forbidden(FakeKube):
        def read_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
            raise PermissionError("403")

    with pytest.raises(rotation.RotationError, match=r"Deployment ns/bot not found.*nothing was changed"):
        run(Missing(dict(OLD)), Clock())
    with pytest.raises(rotation.RotationError, match="cannot read Deployment ns/bot: PermissionError"):
        run(Forbidden(dict(OLD)), Clock())
    assert http == []


def test_without_revoke_nothing_waits(http: list[tuple[str, str, dict[str, str]]]) -> None:
    kube = FakeKube(dict(OLD))
    run(kube, Clock(), revoke_old=False, deployment=None)
    assert [c[0] for c in http] == ["POST"] and kube.step == 0 and kube.patches


@pytest.mark.parametrize(("state", "rolled", "why"), [
    (None, False, "does not exist"),
    (deployment("old-hash"), False, "operator has not rolled"),
    (deployment("new-hash", generation=3, observed=2), False, "not observed generation 3"),
    (deployment("new-hash", updated=0), False, "0/1 pod(s) on the new template"),
    (deployment("new-hash", current=2, updated=1), False, "1 pod(s) of the old template still running"),
    (deployment("new-hash", available=0), False, "0/1 new pod(s) available"),
    (deployment("new-hash"), True, "1/1"),
    (deployment("new-hash", replicas=0, current=0, updated=0, available=0), True, "paused"),
    (deployment("new-hash", replicas=0, current=1, updated=0, available=1), False, "still running"),
    (deployment("old-hash", replicas=0, current=0, updated=0, available=0), False, "operator has not rolled"),
])
def test_rollout_state(state: dict[str, Any] | None, rolled: bool, why: str) -> None:
    got, reason = rotation.rollout_state(state, "old-hash")
    assert got is rolled and why in reason


def test_a_template_without_the_annotation_before_counts_once_it_has_one() -> None:
    bare = deployment("x")
    del bare["spec"]["template"]["metadata"]["annotations"]["botfleet.io/secrets-hash"]
    assert rotation.template_hash(bare) is None
    assert rotation.rollout_state(bare, None)[0] is False
    assert rotation.rollout_state(deployment("new-hash"), None)[0] is True


def test_read_errors_while_waiting_are_retried_until_the_timeout(http: list[tuple[str, str, dict[str, str]]]) -> None:
    class Flaky(FakeKube):
        def read_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
            if self.patches and self.step < 2:
                self.step += 1
                raise ConnectionError("blip")
            return super().read_deployment(namespace, name)

    kube = Flaky(dict(OLD), rollout=[deployment("new-hash", generation=2, observed=2)])
    run(kube, Clock())
    assert [c[0] for c in http] == ["POST", "DELETE"]

    class Down(FakeKube):
        def read_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
            if self.patches:
                raise ConnectionError("down")
            return super().read_deployment(namespace, name)

    with pytest.raises(rotation.OldKeyKept, match="cannot read the Deployment: ConnectionError"):
        run(Down(dict(OLD)), Clock(), rollout_timeout=10)
    assert [c[0] for c in http] == ["POST", "DELETE", "POST"]


def test_failure_message_names_the_step_not_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests, "post", lambda *a, **k: Resp(401, {"error": "bad signature"}))
    with pytest.raises(rotation.RotationError) as exc:
        run(FakeKube({}), Clock(), revoke_old=False)
    assert "HTTP 401" in str(exc.value) and WALLET[2:] not in str(exc.value)


def test_command_on_timeout_exits_1_with_one_json_line_saying_the_old_key_was_kept(
        http: list[tuple[str, str, dict[str, str]]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stuck = [deployment("old-hash")]  # the operator never rolls the bot (e.g. it is down)
    monkeypatch.setattr(rotation, "KubeSecrets", lambda kubeconfig: FakeKube(
        {**OLD, "ROTATED_AT": "2026-02-01T03:00:00Z"}, rollout=stuck))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"name": "bot", "strategy": "arbhunter", "mode": "live"}))
    (tmp_path / "PRIVATE_KEY").write_text(WALLET)
    app = typer.Typer()
    app.command()(rotation.rotate_command)
    res = CliRunner().invoke(app, ["--secret", "creds", "--namespace", "ns", "--config", str(config),
                                   "--wallet-dir", str(tmp_path), "--revoke-old", "--deployment", "bot",
                                   "--rollout-timeout", "1"])
    assert res.exit_code == 1
    (line,) = [x for x in res.output.splitlines() if x.strip()]
    out = json.loads(line)
    assert out["event"] == "rotation_old_key_kept" and out["oldKeyRevoked"] is False
    assert out["apiKey"] == "new-key..." and out["oldApiKey"] == "old-key..."
    assert out["oldKeyRotatedAt"] == "2026-02-01T03:00:00Z"  # the old key's nonce, to revoke it by hand
    assert "operator has not rolled" in out["error"] and "within 1s" in out["error"]
    assert [c[0] for c in http] == ["POST"]
    assert OLD_SECRET not in res.output and "old-pass" not in res.output and WALLET[2:] not in res.output
