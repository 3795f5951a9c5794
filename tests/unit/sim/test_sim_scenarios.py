"""Scenarios are deterministic and inject the arbitrage they report."""

from __future__ import annotations

import pytest

from botfleet_tools.sim.scenarios import Action, Ladder, Place, RandomWalkScenario, make_scenario
from botfleet_tools.sim.units import UNIT


def run(name: str, seed: int, steps: int) -> tuple[list[list[Action]], RandomWalkScenario]:
    sc = make_scenario(name, seed)
    return [sc.step(1_000 + i * 100) for i in range(steps)], sc


def test_same_seed_same_markets_and_actions() -> None:
    a, sa = run("demo", 5, 300)
    b, sb = run("demo", 5, 300)
    assert a == b
    assert [m.yes_token for m in sa.markets] == [m.yes_token for m in sb.markets]
    assert sa.dislocations == sb.dislocations and sa.dislocations
    _c, sc = run("demo", 6, 50)
    assert [m.yes_token for m in sc.markets] != [m.yes_token for m in sa.markets]


def test_dislocations_have_the_reported_prices_and_a_positive_net_edge() -> None:
    steps, sc = run("arb", 2, 600)
    kinds = {d.kind for d in sc.dislocations}
    assert kinds == {"binary", "negrisk"}
    tick = sc.tick / UNIT
    for d in sc.dislocations:
        assert d.net_edge >= 0.005 - 1e-9 and d.edge > d.net_edge
        assert abs(1 - sum(d.prices) - d.edge) < 1e-9
        if d.kind == "negrisk":
            group = [m for m in sc.markets if m.neg_risk_market_id == d.market]
            assert sorted(d.assets) == sorted(m.yes_token for m in group)
        else:
            assert len(d.assets) == 2
        assert all(round(p / tick, 9).is_integer() for p in d.prices)
    # The injected asks are posted as one-shot SELL orders in the same step.
    placed = [(a.token, a.price) for acts in steps for a in acts if isinstance(a, Place) and a.key.startswith("disloc")]
    for d in sc.dislocations:
        for token, price in zip(d.assets, d.prices, strict=True):
            assert (token, round(price * UNIT)) in placed


def test_ladders_never_cross_themselves() -> None:
    steps, _ = run("demo", 9, 400)
    for acts in steps:
        for a in acts:
            if isinstance(a, Ladder) and a.bids and a.asks:
                assert max(p for p, _ in a.bids) < min(p for p, _ in a.asks)


def test_static_scenario_is_frozen() -> None:
    steps, sc = run("static", 1, 50)
    assert steps[1] == steps[49] and sc.dislocations == []


def test_unknown_scenario_or_parameter_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        make_scenario("nope", 1)
    with pytest.raises(ValueError, match="binary_marketz"):
        make_scenario("demo", 1, binary_marketz=3)


def test_no_arbitrage_in_the_quotes_outside_injected_dislocations() -> None:
    sc = make_scenario("demo", 11, dislocation_every=(0, 0), whales=0, jump_prob=0.05)
    for i in range(300):
        asks: dict[str, int] = {}
        for a in sc.step(i * 100):
            if isinstance(a, Ladder) and a.asks:
                asks[a.token] = min(p for p, _ in a.asks)
        for m in sc.markets:
            assert asks[m.yes_token] + asks[m.no_token] > UNIT
        for e in sc.events:
            group = [m for m in sc.markets if m.event_id == e.id]
            assert sum(asks[m.yes_token] for m in group) > UNIT


async def test_long_runs_keep_only_live_scenario_orders() -> None:
    from botfleet_tools.sim import SimConfig, SimExchange

    sim = SimExchange(SimConfig(seed=4, scenario="demo", speed=0))  # not started: no server, no sockets
    for i in range(400):
        await sim.step(1_000_000 + i * 100)
    live = sim.engine.open_orders()
    assert sim.engine.ledger and len(sim.engine.orders) == len(live)
    assert sim.engine.seen_order_ids == set()


def test_related_families_stay_ordered_except_during_injected_mispricings() -> None:
    sc = make_scenario("statarb", 3)
    fams = sc._families
    assert {f.kind for f in fams} == {"nested", "calendar"}
    violations = 0
    for i in range(400):
        now = i * 100
        mids: dict[str, float] = {}
        for a in sc.step(now):
            if isinstance(a, Ladder) and a.bids and a.asks:
                mids[a.token] = (max(p for p, _ in a.bids) + min(p for p, _ in a.asks)) / 2
        for f in fams:
            easy, hard = mids[f.easier.spec.yes_token], mids[f.harder.spec.yes_token]
            if f.violated_until >= sc.step_no:
                assert hard > easy
                violations += 1
            else:
                assert hard < easy
    assert violations and sc.mispricings and sc.dislocations == []
    for m in sc.mispricings:
        assert m.kind in ("nested", "calendar") and m.edge > 0 and m.market in {f.harder.spec.condition_id for f in fams}
    nested = next(f for f in fams if f.kind == "nested")
    assert nested.easier.spec.end_date == nested.harder.spec.end_date
    calendar = next(f for f in fams if f.kind == "calendar")
    assert calendar.harder.spec.end_date < calendar.easier.spec.end_date
