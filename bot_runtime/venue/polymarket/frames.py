"""Wire parsing: exact decimal strings to integer micro units, and market-channel websocket frames
to typed events.

Prices and sizes arrive as decimal strings (".48", "219.217767"); every number becomes an int of
millionths, exactly (collateral and outcome tokens both have 6 decimals).

One frame is one event object or a JSON array of events. Unknown event types and
unknown fields are tolerated (the exchange adds them without notice); anything that
cannot be read as the documented shape raises `FrameError`, and only that, so the
reader loop can count the frame as bad and carry on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from bot_runtime.venue.polymarket.constants import E6

BUY = "BUY"  # bid side
SELL = "SELL"  # ask side

Level = tuple[int, int]  # (price_e6, size_e6)

# scale for n digits after the dot: n=2 -> 10**4
_SCALE = (1_000_000, 100_000, 10_000, 1_000, 100, 10, 1)
_DIGITS = frozenset("0123456789")


# Wire prices repeat constantly (at most a few thousand distinct values) and many sizes
# do too: a bounded memo makes the common case one dict lookup (~10x faster). 16k
# entries cost about 2 MB.
_MEMO: dict[str, int] = {}
_MEMO_MAX = 16_384


def parse_e6(s: str) -> int:
    """Parse a non-negative decimal string into millionths, exactly (memoised)."""
    v = _MEMO.get(s)
    if v is None:
        v = parse_e6_uncached(s)
        if len(_MEMO) >= _MEMO_MAX:
            _MEMO.clear()
        _MEMO[s] = v
    return v


def parse_e6_uncached(s: str) -> int:
    """Parse a non-negative decimal string into millionths, exactly.

    Accepts "0.48", ".48", "48", "5.", "219.217767"; more than 6 decimals only
    if the extra digits are zeros. Raises ValueError for anything else (signs,
    exponents, spaces, underscores, non-ASCII digits) so bad wire data never
    turns into a silently wrong price.
    """
    i = s.find(".")
    if i < 0:
        # str.isdigit() alone accepts non-ASCII digits such as "²"; isascii() rules them out
        if s.isascii() and s.isdigit():
            return int(s) * E6
        raise ValueError(f"not a decimal number: {s!r}")
    whole = s[:i]
    frac = s[i + 1 :]
    n = len(frac)
    if n > 6:
        if frac[6:].strip("0"):
            raise ValueError(f"more than 6 decimals: {s!r}")
        frac = frac[:6]
        n = 6
    digits = whole + frac
    if not digits or not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"not a decimal number: {s!r}")
    return int(digits) * _SCALE[n]


def format_e6(v: int) -> str:
    """Inverse of parse_e6 for display and for wire bodies ("0.48", "5")."""
    sign = "-" if v < 0 else ""
    q, r = divmod(abs(v), E6)
    if not r:
        return f"{sign}{q}"
    return f"{sign}{q}.{r:06d}".rstrip("0")


_MEMO_GET = _MEMO.get


class FrameError(ValueError):
    """A frame (or REST book) that is not valid market-channel data."""


@dataclass(slots=True)
class BookEvent:
    asset_id: str
    market: str
    bids: list[Level]
    asks: list[Level]
    timestamp_ms: int
    hash: str = ""
    tick_size_e6: int | None = None
    min_order_size_e6: int | None = None
    neg_risk: bool | None = None
    last_trade_price_e6: int | None = None
    event_type: str = "book"


@dataclass(slots=True)
class PriceChange:
    asset_id: str
    side: str  # BUY (bid) or SELL (ask)
    price_e6: int
    size_e6: int  # new total at the level; 0 removes it
    hash: str = ""
    best_bid_e6: int | None = None
    best_ask_e6: int | None = None


@dataclass(slots=True)
class PriceChangeEvent:
    market: str
    changes: list[PriceChange]
    timestamp_ms: int
    event_type: str = "price_change"


@dataclass(slots=True)
class TickSizeChangeEvent:
    asset_id: str
    market: str
    old_tick_size_e6: int | None
    new_tick_size_e6: int
    timestamp_ms: int
    event_type: str = "tick_size_change"


@dataclass(slots=True)
class LastTradePriceEvent:
    asset_id: str
    market: str
    price_e6: int
    size_e6: int
    side: str
    fee_rate_bps: int
    timestamp_ms: int
    event_type: str = "last_trade_price"


@dataclass(slots=True)
class BestBidAskEvent:
    asset_id: str
    market: str
    best_bid_e6: int | None
    best_ask_e6: int | None
    spread_e6: int | None
    timestamp_ms: int
    event_type: str = "best_bid_ask"


@dataclass(slots=True)
class NewMarketEvent:
    market: str
    asset_ids: list[str]
    timestamp_ms: int
    raw: dict[str, Any] = field(repr=False)
    event_type: str = "new_market"


@dataclass(slots=True)
class MarketResolvedEvent:
    market: str
    winning_asset_id: str
    asset_ids: list[str]
    timestamp_ms: int
    event_type: str = "market_resolved"


@dataclass(slots=True)
class UnknownEvent:
    event_type: str
    raw: dict[str, Any] = field(repr=False)
    timestamp_ms: int = 0


Event = (
    BookEvent
    | PriceChangeEvent
    | TickSizeChangeEvent
    | LastTradePriceEvent
    | BestBidAskEvent
    | NewMarketEvent
    | MarketResolvedEvent
    | UnknownEvent
)


# -- field helpers: each raises KeyError/TypeError/ValueError, turned into FrameError --
def _ts(v: Any) -> int:
    """Millisecond timestamp from a string or number; second-resolution values are scaled."""
    if v is None or v == "":
        return 0
    if isinstance(v, int) and not isinstance(v, bool):
        t = v
    elif isinstance(v, str) and v.isdigit():
        t = int(v)
    else:  # "1757908890000.0", floats
        f = float(v)
        if not math.isfinite(f):  # "1e309", "nan": a ValueError like any other bad field, not OverflowError
            raise ValueError(f"timestamp is not a finite number: {v!r}")
        t = int(f)
    if t < 100_000_000_000:  # before 1973 in ms: it is in seconds
        t *= 1000
    return t


def _lenient_ts(v: Any) -> int:
    """Unknown events are passed on whatever their fields look like."""
    try:
        return _ts(v)
    except (TypeError, ValueError, OverflowError):
        return 0


def _str(v: Any, name: str) -> str:
    if not isinstance(v, str):
        raise FrameError(f"field {name!r} must be a string, got {type(v).__name__}")
    return v


def _num(v: Any) -> int:
    if type(v) is str:
        r = _MEMO_GET(v)
        return parse_e6(v) if r is None else r
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return v * E6
    if isinstance(v, float) and v >= 0 and math.isfinite(v * E6):  # also not NaN, not overflowing
        # numbers are strings on the wire; tolerate a float but round it to the grid
        return round(v * E6)
    raise FrameError(f"expected a decimal string, got {v!r}")


def _opt_num(v: Any) -> int | None:
    if v is None or v == "":
        return None
    return _num(v)


def _side(v: Any) -> str:
    if v in (BUY, SELL):
        return str(v)
    if isinstance(v, str):
        u = v.upper()
        if u in (BUY, SELL):
            return u
        if u in ("BID", "BIDS"):
            return BUY
        if u in ("ASK", "ASKS"):
            return SELL
    raise FrameError(f"field 'side' must be BUY or SELL, got {v!r}")


def _levels(v: Any, name: str) -> list[Level]:
    if v is None:
        return []
    if type(v) is not list:
        raise FrameError(f"field {name!r} must be a list of levels")
    get = _MEMO_GET
    out: list[Level] = []
    append = out.append
    # hot loop (60 levels per snapshot): memo lookups inlined, _num only on a miss
    for lv in v:
        if type(lv) is dict:
            p = lv["price"]
            s = lv["size"]
        elif type(lv) is list and len(lv) == 2:  # [price, size] pairs
            p, s = lv
        else:
            raise FrameError(f"bad level in {name!r}: {lv!r}"[:200])
        pe = get(p) if type(p) is str else None
        se = get(s) if type(s) is str else None
        append((_num(p) if pe is None else pe, _num(s) if se is None else se))
    return out


def _bool(v: Any) -> bool | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise FrameError(f"expected a boolean, got {v!r}")


# -- one event per type -------------------------------------------------------------
def parse_book(d: dict[str, Any]) -> BookEvent:
    """A `book` event, or a REST `/book` response (same shape plus metadata)."""
    bids = d.get("bids")
    asks = d.get("asks")
    if bids is None and asks is None:  # older docs name them buys / sells
        bids = d.get("buys")
        asks = d.get("sells")
    return BookEvent(
        asset_id=_str(d["asset_id"], "asset_id"),
        market=_str(d.get("market", ""), "market"),
        bids=_levels(bids, "bids"),
        asks=_levels(asks, "asks"),
        timestamp_ms=_ts(d.get("timestamp")),
        hash=str(d.get("hash") or ""),
        tick_size_e6=_opt_num(d.get("tick_size")),
        min_order_size_e6=_opt_num(d.get("min_order_size")),
        neg_risk=_bool(d.get("neg_risk")),
        last_trade_price_e6=_opt_num(d.get("last_trade_price")),
    )


def _price_change(d: dict[str, Any]) -> PriceChangeEvent:
    market = _str(d.get("market", ""), "market")
    changes: list[PriceChange] = []
    append = changes.append
    pcs = d.get("price_changes")
    if pcs is not None:
        if not isinstance(pcs, list):
            raise FrameError("field 'price_changes' must be a list")
        for c in pcs:
            b = c.get("best_bid")
            a = c.get("best_ask")
            append(
                PriceChange(
                    _str(c["asset_id"], "asset_id"),
                    _side(c["side"]),
                    _num(c["price"]),
                    _num(c["size"]),
                    str(c.get("hash") or ""),
                    None if b is None or b == "" else _num(b),
                    None if a is None or a == "" else _num(a),
                )
            )
    else:
        # shape before 2025-09-15: one asset per event, `changes` without asset ids
        old = d.get("changes")
        if not isinstance(old, list):
            raise FrameError("price_change without 'price_changes' or 'changes' list")
        asset = _str(d["asset_id"], "asset_id")
        h = str(d.get("hash") or "")
        for c in old:
            append(PriceChange(asset, _side(c["side"]), _num(c["price"]), _num(c["size"]), h))
    return PriceChangeEvent(market, changes, _ts(d.get("timestamp")))


def _tick_size_change(d: dict[str, Any]) -> TickSizeChangeEvent:
    return TickSizeChangeEvent(
        asset_id=_str(d["asset_id"], "asset_id"),
        market=_str(d.get("market", ""), "market"),
        old_tick_size_e6=_opt_num(d.get("old_tick_size")),
        new_tick_size_e6=_num(d["new_tick_size"]),
        timestamp_ms=_ts(d.get("timestamp")),
    )


def _last_trade_price(d: dict[str, Any]) -> LastTradePriceEvent:
    fee: Any = d.get("fee_rate_bps")
    return LastTradePriceEvent(
        asset_id=_str(d["asset_id"], "asset_id"),
        market=_str(d.get("market", ""), "market"),
        price_e6=_num(d["price"]),
        size_e6=_num(d.get("size", "0")),
        side=_side(d["side"]) if d.get("side") else "",
        fee_rate_bps=0 if fee is None or fee == "" else int(fee),
        timestamp_ms=_ts(d.get("timestamp")),
    )


def _best_bid_ask(d: dict[str, Any]) -> BestBidAskEvent:
    return BestBidAskEvent(
        asset_id=_str(d["asset_id"], "asset_id"),
        market=_str(d.get("market", ""), "market"),
        best_bid_e6=_opt_num(d.get("best_bid")),
        best_ask_e6=_opt_num(d.get("best_ask")),
        spread_e6=_opt_num(d.get("spread")),
        timestamp_ms=_ts(d.get("timestamp")),
    )


def _str_list(v: Any, name: str) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):  # Gamma-style JSON-encoded list
        v = orjson.loads(v)
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise FrameError(f"field {name!r} must be a list of strings")
    return list(v)


def _new_market(d: dict[str, Any]) -> NewMarketEvent:
    return NewMarketEvent(
        market=_str(d.get("market", ""), "market"),
        asset_ids=_str_list(d.get("assets_ids", d.get("asset_ids", d.get("clob_token_ids"))), "assets_ids"),
        timestamp_ms=_ts(d.get("timestamp")),
        raw=d,
    )


def _market_resolved(d: dict[str, Any]) -> MarketResolvedEvent:
    return MarketResolvedEvent(
        market=_str(d.get("market", ""), "market"),
        winning_asset_id=_str(d.get("winning_asset_id", ""), "winning_asset_id"),
        asset_ids=_str_list(d.get("assets_ids", d.get("asset_ids")), "assets_ids"),
        timestamp_ms=_ts(d.get("timestamp")),
    )


_PARSERS: dict[str, Callable[[dict[str, Any]], Event]] = {
    "book": parse_book,
    "price_change": _price_change,
    "tick_size_change": _tick_size_change,
    "last_trade_price": _last_trade_price,
    "best_bid_ask": _best_bid_ask,
    "new_market": _new_market,
    "market_resolved": _market_resolved,
}


def parse_event(d: Any) -> Event:
    """One decoded event object -> typed event. Raises FrameError."""
    if not isinstance(d, dict):
        raise FrameError(f"event must be a JSON object, got {type(d).__name__}")
    et = d.get("event_type")
    if et is None and "price_changes" in d:
        et = "price_change"
    parser = _PARSERS.get(et) if isinstance(et, str) else None
    try:
        if parser is None:
            return UnknownEvent(str(et or ""), d, _lenient_ts(d.get("timestamp")))
        return parser(d)
    except FrameError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as e:
        raise FrameError(f"bad {et!r} event: {type(e).__name__}: {e}"[:300]) from None


def decode_frame(raw: str | bytes) -> Any:
    try:
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError, RecursionError) as e:
        raise FrameError(f"frame is not JSON: {e}"[:300]) from None


def parse_frame(raw: str | bytes) -> list[Event]:
    """One websocket frame (object or array of objects) -> events, in wire order."""
    obj = decode_frame(raw)
    if isinstance(obj, dict):
        return [parse_event(obj)]
    if isinstance(obj, list):
        return [parse_event(o) for o in obj]
    raise FrameError(f"frame must be a JSON object or array, got {type(obj).__name__}")


def event_timestamp_ms(events: list[Event]) -> int:
    """Latest exchange timestamp in a frame (0 if none carries one)."""
    ts = 0
    for e in events:
        t = e.timestamp_ms
        if t > ts:
            ts = t
    return ts
