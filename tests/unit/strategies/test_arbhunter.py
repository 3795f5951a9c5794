"""ArbHunter's shell over a real BookStore: frames in, intents out (fake executor)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from bot_runtime.contract.config import BotConfig
from bot_runtime.marketdata.store import BookStore
from bot_runtime.strategies import get_strategy
from bot_runtime.strategies.arbhunter import ArbHunter
from bot_runtime.strategies.base import StrategyContext
from bot_runtime.types import Opportunity, OrderIntent, OrderResult
from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.gamma import market_from_gamma

CID = "0x" + "11" * 32
YES, NO = "1001", "1002"


def gamma(cid: str = CID, yes: str = YES, no: str = NO, fee: float = 0.0, **kw: Any) -> dict[str, Any]:
    return {"conditionId": cid, "question": "Q?", "clobTokenIds": json.dumps([yes, no]),
            "orderPriceMinTickSize": 0.01, "orderMinSize": 5, "feesEnabled": fee > 0, "feeRate": fee, **kw}


class FakeExec:
    """Records submissions; fills each intent by `fill(intent) -> shares filled`."""

    def __init__(self, fill: Callable[[OrderIntent], int] | None = None) -> None:
        self.calls: list[tuple[list[OrderIntent], Opportunity]] = []
        self.fill = fill or (lambda i: i.size_e6)

    async def submit(self, intents: list[OrderIntent], opp: Opportunity) -> list[OrderResult]:
        self.calls.append((intents, opp))
        out = []
        for n, i in enumerate(intents):
            q = self.fill(i)
            out.append(OrderResult(f"c{len(self.calls)}-{n}", i, "matched" if q == i.size_e6 else
                                   ("partial" if q else "unmatched"), f"o{n}", q, i.price_e6 if q else 0, 0))
        return out


def make(markets: list[dict[str, Any]], exe: FakeExec, now: list[int], **params: Any) -> tuple[ArbHunter, BookStore]:
    cfg = BotConfig.model_validate({"name": "t", "strategy": "arbhunter", "params": params})
    infos = [market_from_gamma(m) for m in markets]
    store = BookStore()
    ctx = StrategyContext(config=cfg, params=cfg.strategy_params(), books=store,
                          markets={m.condition_id: m for m in infos}, submit=exe.submit, clock=lambda: now[0])
    strat = get_strategy("arbhunter")(ctx)
    assert isinstance(strat, ArbHunter)
    store.add_markets(strat.select_markets(infos))
    store.add_update_listener(strat.on_book_update)
    return strat, store


def book(asset: str, asks: list[tuple[str, str]], bids: Sequence[tuple[str, str]] = (), ts: int = 1000,
         market: str = CID) -> str:
    return json.dumps({"event_type": "book", "asset_id": asset, "market": market, "timestamp": str(ts),
                       "asks": [{"price": p, "size": s} for p, s in asks],
                       "bids": [{"price": p, "size": s} for p, s in bids]})


def change(asset: str, price: str, size: str, side: str = "SELL", ts: int = 1100, market: str = CID) -> str:
    return json.dumps({"event_type": "price_change", "market": market, "timestamp": str(ts),
                       "price_changes": [{"asset_id": asset, "price": price, "size": size, "side": side}]})


async def test_binary_arb_places_both_legs_as_fok_with_exact_prices() -> None:
    exe, now = FakeExec(), [1000]
    strat, store = make([gamma()], exe, now)
    store.apply_raw(book(YES, [("0.60", "100"), (".45", "30")]), 1000)
    assert not exe.calls  # one side only
    store.apply_raw(book(NO, [("0.52", "100"), ("0.50", "40")]), 1000)
    await strat.drain()
    assert len(exe.calls) == 1
    intents, opp = exe.calls[0]
    assert [(i.token_id, i.side, i.price_e6, i.size_e6, i.order_type) for i in intents] == [
        (YES, "BUY", 450_000, 30 * E6, "FOK"), (NO, "BUY", 500_000, 30 * E6, "FOK")]
    # a market BUY spends dollars: the walked cost of the planned shares
    assert [i.amount_e6 for i in intents] == [13_500_000, 15_000_000]
    assert intents[0].group_id == intents[1].group_id and opp.kind == "binary" and opp.market == CID
    assert abs(opp.edge - 0.05) < 1e-9
    snap = strat.snapshot()
    assert snap["opportunities"] == 1 and snap["orders"] == 2 and snap["fills"] == 2
    assert snap["executions"]["won"] == 1
    assert snap["pnl_usd"] == pytest.approx(30 * 0.05)


async def test_reversed_book_order_gives_the_same_decision() -> None:
    plans = []
    for order in (1, -1):
        exe, now = FakeExec(), [1000]
        strat, store = make([gamma()], exe, now)
        store.apply_raw(book(YES, [("0.45", "30"), ("0.46", "10"), ("0.60", "100")][::order]), 1000)
        store.apply_raw(book(NO, [("0.50", "40"), ("0.52", "100")][::order]), 1000)
        await strat.drain()
        plans.append([(i.price_e6, i.size_e6) for i in exe.calls[0][0]])
    assert plans[0] == plans[1] == [(460_000, 40 * E6), (500_000, 40 * E6)]


async def test_level_removed_by_size_zero_ends_the_opportunity() -> None:
    exe, now = FakeExec(), [1000]
    strat, store = make([gamma()], exe, now, cooldownMs=0)
    store.apply_raw(book(NO, [("0.52", "100")]), 1000)
    store.apply_raw(book(YES, [("0.60", "100")]), 1000)
    store.apply_raw(change(YES, "0.40", "20"), 1050)
    await strat.drain()
    assert len(exe.calls) == 1
    store.apply_raw(change(YES, "0.40", "0"), 1100)  # removed
    store.apply_raw(change(NO, "0.52", "90"), 1150)  # any later update: no arb left
    await strat.drain()
    assert len(exe.calls) == 1 and strat.snapshot()["opportunities"] == 1


async def test_fee_market_near_half_needs_a_bigger_gap() -> None:
    exe, now = FakeExec(), [1000]
    strat, store = make([gamma(fee=0.07)], exe, now)
    store.apply_raw(book(YES, [("0.49", "100")]), 1000)
    store.apply_raw(book(NO, [("0.50", "100")]), 1000)  # 1% gross, ~3.5% fees
    await strat.drain()
    assert not exe.calls
    store.apply_raw(change(YES, "0.44", "100", ts=1200), 1200)  # 6% gross, ~3.4% fees -> ~2.6% net
    await strat.drain()
    assert len(exe.calls) == 1 and 0.02 < exe.calls[0][1].edge < 0.03


async def test_tick_size_change_mid_stream_is_used_for_prices() -> None:
    exe, now = FakeExec(), [1000]
    strat, store = make([gamma()], exe, now)
    store.apply_raw(book(NO, [("0.52", "100")]), 1000)
    store.apply_raw(book(YES, [("0.60", "100")]), 1000)
    store.apply_raw(json.dumps({"event_type": "tick_size_change", "asset_id": YES, "market": CID,
                                "old_tick_size": "0.01", "new_tick_size": "0.001", "timestamp": "1100"}), 1100)
    store.apply_raw(change(YES, "0.455", "50", ts=1200), 1200)
    await strat.drain()
    intents = exe.calls[0][0]
    assert (intents[0].price_e6, intents[0].tick_size_e6) == (455_000, 1_000)
    assert intents[1].tick_size_e6 == 10_000


async def test_stale_or_unsynced_books_place_no_orders() -> None:
    exe, now = FakeExec(), [1000]
    strat, store = make([gamma()], exe, now, maxBookAgeMs=500)
    store.apply_raw(book(NO, [("0.50", "100")], ts=1000), 1000)
    now[0] = 5000  # the NO book was last known good 4 s ago
    store.apply_raw(book(YES, [("0.40", "100")], ts=5000), 5000)
    await strat.drain()
    assert not exe.calls
    # a fresh snapshot revives it
    store.apply_raw(book(NO, [("0.50", "100")], ts=5000), 5000)
    await strat.drain()
    assert len(exe.calls) == 1
    # a book that lost its connection is not trusted until its next snapshot
    exe2, now2 = FakeExec(), [1000]
    strat2, store2 = make([gamma()], exe2, now2)
    store2.apply_raw(book(NO, [("0.50", "100")]), 1000)
    store2.apply_raw(book(YES, [("0.60", "100")]), 1000)
    store2.invalidate([YES])
    store2.apply_raw(change(YES, "0.40", "100"), 1100)
    await strat2.drain()
    assert not exe2.calls


async def test_one_legged_fill_is_hedged_and_reported() -> None:
    # first submission: YES fills, NO is killed; the hedge BUY of NO then fills
    calls = {"n": 0}

    def fill(i: OrderIntent) -> int:
        calls["n"] += 1
        return 0 if (i.token_id == NO and calls["n"] == 2) else i.size_e6

    exe, now = FakeExec(fill), [1000]
    strat, store = make([gamma()], exe, now, orderType="FAK")
    store.apply_raw(book(YES, [("0.40", "50")], [("0.38", "100")]), 1000)
    store.apply_raw(book(NO, [("0.50", "50"), ("0.55", "100")], [("0.30", "10")]), 1000)
    await strat.drain()
    assert len(exe.calls) == 2
    hedge = exe.calls[1][0]
    assert [(i.token_id, i.side, i.order_type, i.size_e6) for i in hedge] == [(NO, "BUY", "FAK", 50 * E6)]
    assert exe.calls[1][1].kind == "binary_hedge"
    assert strat.snapshot()["executions"] == {"won": 1, "lost": 0, "failed": 0}


async def test_partial_fill_too_expensive_to_hedge_is_unwound() -> None:
    def fill(i: OrderIntent) -> int:
        if i.token_id == NO and i.side == "BUY":
            return 10 * E6  # 10 of 50
        return i.size_e6

    exe, now = FakeExec(fill), [1000]
    strat, store = make([gamma()], exe, now, orderType="FAK")
    store.apply_raw(book(YES, [("0.40", "50")], [("0.38", "100")]), 1000)
    store.apply_raw(book(NO, [("0.50", "50")], [("0.30", "10")]), 1000)
    await strat.drain()
    # after the first fill the NO ask 0.50 is still shown with 50 here (the fake does not consume), so
    # hedging 40 at .50 costs .90 per set -> hedge; make the NO ask expensive before settling instead
    assert exe.calls[1][1].kind in ("binary_hedge", "binary_unwind")

    exe2, now2 = FakeExec(fill), [1000]
    strat2, store2 = make([gamma()], exe2, now2, orderType="FAK")
    store2.apply_raw(book(YES, [("0.40", "50")], [("0.38", "100")]), 1000)

    async def submit_then_move(intents: list[OrderIntent], opp: Opportunity) -> list[OrderResult]:
        res = await exe2.submit(intents, opp)
        if len(exe2.calls) == 1:  # the market ran away from us while the legs were in flight
            store2.apply_raw(book(NO, [("0.70", "100")], [("0.30", "10")], ts=1001), 1001)
        return res

    strat2.ctx.submit = submit_then_move
    store2.apply_raw(book(NO, [("0.50", "50")], [("0.30", "10")]), 1000)
    await strat2.drain()
    unwind = exe2.calls[1][0]
    assert [(i.token_id, i.side, i.price_e6, i.size_e6) for i in unwind] == [(YES, "SELL", 360_000, 40 * E6)]
    assert strat2.snapshot()["executions"]["lost"] == 1


async def test_negrisk_event_buys_every_outcome_once_per_dislocation() -> None:
    nr = "0x" + "cd" * 32
    ids = [f"0x{i:064x}" for i in range(3)]
    mk = [gamma(ids[i], str(10 + 2 * i), str(11 + 2 * i), negRisk=True, negRiskMarketID=nr, eventOutcomeIds=ids)
          for i in range(3)]
    exe, now = FakeExec(), [1000]
    strat, store = make(mk, exe, now, cooldownMs=0)
    for i in range(3):
        store.apply_raw(book(str(10 + 2 * i), [("0.34", "100")], market=f"0x{i:064x}"), 1000)
        store.apply_raw(book(str(11 + 2 * i), [("0.80", "100")], market=f"0x{i:064x}"), 1000)
    await strat.drain()
    assert not exe.calls  # 1.02
    store.apply_raw(change("10", "0.30", "25", market=f"0x{0:064x}"), 1100)  # 0.98
    await strat.drain()
    assert len(exe.calls) == 1
    intents, opp = exe.calls[0]
    assert opp.kind == "negrisk" and opp.market == nr
    assert sorted(i.token_id for i in intents) == ["10", "12", "14"] and all(i.neg_risk for i in intents)
    assert {i.size_e6 for i in intents} == {25 * E6}
    # same dislocation seen again (the fake does not consume liquidity): counted once, not re-executed
    store.apply_raw(change("12", "0.34", "90", market=f"0x{1:064x}"), 1200)
    await strat.drain()
    assert len(exe.calls) == 1 and strat.snapshot()["opportunities"] == 1


async def test_sell_side_when_holding_the_set_and_bids_sum_above_one() -> None:
    exe, now = FakeExec(), [1000]
    strat, store = make([gamma()], exe, now, cooldownMs=0)
    strat.tally.positions.update({YES: 20 * E6, NO: 20 * E6})
    store.apply_raw(book(YES, [("0.70", "100")], [("0.55", "100")]), 1000)
    store.apply_raw(book(NO, [("0.60", "100")], [("0.50", "100")]), 1000)
    await strat.drain()
    intents, opp = exe.calls[0]
    assert opp.kind == "binary_sell"
    assert [(i.side, i.price_e6, i.size_e6) for i in intents] == [("SELL", 550_000, 20 * E6), ("SELL", 500_000, 20 * E6)]


async def test_hedge_that_fails_falls_back_to_unwinding() -> None:
    def fill(i: OrderIntent) -> int:
        return i.size_e6 if i.token_id == YES else 0  # NO never fills: neither the leg nor its hedge

    exe, now = FakeExec(fill), [1000]
    strat, store = make([gamma()], exe, now, orderType="FAK")
    store.apply_raw(book(YES, [("0.40", "50")], [("0.39", "100")]), 1000)
    store.apply_raw(book(NO, [("0.50", "50")], [("0.30", "10")]), 1000)
    await strat.drain()
    kinds = [opp.kind for _, opp in exe.calls]
    assert kinds == ["binary", "binary_hedge", "binary_unwind"]
    # a FAK at the floor (0.40 paid - 10%) walks every bid down to 0.36
    assert [(i.token_id, i.side, i.price_e6, i.size_e6) for i in exe.calls[2][0]] == [(YES, "SELL", 360_000, 50 * E6)]
    assert strat.snapshot()["executions"] == {"won": 0, "lost": 1, "failed": 0}
    assert strat.tally.positions == {YES: 0}  # flat again


async def test_unwind_never_sells_below_the_floor_and_journals_the_remainder() -> None:
    """Bids far below the price paid: nothing is dumped; the held excess is journaled."""
    sold = {"n": 0}

    def fill(i: OrderIntent) -> int:
        if i.side == "SELL":  # the bids at or above the floor hold 20 shares, once
            q = min(i.size_e6, 20 * E6 - sold["n"])
            sold["n"] += q
            return q
        return i.size_e6 if i.token_id == YES else 0

    exe, now = FakeExec(fill), [1000]
    strat, store = make([gamma()], exe, now, orderType="FAK")
    events: list[tuple[str, dict[str, Any]]] = []

    async def record(kind: str, data: dict[str, Any]) -> None:
        events.append((kind, data))

    strat.ctx.record_event = record
    store.apply_raw(book(YES, [("0.40", "50")], [("0.37", "20"), ("0.10", "500")]), 1000)
    store.apply_raw(book(NO, [("0.50", "50")], [("0.30", "10")]), 1000)
    await strat.drain()
    sells = [c for c, o in exe.calls if o.kind == "binary_unwind"]
    assert [[(i.price_e6, i.size_e6) for i in c] for c in sells] == [[(360_000, 50 * E6)], [(360_000, 30 * E6)]]
    assert [(k, d["shares_e6"]) for k, d in events] == [("naked_remainder", 30 * E6)]
    assert strat.tally.positions[YES] == 30 * E6

    exe2, now2 = FakeExec(lambda i: i.size_e6 if (i.token_id == YES and i.side == "BUY") else 0), [1000]
    strat2, store2 = make([gamma()], exe2, now2, orderType="FAK")
    events.clear()
    strat2.ctx.record_event = record
    store2.apply_raw(book(YES, [("0.40", "50")], [("0.10", "500")]), 1000)  # only bids far below the floor
    store2.apply_raw(book(NO, [("0.50", "50")], [("0.30", "10")]), 1000)
    await strat2.drain()
    assert [o.kind for _, o in exe2.calls] == ["binary", "binary_hedge"]  # no sale at 0.10
    assert events == [("naked_remainder", {"set": CID, "kind": "binary", "token": YES, "shares_e6": 50 * E6,
                                           "floor_e6": 360_000, "paid_e6": 400_000, "group": "arb-binary-1"})]


@pytest.mark.parametrize("case", ["not_accepting", "cut", "unknown", "augmented"])
async def test_incomplete_negrisk_event_is_never_bought_as_a_set(case: str) -> None:
    """Two of three outcomes with YES asks summing to 0.60 look like a 40% arbitrage; without the
    third (not accepting orders, cut by maxMarkets, event outcomes unknown, augmented) buying
    them is a bet that the third loses."""
    nr = "0x" + "ce" * 32
    ids = [f"0x{i:064x}" for i in range(3)]
    extra: dict[str, Any] = {"eventOutcomeIds": ids}
    if case == "unknown":
        extra = {}
    if case == "augmented":
        extra = {"eventOutcomeIds": ids, "negRiskAugmented": True}
    mk = [gamma(ids[i], str(10 + 2 * i), str(11 + 2 * i), negRisk=True, negRiskMarketID=nr, **extra)
          for i in range(3)]
    if case == "not_accepting":
        mk[2]["acceptingOrders"] = False
    if case == "cut":
        mk = mk[:2]
    exe, now = FakeExec(), [1000]
    strat, store = make(mk, exe, now, cooldownMs=0)
    assert [s.kind for s in strat.sets] == ["binary"] * (2 if case in ("cut", "not_accepting") else 3)
    for i in range(2):
        store.apply_raw(book(str(10 + 2 * i), [("0.30", "100")], market=ids[i]), 1000)
        store.apply_raw(book(str(11 + 2 * i), [("0.75", "100")], market=ids[i]), 1000)
    await strat.drain()
    assert exe.calls == []


def test_complete_event_from_gamma_events_json() -> None:
    """Gamma `/events` JSON: closed (resolved) outcomes are not needed, open ones are."""
    from bot_runtime.venue.polymarket.gamma import complete_negrisk_events, markets_from_event

    ids = [f"0x{i:064x}" for i in range(3)]
    ev = {"id": "9", "negRisk": True, "negRiskMarketID": "0xnr", "enableNegRisk": True,
          "markets": [gamma(ids[i], str(10 + 2 * i), str(11 + 2 * i)) for i in range(3)]}
    ev["markets"][2]["closed"] = True
    infos = markets_from_event(ev)
    assert infos[0].event_outcome_ids == tuple(ids[:2])
    assert [m.condition_id for m in complete_negrisk_events(infos)["0xnr"]] == ids[:2]
    assert complete_negrisk_events(infos[:1]) == {}
    assert complete_negrisk_events(markets_from_event(ev | {"negRiskAugmented": True})) == {}
