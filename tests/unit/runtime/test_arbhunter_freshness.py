"""ArbHunter's book-age check follows the runtime's freshness rule (`BookStore.book_age_ms`):
a quiet book on a live connection trades, a book on a stalled feed never does."""

from __future__ import annotations

import json
from typing import Any

from bot_runtime.contract.config import BotConfig
from bot_runtime.marketdata.store import BookStore
from bot_runtime.strategies import get_strategy
from bot_runtime.strategies.base import StrategyContext
from bot_runtime.types import Opportunity, OrderIntent, OrderResult
from bot_runtime.venue.polymarket.gamma import market_from_gamma
from bot_runtime.venue.polymarket.ws import FeedLink

CID = "0x" + "22" * 32
YES, NO = "2001", "2002"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[list[OrderIntent]] = []

    async def submit(self, intents: list[OrderIntent], opp: Opportunity) -> list[OrderResult]:
        self.calls.append(intents)
        return [OrderResult(f"c{n}", i, "matched", f"o{n}", i.size_e6, i.price_e6, 0) for n, i in enumerate(intents)]


def _book(asset: str, ask: str) -> str:
    return json.dumps({"event_type": "book", "asset_id": asset, "market": CID, "timestamp": "1",
                       "asks": [{"price": ask, "size": "100"}], "bids": []})


def _setup(now: list[int]) -> tuple[Any, BookStore, FeedLink, Recorder]:
    cfg = BotConfig.model_validate({"name": "t", "strategy": "arbhunter"})
    info = market_from_gamma({"conditionId": CID, "question": "Q?", "clobTokenIds": json.dumps([YES, NO]),
                              "orderPriceMinTickSize": 0.01, "orderMinSize": 5})
    store = BookStore()
    rec = Recorder()
    ctx = StrategyContext(config=cfg, params=cfg.strategy_params(), books=store, markets={CID: info},
                          submit=rec.submit, clock=lambda: now[0])
    strat = get_strategy("arbhunter")(ctx)
    store.add_markets(strat.select_markets([info]))
    store.add_update_listener(strat.on_book_update)
    link = FeedLink()
    store.attach([YES, NO], link)
    return strat, store, link, rec


async def test_quiet_yes_book_on_a_live_connection_trades() -> None:
    now = [1_000]
    strat, store, link, rec = _setup(now)
    link.heard_ms = link.data_ms = 1_000
    store.apply_raw(_book(YES, "0.45"), recv_ms=1_000)
    # 4 s later: no update for YES (older than maxBookAgeMs = 2 s), but the connection answered
    # a PING 100 ms ago; the NO book now reveals a dislocation (0.45 + 0.50 < 1)
    now[0] = 5_000
    link.heard_ms = 4_900
    store.apply_raw(_book(NO, "0.50"), recv_ms=5_000)
    await strat.drain()
    assert len(rec.calls) == 1 and {i.token_id for i in rec.calls[0]} == {YES, NO}


async def test_books_of_a_stalled_feed_never_trade() -> None:
    now = [1_000]
    strat, store, link, rec = _setup(now)
    link.heard_ms = link.data_ms = 1_000
    store.apply_raw(_book(YES, "0.45"), recv_ms=1_000)
    now[0] = 1_200
    link.heard_ms = 1_200
    link.stalled = True  # PONGs but no data while the exchange trades
    store.apply_raw(_book(NO, "0.50"), recv_ms=1_200)
    await strat.drain()
    assert rec.calls == []
    assert strat.snapshot()["opportunities"] == 0


async def test_without_a_connection_a_book_ages_from_its_own_data() -> None:
    now = [1_000]
    strat, store, _, rec = _setup(now)
    store.detach([YES, NO])  # replay: no connection, the tape's clock
    store.apply_raw(_book(YES, "0.45"), recv_ms=1_000)
    now[0] = 5_000
    store.apply_raw(_book(NO, "0.50"), recv_ms=5_000)
    await strat.drain()
    assert rec.calls == []  # YES is 4 s old: stale, as before
