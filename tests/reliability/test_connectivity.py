"""Connectivity: the simulated exchange drops the market websocket every few seconds for about a
minute while its books keep moving. After every reconnect the client's books must equal a fresh
REST snapshot (the time it takes is measured for docs/reliability.md), and no order may leave
while its market's book is not synced and fresh (the risk engine's stale-data halt).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from crash_zygote import LIMITS

from bot_runtime.app_execution import _market_age
from bot_runtime.contract.config import SIM_CHAIN_ID
from bot_runtime.execution.executor import Executor
from bot_runtime.execution.journal import open_journal
from bot_runtime.execution.risk import STALE_DATA, RiskEngine
from bot_runtime.marketdata.store import BookStore
from bot_runtime.types import OrderIntent
from bot_runtime.venue.polymarket.auth import ApiCreds
from bot_runtime.venue.polymarket.clob_http import ClobHttpExchange
from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.frames import parse_book
from bot_runtime.venue.polymarket.signing import OrderSigner
from bot_runtime.venue.polymarket.ws import MarketDataHooks, MarketWsClient, WsSettings, fetch_books, wall_ms

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

DURATION_S = float(os.environ.get("BOTFLEET_CONNECTIVITY_SECONDS", "60"))
DROP_EVERY_S = 3.0
BUSY = {"move_prob": 0.9, "size_noise_prob": 0.9, "jump_prob": 0.02, "whales": 0}


class Hooks(MarketDataHooks):
    def __init__(self) -> None:
        self.reconnect_times: list[float] = []
        self.disconnects = 0
        self.frame_errors = 0

    def on_reconnect(self, shard_id: int) -> None:
        self.reconnect_times.append(time.monotonic())

    def on_disconnect(self, shard_id: int, reason: str) -> None:
        self.disconnects += 1

    def on_frame_error(self, error: Exception) -> None:
        self.frame_errors += 1


async def _snapshot(http: aiohttp.ClientSession, url: str, tokens: list[str]) -> dict[str, Any]:
    out = {}
    for d in await fetch_books(http, url, tokens):
        ev = parse_book(d)
        out[ev.asset_id] = (sorted(ev.bids, reverse=True), sorted(ev.asks))
    return out


class Rejects:
    def __init__(self) -> None:
        self.stale = 0

    def on_reject(self, reason: str) -> None:
        self.stale += reason == STALE_DATA

    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: None


async def test_books_rebuild_after_every_drop_and_no_order_on_stale_data(start_sim, test_key,  # type: ignore[no-untyped-def]
                                                                         tmp_path: Path) -> None:
    sim = await start_sim(seed=5, scenario="demo", speed=0, scenario_params=BUSY)
    store = BookStore()
    hooks = Hooks()
    http = aiohttp.ClientSession()
    client = MarketWsClient(store, WsSettings(url=sim.ws_url + "/market", backoff_min_s=0.05, backoff_max_s=0.5),
                            hooks)
    from bot_runtime.venue.polymarket.gamma import GammaClient

    async with GammaClient(sim.url + "/gamma") as g:
        store.add_markets(await g.markets())
    tokens = [t for m in sim.markets for t in m.tokens]
    creds = sim.create_api_key(OrderSigner(test_key, chain_id=SIM_CHAIN_ID).address)
    signer = OrderSigner(test_key, chain_id=SIM_CHAIN_ID)  # what the simulator verifies
    c = ApiCreds(creds.api_key, creds.secret, creds.passphrase)
    journal = open_journal(f"sqlite:///{tmp_path}/journal.sqlite")
    rejects = Rejects()
    ex = Executor(ClobHttpExchange(sim.url, signer.address, lambda: c), signer, journal,
                  RiskEngine(LIMITS, journal, max_data_age_ms=2000), observer=rejects,  # type: ignore[arg-type]
                  data_age_ms=_market_age(store))  # the runtime's own
    # At every approved decision, per leg: (token, its book synced, its age ms, the market has a
    # synced book, market age ms). Orders are decided on this data; they leave a few ms later.
    # Age by the runtime's freshness rule (docs/runtime.md): since the book's last update or the
    # last frame on its connection, whichever is later. A book that did not move while its busy
    # connection delivered other books' updates is current (those frames prove nothing was lost):
    # measuring from its own last update alone failed this test under load (2.2 s, a quiet token).
    decided_on: list[tuple[str, bool, int, bool, int]] = []
    sent = 0
    real_check = ex.risk.check

    def check(intents, state):  # type: ignore[no-untyped-def]
        decision = real_check(intents, state)
        if decision.approved:
            for leg in intents:
                b = store.books.get(leg.token_id)
                info = store.market_of(leg.token_id)
                assert info is not None
                now = wall_ms()

                def age(t: str, x: Any, now: int = now) -> int:
                    link = store.link_of(t)
                    return now - max(x.received_ms, link.heard_ms if link is not None else 0)

                ages = [age(t, x) for t in info.token_ids if (x := store.books.get(t)) and x.synced]
                decided_on.append((leg.token_id, bool(b and b.synced), age(leg.token_id, b) if b else -1,
                                   bool(ages), min(ages) if ages else -1))
        return decision

    real_post = ex.exchange.post_orders

    async def post_orders(orders):  # type: ignore[no-untyped-def]
        nonlocal sent
        sent += len(orders)
        return await real_post(orders)

    ex.risk.check = check  # type: ignore[method-assign]
    ex.exchange.post_orders = post_orders  # type: ignore[method-assign]
    stepping = asyncio.Event()
    stepping.set()
    stop = False
    catch_up: list[float] = []
    rng = random.Random(5)

    async def stepper() -> None:  # the exchange keeps moving while the test does not look
        while not stop:
            await stepping.wait()
            await sim.step()
            await asyncio.sleep(0.05)

    async def trader() -> None:  # a strategy that wants to buy far below the ask all the time
        specs = [m for m in sim.markets if not m.neg_risk]
        while not stop:
            spec = rng.choice(specs)
            top = sim.engine.top(spec.yes_token)
            if top.best_bid:
                await ex.submit([OrderIntent(market=spec.condition_id, token_id=spec.yes_token, side="BUY",
                                             price_e6=max(spec.tick, top.best_bid - 5 * spec.tick), size_e6=5 * E6,
                                             order_type="FOK", tick_size_e6=spec.tick)])
            await asyncio.sleep(0.02)

    tasks: list[asyncio.Task[None]] = []
    try:
        await ex.start()
        await client.start(tokens)
        assert await client.wait_synced(timeout=20)
        tasks = [asyncio.create_task(stepper()), asyncio.create_task(trader())]
        end = time.monotonic() + DURATION_S
        drops = 0
        while time.monotonic() < end:
            await asyncio.sleep(DROP_EVERY_S)
            sim.faults.drop_connections()
            drops += 1
            deadline = time.monotonic() + 20
            while len(hooks.reconnect_times) < drops:
                assert time.monotonic() < deadline, "no reconnect after a drop"
                await asyncio.sleep(0.005)
            # Freeze the exchange, then: how long until our books equal a fresh snapshot?
            stepping.clear()
            await sim.flush()
            want = await _snapshot(http, sim.url, tokens)
            while not all(store.books[t].synced and store.books[t].levels() == want[t] for t in tokens):
                if time.monotonic() > deadline:
                    bad = [t for t in tokens if store.books[t].levels() != want[t]]
                    raise AssertionError(f"{len(bad)} books never matched the snapshot after drop {drops}")
                await asyncio.sleep(0.002)
            catch_up.append(time.monotonic() - hooks.reconnect_times[drops - 1])
            stepping.set()
    finally:
        stop = True
        stepping.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.stop()
        await http.close()
        await ex.exchange.close()
        await ex.close()
        await sim.stop()
    unsynced = [s for s in decided_on if not s[3]]
    too_old = [s for s in decided_on if s[3] and s[4] > 2000]
    token_unsynced = [s for s in decided_on if not s[1]]
    catch_up.sort()
    figures = {"seconds": DURATION_S, "drops": drops, "reconnects": len(hooks.reconnect_times),
               "orders_sent": sent, "legs_approved": len(decided_on), "refused_stale": rejects.stale,
               "approved_with_market_unsynced": len(unsynced), "approved_with_market_older_than_2s": len(too_old),
               "approved_with_own_token_book_unsynced": len(token_unsynced),
               "catch_up_ms_p50": round(catch_up[len(catch_up) // 2] * 1000, 1),
               "catch_up_ms_max": round(catch_up[-1] * 1000, 1),
               "within_1s": sum(1 for x in catch_up if x <= 1.0)}
    print("CONNECTIVITY", figures)
    assert hooks.frame_errors == 0 and store.stats.bad_frames == 0
    assert len(hooks.reconnect_times) >= drops
    assert sent, "the trader never got an order out"
    assert not unsynced and not too_old, figures


async def test_stale_data_halt_is_per_token(static_sim, sim_creds, test_key, tmp_path: Path) -> None:
    """Right after a reconnect one outcome's book may be rebuilt before the other's: an order on
    the one not rebuilt yet must be refused (found by this suite: the market's age used to be its
    freshest book's; bot_runtime/app_execution.py `_market_age` now takes the stalest)."""
    from bot_runtime.venue.polymarket.gamma import GammaClient
    from bot_runtime.venue.polymarket.ws import fetch_and_apply_books

    sim = static_sim
    store = BookStore()
    async with GammaClient(sim.url + "/gamma") as g:
        store.add_markets(await g.markets())
    spec = next(m for m in sim.markets if not m.neg_risk)
    async with aiohttp.ClientSession() as http:
        await fetch_and_apply_books(http, sim.url, [spec.yes_token, spec.no_token], store)
    store.invalidate([spec.no_token])      # the NO book is being rebuilt after a reconnect
    signer = OrderSigner(test_key, chain_id=SIM_CHAIN_ID)  # what the simulator verifies
    c = ApiCreds(sim_creds.api_key, sim_creds.secret, sim_creds.passphrase)
    journal = open_journal(f"sqlite:///{tmp_path}/journal.sqlite")
    ex = Executor(ClobHttpExchange(sim.url, signer.address, lambda: c), signer, journal,
                  RiskEngine(LIMITS, journal, max_data_age_ms=2000), data_age_ms=_market_age(store))
    await ex.start()
    no_top = sim.engine.top(spec.no_token)
    [res] = await ex.submit([OrderIntent(market=spec.condition_id, token_id=spec.no_token, side="BUY",
                                         price_e6=no_top.best_ask, size_e6=5 * E6, order_type="FOK",
                                         tick_size_e6=spec.tick)])
    await ex.exchange.close()
    await ex.close()
    assert res.error == STALE_DATA, res
