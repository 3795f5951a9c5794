"""Fixtures of the simulator tests (see tests/support/sim.py)."""

from __future__ import annotations

from tests.support.sim import (
    TEST_ADDRESS,
    TEST_PRIVATE_KEY,
    signed_order_body,
    sim,
    sim_creds,
    start_sim,
    static_sim,
)

__all__ = ["TEST_ADDRESS", "TEST_PRIVATE_KEY", "signed_order_body", "sim", "sim_creds", "start_sim", "static_sim"]
