"""Random-walk books with market makers, news jumps, injected arbitrage and whale traders.

Everything is scheduled in steps (not wall-clock time) from one seeded RNG, so a seed gives the
same actions step after step however fast the exchange runs.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Literal

from bot_runtime.venue.polymarket.fees import fee_rate_for

from ..markets import EventSpec, MarketSpec, hex32_for, token_id_for
from ..units import UNIT
from .base import Action, Cancel, Dislocation, Ladder, NewsEvent, Place, Side, WalletSpec

MM = "mm"


@dataclass
class RandomWalkParams:
    binary_markets: int = 6
    negrisk_events: int = 1
    negrisk_outcomes: int = 4
    categories: tuple[str, ...] = ("crypto", "politics", "sports", "economics", "finance", "culture")
    tick: float = 0.01
    min_size: float = 5.0
    half_spread_ticks: int = 1
    depth: int = 5
    level_size: tuple[int, int] = (50, 400)  # shares
    move_prob: float = 0.15  # per market per step: fair value moves one tick
    size_noise_prob: float = 0.05  # per market per step: one level changes size
    jump_prob: float = 0.002  # per market per step: news jump
    jump_ticks: tuple[int, int] = (5, 15)
    dislocation_every: tuple[int, int] = (30, 80)  # steps between injected arbitrages
    dislocation_net_edge: tuple[float, float] = (0.005, 0.03)  # profit per $1 after taker fees
    dislocation_steps: tuple[int, int] = (10, 30)
    dislocation_size: int = 100  # shares
    negrisk_dislocation_prob: float = 0.3
    # An injected arbitrage spread over this many price levels (one tick apart, the size split
    # evenly): a plan must walk them, and a market BUY must spend the walked cost.
    dislocation_levels: int = 1
    # Neg-risk events whose named, tradable outcomes are NOT a complete set: one outcome not
    # accepting orders (paused), or augmented neg risk (placeholder and "Other" outcomes). Their
    # tradable YES asks sum well below 1: a trap for a bot that buys subsets as arbitrage.
    negrisk_paused_events: int = 0
    negrisk_augmented_events: int = 0
    whales: int = 3
    whale_every: tuple[int, int] = (20, 60)
    whale_size: tuple[int, int] = (50, 400)
    whale_usdc: float = 1_000_000.0
    whale_shares: float = 10_000.0
    # Related-market families for stat-arb (PolyAI): nested price thresholds and calendar deadlines whose
    # prices must stay ordered; a mispricing now and then breaks the order for a while.
    nested_families: int = 0
    calendar_families: int = 0
    mispricing_every: tuple[int, int] = (40, 100)  # steps
    mispricing_ticks: tuple[int, int] = (3, 8)  # how far the harder market is priced above the easier
    mispricing_steps: tuple[int, int] = (30, 80)


def _address(seed: int, key: str) -> str:
    return "0x" + hashlib.sha256(f"wallet:{seed}:{key}".encode()).hexdigest()[:40]


@dataclass
class _Book:
    """Market-maker state of one binary market."""

    spec: MarketSpec
    fair: int  # YES fair value, in ticks
    sizes: dict[tuple[str, str, int], int] = field(default_factory=dict)  # (token, side, price)
    frozen_until: int = -1  # step number; fair value does not move while a dislocation lives
    overrides: dict[str, tuple[int, int]] = field(default_factory=dict)  # token -> (bid cap, ask floor)
    rng: random.Random | None = None  # family markets draw from their own RNG (see _Family)


@dataclass
class _Family:
    """Two markets whose prices are ordered: `easier` is at least as likely as `harder`."""

    kind: Literal["nested", "calendar"]
    easier: _Book
    harder: _Book
    gap: int  # ticks between their fair values when correctly priced
    violated_until: int = -1
    end_step: int = -1


class RandomWalkScenario:
    def __init__(self, seed: int, params: RandomWalkParams | None = None, name: str = "demo") -> None:
        self.name = name
        self.seed = seed
        self.p = params or RandomWalkParams()
        self.rng = random.Random(seed)
        self.tick = round(self.p.tick * UNIT)
        self.n_ticks = UNIT // self.tick
        self.markets: list[MarketSpec] = []
        self.events: list[EventSpec] = []
        self.wallets: list[WalletSpec] = []
        self.dislocations: list[Dislocation] = []
        self.news: list[NewsEvent] = []  # the jumps, as headlines (served NewsAPI-style)
        self.step_no = 0
        self._books: list[_Book] = []
        self._groups: list[list[_Book]] = []  # neg-risk events
        self._expiries: list[tuple[int, list[str], list[_Book]]] = []
        self._next_disloc = self._draw(self.p.dislocation_every)
        self._next_whale = self._draw(self.p.whale_every)
        self._place_seq = 0
        # Families use their own RNG so adding them leaves every other market's actions unchanged.
        self.frng = random.Random(seed * 7919 + 17)
        self._families: list[_Family] = []
        self.mispricings: list[Dislocation] = []  # injected nested / calendar mispricings
        self._next_mispricing = 0
        self._build()
        self._build_families()
        if self._families:
            self._next_mispricing = self.frng.randint(*self.p.mispricing_every)

    # ----- construction -----
    def _draw(self, lo_hi: tuple[int, int]) -> int:
        return self.rng.randint(lo_hi[0], lo_hi[1])

    def _market(self, idx: int, key: str, question: str, category: str, **kw: object) -> MarketSpec:
        spec = MarketSpec(
            id=str(500_000 + idx), condition_id=hex32_for(self.seed, "condition", key), question=question,
            slug=question.lower().replace("?", "").replace(" ", "-")[:60], category=category,
            yes_token=token_id_for(self.seed, key + ":yes"), no_token=token_id_for(self.seed, key + ":no"),
            fee_rate=fee_rate_for(category), tick=self.tick, min_size=int(self.p.min_size * UNIT),
            **kw)  # type: ignore[arg-type]
        self.markets.append(spec)
        return spec

    def _build(self) -> None:
        p, lo = self.p, self.p.depth + 2
        idx = 0
        for i in range(p.binary_markets):
            cat = p.categories[i % len(p.categories)]
            spec = self._market(idx, f"bin{i}", f"Sim market {i}: will event {i} happen?", cat)
            idx += 1
            self._books.append(_Book(spec, self.rng.randint(lo + 10, self.n_ticks - lo - 10)))
        for e in range(p.negrisk_events):
            nr_id = hex32_for(self.seed, "negrisk", f"ev{e}")
            event = EventSpec(id=str(900_000 + e), slug=f"sim-election-{e}", title=f"Sim election {e}: who wins?",
                              category="politics", neg_risk=True, neg_risk_market_id=nr_id)
            weights = [self.rng.uniform(1, 3) for _ in range(p.negrisk_outcomes)]
            fairs = [max(lo, int(w / sum(weights) * self.n_ticks)) for w in weights]
            # Fair values of an event's outcomes sum to exactly 1 (no arbitrage until one is injected).
            fairs[fairs.index(max(fairs))] += self.n_ticks - sum(fairs)
            group = []
            for k in range(p.negrisk_outcomes):
                spec = self._market(idx, f"ev{e}:o{k}", f"Will candidate {k} win sim election {e}?", "politics",
                                    neg_risk=True, neg_risk_market_id=nr_id, event_id=event.id,
                                    group_item_title=f"Candidate {k}")
                idx += 1
                event.market_ids.append(spec.id)
                book = _Book(spec, fairs[k])
                self._books.append(book)
                group.append(book)
            self.events.append(event)
            self._groups.append(group)
        trap_rng = random.Random(self.seed * 31 + 5)  # own RNG: other markets' actions stay as they were
        for e in range(p.negrisk_paused_events + p.negrisk_augmented_events):
            augmented = e >= p.negrisk_paused_events
            idx = self._build_trap_event(e, idx, augmented, trap_rng)
        self.wallets.append(WalletSpec(_address(self.seed, MM), 0.0, unlimited=True, role="mm"))
        for w in range(p.whales):
            self.wallets.append(WalletSpec(_address(self.seed, f"whale{w}"), p.whale_usdc, role="whale"))

    def _build_trap_event(self, e: int, idx: int, augmented: bool, rng: random.Random) -> int:
        """A neg-risk event of three named outcomes plus (augmented) "Other" and a placeholder, or
        (paused) a fourth outcome that does not accept orders. The untradable/placeholder outcomes
        carry ~40% of the probability, so the tradable YES asks sum to ~0.6."""
        lo = self.p.depth + 2
        kind = "aug" if augmented else "paused"
        nr_id = hex32_for(self.seed, "negrisk", f"{kind}{e}")
        event = EventSpec(id=str(950_000 + idx), slug=f"sim-{kind}-{e}", title=f"Sim {kind} event {e}: who wins?",
                          category="politics", neg_risk=True, neg_risk_market_id=nr_id, augmented=augmented)
        names = ["A", "B", "C", "Other", "Person X"] if augmented else ["A", "B", "C", "D"]
        hidden = {3, 4} if augmented else {3}  # placeholder/"Other", or the paused outcome
        weights = [rng.uniform(0.6, 1.0) if k not in hidden else 2.0 / len(hidden) for k in range(len(names))]
        fairs = [max(lo, int(w / sum(weights) * self.n_ticks)) for w in weights]
        fairs[0] += self.n_ticks - sum(fairs)
        for k, name in enumerate(names):
            spec = self._market(idx, f"{kind}{e}:o{k}", f"Will {name} win sim {kind} event {e}?", "politics",
                                neg_risk=True, neg_risk_market_id=nr_id, event_id=event.id,
                                group_item_title=name)
            if (not augmented and k in hidden) or name == "Person X":  # paused / unnamed placeholder
                spec.accepting_orders_flag = False
            idx += 1
            event.market_ids.append(spec.id)
            self._books.append(_Book(spec, fairs[k]))
        self.events.append(event)
        return idx

    NESTED = (("BTC", "$100k", "$120k"), ("ETH", "$4,000", "$5,000"), ("SOL", "$200", "$300"))
    CALENDAR = ("the Fed cut rates", "a ceasefire be signed", "the bill pass the Senate")

    def _build_families(self) -> None:
        p, lo = self.p, self.p.depth + 2
        idx = len(self.markets)
        specs: list[tuple[Literal["nested", "calendar"], tuple[str, str, str], tuple[str, str, str]]] = []
        for i in range(p.nested_families):
            asset, low, high = self.NESTED[i % len(self.NESTED)]
            end = "2027-12-31T00:00:00Z"
            specs.append(("nested", (f"Will {asset} be above {low} on December 31?", end, "crypto"),
                          (f"Will {asset} be above {high} on December 31?", end, "crypto")))
        for i in range(p.calendar_families):
            subject = self.CALENDAR[i % len(self.CALENDAR)]
            specs.append(("calendar", (f"Will {subject} by December 31?", "2027-12-31T00:00:00Z", "economics"),
                          (f"Will {subject} by June 30?", "2027-06-30T00:00:00Z", "economics")))
        for n, (kind, easy, hard) in enumerate(specs):
            books = []
            for role, (question, end, cat) in (("easy", easy), ("hard", hard)):
                spec = self._market(idx, f"fam{n}:{role}", question, cat, end_date=end)
                idx += 1
                books.append(_Book(spec, 0, rng=self.frng))
            gap = self.frng.randint(5, 15)
            books[0].fair = self.frng.randint(lo + gap + 5, self.n_ticks - lo - 5)
            books[1].fair = books[0].fair - gap
            self._families.append(_Family(kind, books[0], books[1], gap))

    @property
    def mm_wallet(self) -> str:
        return self.wallets[0].address

    @property
    def whale_wallets(self) -> list[str]:
        return [w.address for w in self.wallets if w.role == "whale"]

    def initial_positions(self) -> dict[str, dict[str, int]]:
        """Whales start holding shares of every token so they can sell as well as buy."""
        shares = int(self.p.whale_shares * UNIT)
        return {w: {t: shares for m in self.markets for t in m.tokens} for w in self.whale_wallets}

    # ----- quoting -----
    def _size(self, book: _Book, token: str, side: str, price: int) -> int:
        key = (token, side, price)
        if key not in book.sizes:
            book.sizes[key] = (book.rng or self.rng).randint(*self.p.level_size) * UNIT
        return book.sizes[key]

    def _ladder(self, book: _Book, token: str, fair: int) -> Ladder:
        h, t = self.p.half_spread_ticks, self.tick
        bid_cap, ask_floor = book.overrides.get(token, (UNIT, 0))
        bids, asks = [], []
        for lvl in range(self.p.depth):
            bp, ap = (fair - h - lvl) * t, (fair + h + lvl) * t
            if t <= bp < bid_cap:
                bids.append((bp, self._size(book, token, "BUY", bp)))
            if ask_floor < ap <= UNIT - t:
                asks.append((ap, self._size(book, token, "SELL", ap)))
        return Ladder(MM, token, tuple(bids), tuple(asks))

    def _quotes(self, book: _Book) -> list[Action]:
        return [self._ladder(book, book.spec.yes_token, book.fair),
                self._ladder(book, book.spec.no_token, self.n_ticks - book.fair)]

    # ----- dynamics -----
    def _clamp(self, fair: int) -> int:
        lo = self.p.depth + 2
        return max(lo, min(self.n_ticks - lo, fair))

    def _jumped(self, now_ms: int, book: _Book, delta: int) -> None:
        self.news.append(NewsEvent(ts_ms=now_ms, market=book.spec.condition_id, question=book.spec.question,
                                   category=book.spec.category, delta=delta * self.tick / UNIT,
                                   fair=book.fair * self.tick / UNIT))

    def _walk(self, now_ms: int) -> None:
        p = self.p
        grouped = {id(b) for g in self._groups for b in g}
        for book in self._books:
            if id(book) in grouped or book.frozen_until >= self.step_no:
                continue
            r = self.rng.random()
            if r < p.jump_prob:
                before = book.fair
                book.fair = self._clamp(book.fair + self.rng.choice((-1, 1)) * self._draw(p.jump_ticks))
                if book.fair != before:
                    self._jumped(now_ms, book, book.fair - before)
            elif r < p.jump_prob + p.move_prob:
                book.fair = self._clamp(book.fair + self.rng.choice((-1, 1)))
            self._noise(book)
        for group in self._groups:
            if any(b.frozen_until >= self.step_no for b in group):
                continue
            if self.rng.random() < p.move_prob:
                i, j = self.rng.sample(range(len(group)), 2)
                step = self._draw(p.jump_ticks) if self.rng.random() < p.jump_prob * 10 else 1
                if self._clamp(group[i].fair - step) == group[i].fair - step and \
                        self._clamp(group[j].fair + step) == group[j].fair + step:
                    group[i].fair -= step
                    group[j].fair += step
                    if step > 1:
                        self._jumped(now_ms, group[j], step)
                        self._jumped(now_ms, group[i], -step)
            for book in group:
                self._noise(book)

    def _noise(self, book: _Book) -> None:
        rng = book.rng or self.rng
        if book.sizes and rng.random() < self.p.size_noise_prob:
            key = rng.choice(sorted(book.sizes))
            book.sizes[key] = rng.randint(*self.p.level_size) * UNIT

    def _walk_families(self, now_ms: int) -> None:
        for fam in self._families:
            if self.frng.random() < self.p.move_prob:
                d = self.frng.choice((-1, 1))
                if all(self._clamp(b.fair + d) == b.fair + d for b in (fam.easier, fam.harder)):
                    fam.easier.fair += d
                    fam.harder.fair += d
            if fam.violated_until >= 0 and fam.violated_until < self.step_no:
                fam.violated_until = -1
                fam.harder.fair = self._clamp(fam.easier.fair - fam.gap)
            self._noise(fam.easier)
            self._noise(fam.harder)

    def _mispricing(self, now_ms: int) -> None:
        free = [f for f in self._families if f.violated_until < 0]
        if not free:
            return
        fam = self.frng.choice(free)
        ticks = self.frng.randint(*self.p.mispricing_ticks)
        steps = self.frng.randint(*self.p.mispricing_steps)
        fam.harder.fair = self._clamp(fam.easier.fair + ticks)
        fam.violated_until = self.step_no + steps
        h, t = self.p.half_spread_ticks, self.tick / UNIT
        gap = (fam.harder.fair - fam.easier.fair) * t
        yes_ask = fam.easier.fair + h
        no_ask = self.n_ticks - fam.harder.fair + h
        # Buying the cheap side (YES of the easier market) at its ask, if both prices meet in the middle.
        net = gap / 2 - h * t - self._fee(fam.easier.spec, yes_ask)
        self.mispricings.append(Dislocation(
            ts_ms=now_ms, market=fam.harder.spec.condition_id, kind=fam.kind, edge=round(gap, 6),
            net_edge=round(net, 6), assets=[fam.easier.spec.yes_token, fam.harder.spec.no_token],
            prices=[yes_ask * t, no_ask * t], size=0.0, duration_ms=steps * 100))

    def _new_key(self, label: str) -> str:
        self._place_seq += 1
        return f"{label}:{self._place_seq}"

    def _fee(self, spec: MarketSpec, price_ticks: int) -> float:
        price = price_ticks * self.tick / UNIT
        return spec.fee_rate * price * (1 - price)

    def _inject(self, now_ms: int) -> list[Action]:
        p = self.p
        free = [b for b in self._books if b.frozen_until < self.step_no and not b.spec.neg_risk]
        free_groups = [g for g in self._groups if all(b.frozen_until < self.step_no for b in g)]
        use_group = free_groups and (not free or self.rng.random() < p.negrisk_dislocation_prob)
        target = self.rng.uniform(*p.dislocation_net_edge)
        steps = self._draw(p.dislocation_steps)
        size = p.dislocation_size * UNIT
        actions: list[Action] = []
        legs: list[tuple[_Book, str, int]] = []  # (book, token, ask in ticks)
        kind: Literal["binary", "negrisk"]
        if use_group:
            group = self.rng.choice(free_groups)
            kind, market = "negrisk", group[0].spec.neg_risk_market_id
        elif free:
            group = [self.rng.choice(free)]
            kind, market = "binary", group[0].spec.condition_id
        else:
            return actions
        # Widen the gross edge one tick at a time until the edge after taker fees reaches the target.
        for edge_ticks in range(1, self.n_ticks // 4):
            found = self._legs(kind, group, edge_ticks)
            if found is None:
                return actions
            legs = found
            if self._net(legs) >= target:
                break
        keys = []
        for book, token, ask in legs:
            book.frozen_until = self.step_no + steps
            price = ask * self.tick
            book.overrides[token] = (price, price - 1)  # ladder keeps clear of the dislocated quote
            if kind == "negrisk":
                # Keep each outcome's YES ask + NO ask >= 1: only the event-wide sum is dislocated.
                book.overrides[book.spec.no_token] = (UNIT, UNIT - price - 1)
            levels = max(1, p.dislocation_levels)
            part = size // levels // 10_000 * 10_000  # whole hundredths of a share per level
            for k in range(levels):  # the size spread over levels one tick apart, the first the cheapest
                key = self._new_key("disloc")
                keys.append(key)
                q = size - part * (levels - 1) if k == 0 else part
                actions.append(Place(key, MM, self.mm_wallet, token, "SELL", price + k * self.tick, q))
        gross = 1 - sum(a for _, _, a in legs) * self.tick / UNIT
        net = self._net(legs)
        self.dislocations.append(Dislocation(
            ts_ms=now_ms, market=market, kind=kind, edge=round(gross, 6), net_edge=round(net, 6),
            assets=[t for _, t, _ in legs], prices=[a * self.tick / UNIT for _, _, a in legs],
            size=size / UNIT, duration_ms=steps * 100))
        self._expiries.append((self.step_no + steps, keys, [b for b, _, _ in legs]))
        # Quotes go out after the dislocated orders' overrides are in place (same step).
        return actions

    def _legs(self, kind: str, group: list[_Book], edge_ticks: int) -> list[tuple[_Book, str, int]] | None:
        """(book, token, dislocated ask in ticks) of each leg for a gross edge of edge_ticks."""
        h = self.p.half_spread_ticks
        if kind == "binary":
            book = group[0]
            yes_ask = book.fair + h
            no_ask = self.n_ticks - yes_ask - edge_ticks
            if no_ask < 1:
                return None
            return [(book, book.spec.yes_token, yes_ask), (book, book.spec.no_token, no_ask)]
        asks = [b.fair + h for b in group]
        cut = sum(asks) - (self.n_ticks - edge_ticks)
        legs = []
        for k, book in enumerate(group):
            d = cut // len(group) + (1 if k < cut % len(group) else 0)
            if asks[k] - d < 1:
                return None
            legs.append((book, book.spec.yes_token, asks[k] - d))
        return legs

    def _net(self, legs: list[tuple[_Book, str, int]]) -> float:
        gross = 1 - sum(a for _, _, a in legs) * self.tick / UNIT
        return gross - sum(self._fee(b.spec, a) for b, _, a in legs)

    def _expire(self) -> list[Action]:
        actions: list[Action] = []
        keep = []
        for end, keys, books in self._expiries:
            if end <= self.step_no:
                actions.extend(Cancel(k) for k in keys)
                for b in books:
                    b.overrides.clear()
            else:
                keep.append((end, keys, books))
        self._expiries = keep
        return actions

    def _whale(self) -> list[Action]:
        p = self.p
        wallets = self.whale_wallets
        if not wallets:
            return []
        wallet = self.rng.choice(wallets)
        book = self.rng.choice(self._books)
        yes = self.rng.random() < 0.5
        token = book.spec.yes_token if yes else book.spec.no_token
        fair = book.fair if yes else self.n_ticks - book.fair
        side: Side = "BUY" if self.rng.random() < 0.7 else "SELL"
        reach = p.half_spread_ticks + 2
        ticks = fair + reach if side == "BUY" else fair - reach
        ticks = max(1, min(self.n_ticks - 1, ticks))
        size = self._draw(p.whale_size) * UNIT
        return [Place(self._new_key("whale"), f"whale:{wallet}", wallet, token, side, ticks * self.tick, size, "FAK")]

    def step(self, now_ms: int) -> list[Action]:
        self.step_no += 1
        actions: list[Action] = self._expire()
        if self.step_no > 1:
            self._walk(now_ms)
        if self.p.dislocation_every[1] > 0:
            self._next_disloc -= 1
            if self._next_disloc <= 0:
                self._next_disloc = self._draw(self.p.dislocation_every)
                actions.extend(self._inject(now_ms))
        if self._families:
            if self.step_no > 1:
                self._walk_families(now_ms)
            self._next_mispricing -= 1
            if self._next_mispricing <= 0:
                self._next_mispricing = self.frng.randint(*self.p.mispricing_every)
                self._mispricing(now_ms)
        quotes: list[Action] = []
        for book in self._books:
            quotes.extend(self._quotes(book))
        for fam in self._families:
            quotes.extend(self._quotes(fam.easier))
            quotes.extend(self._quotes(fam.harder))
        # Ladders first (they make room), then one-shot orders, then whales hit the fresh book.
        ordered = [a for a in actions if isinstance(a, Cancel)] + quotes + [a for a in actions if isinstance(a, Place)]
        if self.p.whales and self.p.whale_every[1] > 0:
            self._next_whale -= 1
            if self._next_whale <= 0:
                self._next_whale = self._draw(self.p.whale_every)
                ordered.extend(self._whale())
        return ordered
