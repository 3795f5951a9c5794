"""Fixtures of the strategy integration tests, loaded from tests/support by file path: a package
named `tests` installed by a dependency (py_order_utils) shadows this repository's `tests` folder."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

_SUPPORT = Path(__file__).resolve().parents[2] / "support"


def _load(name: str) -> ModuleType:
    mod_name = f"botfleet_test_support_{name}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, _SUPPORT / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = mod
    spec.loader.exec_module(mod)
    return mod


evm_support = _load("evm")
evm = evm_support.evm


@pytest.fixture
def sim_support() -> ModuleType:
    """tests/support/sim.py (start_sim, signed_order_body, ...)."""
    return _load("sim")


fake_ai = _load("openai_server").fake_ai
