"""Pure parts of the websocket client: backoff, shard planning, messages, settings."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot_runtime.venue.polymarket.ws import (
    WsSettings,
    backoff_delay,
    operation_message,
    plan_shards,
    subscribe_message,
)


@given(st.integers(0, 100), st.floats(0, 0.999999))
def test_backoff_stays_within_1_to_60(attempt: int, rnd: float) -> None:
    d = backoff_delay(attempt, 1.0, 60.0, rnd)
    assert 1.0 <= d <= 60.0


def test_backoff_grows_exponentially_and_caps() -> None:
    caps = [backoff_delay(a, 1.0, 60.0, 0.999999) for a in range(8)]
    assert [round(c) for c in caps] == [2, 4, 8, 16, 32, 60, 60, 60]
    assert backoff_delay(3, 1.0, 60.0, 0.0) == 1.0  # jitter reaches down to the floor


def test_plan_shards_fills_then_opens() -> None:
    current = [set(map(str, range(498))), set(map(str, range(1000, 1500)))]
    new = [f"n{i}" for i in range(1003)]
    plan = plan_shards(current, new, 500)
    assert [len(c) for c in plan] == [2, 0, 500, 500, 1]
    assert [a for chunk in plan for a in chunk] == new  # every asset once, in order


@given(st.integers(0, 2000), st.integers(1, 500))
def test_plan_shards_never_exceeds_capacity(n: int, per: int) -> None:
    plan = plan_shards([set()], [str(i) for i in range(n)], per)
    assert all(len(c) <= per for c in plan)
    assert sum(len(c) for c in plan) == n


def test_plan_shards_deduplicates() -> None:
    assert plan_shards([], ["a", "a", "b"], 500) == [["a", "b"]]


def test_messages() -> None:
    assert json.loads(subscribe_message(["1", "2"])) == {
        "assets_ids": ["1", "2"],
        "type": "market",
        "custom_feature_enabled": True,
    }
    assert json.loads(operation_message(["3"], "unsubscribe")) == {"assets_ids": ["3"], "operation": "unsubscribe"}
    with pytest.raises(ValueError, match="operation"):
        operation_message(["3"], "drop")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_assets_per_conn": 501}, "max_assets_per_conn"),
        ({"max_assets_per_conn": 0}, "max_assets_per_conn"),
        ({"backoff_min_s": 0}, "backoff"),
        ({"backoff_min_s": 5, "backoff_max_s": 1}, "backoff"),
        ({"ping_interval_s": 10, "pong_timeout_s": 5}, "pong_timeout_s"),
    ],
)
def test_settings_validation(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        WsSettings(**kwargs)  # type: ignore[arg-type]
