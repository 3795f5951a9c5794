"""The operator's per-bot series: set on reconcile, follow label changes, removed with the bot."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from botfleet_operator import metrics
from botfleet_operator.reconcile import Snapshot, reconcile
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
    out = {(g._name, labels): v for (g, labels), v in metrics.bot_series(b).items()}
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
    out = {g._name: v for (g, _), v in metrics.bot_series(bot("y", "pure")).items()
           if g._name != "botfleet_operator_bot_condition"}
    assert "botfleet_operator_bot_last_backup_timestamp_seconds" not in out
    assert out["botfleet_operator_bot_credential_rotation_due"] == 0
    bad = with_status(bot("z", "pure"), {}, lastBackupTime="yesterday")
    assert all(g._name != "botfleet_operator_bot_last_backup_timestamp_seconds" for g, _ in metrics.bot_series(bad))


def test_reconcile_sets_the_series_of_the_status_it_computed() -> None:
    b = bot("r1", "m-reconcile")
    kube = _Kube()
    reconcile(Snapshot(bot=b), kube, Settings(image="img:1"), NOW)
    ready = next(c["status"] for c in kube.statuses[-1]["conditions"] if c["type"] == "Ready")
    assert cond("m-reconcile", "r1", "Ready", ready) == 1
    assert [s for s in metrics.STATUSES if cond("m-reconcile", "r1", "Ready", s) is not None] == [ready]
    assert value("botfleet_operator_bot_info", namespace="m-reconcile", name="r1", strategy="arbhunter",
                 mode="paper", risk_profile="balanced") == 1
    assert value("botfleet_operator_bot_credential_rotation_due", namespace="m-reconcile", name="r1") == 0
    metrics.forget_bot("m-reconcile", "r1")
    assert series_of("m-reconcile", "r1") == []


def test_status_changes_move_the_one_and_label_changes_drop_old_series() -> None:
    tracker = metrics.BotSeries()
    b = bot("c1", "m-change")
    tracker.observe(with_status(b, {"Ready": "False", "RotationDue": "True"}))
    assert cond("m-change", "c1", "Ready", "False") == 1
    assert value("botfleet_operator_bot_credential_rotation_due", namespace="m-change", name="c1") == 1
    b2 = with_status(b, {"Ready": "True", "RotationDue": "False"}, lastBackupTime="2026-02-28T06:00:00Z")
    b2["spec"]["riskProfile"] = "conservative"
    tracker.observe(b2)
    assert cond("m-change", "c1", "Ready", "False") is None and cond("m-change", "c1", "Ready", "True") == 1
    assert value("botfleet_operator_bot_credential_rotation_due", namespace="m-change", name="c1") == 0
    infos = [lb for n, lb, _ in series_of("m-change", "c1") if n == "botfleet_operator_bot_info"]
    assert [lb["risk_profile"] for lb in infos] == ["conservative"]  # the old info series is gone
    assert value("botfleet_operator_bot_last_backup_timestamp_seconds", namespace="m-change", name="c1") is not None
    tracker.forget("m-change", "c1")
    assert series_of("m-change", "c1") == []


def test_forget_removes_every_series_of_the_deleted_bot_only() -> None:
    tracker = metrics.BotSeries()
    keep, gone = bot("keep", "m-forget"), bot("gone", "m-forget")
    for b in (keep, gone):
        tracker.observe(with_status(b, {"Ready": "True"}, lastBackupTime="2026-02-28T06:00:00Z"))
    assert len(series_of("m-forget", "gone")) == len(metrics.CONDITION_TYPES) + 3
    tracker.forget("m-forget", "gone")
    tracker.forget("m-forget", "gone")  # a second DELETED event is harmless
    assert series_of("m-forget", "gone") == []
    assert len(series_of("m-forget", "keep")) == len(metrics.CONDITION_TYPES) + 3
    assert set(tracker.exported()) == {("m-forget", "keep")}
    tracker.forget("m-forget", "keep")


def test_gauge_loop_sync_removes_bots_missing_from_the_cache() -> None:
    """update_bot_gauge (the operator's periodic loop over its cache) drops deleted bots' series."""
    a, b = bot("a", "m-sync"), with_status(bot("b", "m-sync"), {"Ready": "False"})
    metrics.update_bot_gauge([a, b])
    assert cond("m-sync", "a", "Ready", "Unknown") == 1 and cond("m-sync", "b", "Ready", "False") == 1
    metrics.update_bot_gauge([a])
    assert series_of("m-sync", "b") == []
    assert cond("m-sync", "a", "Ready", "Unknown") == 1
    metrics.update_bot_gauge([])
    assert series_of("m-sync", "a") == []
    assert ("m-sync", "a") not in metrics.BOT_SERIES.exported()


class _Kube:
    """Just enough of the API for one reconcile: applies echo, statuses are recorded."""

    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(obj)

    def patch_status(self, namespace: str, name: str, status: dict[str, Any],
                     resource_version: str | None = None) -> dict[str, Any]:
        self.statuses.append(copy.deepcopy(status))
        return {}

    def delete(self, kind: str, namespace: str, name: str, uid: str | None = None) -> None:
        pass

    def secret_exists(self, namespace: str, name: str) -> bool:
        return False

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return None

    get_metadata = get

    def event(self, bot: dict[str, Any], type_: str, reason: str, message: str) -> None:
        pass
