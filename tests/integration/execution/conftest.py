"""Fixtures for the execution integration tests: PostgreSQL and the simulated exchange.

The support modules are loaded by file path: py-order-utils (a dependency of py-clob-client-v2)
installs a top-level `tests` package into site-packages, which shadows this repository's `tests`
namespace package, so `import tests.support...` is not reliable.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

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


_pg = _load("postgres")
postgres_server = _pg.postgres_server
postgres_url = _pg.postgres_url
_sim = _load("sim")
static_sim = _sim.static_sim
sim_creds = _sim.sim_creds
TEST_PRIVATE_KEY = _sim.TEST_PRIVATE_KEY
TEST_ADDRESS = _sim.TEST_ADDRESS
