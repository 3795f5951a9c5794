"""Market metadata shared by strategies, the simulator and the market-data layer.

`MarketInfo` is parsed from Gamma `/markets` (or a market nested in `/events`) JSON.
Gamma encodes lists as JSON strings (`clobTokenIds`, `outcomes`); the first token
id is Yes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.fees import category_fee_rate, rate_ppm, taker_fee_e6
from bot_runtime.venue.polymarket.frames import format_e6, parse_e6


class MarketParseError(ValueError):
    """Gamma JSON that cannot be turned into a MarketInfo; the message names the field."""


@dataclass(frozen=True, slots=True)
class MarketInfo:
    condition_id: str
    question: str
    slug: str
    yes_token_id: str
    no_token_id: str
    outcomes: tuple[str, ...] = ("Yes", "No")
    neg_risk: bool = False
    neg_risk_market_id: str = ""  # groups the outcome markets of one neg-risk event
    tick_size_e6: int = 10_000
    min_size_e6: int = 5_000_000
    fees_enabled: bool = False
    fee_rate: float | None = 0.0  # None: fees enabled but rate unknown (ask /fee-rate)
    end_date: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    active: bool = True
    closed: bool = False
    accepting_orders: bool = True
    enable_order_book: bool = True
    event_id: str = ""
    event_slug: str = ""
    group_item_title: str = ""  # the outcome's name inside a neg-risk event
    gamma_id: str = ""

    @property
    def token_ids(self) -> tuple[str, str]:
        return self.yes_token_id, self.no_token_id

    @property
    def tradable(self) -> bool:
        return self.active and not self.closed and self.enable_order_book and self.accepting_orders

    def taker_fee_e6(self, shares_e6: int, price_e6: int) -> int:
        """Taker fee in collateral micro units, rounded up (never underestimate a cost)."""
        if not self.fees_enabled or not self.fee_rate:
            return 0
        return taker_fee_e6(shares_e6, price_e6, rate_ppm(self.fee_rate))

    def to_gamma(self) -> dict[str, Any]:
        """Gamma `/markets` JSON for this market (the simulator serves this shape)."""
        return {
            "id": self.gamma_id or self.condition_id,
            "question": self.question,
            "conditionId": self.condition_id,
            "slug": self.slug,
            "endDate": self.end_date,
            "outcomes": json.dumps(list(self.outcomes)),
            "clobTokenIds": json.dumps([self.yes_token_id, self.no_token_id]),
            "negRisk": self.neg_risk,
            "negRiskMarketID": self.neg_risk_market_id or None,
            "orderPriceMinTickSize": float(format_e6(self.tick_size_e6)),
            "orderMinSize": float(format_e6(self.min_size_e6)),
            "feesEnabled": self.fees_enabled,
            "active": self.active,
            "closed": self.closed,
            "acceptingOrders": self.accepting_orders,
            "enableOrderBook": self.enable_order_book,
            "category": self.category,
            "tags": [{"label": t, "slug": t} for t in self.tags],
            "groupItemTitle": self.group_item_title,
            "eventId": self.event_id or None,
            "eventSlug": self.event_slug or None,
        }


def _json_list(v: Any, name: str) -> list[Any]:
    if v is None or v == "":
        return []
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError as e:
            raise MarketParseError(f"field {name!r} is not a JSON list: {e}") from None
    if not isinstance(v, list):
        raise MarketParseError(f"field {name!r} must be a list (or a JSON-encoded list)")
    return v


def _num_e6(v: Any, name: str, default: int) -> int:
    if v is None or v == "":
        return default
    try:
        if isinstance(v, str):
            return parse_e6(v)
        if isinstance(v, bool):
            raise ValueError(v)
        if isinstance(v, int):
            return v * E6
        if isinstance(v, float):
            return round(v * E6)
    except ValueError:
        pass
    raise MarketParseError(f"field {name!r} must be a non-negative decimal, got {v!r}")


def _as_bool(v: Any, default: bool) -> bool:
    if v is None:
        return default
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v)


def tag_names(raw_tags: Any) -> list[str]:
    out: list[str] = []
    if isinstance(raw_tags, list):
        for t in raw_tags:
            if isinstance(t, dict):
                name = t.get("slug") or t.get("label")
                if isinstance(name, str) and name:
                    out.append(name.lower())
            elif isinstance(t, str):
                out.append(t.lower())
    return out


def _pick(raw: Mapping[str, Any], ev: Mapping[str, Any], key: str) -> Any:
    """The market's own value, else its event's (Gamma sends null for inherited fields)."""
    v = raw.get(key)
    return ev.get(key) if v is None or v == "" else v


def market_from_gamma(raw: Mapping[str, Any], event: Mapping[str, Any] | None = None) -> MarketInfo:
    """Parse one Gamma market (optionally nested in an event, whose fields it inherits)."""
    if not isinstance(raw, Mapping):
        raise MarketParseError("a Gamma market must be a JSON object")
    ev: Mapping[str, Any] = event or {}
    if not ev:  # Gamma /markets items carry their parent events
        evs = raw.get("events")
        if isinstance(evs, list) and evs and isinstance(evs[0], dict):
            ev = evs[0]
    cid = raw.get("conditionId") or raw.get("condition_id")
    if not isinstance(cid, str) or not cid:
        raise MarketParseError("field 'conditionId' is missing: the market cannot be traded without it")
    tokens = _json_list(raw.get("clobTokenIds"), "clobTokenIds")
    if len(tokens) != 2 or not all(isinstance(t, (str, int)) for t in tokens):
        raise MarketParseError(
            f"market {cid}: field 'clobTokenIds' must list exactly 2 token ids (Yes, No), got {tokens!r}"[:300]
        )
    outcomes = tuple(str(o) for o in _json_list(raw.get("outcomes"), "outcomes")) or ("Yes", "No")
    ev_tags = tag_names(ev.get("tags"))
    tags = tuple(dict.fromkeys(tag_names(raw.get("tags")) + ev_tags))
    category = str(raw.get("category") or ev.get("category") or "")
    fees_enabled = _as_bool(_pick(raw, ev, "feesEnabled"), False)
    fee_rate: float | None = 0.0
    if fees_enabled:
        explicit = raw.get("feeRate")
        fee_rate = float(explicit) if isinstance(explicit, (int, float)) else category_fee_rate(category, tags)
    neg_risk = _as_bool(_pick(raw, ev, "negRisk"), False)
    nr_id = raw.get("negRiskMarketID") or ev.get("negRiskMarketID") or ""
    return MarketInfo(
        condition_id=cid,
        question=str(raw.get("question") or ""),
        slug=str(raw.get("slug") or ""),
        yes_token_id=str(tokens[0]),
        no_token_id=str(tokens[1]),
        outcomes=outcomes,
        neg_risk=neg_risk,
        neg_risk_market_id=str(nr_id),
        tick_size_e6=_num_e6(raw.get("orderPriceMinTickSize"), "orderPriceMinTickSize", 10_000),
        min_size_e6=_num_e6(raw.get("orderMinSize"), "orderMinSize", 5_000_000),
        fees_enabled=fees_enabled,
        fee_rate=fee_rate,
        end_date=str(raw.get("endDate") or raw.get("endDateIso") or ev.get("endDate") or ""),
        category=category,
        tags=tags,
        active=_as_bool(raw.get("active"), True),
        closed=_as_bool(raw.get("closed"), False),
        accepting_orders=_as_bool(raw.get("acceptingOrders"), True),
        enable_order_book=_as_bool(raw.get("enableOrderBook"), True),
        event_id=str(ev.get("id") or raw.get("eventId") or ""),
        event_slug=str(ev.get("slug") or raw.get("eventSlug") or ""),
        group_item_title=str(raw.get("groupItemTitle") or ""),
        gamma_id=str(raw.get("id") or ""),
    )


def markets_from_event(event: Mapping[str, Any]) -> list[MarketInfo]:
    markets = event.get("markets") or []
    if not isinstance(markets, list):
        raise MarketParseError("event field 'markets' must be a list")
    return [market_from_gamma(m, event) for m in markets]


def load_markets_file(path: str | Path) -> list[MarketInfo]:
    """Read a markets file (Gamma `/markets` JSON: a list) as written by `botfleet record`.

    A list of events (objects with a `markets` list) is accepted too.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise MarketParseError(f"cannot read markets file {p}: {e}") from None
    if not isinstance(data, list):
        raise MarketParseError(f"markets file {p} must hold a JSON list of Gamma markets")
    out: list[MarketInfo] = []
    for i, item in enumerate(data):
        try:
            if isinstance(item, dict) and "markets" in item and "conditionId" not in item:
                out.extend(markets_from_event(item))
            else:
                out.append(market_from_gamma(item))
        except MarketParseError as e:
            raise MarketParseError(f"{p} item {i}: {e}") from None
    return out
