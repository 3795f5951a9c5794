"""Price-time-priority matching engine with wallets, taker fees and a ledger of every fill.

Synchronous and I/O-free: the server calls it and publishes the events it accumulates
(level changes, fills, order updates) to the websocket channels.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bot_runtime.venue.polymarket.fees import rate_ppm, taker_fee_e6
from bot_runtime.venue.polymarket.fills import OrderTerms, complete, take_at, walk

from .book import Order, OrderBook, Side
from .markets import MarketSpec, TopOfBook
from .units import UNIT, fmt, mul_units

MARKET_TYPES = ("FOK", "FAK")
ORDER_TYPES = ("GTC", "GTD", "FOK", "FAK")


class OrderRejected(Exception):
    """An order the exchange refuses; `message` is the wire error, `code` a stable name."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class Wallet:
    address: str
    usdc: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    unlimited: bool = False  # scenario market makers: never short of funds
    open_orders: dict[str, Order] = field(default_factory=dict)

    def reserved_usdc(self) -> int:
        return sum(mul_units(o.remaining, o.price) for o in self.open_orders.values() if o.side == "BUY")

    def reserved_shares(self, token: str) -> int:
        return sum(o.remaining for o in self.open_orders.values() if o.side == "SELL" and o.token == token)


@dataclass(frozen=True)
class Fill:
    """One match between a taker order and one resting maker order."""

    id: str
    ts_ms: int
    market: str
    token: str
    outcome: str
    price: int
    size: int
    fee: int  # collateral paid by the taker
    fee_rate: float
    taker_side: Side
    taker_order_id: str
    maker_order_id: str
    taker: str  # taker wallet address
    maker: str
    taker_owner: str
    maker_owner: str
    transaction_hash: str

    @property
    def maker_side(self) -> Side:
        return "SELL" if self.taker_side == "BUY" else "BUY"

    @property
    def notional(self) -> int:
        return mul_units(self.size, self.price)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "ts_ms": self.ts_ms, "market": self.market, "asset_id": self.token,
            "outcome": self.outcome, "price": fmt(self.price), "size": fmt(self.size),
            "fee": fmt(self.fee), "fee_rate": self.fee_rate, "taker_side": self.taker_side,
            "taker_order_id": self.taker_order_id, "maker_order_id": self.maker_order_id,
            "taker": self.taker, "maker": self.maker, "taker_owner": self.taker_owner,
            "maker_owner": self.maker_owner, "transaction_hash": self.transaction_hash,
        }


@dataclass(frozen=True)
class LevelChange:
    token: str
    market: str
    side: Side
    price: int
    size: int  # new total at the level, 0 = removed


@dataclass(frozen=True)
class OrderEvent:
    order: Order
    kind: str  # PLACEMENT | UPDATE | CANCELLATION
    ts_ms: int


@dataclass
class SubmitResult:
    order: Order
    fills: list[Fill]
    status: str  # live | matched | unmatched

    @property
    def making_amount(self) -> int:
        """What the order gave up in its fills: collateral for BUY, shares for SELL."""
        if self.order.side == "BUY":
            return sum(f.notional for f in self.fills)
        return sum(f.size for f in self.fills)

    @property
    def taking_amount(self) -> int:
        if self.order.side == "BUY":
            return sum(f.size for f in self.fills)
        return sum(f.notional for f in self.fills)


