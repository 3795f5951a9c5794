"""ArbHunter (the whole bot) against the simulator's incomplete neg-risk events: an event with an
outcome not accepting orders and an augmented event, whose tradable YES asks sum far below 1.
Buying those subsets is a directional bet; the bot must build no set of them and send nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot_runtime.app import BotApp
from bot_runtime.contract.config import BotConfig, Endpoints
from bot_runtime.credentials import CredentialsReader
from bot_runtime.venue.polymarket.constants import E6
from tests.support.sim import start_sim


async def test_incomplete_events_are_never_bought(tmp_path: Path) -> None:
    sim = await start_sim(seed=3, scenario="static", speed=0,
                          scenario_params={"negrisk_paused_events": 1, "negrisk_augmented_events": 1})
    traps = [e for e in sim.scenario.events if e.slug.startswith(("sim-paused", "sim-aug"))]
    trap_specs = [m for m in sim.markets if m.neg_risk_market_id in {e.neg_risk_market_id for e in traps}]
    assert len(traps) == 2
    # the trap: the tradable outcomes' best YES asks sum far below 1
    for e in traps:
        asks = [sim.engine.top(m.yes_token).best_ask for m in trap_specs
                if m.neg_risk_market_id == e.neg_risk_market_id and m.accepting_orders]
        assert sum(a for a in asks if a is not None) < 0.9 * E6
    config = BotConfig.model_validate({
        "name": "arb-traps", "strategy": "arbhunter", "endpoints": Endpoints.for_sim(sim.url).model_dump(),
        "journal": {"url": f"sqlite:///{tmp_path / 'journal.sqlite'}"}})
    app = BotApp(config, CredentialsReader(None, env={}), sync_timeout_s=10)
    await app.start()
    try:
        strat = app.strategy
        negrisk = {s.key for s in strat.sets if s.kind == "negrisk"}
        # the complete event (every outcome accepting orders, not augmented) is a set; the traps are not
        assert negrisk == {e.neg_risk_market_id for e in sim.scenario.events if e not in traps}
        for s in strat.sets:  # every book has been seen by the hot path by now
            for tok in s.tokens:
                assert app.store.book(tok) is not None
        await strat.drain()
        trap_tokens = {m.yes_token for m in trap_specs} | {m.no_token for m in trap_specs}
        mine = [f for f in sim.ledger if f.taker.lower() == app.execution.executor.signer.address.lower()]
        assert not [f for f in mine if f.token in trap_tokens]
        assert not [r for r in app.execution.journal.orders() if r.intent.token_id in trap_tokens]
    finally:
        assert await app.stop() is True
        await sim.stop()


async def test_strategy_positions_survive_a_restart(tmp_path: Path) -> None:
    """Shares bought in one run are in the strategy's positions after a restart (from the journal):
    ArbHunter's sell side, EliteMimic's sell copying and PolyAI's one-position guard rely on it."""
    from bot_runtime.types import Opportunity, OrderIntent

    sim = await start_sim(seed=3, scenario="static", speed=0)
    db = tmp_path / "journal.sqlite"

    def bot() -> BotApp:
        config = BotConfig.model_validate({
            "name": "arb-restart", "strategy": "arbhunter", "endpoints": Endpoints.for_sim(sim.url).model_dump(),
            "journal": {"url": f"sqlite:///{db}"}})
        return BotApp(config, CredentialsReader(None, env={}), sync_timeout_s=10)

    spec = next(m for m in sim.markets if not m.neg_risk)
    ask = sim.engine.top(spec.yes_token).best_ask
    try:
        app = bot()
        await app.start()
        try:
            intent = OrderIntent(market=spec.condition_id, token_id=spec.yes_token, side="BUY", price_e6=ask,
                                 size_e6=10 * E6, order_type="FOK", tick_size_e6=spec.tick)
            [r] = await app.submit([intent], Opportunity(ts_ms=0, market=spec.condition_id, kind="test", edge=0.0))
            assert r.status == "matched"
        finally:
            assert await app.stop() is True
        again = bot()
        await again.start()
        try:
            strat: Any = again.strategy
            assert strat.tally.positions.get(spec.yes_token) == 10 * E6  # before: {} after a restart
            assert strat.tally.cash_e6 == -(10 * ask)  # its cost counted once
        finally:
            assert await again.stop() is True
    finally:
        await sim.stop()


async def test_fee_rate_is_the_exchanges_not_the_category_guess(tmp_path: Path) -> None:
    """A crypto market (category default 7%) whose exchange fee data says 2%: the bot plans with 2%
    (before: the category's 7%, so it skipped arbitrage that was there or mispriced what it took)."""
    sim = await start_sim(seed=3, scenario="static", speed=0)
    spec = next(m for m in sim.markets if not m.neg_risk and m.category == "crypto")
    spec.fee_rate = 0.02
    config = BotConfig.model_validate({
        "name": "arb-fees", "strategy": "arbhunter", "endpoints": Endpoints.for_sim(sim.url).model_dump(),
        "journal": {"url": f"sqlite:///{tmp_path / 'journal.sqlite'}"}})
    app = BotApp(config, CredentialsReader(None, env={}), sync_timeout_s=10)
    await app.start()
    try:
        assert app.markets[spec.condition_id].fee_rate == 0.02
        strat: Any = app.strategy
        [s] = [s for s in strat.sets if s.key == spec.condition_id]
        assert s.rates_ppm == (20_000, 20_000)
    finally:
        assert await app.stop() is True
        await sim.stop()
