"""Pytest fixtures for the simulated exchange (botfleet_tools.sim) on a free loopback port.

Load it by file path from a conftest (py-order-utils installs a top-level `tests` package that
shadows this repository's, so `import tests.support.sim` is not reliable), then re-export the
fixtures: see tests/integration/sim/conftest.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest_asyncio
from eth_account import Account

from bot_runtime.venue.polymarket.constants import CHAIN_ID
from botfleet_tools.sim import ApiCreds, SimConfig, SimExchange

# A fixed test key (never used anywhere real): tests sign orders with it.
TEST_PRIVATE_KEY = "0x" + "11" * 32
TEST_ADDRESS = Account.from_key(TEST_PRIVATE_KEY).address
# The simulator verifies signatures for its own chain id (SIM_CHAIN_ID) and refuses Polygon's.
# py-clob-client-v2 signs for 137 or 80002 only: a sim it drives is started with this, explicitly.
PYCLOB_CHAIN_ID = CHAIN_ID


async def start_sim(**config: object) -> SimExchange:
    """Start a SimExchange on 127.0.0.1 with a free port; the caller must `await sim.stop()`."""
    sim = SimExchange(SimConfig(**config))  # type: ignore[arg-type]
    await sim.start(host="127.0.0.1", port=0)
    return sim


async def admin(sim: SimExchange, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """(status, JSON) of a `/_sim/*` request on the simulator's admin listener, with its bearer token."""
    async with aiohttp.ClientSession() as s, s.request(method, sim.admin_url + path, json=body,
                                                        headers=sim.admin_headers()) as r:
        return r.status, await r.json()


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimExchange]:
    """Demo scenario, stepped in the background (books move, arbitrage appears, whales trade)."""
    s = await start_sim(seed=1, scenario="demo", speed=1.0)
    try:
        yield s
    finally:
        await s.stop()


@pytest_asyncio.fixture
async def static_sim() -> AsyncIterator[SimExchange]:
    """Books that never move and no background stepping: deterministic; call `await sim.step()`."""
    s = await start_sim(seed=1, scenario="static", speed=0)
    try:
        yield s
    finally:
        await s.stop()


@pytest_asyncio.fixture
async def sim_creds(static_sim: SimExchange) -> ApiCreds:
    """API credentials of TEST_ADDRESS on `static_sim`, wallet funded with 10,000 pUSD."""
    return static_sim.create_api_key(TEST_ADDRESS)


@pytest_asyncio.fixture
async def pyclob_static_sim() -> AsyncIterator[SimExchange]:
    """`static_sim` that accepts what py-clob-client-v2 signs (chain id 137): only for tests that
    drive the simulator with the reference client."""
    s = await start_sim(seed=1, scenario="static", speed=0, chain_id=PYCLOB_CHAIN_ID)
    try:
        yield s
    finally:
        await s.stop()


def signed_order_body(creds: ApiCreds, token_id: str, side: str, price: float, size: float, *,
                      neg_risk: bool = False, order_type: str = "GTC", post_only: bool = False,
                      tick_size: str = "0.01", private_key: str = TEST_PRIVATE_KEY) -> dict:
    """A V2 order signed with py-clob-client-v2's builder, as the body of POST /order.

    For FOK/FAK BUY orders `size` is the dollar amount (as in the SDK's market orders).
    """
    from py_clob_client_v2.clob_types import CreateOrderOptions, MarketOrderArgsV2, OrderArgsV2
    from py_clob_client_v2.order_builder.builder import OrderBuilder
    from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2
    from py_clob_client_v2.signer import Signer

    builder = OrderBuilder(Signer(private_key, PYCLOB_CHAIN_ID))  # the sim must be started with PYCLOB_CHAIN_ID
    options = CreateOrderOptions(tick_size=tick_size, neg_risk=neg_risk)  # type: ignore[arg-type]
    if order_type in ("FOK", "FAK"):
        order = builder.build_market_order(
            MarketOrderArgsV2(token_id=token_id, amount=size, side=side, price=price), options)
    else:
        order = builder.build_order(OrderArgsV2(token_id=token_id, price=price, size=size, side=side), options)
    return order_to_json_v2(order, creds.api_key, order_type, post_only)
