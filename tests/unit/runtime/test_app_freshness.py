"""Readiness and configuration of the market-data freshness rules (pure pieces of bot_runtime.app)."""

from __future__ import annotations

import json

import pytest

from bot_runtime.app import FEED_STALL_ENV, feed_stall_limit, readiness_reasons
from bot_runtime.app_execution import _market_age
from bot_runtime.errors import StartupError
from bot_runtime.marketdata.store import BookStore
from bot_runtime.venue.polymarket.gamma import MarketInfo
from bot_runtime.venue.polymarket.ws import FeedLink, wall_ms


def _ready(**kw: object) -> list[str]:
    args: dict[str, object] = {"started": True, "stopping": False, "shards": 2, "connected": 2, "data_age_s": 0.5,
                               "journal_open": True, "fatal": ""}
    args.update(kw)
    return readiness_reasons(**args)  # type: ignore[arg-type]


def test_a_stalled_feed_makes_the_bot_unready() -> None:
    assert _ready() == []
    reasons = _ready(stalled=1)
    assert len(reasons) == 1 and "stalled: 1 of 2 connections" in reasons[0]


def test_feed_stall_limit_from_the_environment() -> None:
    assert feed_stall_limit({}, 5.0) == 5.0
    assert feed_stall_limit({FEED_STALL_ENV: "2.5"}, 5.0) == 2.5
    assert feed_stall_limit({FEED_STALL_ENV: "off"}, 5.0) is None
    for bad in ("soon", "-1"):
        with pytest.raises(StartupError, match=FEED_STALL_ENV) as err:
            feed_stall_limit({FEED_STALL_ENV: bad}, 5.0)
        assert err.value.config_error


def test_risk_age_source_uses_the_stalest_book_and_the_stall_flag() -> None:
    store = BookStore()
    store.add_market(MarketInfo("0xm", "q", "m", "yes", "no"))
    now = wall_ms()
    for tok in ("yes", "no"):
        store.apply_raw(json.dumps({"event_type": "book", "asset_id": tok, "market": "0xm", "timestamp": "1",
                                    "bids": [{"price": "0.4", "size": "5"}], "asks": []}), recv_ms=now)
    link = FeedLink()
    link.heard_ms = link.data_ms = now
    store.attach(["yes", "no"], link)
    age = _market_age(store)
    first = age("0xm")
    assert first is not None and first >= 0
    store.invalidate(["no"])
    assert age("0xm") is None  # an order on YES must not pass while NO is being rebuilt
    store.apply_raw('{"event_type":"book","asset_id":"no","market":"0xm","bids":[],"asks":[],"timestamp":"2"}',
                    recv_ms=now)
    assert age("0xm") is not None
    link.stalled = True
    assert age("0xm") is None
