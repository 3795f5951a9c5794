"""Fault windows and fixed-point units (pure logic)."""

from __future__ import annotations

import random

import pytest

from bot_runtime.venue.polymarket.fees import fee_rate_for, rate_ppm, taker_fee_e6
from botfleet_tools.sim.config import SimConfig
from botfleet_tools.sim.faults import Faults
from botfleet_tools.sim.units import fmt, mul_units, to_units


def test_units_round_trip_polymarket_strings() -> None:
    assert to_units(".48") == 480_000 and fmt(480_000) == "0.48"
    assert fmt(200_000_000) == "200" and fmt(219_217_767) == "219.217767" and fmt(0) == "0"
    assert mul_units(to_units("19.230769"), to_units("0.26")) == to_units("5")
    with pytest.raises(ValueError, match="not a decimal"):
        to_units("abc")


def test_fee_schedule() -> None:
    assert fee_rate_for("Crypto") == 0.07 and fee_rate_for("geopolitics") == 0.0 and fee_rate_for("x") == 0.05
    assert taker_fee_e6(to_units("100"), to_units("0.5"), rate_ppm(0.04)) == to_units("1")
    assert taker_fee_e6(to_units("100"), to_units("0.5"), rate_ppm(0.0)) == 0


def test_fault_windows_expire_and_fractions_sample() -> None:
    f = Faults(rng=random.Random(1))
    f.set_cancel_only(seconds=0)
    assert not f.hit(f.cancel_only)  # a zero-length window is already over
    f.set_rate_limit(fraction=0.25)
    hits = sum(f.hit(f.rate_limit) for _ in range(2000))
    assert 300 < hits < 700
    f.clear()
    assert not f.hit(f.rate_limit)


def test_apply_validates_names_and_options() -> None:
    f = Faults()
    with pytest.raises(ValueError, match="stale_fed"):
        f.apply({"stale_fed": {}})
    with pytest.raises(ValueError, match="delay_ms"):
        f.apply({"slow": {"seconds": 1}})
    with pytest.raises(ValueError, match="fraction"):
        f.apply({"errors": {"fraction": 2}})
    dropped: list[int] = []
    f._drop_callbacks.append(lambda: dropped.append(1))
    f.apply({"stale_feed": {"seconds": 30}, "drop_ws": True})
    assert f.is_stale() and dropped == [1] and f.status()["stale_feed"]["active"]


def test_errors_on_named_paths_only() -> None:
    f = Faults()
    f.set_errors()
    assert f.hit(f.errors, "/books") and not f.hit(f.errors, "/ws/market")  # websockets stay up
    dropped: list[int] = []
    f._drop_callbacks.append(lambda: dropped.append(1))
    f.apply({"errors": {"paths": ["/v1/heartbeats"]}})
    assert f.hit(f.errors, "/v1/heartbeats") and not f.hit(f.errors, "/books") and dropped == []
    assert f.status()["errors"]["paths"] == ["/v1/heartbeats"]
    f.set_errors(paths=["/ws/market"])  # the websocket: open connections dropped, new ones refused
    assert f.hit(f.errors, "/ws/market") and not f.hit(f.errors, "/data/trades") and dropped == [1]
    with pytest.raises(ValueError, match="paths"):
        f.apply({"errors": {"paths": "/books"}})
    with pytest.raises(ValueError, match="paths"):
        f.set_errors(paths=["books"])


def test_sim_config_rejects_bad_values_by_name() -> None:
    with pytest.raises(ValueError, match="speed"):
        SimConfig(speed=-1)
    with pytest.raises(ValueError, match="step_ms"):
        SimConfig(step_ms=0)


def test_documented_rate_limits_per_client_and_endpoint() -> None:
    from botfleet_tools.sim.ratelimits import RateLimiter, limit_for

    assert limit_for("GET", "/book") == ("GET /book", 1500)
    assert limit_for("GET", "/gamma/markets")[1] == 300 and limit_for("GET", "/gamma/events/3")[1] == 4000
    assert limit_for("GET", "/tick-size") == ("/", 9000)
    rl = RateLimiter(scale=0.01)  # /book: 15 per 10 s
    assert all(rl.allow("a", "GET", "/book", now=100.0) for _ in range(15))
    assert not rl.allow("a", "GET", "/book", now=100.0)
    assert rl.allow("b", "GET", "/book", now=100.0)  # another client has its own window
    assert rl.allow("a", "GET", "/price", now=100.0)  # another endpoint too
    assert rl.allow("a", "GET", "/book", now=110.0)  # the window slid
