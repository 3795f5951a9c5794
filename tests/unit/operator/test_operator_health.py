"""The operator's health endpoints: liveness and readiness never depend on leadership (issue 12)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from botfleet_operator.health import Health


class Clock:
    t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def served() -> Iterator[tuple[Health, Clock, int]]:
    clock = Clock()
    health = Health(monotonic=clock)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = health.serve(port, host="127.0.0.1")
    yield health, clock, port
    server.shutdown()
    server.server_close()


def get(port: int, path: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_standby_is_alive_and_ready_but_not_leader(served: tuple[Health, Clock, int]) -> None:
    health, _, port = served
    health.beat("leader-election", max_age=30)
    assert get(port, "/healthz")[0] == 200
    status, body = get(port, "/readyz")
    assert status == 200 and body["leader"] is False
    assert get(port, "/leader") == (503, {"leader": False})
    health.leading = lambda: True
    assert get(port, "/leader") == (200, {"leader": True})


def test_a_stalled_loop_fails_liveness_and_shutdown_fails_readiness(served: tuple[Health, Clock, int]) -> None:
    health, clock, port = served
    health.beat("leader-election", max_age=30)
    health.beat("controller", max_age=60)
    clock.t += 45
    status, body = get(port, "/healthz")
    assert status == 503 and list(body["stalled"]) == ["leader-election"]  # type: ignore[call-overload]
    health.beat("leader-election", max_age=30)
    assert get(port, "/healthz")[0] == 200
    health.stopping = True
    assert get(port, "/readyz")[0] == 503 and get(port, "/healthz")[0] == 200
    assert get(port, "/nope")[0] == 404
