"""The executor against the simulator's realism knobs: market BUY amounts in dollars, `delayed`
matching, order-entry latency with a faster competing taker, markets not accepting orders."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from exec_harness import build, journal_url

from bot_runtime.types import OrderIntent
from bot_runtime.venue.polymarket.auth import ApiCreds
from bot_runtime.venue.polymarket.constants import E6

pytestmark = pytest.mark.asyncio


def _creds(c) -> ApiCreds:  # type: ignore[no-untyped-def]
    return ApiCreds(c.api_key, c.secret, c.passphrase)


def _asks(sim, token: str) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    book = sim.engine.books[token]
    return sorted((p, lv.total) for p, lv in book.asks.items() if lv.total > 0)


def _spec(sim):  # type: ignore[no-untyped-def]
    return next(m for m in sim.markets if not m.neg_risk)


def _buy(spec, token: str, price: int, shares: int, amount: int = 0) -> OrderIntent:  # type: ignore[no-untyped-def]
    return OrderIntent(market=spec.condition_id, token_id=token, side="BUY", price_e6=price, size_e6=shares,
                       order_type="FOK", tick_size_e6=spec.tick, neg_risk=spec.neg_risk, amount_e6=amount)


async def _executor(sim, creds, tmp_path: Path):  # type: ignore[no-untyped-def]
    from tests.support.sim import TEST_PRIVATE_KEY

    ex = build(sim.url, TEST_PRIVATE_KEY, _creds(creds), journal_url(tmp_path))
    ex.poll_interval_s = 0.02
    await ex.start()
    return ex


async def test_market_buy_spends_the_walked_cost_on_the_exchange(static_sim, sim_creds, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Two levels walked to the end of the second: shares x worst price cannot be spent within the
    limit (killed); the walked cost buys exactly the shares walked."""
    sim = static_sim
    spec = _spec(sim)
    ex = await _executor(sim, sim_creds, tmp_path)
    (p1, q1), (p2, q2) = _asks(sim, spec.yes_token)[:2]
    shares = (q1 + q2) // 10_000 * 10_000
    [r] = await ex.submit([_buy(spec, spec.yes_token, p2, shares)])
    assert r.status == "rejected" and "FOK" in r.error  # before the fix: what ArbHunter sent
    walked = (q1 * p1 + (shares - q1) * p2) // E6 // 10_000 * 10_000  # cents, as signed
    [r] = await ex.submit([_buy(spec, spec.yes_token, p2, shares, amount=walked)])
    assert r.status == "matched"
    assert shares - r.filled_size_e6 <= 10_000 * E6 // p1 + 1  # at most a cent's worth short
    assert sum(f.size for f in sim.ledger if f.taker.lower() == ex.signer.address.lower()) == r.filled_size_e6
    await ex.exchange.close()
    await ex.close()


