"""SimExchange: the engine, a scenario driving it, auth, faults and the aiohttp servers: the exchange's
APIs on one port, the `/_sim/*` admin endpoints on another (token-protected, loopback by default)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import secrets
import time
from typing import Any

from aiohttp import web

from .auth import ApiCreds, ApiKeyStore
from .book import Order
from .config import SimConfig
from .engine import Fill, MatchingEngine, OrderEvent, OrderRejected
from .faults import Faults
from .hub import MarketHub, UserHub
from .markets import MarketSpec, TopOfBook
from .ratelimits import RateLimiter
from .scenarios import PRESET_FAULTS, Cancel, Ladder, Place, make_scenario
from .units import UNIT, to_units
from .wire import (
    best_bid_ask_event,
    book_event,
    last_trade_event,
    order_event,
    price_change_events,
    trade_json,
)

log = logging.getLogger("botfleet.sim")

TRADE_STATUSES = ("MATCHED", "MINED", "CONFIRMED")


def now_ms() -> int:
    return int(time.time() * 1000)


class SimExchange:
    """A simulated Polymarket. Use `await start()`, then point clients at `url`."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.engine = MatchingEngine(seed=self.config.seed)
        self.scenario = make_scenario(self.config.scenario, self.config.seed, **self.config.scenario_params)
        for spec in self.scenario.markets:
            self.engine.add_market(spec)
        for w in self.scenario.wallets:
            self.engine.fund(w.address, to_units(w.usdc), unlimited=w.unlimited)
        for wallet, positions in self.scenario.initial_positions().items():
            self.engine.fund(wallet, positions=positions)
        self.keys = ApiKeyStore()
        self.faults = Faults(rng=random.Random(self.config.seed))
        if self.config.scenario in PRESET_FAULTS and self.config.preset_faults:
            self.faults.apply(PRESET_FAULTS[self.config.scenario])
        self.rate_limiter = RateLimiter(self.config.rate_limit_scale) if self.config.enforce_rate_limits else None
        self.market_hub = MarketHub(self._snapshot, lambda t: t in self.engine.books, self.faults.is_stale)
        self.user_hub = UserHub(self.keys)
        self.faults._drop_callbacks.append(self._drop_sockets)
        self.trade_status: dict[str, tuple[str, int]] = {}  # fill id -> (status, last update s)
        self._pending_trades: list[Fill] = []  # not yet CONFIRMED
        self.heartbeats: dict[str, float] = {}  # account -> monotonic time of the last heartbeat
        self.heartbeat_ids: dict[str, str] = {}  # account -> the id the next heartbeat must send
        self.heartbeat_chain: dict[str, int] = {}  # account -> heartbeats in the current chain
        self.url = ""
        self.port = 0
        self.admin_token = self.config.admin_token or secrets.token_urlsafe(32)
        self.admin_url = ""
        self.admin_port = 0
        self._mm: dict[tuple[str, str], dict[tuple[str, int], Order]] = {}  # (owner, token) -> (side, price) -> order
        self._placed: dict[str, Order] = {}  # scenario one-shot orders by key
        self.delayed: dict[str, Order] = {}  # orders answered `delayed`, not matched yet
        self.competitor_fills = 0
        self.delayed_total = 0  # orders answered `delayed` so far
        self.competitor_wallet = "0x" + hashlib.sha256(f"competitor:{self.config.seed}".encode()).hexdigest()[:40]
        self.engine.fund(self.competitor_wallet, unlimited=True)
        self._seq = 0
        self._tops: dict[str, tuple[int | None, int | None]] = {}
        self._queue: asyncio.Queue[list[tuple[str, Any]]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._admin_runner: web.AppRunner | None = None
        self.app = self._build_app()
        self.admin_app = self._build_admin_app()

    # ----- Python API -----
    @property
    def ledger(self) -> list[Fill]:
        return self.engine.ledger

    @property
    def markets(self) -> list[MarketSpec]:
        return self.scenario.markets

    def add_wallet(self, address: str, usdc: float = 0.0, positions: dict[str, float] | None = None) -> None:
        """Credit pUSD (and optionally shares by token id) to a wallet."""
        self.engine.fund(address, to_units(usdc), {t: to_units(s) for t, s in (positions or {}).items()})

    def balance(self, address: str) -> float:
        return self.engine.wallet(address).usdc / UNIT

    def position(self, address: str, token: str) -> float:
        return self.engine.wallet(address).positions.get(token, 0) / UNIT

    def create_api_key(self, address: str, nonce: int | None = None) -> ApiCreds:
        """Create credentials for a wallet (as POST /auth/api-key does); funds a new wallet with default_usdc."""
        fresh = address.lower() not in self.engine.wallets
        creds = self.keys.create(address, self.keys.next_nonce(address) if nonce is None else nonce)
        if fresh:
            self.add_wallet(address, self.config.default_usdc)
        return creds

    def set_tick_size(self, token_or_market: str, tick: str) -> None:
        """Change a market's tick size and announce it with `tick_size_change`."""
        spec = self.engine.market_of(token_or_market) if token_or_market in self.engine.token_market \
            else self.engine.markets[token_or_market]
        old = spec.tick
        self.engine.set_tick(spec.condition_id, to_units(tick))
        ts = now_ms()
        frames = [({"event_type": "tick_size_change", "asset_id": t, "market": spec.condition_id,
                    "old_tick_size": _fmt(old), "new_tick_size": tick, "timestamp": str(ts)}, {t}, False)
                  for t in spec.tokens]
        self._enqueue([("market", frames)])

    def resolve_market(self, condition_id: str, winning_token: str) -> dict[str, int]:
        ts = now_ms()
        payouts = self.engine.resolve(condition_id, winning_token, ts)
        spec = self.engine.markets[condition_id]
        self._emit(ts)
        frame = {"event_type": "market_resolved", "market": condition_id, "assets_ids": list(spec.tokens),
                 "winning_asset_id": winning_token, "winning_outcome": spec.outcome_of(winning_token)[0],
                 "timestamp": str(ts)}
        self._enqueue([("market", [(frame, set(spec.tokens), True)])])
        return payouts

    async def step(self, now: int | None = None) -> None:
        """Advance the scenario by one step (background stepping does this every step_ms / speed)."""
        ts = now if now is not None else now_ms()
        self._apply(self.scenario.step(ts), ts)
        self.engine.expire(ts)
        self._emit(ts)
        await self.flush()

    async def flush(self) -> None:
        """Wait until everything emitted so far has been sent to websocket clients."""
        if self._queue is not None:
            await self._queue.join()

    # ----- realism: delayed matching and competing takers -----
    def delay_order(self, order: Order, delay_s: float) -> None:
        """Match `order` `delay_s` from now (the POST already answered `delayed`)."""
        self.delayed[order.id] = order
        self.delayed_total += 1
        asyncio.get_running_loop().call_later(delay_s, self._match_delayed, order.id)

    def _match_delayed(self, order_id: str) -> None:
        order = self.delayed.get(order_id)
        if order is None:
            return
        ts = now_ms()
        order.created_ms = ts
        try:
            self.compete(order)
            self.engine.submit(order)
        except OrderRejected as exc:  # killed: the engine keeps the order as CANCELED for GET /data/order
            log.debug("delayed order %s not filled: %s", order_id, exc.message)
            self.engine.orders.setdefault(order.id, order)
            order.status = "CANCELED"
        finally:
            del self.delayed[order_id]
            self._emit(ts)

    def compete(self, order: Order) -> list[Fill]:
        """A competing taker faster than our order (its latency below the order-entry latency, or
        any delayed order) takes `share` of the liquidity our order would cross, just before it."""
        f = self.faults
        slower = order.id in self.delayed or (f.order_latency.on(time.monotonic())
                                              and f.order_latency.value > f.competitor.value)
        if not slower or not f.hit(f.competitor):
            return []
        book = self.engine.books[order.token]
        crossing = sum(lvl.total for _, lvl in book.crossing_levels(order.side, order.price))
        want = int(crossing * f.competitor.share) // 10_000 * 10_000
        if want <= 0:
            return []
        rival = Order(id=self._next_id("competitor"), owner="competitor", maker=self.competitor_wallet,
                      token=order.token, market=order.market, side=order.side, price=order.price, size=want,
                      order_type="FAK", created_ms=now_ms(), internal=True, account="competitor")
        try:
            res = self.engine.submit(rival)
        except OrderRejected:
            return []
        self.competitor_fills += len(res.fills)
        return res.fills

    # ----- scenario actions -----
    def _next_id(self, label: str) -> str:
        self._seq += 1
        return "0x" + hashlib.sha256(f"{label}:{self.config.seed}:{self._seq}".encode()).hexdigest()

    def _internal(self, owner: str, wallet: str, token: str, side: str, price: int, size: int,
                  order_type: str, ts: int) -> Order | None:
        spec = self.engine.market_of(token)
        order = Order(id=self._next_id("internal"), owner=owner, maker=wallet, token=token,
                      market=spec.condition_id, side=side, price=price, size=size,  # type: ignore[arg-type]
                      order_type=order_type, created_ms=ts, internal=True, account=owner)
        try:
            self.engine.submit(order)
        except OrderRejected as exc:
            log.debug("scenario order rejected: %s", exc.message)
            return None
        return order

    def _apply(self, actions: list[Any], ts: int) -> None:
        for action in actions:
            if isinstance(action, Ladder):
                self._apply_ladder(action, ts)
            elif isinstance(action, Place):
                order = self._internal(action.owner, action.wallet, action.token, action.side, action.price,
                                       action.size, action.order_type, ts)
                if order is not None and order.is_open:
                    self._placed[action.key] = order
            elif isinstance(action, Cancel):
                placed = self._placed.pop(action.key, None)
                if placed is not None and placed.is_open:
                    self.engine.cancel(placed.id, None, ts)

    def _apply_ladder(self, lad: Ladder, ts: int) -> None:
        wallet = self.scenario.mm_wallet
        want = {("BUY", p): s for p, s in lad.bids} | {("SELL", p): s for p, s in lad.asks}
        mine = self._mm.setdefault((lad.owner, lad.token), {})
        for level in list(mine):
            current = mine[level]
            target = want.pop(level, None)
            if current.is_open and target == current.remaining:
                continue
            if current.is_open:
                self.engine.cancel(current.id, None, ts)
            del mine[level]
            if target:
                want[level] = target  # re-place: the size changed or the order was (partly) taken
        for (side, price), size in sorted(want.items()):
            order = self._internal(lad.owner, wallet, lad.token, side, price, size, "GTC", ts)
            if order is not None and order.is_open:
                mine[(side, price)] = order

    # ----- publishing -----
    def _snapshot(self, tokens: list[str]) -> list[dict[str, Any]]:
        ts = now_ms()
        return [book_event(self.engine, t, ts) for t in tokens]

    def _emit(self, ts: int) -> None:
        """Turn the engine's pending events into websocket frames, in order."""
        changes, events = self.engine.drain()
        market_frames: list[tuple[dict[str, Any], set[str], bool]] = []
        for frame in price_change_events(self.engine, changes, ts):
            market_frames.append((frame, {c["asset_id"] for c in frame["price_changes"]}, False))
        user: list[tuple[str, Any]] = []
        for ev in events:
            if isinstance(ev, Fill):
                market_frames.append((last_trade_event(ev), {ev.token}, False))
                self.trade_status[ev.id] = ("MATCHED", ev.ts_ms // 1000)
                self._pending_trades.append(ev)
                user.append(("trade", ev))
            elif isinstance(ev, OrderEvent) and not ev.order.internal:
                user.append(("order", ev))
        # As on Polymarket, a trade that changes a book is followed by a full `book` snapshot of it.
        for token in dict.fromkeys(ev.token for ev in events if isinstance(ev, Fill)):
            market_frames.append((book_event(self.engine, token, ts), {token}, False))
        for token in {c.token for c in changes}:
            book = self.engine.books[token]
            top = (book.best_bid(), book.best_ask())
            if self._tops.get(token) != top:
                self._tops[token] = top
                market_frames.append((best_bid_ask_event(self.engine, token, ts), {token}, True))
        batch: list[tuple[str, Any]] = []
        if market_frames:
            batch.append(("market", market_frames))
        batch.extend(user)
        if batch:
            self._enqueue(batch)

    def _enqueue(self, batch: list[tuple[str, Any]]) -> None:
        if self._queue is not None:
            self._queue.put_nowait(batch)

    async def _publisher(self) -> None:
        assert self._queue is not None
        while True:
            batch = await self._queue.get()
            try:
                for kind, payload in batch:
                    if kind == "market":
                        await self.market_hub.publish(payload)
                    elif kind == "order":
                        ev: OrderEvent = payload
                        await self.user_hub.publish(ev.order.account, ev.order.market,
                                                    order_event(ev.order, ev.kind, ev.ts_ms, self.engine))
                    elif kind == "trade":
                        fill, status = payload if isinstance(payload, tuple) else (payload, "MATCHED")
                        await self._publish_trade(fill, status)
            except Exception:  # a broken socket must never stop the feed
                log.exception("publish failed")
            finally:
                self._queue.task_done()

    def _accounts_of(self, fill: Fill) -> list[tuple[str, str]]:
        """(account, owner api key) of the API users on each side of a fill."""
        out = []
        for oid in (fill.taker_order_id, fill.maker_order_id):
            order = self.engine.orders.get(oid)
            if order is not None and not order.internal:
                out.append((order.account, order.owner))
        return out

    async def _publish_trade(self, fill: Fill, status: str) -> None:
        for account, owner in self._accounts_of(fill):
            frame = trade_json(fill, status, owner, int(time.time()))
            frame["event_type"] = "trade"
            frame["timestamp"] = str(now_ms())
            frame["matchtime"] = frame["match_time"]
            frame["trade_owner"] = owner
            await self.user_hub.publish(account, fill.market, frame)

    async def _confirm_trades(self) -> None:
        """MATCHED -> MINED -> CONFIRMED, as settlement happens on chain."""
        delay = self.config.trade_confirm_ms / 1000
        while True:
            await asyncio.sleep(delay)
            pending, self._pending_trades = self._pending_trades, []
            for fill in pending:
                status, _ = self.trade_status[fill.id]
                nxt = TRADE_STATUSES[TRADE_STATUSES.index(status) + 1]
                self.trade_status[fill.id] = (nxt, int(time.time()))
                if nxt != "CONFIRMED":
                    self._pending_trades.append(fill)
                if self._accounts_of(fill):
                    self._enqueue([("trade", (fill, nxt))])  # through the queue: stays after MATCHED

    def _drop_sockets(self) -> None:
        for hub in (self.market_hub, self.user_hub):
            # 1011: "server error" close code; clients must reconnect and resubscribe.
            asyncio.get_running_loop().create_task(hub.close_all(code=1011, message=b"dropped"))

    # ----- background -----
    async def _stepper(self) -> None:
        period = self.config.step_ms / 1000 / self.config.speed
        while True:
            started = time.monotonic()
            try:
                await self.step()
            except Exception:
                log.exception("scenario step failed")
            await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))

    async def _housekeeping(self) -> None:
        """GTD expiry and the heartbeat dead-man switch."""
        while True:
            await asyncio.sleep(0.5)
            ts = now_ms()
            self.engine.expire(ts)
            deadline = time.monotonic() - self.config.heartbeat_timeout_s
            for account, last in list(self.heartbeats.items()):
                if last < deadline:
                    del self.heartbeats[account]
                    self.heartbeat_ids.pop(account, None)
                    canceled = self.engine.cancel_where(account, ts)
                    log.info("heartbeat timeout: canceled %d orders of %s", len(canceled), account)
            self._emit(ts)

    # ----- lifecycle -----
    def _build_app(self) -> web.Application:
        from .http_public import add_public_routes
        from .http_trading import add_trading_routes, fault_middleware

        app = web.Application(middlewares=[fault_middleware(self)], client_max_size=8 * 1024 * 1024)
        add_public_routes(app, self)
        add_trading_routes(app, self)
        app.router.add_get("/ws/market", self.market_hub.handle)
        app.router.add_get("/ws/user", self.user_hub.handle)
        return app

    def _build_admin_app(self) -> web.Application:
        from .http_admin import build_admin_app

        return build_admin_app(self)

    def admin_headers(self) -> dict[str, str]:
        """The header every `/_sim/*` request on `admin_url` needs."""
        return {"Authorization": f"Bearer {self.admin_token}"}

    @staticmethod
    async def _listen(runner: web.AppRunner, host: str, port: int) -> int:
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def start(self, host: str = "127.0.0.1", port: int = 0, admin_host: str = "127.0.0.1",
                    admin_port: int = 0) -> str:
        """Serve the exchange on host:port and the admin endpoints on admin_host:admin_port (0 = any free)."""
        self._queue = asyncio.Queue()
        self._tasks.append(asyncio.create_task(self._publisher(), name="sim-publisher"))
        ts = now_ms()
        self._apply(self.scenario.step(ts), ts)  # opening books
        self._emit(ts)
        self._runner = web.AppRunner(self.app, access_log=None)
        self.port = await self._listen(self._runner, host, port)
        self.url = f"http://{host}:{self.port}"
        self._admin_runner = web.AppRunner(self.admin_app, access_log=None)
        self.admin_port = await self._listen(self._admin_runner, admin_host, admin_port)
        self.admin_url = f"http://{admin_host}:{self.admin_port}"
        self._tasks.append(asyncio.create_task(self._confirm_trades(), name="sim-confirm"))
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="sim-housekeeping"))
        if self.config.speed > 0:
            self._tasks.append(asyncio.create_task(self._stepper(), name="sim-stepper"))
        log.info("simulated exchange listening on %s, admin endpoints on %s (scenario %s, seed %d)", self.url,
                 self.admin_url, self.config.scenario, self.config.seed)
        return self.url

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/ws"

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.market_hub.close_all()
        await self.user_hub.close_all()
        for runner in (self._runner, self._admin_runner):
            if runner is not None:
                await runner.cleanup()
        self._runner = self._admin_runner = None

    async def __aenter__(self) -> SimExchange:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----- helpers for the HTTP layer -----
    def tops(self, spec: MarketSpec) -> tuple[TopOfBook, TopOfBook]:
        return (self.engine.top(spec.yes_token), self.engine.top(spec.no_token))


def _fmt(units: int) -> str:
    from .units import fmt

    return fmt(units)
