from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot_runtime.venue.polymarket.fees import category_fee_rate
from bot_runtime.venue.polymarket.gamma import (
    MarketInfo,
    MarketParseError,
    flatten_event_markets,
    is_tradable,
    load_markets_file,
    market_from_gamma,
    markets_from_event,
    matches_categories,
    parse_markets,
)

GAMMA_MARKET = {
    "id": "516710",
    "question": "Will BTC be above $100k on Dec 31?",
    "conditionId": "0xabc",
    "slug": "btc-above-100k",
    "endDate": "2026-12-31T12:00:00Z",
    "outcomes": '["Yes", "No"]',
    "outcomePrices": '["0.52", "0.48"]',
    "clobTokenIds": '["111", "222"]',
    "negRisk": False,
    "orderPriceMinTickSize": 0.001,
    "orderMinSize": 5,
    "acceptingOrders": True,
    "enableOrderBook": True,
    "feesEnabled": True,
    "active": True,
    "closed": False,
    "category": "Crypto",
    "unknownFutureField": {"x": 1},
}


def test_market_from_gamma() -> None:
    m = market_from_gamma(GAMMA_MARKET)
    assert (m.condition_id, m.yes_token_id, m.no_token_id) == ("0xabc", "111", "222")
    assert m.outcomes == ("Yes", "No")
    assert m.tick_size_e6 == 1_000 and m.min_size_e6 == 5_000_000
    assert m.fees_enabled and m.fee_rate == 0.07
    assert m.tradable and m.end_date == "2026-12-31T12:00:00Z" and m.gamma_id == "516710"


def test_string_flags_and_decimal_strings() -> None:
    m = market_from_gamma({**GAMMA_MARKET, "negRisk": "true", "orderPriceMinTickSize": "0.01", "closed": "true"})
    assert m.neg_risk and m.tick_size_e6 == 10_000 and not m.tradable


def test_fees_disabled_or_unknown_category() -> None:
    assert market_from_gamma({**GAMMA_MARKET, "feesEnabled": False}).fee_rate == 0.0
    unknown = market_from_gamma({**GAMMA_MARKET, "category": "Science"})
    assert unknown.fees_enabled and unknown.fee_rate is None  # ask /fee-rate
    geo = market_from_gamma({**GAMMA_MARKET, "category": "", "tags": [{"label": "Geopolitics", "slug": "geopolitics"}]})
    assert geo.fee_rate == 0.0
    assert category_fee_rate("Pop Culture", []) == 0.05


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"conditionId": None}, "conditionId"),
        ({"clobTokenIds": '["1"]'}, "clobTokenIds"),
        ({"clobTokenIds": "not json"}, "clobTokenIds"),
        ({"orderPriceMinTickSize": "-1"}, "orderPriceMinTickSize"),
        # found by test_bad_input.py's fuzzing (1 run in 3): OverflowError escaped
        ({"orderPriceMinTickSize": 1.797693134862316e302}, "orderPriceMinTickSize"),
        ({"orderPriceMinTickSize": float("nan")}, "orderPriceMinTickSize"),
        ({"orderPriceMinTickSize": -0.01}, "orderPriceMinTickSize"),
        ({"feesEnabled": True, "feeRate": float("nan")}, "feeRate"),
        ({"feesEnabled": True, "feeRate": 1e309}, "feeRate"),
    ],
)
def test_bad_market_errors_name_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(MarketParseError, match=field):
        market_from_gamma({**GAMMA_MARKET, **change})


def test_taker_fee() -> None:
    m = market_from_gamma(GAMMA_MARKET)  # rate 0.07
    # 100 shares at 0.50: 100 * 0.07 * 0.25 = 1.75 USD
    assert m.taker_fee_e6(100_000_000, 500_000) == 1_750_000
    # the venue's one rule, half up to the micro-dollar: 1 share at 0.01 = 0.000693 USD exactly
    assert m.taker_fee_e6(1_000_000, 10_000) == 693
    assert m.taker_fee_e6(1_000_001, 10_000) == 693  # 0.000693000693
    free = market_from_gamma({**GAMMA_MARKET, "feesEnabled": False})
    assert free.taker_fee_e6(100_000_000, 500_000) == 0


def test_to_gamma_roundtrip() -> None:
    m = market_from_gamma({**GAMMA_MARKET, "negRisk": True, "negRiskMarketID": "0xg", "groupItemTitle": "BTC",
                           "events": [{"id": "77", "slug": "btc-event"}]})
    assert (m.event_id, m.event_slug) == ("77", "btc-event")
    back = market_from_gamma(json.loads(json.dumps(m.to_gamma())))
    assert back == m


EVENT = {
    "id": "9",
    "slug": "who-wins",
    "negRisk": True,
    "negRiskMarketID": "0xgroup",
    "tags": [{"id": "2", "label": "Politics", "slug": "politics"}],
    "markets": [
        {**GAMMA_MARKET, "conditionId": "0x1", "clobTokenIds": '["1","2"]', "category": None, "negRisk": None,
         "groupItemTitle": "Alice"},
        {**GAMMA_MARKET, "conditionId": "0x2", "clobTokenIds": '["3","4"]', "category": None, "negRisk": None,
         "groupItemTitle": "Bob"},
    ],
}


def test_event_markets_inherit_grouping_and_tags() -> None:
    ms = markets_from_event(EVENT)
    assert [m.group_item_title for m in ms] == ["Alice", "Bob"]
    assert all(m.neg_risk and m.neg_risk_market_id == "0xgroup" for m in ms)
    assert ms[0].tags == ("politics",) and ms[0].fee_rate == 0.04 and ms[0].event_slug == "who-wins"
    flat = flatten_event_markets([EVENT])
    assert [market_from_gamma(r).neg_risk_market_id for r in flat] == ["0xgroup", "0xgroup"]


def test_tradable_and_category_filters() -> None:
    assert is_tradable(GAMMA_MARKET)
    assert not is_tradable({**GAMMA_MARKET, "acceptingOrders": False})
    assert not is_tradable({**GAMMA_MARKET, "enableOrderBook": None})
    assert matches_categories(GAMMA_MARKET, ["crypto"]) and not matches_categories(GAMMA_MARKET, ["sports"])
    assert matches_categories(GAMMA_MARKET, [])
    assert [m.condition_id for m in parse_markets([GAMMA_MARKET, {"conditionId": "0xbad"}])] == ["0xabc"]


def test_load_markets_file(tmp_path: Path) -> None:
    p = tmp_path / "markets.json"
    p.write_text(json.dumps([GAMMA_MARKET, EVENT]))
    ms = load_markets_file(p)
    assert [m.condition_id for m in ms] == ["0xabc", "0x1", "0x2"]
    assert all(isinstance(m, MarketInfo) for m in ms)
    p.write_text('{"not": "a list"}')
    with pytest.raises(MarketParseError, match="JSON list"):
        load_markets_file(p)
    p.write_text(json.dumps([{"conditionId": "0x1"}]))
    with pytest.raises(MarketParseError, match="item 0"):
        load_markets_file(p)
