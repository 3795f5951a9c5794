"""Market metadata of the simulated exchange and its JSON renderings (Gamma and CLOB shapes)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from bot_runtime.venue.polymarket.constants import EXCHANGE_V2, NEG_RISK_EXCHANGE_V2
from bot_runtime.venue.polymarket.fees import rate_bps

from .units import fmt, to_float


def token_id_for(seed: int, key: str) -> str:
    """Deterministic 256-bit decimal token id, shaped like Polymarket's."""
    return str(int.from_bytes(hashlib.sha256(f"token:{seed}:{key}".encode()).digest(), "big"))


def hex32_for(seed: int, kind: str, key: str) -> str:
    return "0x" + hashlib.sha256(f"{kind}:{seed}:{key}".encode()).hexdigest()


@dataclass
class MarketSpec:
    """One binary market (two outcome tokens). Neg-risk outcomes are binary markets of an event."""

    id: str
    condition_id: str
    question: str
    slug: str
    category: str
    yes_token: str
    no_token: str
    fee_rate: float
    tick: int  # micro-units: 10000 == 0.01
    min_size: int  # shares, micro-units
    neg_risk: bool = False
    neg_risk_market_id: str = ""
    event_id: str = ""
    group_item_title: str = ""
    end_date: str = "2027-12-31T00:00:00Z"
    active: bool = True
    closed: bool = False
    winning_token: str | None = None
    outcomes: tuple[str, str] = ("Yes", "No")
    accepting_orders_flag: bool = True  # False: listed and quoted, but orders are refused (paused outcome)

    @property
    def accepting_orders(self) -> bool:
        return self.active and not self.closed and self.accepting_orders_flag

    @property
    def tokens(self) -> tuple[str, str]:
        return (self.yes_token, self.no_token)

    @property
    def exchange(self) -> str:
        return NEG_RISK_EXCHANGE_V2 if self.neg_risk else EXCHANGE_V2

    def outcome_of(self, token_id: str) -> tuple[str, int]:
        idx = 0 if token_id == self.yes_token else 1
        return self.outcomes[idx], idx


@dataclass
class EventSpec:
    id: str
    slug: str
    title: str
    category: str
    neg_risk: bool
    neg_risk_market_id: str = ""
    market_ids: list[str] = field(default_factory=list)
    augmented: bool = False  # augmented neg risk: placeholder outcomes and an "Other" that changes meaning


@dataclass(frozen=True)
class TopOfBook:
    best_bid: int | None
    best_ask: int | None
    last_trade: int | None


def _price_str(units: int | None) -> str | None:
    return None if units is None else fmt(units)


def gamma_market(m: MarketSpec, tops: tuple[TopOfBook, TopOfBook]) -> dict[str, Any]:
    """Gamma `/markets` item: list-valued fields are JSON-encoded strings, as on Polymarket."""
    yes = tops[0]
    mid = None
    if yes.best_bid is not None and yes.best_ask is not None:
        mid = (yes.best_bid + yes.best_ask) / 2 / 1_000_000
    elif yes.last_trade is not None:
        mid = to_float(yes.last_trade)
    yes_price = round(mid, 4) if mid is not None else 0.5
    out: dict[str, Any] = {
        "id": m.id,
        "question": m.question,
        "conditionId": m.condition_id,
        "slug": m.slug,
        "endDate": m.end_date,
        "category": m.category,
        "outcomes": json.dumps(list(m.outcomes)),
        "outcomePrices": json.dumps([str(yes_price), str(round(1 - yes_price, 4))]),
        "clobTokenIds": json.dumps([m.yes_token, m.no_token]),
        "active": m.active,
        "closed": m.closed,
        "acceptingOrders": m.accepting_orders,
        "enableOrderBook": True,
        "negRisk": m.neg_risk,
        "negRiskMarketID": m.neg_risk_market_id or None,
        "groupItemTitle": m.group_item_title or None,
        "orderPriceMinTickSize": to_float(m.tick),
        "orderMinSize": to_float(m.min_size),
        "feesEnabled": m.fee_rate > 0,
        "bestBid": to_float(yes.best_bid) if yes.best_bid is not None else None,
        "bestAsk": to_float(yes.best_ask) if yes.best_ask is not None else None,
        "lastTradePrice": to_float(yes.last_trade) if yes.last_trade is not None else None,
        "volume": "0",
        "liquidity": "0",
    }
    if m.event_id:
        out["events"] = [{"id": m.event_id}]
    return out


def gamma_event(e: EventSpec, markets: list[dict[str, Any]]) -> dict[str, Any]:
    closed = bool(markets) and all(mk["closed"] for mk in markets)
    return {
        "id": e.id,
        "slug": e.slug,
        "title": e.title,
        "category": e.category,
        "negRisk": e.neg_risk,
        "negRiskMarketID": e.neg_risk_market_id or None,
        "enableNegRisk": e.neg_risk,
        "negRiskAugmented": e.augmented,
        "active": not closed,
        "closed": closed,
        "markets": markets,
    }


def clob_market(m: MarketSpec, tops: tuple[TopOfBook, TopOfBook]) -> dict[str, Any]:
    """CLOB `/markets` item (snake_case, tokens as a real list)."""
    tokens = []
    for token, top in zip(m.tokens, tops, strict=True):
        outcome, _ = m.outcome_of(token)
        price = to_float(top.last_trade) if top.last_trade is not None else 0.5
        tokens.append({"token_id": token, "outcome": outcome, "price": price,
                       "winner": m.winning_token == token})
    return {
        "condition_id": m.condition_id,
        "question_id": m.condition_id,
        "question": m.question,
        "market_slug": m.slug,
        "tokens": tokens,
        "minimum_order_size": to_float(m.min_size),
        "minimum_tick_size": to_float(m.tick),
        "neg_risk": m.neg_risk,
        "neg_risk_market_id": m.neg_risk_market_id,
        "active": m.active,
        "closed": m.closed,
        "accepting_orders": m.accepting_orders,
        "enable_order_book": True,
        "end_date_iso": m.end_date,
        "maker_base_fee": 0,
        "taker_base_fee": rate_bps(m.fee_rate),
        "tags": [m.category],
    }


def clob_market_info(m: MarketSpec) -> dict[str, Any]:
    """`/clob-markets/{condition_id}` compact shape that py-clob-client-v2 reads (t, mts, nr, fd)."""
    return {
        "t": [{"t": tok, "o": m.outcome_of(tok)[0]} for tok in m.tokens],
        "mos": to_float(m.min_size),
        "mts": to_float(m.tick),
        "nr": m.neg_risk,
        "mbf": 0,
        "tbf": rate_bps(m.fee_rate),
        "fd": {"r": m.fee_rate, "e": 1, "to": True},
    }
