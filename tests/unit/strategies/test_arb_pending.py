"""ArbHunter over the real executor and paper engine, with an exchange that answers `delayed`:
pending legs block the set until the exchange says final; overlapping sets never race for a
token; a POST's fill counts against the limits before the trade sync records it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot_runtime.contract.config import BotConfig
from bot_runtime.contract.params import Limits
from bot_runtime.execution.executor import Executor
from bot_runtime.execution.journal import SqliteJournal
from bot_runtime.execution.paper import PaperMatchingExchange
from bot_runtime.execution.risk import RiskEngine
from bot_runtime.marketdata.store import BookStore
from bot_runtime.strategies import get_strategy
from bot_runtime.strategies.arbhunter import ArbHunter
from bot_runtime.strategies.base import StrategyContext
from bot_runtime.types import Fill, Opportunity, OrderIntent, OrderResult
from bot_runtime.venue.polymarket.clob import OpenOrder, PostResult
from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.gamma import market_from_gamma
from bot_runtime.venue.polymarket.signing import OrderSigner, SignedOrder
from tests.unit.strategies.test_arbhunter import CID, NO, YES, book, gamma


class DelayedPaper(PaperMatchingExchange):
    """Paper matching, except that orders on `delay_tokens` are answered `delayed` and matched
    only on `release()` (as Polymarket's delayed matching does)."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.delay_tokens: set[str] = set()
        self.held: dict[str, SignedOrder] = {}
        self.final: dict[str, OpenOrder] = {}
        self.posted: list[SignedOrder] = []
        self.hide_trades = False

    async def post_orders(self, orders: Sequence[SignedOrder]) -> list[PostResult]:
        out = []
        for so in orders:
            self.posted.append(so)
            if str(so.order["tokenId"]) in self.delay_tokens:
                self.held[so.order_hash] = so
                out.append(PostResult(so.order_hash, True, so.order_hash, "delayed"))
            else:
                out.append(self._post(so))
        return out

    def release(self) -> None:
        for oid, so in list(self.held.items()):
            r = self._post(so)
            o = so.order
            shares = r.taking_e6 if o["side"] == "BUY" else r.making_e6
            self.final[oid] = OpenOrder(oid, "", str(o["tokenId"]), str(o["side"]), 0, int(o["takerAmount"]),
                                        shares, "matched" if shares else "canceled")
            del self.held[oid]

    async def get_order(self, order_id: str) -> OpenOrder | None:
        for oid, so in self.held.items():
            if oid.lower() == order_id.lower():
                return OpenOrder(oid, "", str(so.order["tokenId"]), str(so.order["side"]), 0,
                                 int(so.order["takerAmount"]), 0, "delayed")
        for oid, o in self.final.items():
            if oid.lower() == order_id.lower():
                return o
        return await super().get_order(order_id)

    async def trades(self, since_s: int = 0) -> list[Fill]:
        return [] if self.hide_trades else await super().trades(since_s)


def _setup(tmp_path: Path, markets: list[dict[str, Any]], limits: dict[str, Any] | None = None,
           **params: Any) -> tuple[ArbHunter, BookStore, Executor, DelayedPaper, list[int]]:
    cfg = BotConfig.model_validate({"name": "t", "strategy": "arbhunter", "params": params})
    store = BookStore()
    paper = DelayedPaper(store.book, usdc_e6=10_000 * E6)
    journal = SqliteJournal(tmp_path / "j.sqlite")
    ex = Executor(paper, OrderSigner("0x" + "44" * 32), journal,
                  RiskEngine(Limits.model_validate(limits or {}), journal))
    ex.poll_interval_s = 0.01
    now = [1000]
    infos = [market_from_gamma(m) for m in markets]
    ctx = StrategyContext(config=cfg, params=cfg.strategy_params(), books=store,
                          markets={m.condition_id: m for m in infos}, submit=ex.submit, clock=lambda: now[0])

    async def resolve(results: list[OrderResult]) -> list[OrderResult]:
        return await ex.resolve(results, max_wait_s=0.05)

    ctx.resolve = resolve
    strat = get_strategy("arbhunter")(ctx)
    assert isinstance(strat, ArbHunter)
    store.add_markets(strat.select_markets(infos))
    store.add_update_listener(strat.on_book_update)
    return strat, store, ex, paper, now


async def _until(cond: Any, limit: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not cond():
        assert loop.time() < end, "condition not met"
        await asyncio.sleep(0.01)


async def test_delayed_leg_is_pending_until_final_no_hedge_no_unwind_no_second_group(tmp_path: Path) -> None:
    strat, store, ex, paper, now = _setup(tmp_path, [gamma()], cooldownMs=500)
    await ex.start()
    paper.delay_tokens = {NO}
    store.apply_raw(book(YES, [("0.45", "30")]), 1000)
    store.apply_raw(book(NO, [("0.50", "40")]), 1000)
    await _until(lambda: len(paper.posted) == 2 and paper.held)
    # the NO leg is delayed: its exposure stays reserved
    assert sum(o.buy_notional_e6 for o in ex.open_orders.values()) == 15 * E6
    # time passes, the dislocation is seen again: the set is blocked, nothing else is sent
    for k in range(5):
        now[0] += 1000
        store.apply_raw(book(YES, [("0.45", "30")], ts=2000 + k), now[0])
        store.apply_raw(book(NO, [("0.50", "40")], ts=2000 + k), now[0])
        await asyncio.sleep(0.02)
    assert len(paper.posted) == 2 and strat.results == {"won": 0, "lost": 0, "failed": 0}
    paper.release()  # the delayed leg fills in full
    await _until(lambda: sum(strat.results.values()) == 1)
    assert strat.results["won"] == 1 and len(paper.posted) == 2  # no hedge, no unwind
    assert {r.status for r in ex.journal.orders()} == {"matched"}
    assert ex.positions[YES].size_e6 == ex.positions[NO].size_e6 == 30 * E6
    assert not ex.open_orders
    await strat.stop()


async def test_overlapping_sets_never_race_for_one_token(tmp_path: Path) -> None:
    """A binary set and a neg-risk set share a YES token: while one executes, the other waits."""
    nr = "0x" + "cd" * 32
    ids = [CID, "0x" + "22" * 32]
    mk = [gamma(ids[0], YES, NO, negRisk=True, negRiskMarketID=nr, eventOutcomeIds=ids),
          gamma(ids[1], "2001", "2002", negRisk=True, negRiskMarketID=nr, eventOutcomeIds=ids)]
    strat, store, ex, paper, _now = _setup(tmp_path, mk, cooldownMs=0)
    await ex.start()
    paper.delay_tokens = {NO}  # the binary set's NO leg is delayed: YES stays locked
    store.apply_raw(book(NO, [("0.50", "40")]), 1000)
    store.apply_raw(book("2001", [("0.50", "100")], market=ids[1]), 1000)
    store.apply_raw(book("2002", [("0.60", "100")], market=ids[1]), 1000)
    # YES at 0.45: binary 0.45 + 0.50 < 1 and neg-risk 0.45 + 0.50 < 1, both on YES's 30 shares
    store.apply_raw(book(YES, [("0.45", "30")]), 1000)
    await _until(lambda: len(paper.posted) >= 2)
    await asyncio.sleep(0.05)
    assert len(paper.posted) == 2  # only one set went
    paper.release()
    await _until(lambda: sum(strat.results.values()) == 1)
    assert strat.results["won"] == 1
    await strat.stop()


async def test_a_filled_buy_counts_against_limits_before_the_trade_sync(tmp_path: Path) -> None:
    """The POST said 30 shares filled; the trade sync has not seen them yet: a second group that
    would breach the per-market limit is refused (before: the position was invisible)."""
    _strat, store, ex, paper, _now = _setup(tmp_path, [gamma()], limits={"maxPositionPerMarketUsd": 40})
    await ex.start()
    paper.hide_trades = True
    store.apply_raw(book(YES, [("0.45", "60")]), 1000)
    store.apply_raw(book(NO, [("0.50", "60")]), 1000)
    intents = [OrderIntent(CID, YES, "BUY", 450_000, 30 * E6, "FOK"), OrderIntent(CID, NO, "BUY", 500_000, 30 * E6, "FOK")]
    first = await ex.submit(intents, Opportunity(1, CID, "binary", 0.05))
    assert [r.status for r in first] == ["matched", "matched"] and not ex.positions
    second = await ex.submit(intents, Opportunity(2, CID, "binary", 0.05))
    assert {r.status for r in second} == {"rejected"}
    paper.hide_trades = False
    await ex.sync_fills()
    assert ex.risk_state().position_usd_e6[CID] == 28_500_000  # journaled once, not twice
