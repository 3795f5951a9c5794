"""Fixtures of the reliability suite: the simulated exchange (tests/support/sim.py) and the Kubernetes control plane for the `e2e`-marked tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# the suite's helper modules (crash_zygote, crash_checks, ...) import by plain name
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))


import tests.support.sim as _sim
from tests.support.sim import sim_creds, static_sim

__all__ = ["sim_creds", "static_sim"]


@pytest.fixture
def test_key() -> str:
    """The fixed test wallet key of tests/support/sim.py (never used anywhere real)."""
    return str(_sim.TEST_PRIVATE_KEY)


@pytest.fixture
def start_sim():  # type: ignore[no-untyped-def]
    """`await start_sim(**SimConfig fields)`; the caller stops it."""
    return _sim.start_sim
