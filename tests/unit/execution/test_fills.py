"""The fill rules shared by the simulator, the paper engine and the backtest."""

from __future__ import annotations

from bot_runtime.types import OrderIntent
from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.fills import terms_of, walk
from bot_runtime.venue.polymarket.signing import OrderSigner

ASKS = [(420_000, 10 * E6), (430_000, 20 * E6), (440_000, 100 * E6)]


def _signed(intent: OrderIntent) -> tuple[int, int]:
    o = OrderSigner("0x" + "44" * 32).sign(intent, "c-1", 1).order
    return int(o["makerAmount"]), int(o["takerAmount"])


def test_market_buy_amount_is_the_walked_cost_and_buys_the_planned_shares() -> None:
    walked = OrderIntent("0xm", "1", "BUY", 430_000, 30 * E6, "FOK", amount_e6=12_800_000)
    maker, taker = _signed(walked)
    assert maker == 12_800_000  # dollars: 10 x 0.42 + 20 x 0.43
    terms = terms_of("BUY", "FOK", maker, taker, 10_000)
    assert terms.limit_e6 == 430_000 and terms.budget_e6 == 12_800_000
    fills, complete = walk(terms, ASKS)
    assert fills == [(420_000, 10 * E6), (430_000, 20 * E6)] and complete
    # with shares x worst price as the amount the same order needs 30.23 shares: more than the
    # two walked levels hold when the second is exactly 20 deep -> a FOK cannot complete
    legacy = OrderIntent("0xm", "1", "BUY", 430_000, 30 * E6, "FOK")
    maker, taker = _signed(legacy)
    assert maker == 12_900_000
    fills, complete = walk(terms_of("BUY", "FOK", maker, taker, 10_000), ASKS[:2])
    assert not complete and sum(q for _, q in fills) == 30 * E6


def test_limit_and_sell_orders_trade_shares() -> None:
    terms = terms_of("BUY", "GTC", 4_300_000, 10 * E6, 10_000)
    assert terms.budget_e6 is None and terms.limit_e6 == 430_000
    assert walk(terms, ASKS) == ([(420_000, 10 * E6)], True)
    sell = terms_of("SELL", "FAK", 15 * E6, 6_000_000, 10_000)
    bids = [(410_000, 10 * E6), (400_000, 10 * E6), (390_000, 10 * E6)]
    assert walk(sell, bids) == ([(410_000, 10 * E6), (400_000, 5 * E6)], True)
