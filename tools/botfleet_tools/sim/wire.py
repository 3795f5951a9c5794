"""JSON shapes of the Polymarket APIs, rendered from engine objects."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bot_runtime.venue.polymarket.fees import rate_bps

from .book import Order
from .engine import Fill, LevelChange, MatchingEngine
from .units import fmt, to_float


def book_hash(payload: dict[str, Any]) -> str:
    """SHA-1 over the compact JSON with "hash" blanked: what py-clob-client-v2 recomputes."""
    body = {k: payload[k] for k in ("market", "asset_id", "timestamp")}
    body["hash"] = ""
    for k in ("bids", "asks", "min_order_size", "tick_size", "neg_risk", "last_trade_price"):
        body[k] = payload[k]
    return hashlib.sha1(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def book_json(engine: MatchingEngine, token: str, ts_ms: int) -> dict[str, Any]:
    """REST /book and websocket `book` snapshot: bids ascending, asks descending (best LAST)."""
    spec = engine.market_of(token)
    bids, asks = engine.books[token].snapshot()
    last = engine.last_trade.get(token)
    payload: dict[str, Any] = {
        "market": spec.condition_id,
        "asset_id": token,
        "timestamp": str(ts_ms),
        "hash": "",
        "bids": [{"price": fmt(p), "size": fmt(s)} for p, s in bids],
        "asks": [{"price": fmt(p), "size": fmt(s)} for p, s in asks],
        "min_order_size": fmt(spec.min_size),
        "tick_size": fmt(spec.tick),
        "neg_risk": spec.neg_risk,
        "last_trade_price": fmt(last) if last is not None else "0.5",
    }
    payload["hash"] = book_hash(payload)
    return payload


def book_event(engine: MatchingEngine, token: str, ts_ms: int) -> dict[str, Any]:
    b = book_json(engine, token, ts_ms)
    return {"event_type": "book", "asset_id": b["asset_id"], "market": b["market"], "bids": b["bids"],
            "asks": b["asks"], "timestamp": b["timestamp"], "hash": b["hash"],
            "tick_size": b["tick_size"], "last_trade_price": b["last_trade_price"]}


def _opt(units: int | None) -> str:
    return fmt(units) if units is not None else "0"


def price_change_events(engine: MatchingEngine, changes: list[LevelChange], ts_ms: int) -> list[dict[str, Any]]:
    """One `price_change` per market; `size` is the new level total, "0" removes the level."""
    by_market: dict[str, list[dict[str, Any]]] = {}
    for ch in changes:
        book = engine.books[ch.token]
        h = hashlib.sha1(f"{ch.token}:{ch.side}:{ch.price}:{ch.size}:{ts_ms}".encode()).hexdigest()
        by_market.setdefault(ch.market, []).append({
            "asset_id": ch.token, "price": fmt(ch.price), "size": fmt(ch.size), "side": ch.side, "hash": h,
            "best_bid": _opt(book.best_bid()), "best_ask": _opt(book.best_ask())})
    return [{"market": m, "price_changes": items, "timestamp": str(ts_ms), "event_type": "price_change"}
            for m, items in by_market.items()]


def last_trade_event(fill: Fill) -> dict[str, Any]:
    return {"asset_id": fill.token, "event_type": "last_trade_price",
            "fee_rate_bps": str(rate_bps(fill.fee_rate)), "market": fill.market,
            "price": fmt(fill.price), "side": fill.taker_side, "size": fmt(fill.size),
            "timestamp": str(fill.ts_ms)}


def best_bid_ask_event(engine: MatchingEngine, token: str, ts_ms: int) -> dict[str, Any]:
    book = engine.books[token]
    bb, ba = book.best_bid(), book.best_ask()
    spread = fmt(ba - bb) if bb is not None and ba is not None else "0"
    return {"event_type": "best_bid_ask", "market": book.market, "asset_id": token,
            "best_bid": _opt(bb), "best_ask": _opt(ba), "spread": spread, "timestamp": str(ts_ms)}


def order_json(order: Order, engine: MatchingEngine) -> dict[str, Any]:
    """GET /data/orders item."""
    spec = engine.market_of(order.token)
    return {
        "id": order.id, "status": order.status, "owner": order.owner, "maker_address": order.maker,
        "market": order.market, "asset_id": order.token, "side": order.side,
        "original_size": fmt(order.size), "size_matched": fmt(order.filled), "price": fmt(order.price),
        "associate_trades": list(order.trade_ids), "outcome": spec.outcome_of(order.token)[0],
        "created_at": order.created_ms // 1000, "expiration": str(order.expiration),
        "order_type": order.order_type,
    }


def order_event(order: Order, kind: str, ts_ms: int, engine: MatchingEngine) -> dict[str, Any]:
    """User channel `order` event (PLACEMENT | UPDATE | CANCELLATION)."""
    base = order_json(order, engine)
    return {**base, "event_type": "order", "type": kind, "order_owner": order.owner,
            "timestamp": str(ts_ms)}


def trade_json(fill: Fill, status: str, view_owner: str | None, last_update_s: int) -> dict[str, Any]:
    """GET /data/trades item and user-channel `trade` event body; seen by the taker or by a maker."""
    is_maker_view = view_owner is not None and view_owner == fill.maker_owner and view_owner != fill.taker_owner
    maker_order = {
        "order_id": fill.maker_order_id, "owner": fill.maker_owner, "maker_address": fill.maker,
        "matched_amount": fmt(fill.size), "price": fmt(fill.price), "fee_rate_bps": "0",
        "asset_id": fill.token, "outcome": fill.outcome, "side": fill.maker_side,
    }
    return {
        "id": fill.id, "taker_order_id": fill.taker_order_id, "market": fill.market, "asset_id": fill.token,
        "side": fill.taker_side, "size": fmt(fill.size), "fee_rate_bps": str(rate_bps(fill.fee_rate)),
        "fee": fmt(fill.fee), "price": fmt(fill.price), "status": status, "match_time": str(fill.ts_ms // 1000),
        "last_update": str(last_update_s), "outcome": fill.outcome, "bucket_index": 0,
        "owner": view_owner or fill.taker_owner, "maker_address": fill.maker if is_maker_view else fill.taker,
        "transaction_hash": fill.transaction_hash, "maker_orders": [maker_order],
        "trader_side": "MAKER" if is_maker_view else "TAKER", "type": "TRADE",
    }


def data_api_item(fill: Fill, engine: MatchingEngine, as_maker: bool, activity: bool) -> dict[str, Any]:
    """Data API `/trades` (and `/activity` when activity=True) item for one side of a fill."""
    spec = engine.market_of(fill.token)
    outcome, idx = spec.outcome_of(fill.token)
    item: dict[str, Any] = {
        "proxyWallet": fill.maker if as_maker else fill.taker,
        "side": fill.maker_side if as_maker else fill.taker_side,
        "asset": fill.token, "conditionId": fill.market, "size": to_float(fill.size),
        "price": to_float(fill.price), "timestamp": fill.ts_ms // 1000, "title": spec.question,
        "slug": spec.slug, "eventSlug": spec.slug, "outcome": outcome, "outcomeIndex": idx,
        "transactionHash": fill.transaction_hash, "name": "", "pseudonym": "",
    }
    if activity:
        item["type"] = "TRADE"
        item["usdcSize"] = to_float(fill.notional)
    return item
