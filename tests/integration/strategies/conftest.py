"""Fixtures of the strategy integration tests: an in-process EVM, a local OpenAI-compatible server,
and the simulated exchange's helpers."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.support import sim as _sim
from tests.support.evm import evm
from tests.support.openai_server import fake_ai

__all__ = ["evm", "fake_ai", "sim_support"]


@pytest.fixture
def sim_support() -> ModuleType:
    """tests/support/sim.py (start_sim, signed_order_body, ...)."""
    return _sim
