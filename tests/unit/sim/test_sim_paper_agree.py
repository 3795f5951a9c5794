"""The simulator's matching engine and the bot's paper engine read and fill an order alike: the
same fills (price, shares) and the same kill decisions, over random books and orders. Both go
through the shared rules (bot_runtime.venue.polymarket.fills); this checks the two engines around
them do not drift apart."""

from __future__ import annotations

import random

from bot_runtime.execution.paper import PaperMatchingExchange
from bot_runtime.marketdata.book import OrderBook
from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.fills import terms_of
from bot_runtime.venue.polymarket.signing import SignedOrder, market_amounts
from botfleet_tools.sim.book import Order
from botfleet_tools.sim.engine import MatchingEngine, OrderRejected
from botfleet_tools.sim.markets import MarketSpec

TICK = 10_000
YES, NO, CID = "101", "102", "0x" + "ab" * 32


def _sim(asks: list[tuple[int, int]], bids: list[tuple[int, int]]) -> MatchingEngine:
    eng = MatchingEngine(seed=1)
    eng.add_market(MarketSpec(id="1", condition_id=CID, question="Q?", slug="q", category="crypto", yes_token=YES,
                              no_token=NO, fee_rate=0.07, tick=TICK, min_size=E6))
    eng.fund("0xmm", unlimited=True)
    eng.fund("0xme", 10**9 * E6, {YES: 10**6 * E6})
    for n, (side, levels) in enumerate((("SELL", asks), ("BUY", bids))):
        for k, (p, q) in enumerate(levels):
            eng.submit(Order(id=f"mm-{n}-{k}", owner="mm", maker="0xmm", token=YES, market=CID, side=side,  # type: ignore[arg-type]
                             price=p, size=q, order_type="GTC", created_ms=1, internal=True, account="mm"))
    return eng


def _sim_fills(eng: MatchingEngine, side: str, order_type: str, maker: int, taker: int) -> list[tuple[int, int]] | None:
    t = terms_of(side, order_type, maker, taker, TICK)
    order = Order(id="taker", owner="me", maker="0xme", token=YES, market=CID, side=side, price=t.limit_e6,  # type: ignore[arg-type]
                  size=t.shares_e6, order_type=order_type, created_ms=2, max_cost=t.budget_e6, account="0xme")
    try:
        res = eng.submit(order)
    except OrderRejected:
        return None
    return [(f.price, f.size) for f in res.fills]


async def _paper_fills(asks: list[tuple[int, int]], bids: list[tuple[int, int]], side: str, order_type: str,
                       maker: int, taker: int) -> list[tuple[int, int]] | None:
    book = OrderBook(YES, CID)
    book.apply_snapshot(sorted(bids, reverse=True), sorted(asks), 1)
    paper = PaperMatchingExchange({YES: book}.get, usdc_e6=10**9 * E6)
    paper.shares[YES] = 10**6 * E6
    so = SignedOrder("c", "0xorder", {"tokenId": YES, "side": side, "makerAmount": str(maker),
                                      "takerAmount": str(taker)}, order_type)
    [r] = await paper.post_orders([so])
    if not r.ok:
        return None
    return [(f.price_e6, f.size_e6) for f in paper._fills]


async def test_sim_and_paper_fill_every_order_alike() -> None:
    rnd = random.Random(11)
    compared = killed = 0
    for _ in range(300):
        best_ask = rnd.randrange(20, 80) * TICK
        asks = [(best_ask + k * TICK, rnd.randrange(1, 200) * E6) for k in range(rnd.randrange(1, 5))]
        bids = [(best_ask - (k + 1) * TICK, rnd.randrange(1, 200) * E6) for k in range(rnd.randrange(1, 5))]
        side = rnd.choice(["BUY", "SELL"])
        order_type = rnd.choice(["FOK", "FAK"])
        levels = asks if side == "BUY" else bids
        limit = levels[min(len(levels) - 1, rnd.randrange(0, 4))][0]
        if side == "BUY":  # dollars: sometimes exactly the walked cost, sometimes more than the book holds
            amount = rnd.randrange(1, 150) * E6 + rnd.randrange(0, 100) * 10_000
            maker, taker = market_amounts("BUY", limit, amount, TICK)
        else:
            maker, taker = market_amounts("SELL", limit, rnd.randrange(1, 300) * E6, TICK)
        a = _sim_fills(_sim(asks, bids), side, order_type, maker, taker)
        b = await _paper_fills(asks, bids, side, order_type, maker, taker)
        assert a == b, (side, order_type, maker, taker, asks, bids)
        compared += 1
        killed += a is None
    assert compared == 300 and 0 < killed < 300  # both outcomes were exercised
