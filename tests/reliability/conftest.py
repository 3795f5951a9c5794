"""Fixtures of the reliability suite: the simulated exchange (loaded by file path, see
tests/support/sim.py) and the Kubernetes control plane for the `e2e`-marked tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

_SUPPORT = Path(__file__).resolve().parents[1] / "support"
# the suite's helper modules (crash_zygote, crash_checks, ...) import by plain name
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))


def _load(name: str) -> ModuleType:
    key = f"botfleet_tests_support_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, _SUPPORT / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module


_sim = _load("sim")
static_sim = _sim.static_sim
sim_creds = _sim.sim_creds



@pytest.fixture
def test_key() -> str:
    """The fixed test wallet key of tests/support/sim.py (never used anywhere real)."""
    return str(_sim.TEST_PRIVATE_KEY)


@pytest.fixture
def start_sim():  # type: ignore[no-untyped-def]
    """`await start_sim(**SimConfig fields)`; the caller stops it."""
    return _sim.start_sim
