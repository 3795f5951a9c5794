"""Fixtures of the runtime tests: the simulated exchange, loaded by file path (see tests/support/sim.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

_SUPPORT = Path(__file__).resolve().parents[2] / "support"


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
sim = _sim.sim


@pytest.fixture
def start_sim():  # type: ignore[no-untyped-def]
    """`await start_sim(**SimConfig fields)`; the caller stops it."""
    return _sim.start_sim


_pg = _load("postgres")
postgres_server = _pg.postgres_server
postgres_url = _pg.postgres_url
