"""The operator's fleet counts and per-bot series: made at each scrape from the bots it holds, they
follow status and label changes and vanish with the bot."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from botfleet_operator import metrics
from botfleet_operator.reconcile import reconcile
from botfleet_operator.resources import Settings
from tests.unit.operator.tb_fixtures import bot

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def value(metric: str, /, **labels: str) -> float | None:
    return metrics.REGISTRY.get_sample_value(metric, labels)


def cond(namespace: str, name: str, condition: str, status: str, strategy: str = "arbhunter") -> float | None:
    return value("botfleet_operator_bot_condition", namespace=namespace, name=name, strategy=strategy,
                 condition=condition, status=status)


def series_of(namespace: str, name: str) -> list[tuple[str, dict[str, str], float]]:
    """Every exported per-bot sample of one bot, read back from the registry."""
    out = []
    for family in metrics.REGISTRY.collect():
        if not family.name.startswith("botfleet_operator_bot_"):
            continue
        for s in family.samples:
            if s.labels.get("namespace") == namespace and s.labels.get("name") == name:
                out.append((s.name, dict(s.labels), s.value))
    return out


def with_status(b: dict[str, Any], conditions: dict[str, str], **extra: Any) -> dict[str, Any]:
    b = copy.deepcopy(b)
    b["status"] = {"conditions": [{"type": t, "status": s} for t, s in conditions.items()], **extra}
    return b


def test_bot_series_is_one_hot_per_condition_and_unknown_when_missing() -> None:
    b = with_status(bot("x", "pure", strategy="polyai", mode="live", riskProfile="aggressive"),
                    {"Ready": "False", "RotationDue": "True"}, lastBackupTime="2026-02-28T06:00:00Z")
    out = metrics.bot_series(b)
    assert out[("botfleet_operator_bot_condition", ("pure", "x", "polyai", "Ready", "False"))] == 1
    # Only the current status has a series: no 0-valued twins (a third of the series at 1,000 bots).
    assert ("botfleet_operator_bot_condition", ("pure", "x", "polyai", "Ready", "True")) not in out
    assert out[("botfleet_operator_bot_condition", ("pure", "x", "polyai", "BackupSucceeded", "Unknown"))] == 1
    for t in metrics.CONDITION_TYPES:  # exactly one status is 1 for each condition type
        assert sum(v for (n, lb), v in out.items() if n == "botfleet_operator_bot_condition" and lb[3] == t) == 1
    assert out[("botfleet_operator_bot_credential_rotation_due", ("pure", "x"))] == 1
    assert out[("botfleet_operator_bot_last_backup_timestamp_seconds", ("pure", "x"))] == \
        datetime(2026, 2, 28, 6, tzinfo=UTC).timestamp()
    assert out[("botfleet_operator_bot_info", ("pure", "x", "polyai", "live", "aggressive"))] == 1
    assert len(out) == len(metrics.CONDITION_TYPES) + 3


def test_no_backup_timestamp_before_the_first_backup_and_rotation_not_due() -> None:
    out = {name: v for (name, _), v in metrics.bot_series(bot("y", "pure")).items()
           if name != "botfleet_operator_bot_condition"}
    assert "botfleet_operator_bot_last_backup_timestamp_seconds" not in out
    assert out["botfleet_operator_bot_credential_rotation_due"] == 0
    bad = with_status(bot("z", "pure"), {}, lastBackupTime="yesterday")
    assert all(name != "botfleet_operator_bot_last_backup_timestamp_seconds" for name, _ in metrics.bot_series(bad))


@pytest.fixture
def fleet() -> Iterator[list[dict[str, Any]]]:
    """The bots the operator holds, as the exported series see them (its cache, at each scrape)."""
    bots: list[dict[str, Any]] = []
    metrics.track_bots(lambda: list(bots))
    yield bots
    metrics.BOT_COLLECTOR._source = None


def test_a_scrape_exports_the_status_the_operator_holds_and_follows_its_changes(fleet: list[dict[str, Any]]) -> None:
    b = bot("c1", "m-change")
    fleet.append(with_status(b, {"Ready": "False", "RotationDue": "True"}))
    assert cond("m-change", "c1", "Ready", "False") == 1
    assert value("botfleet_operator_bot_credential_rotation_due", namespace="m-change", name="c1") == 1
    assert value("botfleet_operator_bots", condition="Ready", status="False") == 1
    b2 = with_status(b, {"Ready": "True", "RotationDue": "False"}, lastBackupTime="2026-02-28T06:00:00Z")
    b2["spec"]["riskProfile"] = "conservative"
    fleet[0] = b2  # the cache took the next status
    assert cond("m-change", "c1", "Ready", "False") is None and cond("m-change", "c1", "Ready", "True") == 1
    assert value("botfleet_operator_bot_credential_rotation_due", namespace="m-change", name="c1") == 0
    infos = [lb for n, lb, _ in series_of("m-change", "c1") if n == "botfleet_operator_bot_info"]
    assert [lb["risk_profile"] for lb in infos] == ["conservative"]  # the old info series is gone
    assert value("botfleet_operator_bot_last_backup_timestamp_seconds", namespace="m-change", name="c1") is not None
    assert value("botfleet_operator_bots", condition="Ready", status="False") == 0


def test_a_deleted_bot_leaves_no_series_and_the_others_keep_theirs(fleet: list[dict[str, Any]]) -> None:
    keep, gone = bot("keep", "m-forget"), bot("gone", "m-forget")
    fleet += [with_status(b, {"Ready": "True"}, lastBackupTime="2026-02-28T06:00:00Z") for b in (keep, gone)]
    assert len(series_of("m-forget", "gone")) == len(metrics.CONDITION_TYPES) + 3
    del fleet[1]  # its DELETED event dropped it from the cache
    assert series_of("m-forget", "gone") == []
    assert len(series_of("m-forget", "keep")) == len(metrics.CONDITION_TYPES) + 3
    assert value("botfleet_operator_bots", condition="Ready", status="True") == 1


def test_a_standby_exports_no_bot_series() -> None:
    metrics.BOT_COLLECTOR._source = None  # no Controller: this replica does not lead
    families = [f for f in metrics.REGISTRY.collect() if f.name in metrics.BOT_FAMILIES]
    assert sorted(f.name for f in families) == sorted(metrics.BOT_FAMILIES)  # described, as before
    assert [s for f in families for s in f.samples] == []


def test_the_operator_exports_what_its_cache_holds_after_a_reconcile(fleet: list[dict[str, Any]]) -> None:
    from botfleet_operator.cache import Cache
    from botfleet_operator.runner import absorb

    cache = Cache()
    metrics.track_bots(cache.bodies)
    b = bot("r1", "m-reconcile")
    b["metadata"]["resourceVersion"] = "1"
    cache.put_bot(b)
    kube = _Kube(b)
    snapshot = cache.snapshot(("m-reconcile", "r1"))
    assert snapshot is not None
    absorb(cache, ("m-reconcile", "r1"), snapshot, reconcile(snapshot, kube, Settings(image="img:1"), NOW))
    ready = next(c["status"] for c in kube.statuses[-1]["conditions"] if c["type"] == "Ready")
    assert cond("m-reconcile", "r1", "Ready", ready) == 1
    assert [s for s in metrics.STATUSES if cond("m-reconcile", "r1", "Ready", s) is not None] == [ready]
    assert value("botfleet_operator_bot_info", namespace="m-reconcile", name="r1", strategy="arbhunter",
                 mode="paper", risk_profile="balanced") == 1
    cache.drop_bot(("m-reconcile", "r1"))
    assert series_of("m-reconcile", "r1") == []


class _Kube:
    """Just enough of the API for one reconcile: applies echo, statuses are recorded."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.statuses: list[dict[str, Any]] = []

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(obj)

    def patch_status(self, namespace: str, name: str, status: dict[str, Any],
                     resource_version: str | None = None) -> dict[str, Any]:
        self.statuses.append(copy.deepcopy(status))
        return {**copy.deepcopy(self.body), "metadata": {**self.body["metadata"], "resourceVersion": "2"},
                "status": copy.deepcopy(status)}

    def delete(self, kind: str, namespace: str, name: str, uid: str | None = None) -> None:
        pass

    def secret_exists(self, namespace: str, name: str) -> bool:
        return False

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return None

    get_metadata = get

    def event(self, bot: dict[str, Any], type_: str, reason: str, message: str) -> None:
        pass
