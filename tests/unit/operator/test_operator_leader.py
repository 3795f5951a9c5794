"""Leader election rules (issue 12): expiry by the observer's own clock, a renew loop that survives
every failure and gives up before a standby may take over, release on stop. Fake clock, fake API."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from botfleet_operator.leader import LeaderElector, LeaseConflict, Timing
from botfleet_operator.metrics import REGISTRY

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
TIMING = Timing(duration=15, renew_deadline=10, retry=2, request_timeout=5)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class FakeLeases:
    """One Lease with resourceVersion checks. `script` holds what the next calls do: an exception to
    raise or a number of seconds the call takes (a call longer than its timeout raises TimeoutError)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.script: list[BaseException | float] = []
        self.timeouts: list[float] = []

    def _call(self, timeout: float) -> None:
        self.timeouts.append(timeout)
        if not self.script:
            return
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        if step > timeout:
            self.clock.advance(timeout)
            raise TimeoutError(f"read timed out after {timeout}s")
        self.clock.advance(step)

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        self.lease = copy.deepcopy(body)
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.lease)

    def get(self, timeout: float) -> dict[str, Any] | None:
        self._call(timeout)
        return copy.deepcopy(self.lease)

    def create(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        self._call(timeout)
        if self.lease is not None:
            raise LeaseConflict("exists")
        return self._store(body)

    def update(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        self._call(timeout)
        assert self.lease is not None
        if body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise LeaseConflict("resourceVersion changed")
        return self._store(body)

    @property
    def holder(self) -> str:
        return str(((self.lease or {}).get("spec") or {}).get("holderIdentity") or "")


def elector(leases: FakeLeases, clock: Clock, identity: str, skew: timedelta = timedelta(0),
            lost: list[float] | None = None) -> LeaderElector:
    return LeaderElector(leases, identity, TIMING, monotonic=clock.monotonic,
                         wall=lambda: T0 + timedelta(seconds=clock.t - 1000) + skew,
                         on_lost=lambda: lost.append(clock.t) if lost is not None else None, namespace="ns")


@pytest.mark.parametrize("skew", [timedelta(hours=1), timedelta(hours=-1)])
def test_standby_measures_expiry_by_its_own_clock_not_the_renew_time(skew: timedelta) -> None:
    """A standby whose wall clock is off by an hour neither takes a live Lease nor waits forever."""
    clock = Clock()
    leases = FakeLeases(clock)
    a, b = elector(leases, clock, "a"), elector(leases, clock, "b", skew=skew)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()        # first sight of the record starts b's timer
    clock.advance(14.9)                         # a has stopped renewing (crashed)
    assert not b.try_acquire_or_renew()
    clock.advance(0.2)
    assert b.try_acquire_or_renew()
    assert leases.holder == "b"
    assert leases.lease is not None and leases.lease["spec"]["leaseTransitions"] == 1


def test_each_renewal_restarts_the_standbys_timer() -> None:
    clock = Clock()
    leases = FakeLeases(clock)
    a, b = elector(leases, clock, "a"), elector(leases, clock, "b")
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    for _ in range(10):                         # a renews every 2 s for 20 s: b never takes over
        clock.advance(2)
        assert a.renew_step() == TIMING.retry
        assert not b.try_acquire_or_renew()
    clock.advance(14)
    assert not b.try_acquire_or_renew()
    clock.advance(1.1)
    assert b.try_acquire_or_renew()


@pytest.mark.parametrize("error", [ConnectionRefusedError("refused"), TimeoutError("timed out"),
                                   RuntimeError("HTTP 500"), ValueError("bad JSON")])
def test_renewal_survives_any_error(error: Exception) -> None:
    clock = Clock()
    leases = FakeLeases(clock)
    lost: list[float] = []
    a = elector(leases, clock, "a", lost=lost)
    assert a.try_acquire_or_renew()
    clock.advance(2)
    leases.script = [error]
    failures = REGISTRY.get_sample_value("botfleet_operator_lease_renew_failures_total") or 0.0
    a.renew_step()                              # the loop's step returns: the loop goes on
    assert a.leading and not lost
    assert REGISTRY.get_sample_value("botfleet_operator_lease_renew_failures_total") == failures + 1
    clock.advance(2)
    a.renew_step()                              # the API is back
    assert a.leading and not lost and leases.holder == "a"


def test_leader_gives_up_before_any_standby_may_take_over() -> None:
    """Renewals that hang (a black-holed API server) end in `on_lost` within the renew deadline,
    which is before the standby's own clock lets it take the Lease."""
    clock = Clock()
    leases = FakeLeases(clock)
    lost: list[float] = []
    a, b = elector(leases, clock, "a", lost=lost), elector(leases, clock, "b")
    assert a.try_acquire_or_renew()
    renewed = clock.t
    assert not b.try_acquire_or_renew()
    standby_saw = clock.t
    leases.script = [60.0] * 100                # every request would take 60 s
    while not lost:
        clock.advance(a.renew_step())
        assert clock.t - renewed < 60, "the renew loop never gave up"
    assert lost[0] <= renewed + TIMING.renew_deadline + 0.001
    assert max(leases.timeouts[2:]) <= TIMING.request_timeout
    assert lost[0] < standby_saw + TIMING.duration
    assert not a.leading and len(lost) == 1
    clock.advance(a.renew_step())               # no second call, no write after giving up
    assert len(lost) == 1


def test_request_timeouts_shrink_to_what_is_left_of_the_deadline() -> None:
    clock = Clock()
    leases = FakeLeases(clock)
    a = elector(leases, clock, "a", lost=[])
    assert a.try_acquire_or_renew()
    clock.advance(7)                            # 3 s of the 10 s deadline left
    leases.timeouts.clear()
    leases.script = [60.0]
    a.renew_step()
    assert leases.timeouts == [pytest.approx(3.0)]


def test_lost_when_another_replica_holds_the_lease() -> None:
    clock = Clock()
    leases = FakeLeases(clock)
    lost: list[float] = []
    a = elector(leases, clock, "a", lost=lost)
    assert a.try_acquire_or_renew()
    assert leases.lease is not None
    leases.lease["spec"]["holderIdentity"] = "intruder"  # e.g. a's renewals were lost for > duration
    leases.version += 1
    leases.lease["metadata"]["resourceVersion"] = str(leases.version)
    clock.advance(2)
    a.renew_step()
    assert lost and not a.leading


def test_watchdog_gives_up_when_the_renew_thread_is_stuck() -> None:
    clock = Clock()
    leases = FakeLeases(clock)
    lost: list[float] = []
    a = elector(leases, clock, "a", lost=lost)
    assert a.try_acquire_or_renew()
    clock.advance(9.9)
    a.check_deadline()
    assert not lost and a.leading
    clock.advance(0.2)
    a.check_deadline()
    assert lost and not a.leading


def test_release_lets_the_standby_take_over_at_once() -> None:
    clock = Clock()
    leases = FakeLeases(clock)
    lost: list[float] = []
    a, b = elector(leases, clock, "a", lost=lost), elector(leases, clock, "b")
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert a.release()
    assert leases.holder == "" and not a.leading and not lost
    assert b.try_acquire_or_renew()             # no wait for the 15 s expiry
    assert leases.holder == "b"
    assert not a.release()                      # not leading any more: nothing to release


def test_concurrent_takeover_has_one_winner() -> None:
    clock = Clock()
    leases = FakeLeases(clock)
    a, b, c = (elector(leases, clock, n) for n in "abc")
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew() and not c.try_acquire_or_renew()
    clock.advance(16)
    stale = copy.deepcopy(leases.lease)
    assert b.try_acquire_or_renew()
    leases_get = leases.get
    leases.get = lambda timeout: copy.deepcopy(stale)  # type: ignore[method-assign]  # c read before b wrote
    assert not c.try_acquire_or_renew()        # 409 Conflict: not acquired, no exception
    leases.get = leases_get  # type: ignore[method-assign]
    assert leases.holder == "b"


def test_a_write_conflict_while_leading_is_one_failed_renewal() -> None:
    clock = Clock()
    leases = FakeLeases(clock)
    lost: list[float] = []
    a = elector(leases, clock, "a", lost=lost)
    assert a.try_acquire_or_renew()
    real_update = leases.update

    def racing_update(body: dict[str, Any], timeout: float) -> dict[str, Any]:
        leases.update = real_update  # type: ignore[method-assign]
        raise LeaseConflict("someone wrote the Lease between our read and our write")
    leases.update = racing_update  # type: ignore[method-assign]
    clock.advance(2)
    a.renew_step()
    assert a.leading and not lost               # not given up on the spot
    clock.advance(2)
    a.renew_step()
    assert a.leading and not lost and leases.holder == "a"


def test_timing_must_leave_room_for_the_standby() -> None:
    with pytest.raises(ValueError, match="renew_deadline"):
        Timing(duration=10, renew_deadline=10, retry=2)


def test_cli_refuses_timing_without_room_for_the_standby() -> None:
    import typer
    from typer.testing import CliRunner

    from botfleet_operator.cli import operator_command

    app = typer.Typer()
    app.command()(operator_command)
    result = CliRunner().invoke(app, ["--lease-duration", "10", "--lease-renew-deadline", "10"])
    assert result.exit_code == 2
    assert "renew_deadline" in " ".join(result.output.split())