class MatchingEngine:
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.markets: dict[str, MarketSpec] = {}  # condition id -> spec
        self.token_market: dict[str, MarketSpec] = {}
        self.books: dict[str, OrderBook] = {}
        self.wallets: dict[str, Wallet] = {}
        self.orders: dict[str, Order] = {}
        self.seen_order_ids: set[str] = set()
        self.ledger: list[Fill] = []
        self.last_trade: dict[str, int] = {}
        self._fill_seq = 0
        self._dirty: dict[tuple[str, Side, int], None] = {}
        self._events: list[Fill | OrderEvent] = []

    # ----- setup -----
    def add_market(self, spec: MarketSpec) -> None:
        self.markets[spec.condition_id] = spec
        for token in spec.tokens:
            self.token_market[token] = spec
            self.books[token] = OrderBook(token, spec.condition_id)

    def wallet(self, address: str) -> Wallet:
        key = address.lower()
        w = self.wallets.get(key)
        if w is None:
            w = self.wallets[key] = Wallet(address=address)
        return w

    def fund(self, address: str, usdc: int = 0, positions: dict[str, int] | None = None,
             unlimited: bool = False) -> Wallet:
        w = self.wallet(address)
        w.usdc += usdc
        w.unlimited = w.unlimited or unlimited
        for token, shares in (positions or {}).items():
            w.positions[token] = w.positions.get(token, 0) + shares
        return w

    # ----- reads -----
    def market_of(self, token: str) -> MarketSpec:
        spec = self.token_market.get(token)
        if spec is None:
            raise KeyError(token)
        return spec

    def top(self, token: str) -> TopOfBook:
        book = self.books[token]
        return TopOfBook(book.best_bid(), book.best_ask(), self.last_trade.get(token))

    def open_orders(self, account: str | None = None) -> list[Order]:
        return [o for o in self.orders.values() if o.is_open and (account is None or o.account == account)]

    # ----- events -----
    def drain(self) -> tuple[list[LevelChange], list[Fill | OrderEvent]]:
        changes = []
        for token, side, price in self._dirty:
            book = self.books[token]
            changes.append(LevelChange(token, book.market, side, price, book.level_total(side, price)))
        self._dirty.clear()
        events, self._events = self._events, []
        return changes, events

    def _touch(self, order: Order) -> None:
        self._dirty[(order.token, order.side, order.price)] = None

    # ----- validation -----
    def validate(self, order: Order) -> None:
        spec = self.token_market.get(order.token)
        if spec is None:
            raise OrderRejected(f"invalid token id: {order.token}", "INVALID_ORDER_TOKEN")
        if order.market != spec.condition_id:
            order.market = spec.condition_id
        if spec.closed or not spec.active:
            raise OrderRejected("market is closed: it no longer accepts orders", "MARKET_NOT_READY")
        if order.order_type not in ORDER_TYPES:
            raise OrderRejected(f"invalid orderType {order.order_type!r}: use GTC, GTD, FOK or FAK",
                                "INVALID_ORDER_TYPE")
        if order.post_only and order.order_type in MARKET_TYPES:
            raise OrderRejected("invalid post-only order: postOnly is only allowed with GTC and GTD",
                                "INVALID_POST_ONLY_ORDER_TYPE")
        tick = spec.tick
        if not (tick <= order.price <= UNIT - tick):
            raise OrderRejected(
                f"order {order.id} is invalid. Price ({fmt(order.price)}), min: {fmt(tick)} - max: "
                f"{fmt(UNIT - tick)}", "INVALID_ORDER_MIN_TICK_SIZE")
        if order.order_type not in MARKET_TYPES:
            if order.price % tick:
                raise OrderRejected(
                    f"order {order.id} is invalid. Price ({fmt(order.price)}) breaks the minimum tick "
                    f"size rule: {fmt(tick)}", "INVALID_ORDER_MIN_TICK_SIZE")
            if order.size < spec.min_size:
                raise OrderRejected(
                    f"order {order.id} is invalid. Size ({fmt(order.size)}) lower than the minimum: "
                    f"{fmt(spec.min_size)}", "INVALID_ORDER_MIN_SIZE")
        if order.size <= 0 or (order.max_cost is not None and order.max_cost <= 0):
            raise OrderRejected(f"order {order.id} is invalid. Size must be positive", "INVALID_ORDER_MIN_SIZE")
        if order.order_type == "GTD" and order.expiration <= order.created_ms // 1000:
            raise OrderRejected(f"order {order.id} is invalid. Expiration is in the past",
                                "INVALID_ORDER_EXPIRATION")
        if order.id in self.seen_order_ids:
            raise OrderRejected(f"order {order.id} is invalid. Duplicated.", "INVALID_ORDER_DUPLICATED")
        w = self.wallet(order.maker)
        if w.unlimited:
            return
        if order.side == "BUY":
            cost = order.max_cost if order.max_cost is not None else mul_units(order.size, order.price)
            need = cost + taker_fee_e6(order.size, order.price, rate_ppm(spec.fee_rate))
            if w.usdc - w.reserved_usdc() < need:
                raise OrderRejected(
                    f"not enough balance / allowance: need {fmt(need)} pUSD, available "
                    f"{fmt(w.usdc - w.reserved_usdc())}", "INVALID_ORDER_NOT_ENOUGH_BALANCE")
        else:
            have = w.positions.get(order.token, 0) - w.reserved_shares(order.token)
            if have < order.size:
                raise OrderRejected(
                    f"not enough balance / allowance: need {fmt(order.size)} shares, available {fmt(have)}",
                    "INVALID_ORDER_NOT_ENOUGH_BALANCE")

    # ----- matching -----
    def _terms(self, order: Order) -> OrderTerms:
        """The order as the shared fill rules read it (bot_runtime.venue.polymarket.fills)."""
        return OrderTerms(order.side, order.order_type, order.price, order.size, order.max_cost)

    def _fok_complete(self, order: Order, book: OrderBook) -> bool:
        """Would a FOK complete against the book now? The same walk the paper engine does."""
        def levels() -> Iterator[tuple[int, int]]:
            for price, level in book.crossing_levels(order.side, order.price):
                yield price, sum(m.remaining for m in level.orders.values()
                                 if not self._expired(m, order.created_ms))
        return walk(self._terms(order), levels())[1]

    @staticmethod
    def _expired(order: Order, now_ms: int) -> bool:
        return order.order_type == "GTD" and 0 < order.expiration <= now_ms // 1000

    def submit(self, order: Order) -> SubmitResult:
        """Validate, match and (GTC/GTD) rest an order. Raises OrderRejected."""
        self.validate(order)
        spec = self.token_market[order.token]
        book = self.books[order.token]
        best_opp = book.best_ask() if order.side == "BUY" else book.best_bid()
        crosses = best_opp is not None and (
            best_opp <= order.price if order.side == "BUY" else best_opp >= order.price)
        if order.post_only and crosses:
            raise OrderRejected("invalid post-only order: order crosses book", "INVALID_POST_ONLY_ORDER")
        if order.order_type == "FOK" and not self._fok_complete(order, book):
            self.seen_order_ids.add(order.id)
            order.status = "CANCELED"
            self.orders[order.id] = order
            self._events.append(OrderEvent(order, "CANCELLATION", order.created_ms))
            raise OrderRejected("order couldn't be fully filled. FOK orders are fully filled or killed.",
                                "FOK_ORDER_NOT_FILLED_ERROR")
        if not order.internal:  # scenario traders' ids need no duplicate check
            self.seen_order_ids.add(order.id)
        self.orders[order.id] = order
        fills = self._match(order, book, spec) if crosses else []
        if order.order_type == "FAK" and not fills:
            order.status = "CANCELED"
            self._events.append(OrderEvent(order, "CANCELLATION", order.created_ms))
            raise OrderRejected("no orders found to match with FAK order. FAK orders are partially filled "
                                "or killed if no match is found.", "FAK_ORDER_NOT_FILLED_ERROR")
        if order.remaining > 0 and order.order_type in ("GTC", "GTD"):
            book.add(order)
            self.wallet(order.maker).open_orders[order.id] = order
            self._touch(order)
            self._events.append(OrderEvent(order, "PLACEMENT", order.created_ms))
            status = "live" if not fills else "matched"
        else:
            order.status = "MATCHED" if fills else "CANCELED"
            if fills:
                self._events.append(OrderEvent(order, "UPDATE", order.created_ms))
            status = "matched" if fills else "unmatched"
            self._retire(order)
        return SubmitResult(order, fills, status)

    def _retire(self, order: Order) -> None:
        """Forget finished scenario orders: market makers churn thousands, API orders stay queryable."""
        if order.internal:
            self.orders.pop(order.id, None)

    def _match(self, taker: Order, book: OrderBook, spec: MarketSpec) -> list[Fill]:
        fills: list[Fill] = []
        now = taker.created_ms
        terms = self._terms(taker)
        spent_e12 = 0  # exact, as the shared rules count it
        for price, level in book.crossing_levels(taker.side, taker.price):
            for maker in list(level.orders.values()):
                if self._expired(maker, now):
                    self._cancel(maker, now)
                    continue
                shares = take_at(terms, price, maker.remaining, spent_e12, taker.filled)
                if shares <= 0:
                    return fills
                fills.append(self._execute(taker, maker, book, price, shares, spec, now))
                spent_e12 += shares * price
                if complete(terms, spent_e12, taker.filled, price):
                    return fills
        return fills

    def _execute(self, taker: Order, maker: Order, book: OrderBook, price: int, shares: int,
                 spec: MarketSpec, now: int) -> Fill:
        notional = mul_units(shares, price)
        fee = taker_fee_e6(shares, price, rate_ppm(spec.fee_rate))
        book.reduce(maker, shares)
        self._touch(maker)
        for o in (taker, maker):
            o.filled += shares
            o.spent += notional
        if taker.max_cost is not None and taker.filled > taker.size:
            taker.size = taker.filled  # a budgeted BUY bought more shares than its estimate
        tw, mw = self.wallet(taker.maker), self.wallet(maker.maker)
        buyer, seller = (tw, mw) if taker.side == "BUY" else (mw, tw)
        buyer.usdc -= notional
        seller.usdc += notional
        buyer.positions[taker.token] = buyer.positions.get(taker.token, 0) + shares
        seller.positions[taker.token] = seller.positions.get(taker.token, 0) - shares
        tw.usdc -= fee
        self._fill_seq += 1
        digest = hashlib.sha256(f"fill:{self.seed}:{self._fill_seq}:{taker.id}:{maker.id}".encode()).digest()
        outcome, _ = spec.outcome_of(taker.token)
        fill = Fill(
            id=str(uuid.UUID(bytes=digest[:16])), ts_ms=now, market=spec.condition_id, token=taker.token,
            outcome=outcome, price=price, size=shares, fee=fee, fee_rate=spec.fee_rate,
            taker_side=taker.side, taker_order_id=taker.id, maker_order_id=maker.id,
            taker=tw.address, maker=mw.address, taker_owner=taker.owner, maker_owner=maker.owner,
            transaction_hash="0x" + hashlib.sha256(b"tx" + digest).hexdigest())
        taker.trade_ids.append(fill.id)
        maker.trade_ids.append(fill.id)
        if maker.remaining <= 0:
            maker.status = "MATCHED"
            book.remove(maker)
            mw.open_orders.pop(maker.id, None)
            self._retire(maker)
        self.ledger.append(fill)
        self.last_trade[taker.token] = price
        self._events.append(fill)
        self._events.append(OrderEvent(maker, "UPDATE", now))
        return fill

    # ----- cancels and expiry -----
    def _cancel(self, order: Order, now_ms: int) -> None:
        book = self.books[order.token]
        book.remove(order)
        self._touch(order)
        order.status = "CANCELED"
        self.wallet(order.maker).open_orders.pop(order.id, None)
        self._events.append(OrderEvent(order, "CANCELLATION", now_ms))
        self._retire(order)

    def cancel(self, order_id: str, account: str | None, now_ms: int) -> str | None:
        """Cancel one order; returns None on success or the reason it was not canceled."""
        order = self.orders.get(order_id)
        if order is None or (account is not None and order.account != account):
            return "order not found"
        if not order.is_open:
            return "order already " + ("matched" if order.status == "MATCHED" else "canceled")
        self._cancel(order, now_ms)
        return None

    def cancel_where(self, account: str, now_ms: int, market: str | None = None,
                     token: str | None = None) -> list[str]:
        done = []
        for order in self.open_orders(account):
            if (market and order.market != market) or (token and order.token != token):
                continue
            self._cancel(order, now_ms)
            done.append(order.id)
        return done

    def expire(self, now_ms: int) -> list[str]:
        gone = [o for o in self.open_orders() if self._expired(o, now_ms)]
        for o in gone:
            self._cancel(o, now_ms)
        return [o.id for o in gone]

    def set_tick(self, token_or_market: str, tick: int) -> MarketSpec:
        spec = self.markets.get(token_or_market) or self.market_of(token_or_market)
        spec.tick = tick
        return spec

    def resolve(self, condition_id: str, winning_token: str, now_ms: int) -> dict[str, int]:
        """Close a market, cancel its orders and pay 1 pUSD per winning share. Returns payouts."""
        spec = self.markets[condition_id]
        for order in self.open_orders():
            if order.market == condition_id:
                self._cancel(order, now_ms)
        spec.closed = True
        spec.winning_token = winning_token
        payouts: dict[str, int] = {}
        for w in self.wallets.values():
            for token in spec.tokens:
                shares = w.positions.pop(token, 0)
                if token == winning_token and shares > 0:
                    w.usdc += shares
                    payouts[w.address] = payouts.get(w.address, 0) + shares
        return payouts

    def merge(self, address: str, condition_id: str, shares: int) -> None:
        """Merge a full YES+NO set back into collateral (what an arbitrageur does after buying both)."""
        spec = self.markets[condition_id]
        w = self.wallet(address)
        for token in spec.tokens:
            if w.positions.get(token, 0) - w.reserved_shares(token) < shares:
                raise ValueError(f"merge: wallet holds fewer than {fmt(shares)} free shares of {token}")
        for token in spec.tokens:
            w.positions[token] -= shares
        w.usdc += shares