async def test_delayed_order_is_pending_until_matched_then_final(static_sim, sim_creds, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim = static_sim
    spec = _spec(sim)
    ex = await _executor(sim, sim_creds, tmp_path)
    p, _q = _asks(sim, spec.yes_token)[0]
    sim.faults.set_delayed(0.3)
    [r] = await ex.submit([_buy(spec, spec.yes_token, p, 10 * E6)])
    assert r.status == "pending" and r.filled_size_e6 == 0  # before: "live", nothing filled
    assert sum(o.buy_notional_e6 for o in ex.open_orders.values()) == p * 10  # exposure reserved
    [r] = await ex.resolve([r], max_wait_s=20)
    assert r.status == "matched" and r.filled_size_e6 == 10 * E6
    assert not ex.open_orders and ex.positions[spec.yes_token].size_e6 == 10 * E6
    row = next(o for o in ex.journal.orders() if o.client_id == r.client_id)
    assert row.status == "matched" and row.filled_size_e6 == 10 * E6
    # a delayed FOK whose liquidity is gone when it is matched is killed: final, nothing filled
    sim.faults.set_competitor(0.0)
    [r2] = await ex.submit([_buy(spec, spec.yes_token, p, 5 * E6)])
    assert r2.status == "pending"
    [r2] = await ex.resolve([r2], max_wait_s=20)
    assert r2.status in ("canceled", "unmatched") and r2.filled_size_e6 == 0 and sim.competitor_fills > 0
    await ex.exchange.close()
    await ex.close()


async def test_faster_competitor_takes_the_liquidity_of_a_slow_order(static_sim, sim_creds, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim = static_sim
    spec = _spec(sim)
    ex = await _executor(sim, sim_creds, tmp_path)
    p, q = _asks(sim, spec.no_token)[0]
    sim.faults.set_order_latency(0.05)
    sim.faults.set_competitor(0.01, share=1.0)
    [r] = await ex.submit([_buy(spec, spec.no_token, p, 5 * E6)])
    assert r.status == "rejected" and "FOK" in r.error and sim.competitor_fills > 0
    sim.faults.set_competitor(0.01, share=0.9)  # it takes 90% of the level: a FAK fills partly
    p, q = _asks(sim, spec.no_token)[0]
    want = min(q, 90 * E6 * E6 // p) // 10_000 * 10_000  # within the $100 order limit
    fak = OrderIntent(market=spec.condition_id, token_id=spec.no_token, side="BUY", price_e6=p, size_e6=want,
                      order_type="FAK", tick_size_e6=spec.tick)
    [r] = await ex.submit([fak])
    assert r.status == "partial" and 0 < r.filled_size_e6 < want
    sim.faults.set_competitor(0.1)  # slower than our order: it gets nothing first
    p, q = _asks(sim, spec.no_token)[0]
    [r] = await ex.submit([_buy(spec, spec.no_token, p, 5 * E6)])
    assert r.status == "matched"
    sim.faults.clear()
    await ex.exchange.close()
    await ex.close()


async def test_market_not_accepting_orders_refuses(static_sim, sim_creds, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim = static_sim
    spec = _spec(sim)
    ex = await _executor(sim, sim_creds, tmp_path)
    spec.accepting_orders_flag = False
    p, _ = _asks(sim, spec.yes_token)[0]
    [r] = await ex.submit([_buy(spec, spec.yes_token, p, 5 * E6)])
    assert r.status == "rejected" and "not accepting orders" in r.error
    spec.accepting_orders_flag = True
    await ex.exchange.close()
    await ex.close()


async def test_restart_while_an_order_is_delayed_keeps_it_pending_until_final(static_sim, sim_creds,  # type: ignore[no-untyped-def]
                                                                              tmp_path: Path) -> None:
    """Reconcile finds the order `DELAYED` at the exchange: pending with its exposure reserved
    (before: marked unmatched, its later fill unexpected), settled once the exchange says final."""
    sim = static_sim
    spec = _spec(sim)
    ex = await _executor(sim, sim_creds, tmp_path)
    p, _ = _asks(sim, spec.yes_token)[0]
    sim.faults.set_delayed(1.0)
    [r] = await ex.submit([_buy(spec, spec.yes_token, p, 10 * E6)])
    assert r.status == "pending"
    await ex.exchange.close()
    await ex.close()
    again = await _executor(sim, sim_creds, tmp_path)  # the restart: same journal
    row = next(o for o in again.journal.orders() if o.client_id == r.client_id)
    assert row.status == "pending" and sum(o.buy_notional_e6 for o in again.open_orders.values()) == p * 10
    sim.faults.clear()
    for _ in range(200):  # the exchange matches it within a second; ask until it says so
        await again.resolve_orphans()
        row = next(o for o in again.journal.orders() if o.client_id == r.client_id)
        if row.status != "pending":
            break
        await asyncio.sleep(0.05)
    assert row.status == "matched" and row.filled_size_e6 == 10 * E6 and not again.open_orders
    await again.sync_fills()
    assert again.positions[spec.yes_token].size_e6 == 10 * E6
    await again.exchange.close()
    await again.close()
