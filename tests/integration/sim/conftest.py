"""Fixtures of the simulator tests (see tests/support/sim.py).

These tests sign with the reference client py-clob-client-v2, which knows Polygon's chain ids
only: their simulators are started with `chain_id=PYCLOB_CHAIN_ID` (137), explicitly. The default
simulator refuses such signatures (test_sim_chain_id.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from botfleet_tools.sim import SimExchange
from tests.support.sim import (
    PYCLOB_CHAIN_ID,
    TEST_ADDRESS,
    TEST_PRIVATE_KEY,
    signed_order_body,
    sim_creds,
    start_sim,
)

__all__ = ["PYCLOB_CHAIN_ID", "TEST_ADDRESS", "TEST_PRIVATE_KEY", "signed_order_body", "sim", "sim_creds",
           "start_sim", "static_sim"]


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimExchange]:
    """Demo scenario, stepped in the background; accepts py-clob-client-v2's signatures."""
    s = await start_sim(seed=1, scenario="demo", speed=1.0, chain_id=PYCLOB_CHAIN_ID)
    try:
        yield s
    finally:
        await s.stop()


@pytest_asyncio.fixture
async def static_sim() -> AsyncIterator[SimExchange]:
    """Books that never move, no background stepping; accepts py-clob-client-v2's signatures."""
    s = await start_sim(seed=1, scenario="static", speed=0, chain_id=PYCLOB_CHAIN_ID)
    try:
        yield s
    finally:
        await s.stop()
