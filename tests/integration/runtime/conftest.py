"""Fixtures of the runtime tests: the simulated exchange and PostgreSQL (tests/support/)."""

from __future__ import annotations

import pytest

import tests.support.sim as _sim
from tests.support.postgres import postgres_server, postgres_url
from tests.support.sim import sim

__all__ = ["postgres_server", "postgres_url", "sim"]


@pytest.fixture
def start_sim():  # type: ignore[no-untyped-def]
    """`await start_sim(**SimConfig fields)`; the caller stops it."""
    return _sim.start_sim

