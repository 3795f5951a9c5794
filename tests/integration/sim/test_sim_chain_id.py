"""The simulator verifies signatures for its own chain id and refuses Polygon's (137) by default:
nothing a client signs for it is valid on Polymarket, and a signature valid on Polymarket (what a
misconfigured paper bot with the real wallet would send) is refused with the reason named. The
reference client py-clob-client-v2 (137 only) works against a sim started with chain_id=137."""

from __future__ import annotations

import aiohttp
from eth_account import Account
from py_clob_client_v2.headers.headers import create_level_1_headers
from py_clob_client_v2.signer import Signer

import tests.support.sim as _support
from bot_runtime.contract.config import SIM_CHAIN_ID
from bot_runtime.types import OrderIntent
from bot_runtime.venue.polymarket.auth import ApiCreds, create_or_derive_api_creds
from bot_runtime.venue.polymarket.clob_http import ClobHttpExchange
from bot_runtime.venue.polymarket.constants import CHAIN_ID
from bot_runtime.venue.polymarket.signing import OrderSigner
from tests.integration.sim.test_sim_trading import call

KEY = "0x" + "3e" * 32  # test-only


async def test_the_default_sim_refuses_polygon_signatures_and_accepts_its_own() -> None:
    sim = await _support.start_sim(seed=1, scenario="static", speed=0)  # the default: SIM_CHAIN_ID
    try:
        assert sim.config.chain_id == SIM_CHAIN_ID != CHAIN_ID
        address = Account.from_key(KEY).address
        creds = sim.create_api_key(address)
        spec = sim.markets[0]
        # an order signed for Polygon (the reference client's 137), authenticated correctly over L2
        status, res = await call(sim, creds, "POST", "/order",
                                 _support.signed_order_body(creds, spec.yes_token, "BUY", 0.05, 5, private_key=KEY))
        assert status == 400 and "signed for Polygon (chain id 137)" in res["error"], res
        # L1 auth signed for Polygon: refused, so no API key is ever handed out for it
        for path in ("/auth/derive-api-key", "/auth/api-key"):
            status, res = await call(sim, None, "GET" if "derive" in path else "POST", path,
                                     headers=create_level_1_headers(Signer(KEY, CHAIN_ID)))
            assert status == 401 and "signed for Polygon" in res["error"], res

        # the same with the bot's own signer for the sim's chain id: accepted
        async with aiohttp.ClientSession() as http:
            derived = await create_or_derive_api_creds(http, sim.url, KEY, SIM_CHAIN_ID)
        assert derived.api_key == creds.api_key
        signer = OrderSigner(KEY, chain_id=SIM_CHAIN_ID)
        exchange = ClobHttpExchange(sim.url, signer.address,
                                    lambda: ApiCreds(creds.api_key, creds.secret, creds.passphrase))
        intent = OrderIntent(market=spec.condition_id, token_id=spec.yes_token, side="BUY", price_e6=50_000,
                             size_e6=5_000_000)
        [posted] = await exchange.post_orders([signer.sign(intent, "c-1", 1_700_000_000_000)])
        assert posted.ok and posted.status == "live", posted
        polygon = OrderSigner(KEY)  # the venue's default, 137: refused
        [refused] = await exchange.post_orders([polygon.sign(intent, "c-2", 1_700_000_000_001)])
        assert not refused.ok and "chain id" in refused.error, refused
        await exchange.close()
    finally:
        await sim.stop()
