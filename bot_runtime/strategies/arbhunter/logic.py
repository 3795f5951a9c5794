"""ArbHunter's decisions as pure functions over book levels, in exact integers (e6).

Buying one share of every outcome of a market (YES + NO of a binary market, or YES of every
outcome of a neg-risk event) pays exactly $1 at resolution, so the set is an arbitrage when its
cost plus taker fees is below $1 - threshold. Fees per docs/venue.md#fees: fee = shares * rate * p * (1-p),
taker only. Levels are walked best-first while the marginal set still clears the threshold, so the
size is what the book really offers, capped by the per-leg budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from bot_runtime.venue.polymarket.constants import E6, LOT_E6
from bot_runtime.venue.polymarket.fees import taker_fee_e6

E12 = E6 * E6
E18 = E12 * E6

Level = tuple[int, int]  # (price_e6, size_e6)
# An unwind sells the excess of a one-legged fill no lower than the price paid less 10%, in at most
# three FAK attempts; what the bids do not take at or above that floor is held and journaled.
UNWIND_MAX_LOSS_PPM = 100_000
UNWIND_ATTEMPTS = 3


def round_up_to_tick(price_e6: int, tick_e6: int) -> int:
    return -(-price_e6 // tick_e6) * tick_e6


def round_down_to_tick(price_e6: int, tick_e6: int) -> int:
    return price_e6 // tick_e6 * tick_e6


def valid_price(price_e6: int, tick_e6: int) -> bool:
    """tick <= price <= 1 - tick, on the tick grid."""
    return tick_e6 <= price_e6 <= E6 - tick_e6 and price_e6 % tick_e6 == 0


@dataclass(frozen=True, slots=True)
class Leg:
    token_id: str
    limit_price_e6: int   # worst level walked, rounded to the tick (up for buys, down for sells)
    cost_e6: int          # collateral paid (buy) or received (sell) at the walked levels
    fee_e6: int


@dataclass(frozen=True, slots=True)
class ArbPlan:
    side: str                 # "BUY": buy every leg; "SELL": sell every leg
    shares_e6: int            # same size on every leg
    legs: tuple[Leg, ...]
    profit_e6: int            # guaranteed at resolution (buy) or versus $1 per set (sell), after fees
    edge: float               # profit per $1 of payout (per share of the set)


def _marginal_ok(prices: Sequence[int], rates: Sequence[int], threshold_ppm: int, buy: bool) -> bool:
    """Does one more share of the set at these prices clear the threshold? (e18 fixed point)."""
    total = 0
    for p, r in zip(prices, rates, strict=True):
        f = p * (E6 - p) * r        # fee per share * 1e18
        total += p * E12 + f if buy else p * E12 - f
    margin = E18 - total if buy else total - E18
    # strict: cost < 1 - threshold  <=>  margin > threshold
    return margin > threshold_ppm * E12


def _walk_cost(levels: Iterable[Level], shares_e6: int, rate_ppm: int) -> tuple[int, int, int]:
    """(collateral, fee, worst price) to trade `shares_e6` through `levels` (best first)."""
    left = shares_e6
    cost = fee = worst = 0
    for p, s in levels:
        q = s if s < left else left
        cost += q * p // E6
        fee += taker_fee_e6(q, p, rate_ppm)
        worst = p
        left -= q
        if left == 0:
            break
    if left:
        raise ValueError("levels do not hold the requested size")
    return cost, fee, worst


def plan_set(
    side: str,
    tokens: Sequence[str],
    books: Sequence[Iterable[Level]],
    rates_ppm: Sequence[int],
    ticks_e6: Sequence[int],
    threshold_ppm: int,
    budget_e6: int,
    min_size_e6: int,
    inventory_e6: int | None = None,
    lot_e6: int = LOT_E6,
) -> ArbPlan | None:
    """Size and price one arbitrage on a complete set of outcomes, or None.

    side BUY: `books` are ask levels (best = lowest first; iterators are fine, each is read once
    and only as deep as needed); buy every leg.
    side SELL: `books` are bid levels (best = highest first); sell every leg, at most
    `inventory_e6` shares (what is held of every leg), when the bids sum above $1 + threshold.
    `budget_e6` caps the collateral of each leg; `min_size_e6` is the largest minimum order size
    among the legs. Returns None when no size clears the threshold, the minimum size or the ticks.
    """
    buy = side == "BUY"
    n = len(books)
    if n < 2 or n != len(tokens) or n != len(rates_ppm) or n != len(ticks_e6):
        return None
    its: list[Iterator[Level]] = [iter(b) for b in books]
    prices = [0] * n
    rem = [0] * n
    seen: list[list[Level]] = [[] for _ in range(n)]  # levels read, to price the final size again
    for i, it in enumerate(its):
        lv = next(it, None)
        if lv is None:
            return None
        prices[i], rem[i] = lv
        seen[i].append(lv)
    if not _marginal_ok(prices, rates_ppm, threshold_ppm, buy):
        return None
    cap = inventory_e6 if inventory_e6 is not None else None
    spent = [0] * n
    total = 0
    while True:
        q = min(rem)
        if buy:
            for i in range(n):
                qb = (budget_e6 - spent[i]) * E6 // prices[i]
                if qb < q:
                    q = qb
        if cap is not None and cap - total < q:
            q = cap - total
        if q <= 0:
            break
        total += q
        exhausted = False
        for i in range(n):
            # Ceiling: a floor here under-counts spend, and once the budget binds each pass would
            # buy a few units for free and walk the level unit by unit (a hang, not a bound).
            spent[i] += -(-q * prices[i] // E6)
            rem[i] -= q
            if rem[i] == 0:
                lv = next(its[i], None)
                if lv is None:
                    exhausted = True
                else:
                    prices[i], rem[i] = lv
                    seen[i].append(lv)
        if exhausted or not _marginal_ok(prices, rates_ppm, threshold_ppm, buy):
            break
    shares = total // lot_e6 * lot_e6
    if shares <= 0 or shares < min_size_e6:
        return None
    legs: list[Leg] = []
    net = 0
    for tok, levels, rate, tick in zip(tokens, seen, rates_ppm, ticks_e6, strict=True):
        cost, fee, worst = _walk_cost(levels, shares, rate)
        limit = round_up_to_tick(worst, tick) if buy else round_down_to_tick(worst, tick)
        if not valid_price(limit, tick):
            return None
        legs.append(Leg(tok, limit, cost, fee))
        net += -cost - fee if buy else cost - fee
    profit = shares + net if buy else net - shares
    if profit * E6 <= threshold_ppm * shares:  # per-chunk fee rounding can eat a thin edge
        return None
    return ArbPlan(side, shares, tuple(legs), profit, profit / shares)


def top_of_book_clears(best: Sequence[int], rates_ppm: Sequence[int], threshold_ppm: int, buy: bool = True) -> bool:
    """O(legs) pre-check on best prices alone, before any level is walked."""
    return _marginal_ok(best, rates_ppm, threshold_ppm, buy)


@dataclass(frozen=True, slots=True)
class LegFill:
    token_id: str
    filled_e6: int
    price_e6: int     # average fill price


@dataclass(frozen=True, slots=True)
class Repair:
    """What to do about an unbalanced set after FAK/FOK results: buy the missing shares of the
    short legs (hedge) or sell the excess of the long legs (unwind)."""

    action: str                        # "none" | "hedge" | "unwind"
    orders: tuple[tuple[str, int], ...]  # (token, shares) to BUY (hedge) or SELL (unwind)


def plan_repair(
    fills: Sequence[LegFill],
    best_asks: Sequence[int | None],
    rates_ppm: Sequence[int],
    max_loss_e6: int,
) -> Repair:
    """Decide between hedging and unwinding a one-legged (or uneven) fill.

    Hedge when completing the set at today's best asks costs at most $1 + `max_loss_e6` per
    completed set of the excess (the set still pays $1); otherwise unwind the excess at the bids.
    """
    top = max(f.filled_e6 for f in fills)
    low = min(f.filled_e6 for f in fills)
    if top == low:
        return Repair("none", ())
    excess = top - low
    # the `excess` extra sets cost what the legs above `low` already paid plus the hedge
    paid = 0
    missing: list[tuple[str, int]] = []
    hedge_cost = 0
    hedgeable = True
    for f, ask, r in zip(fills, best_asks, rates_ppm, strict=True):
        paid += (f.filled_e6 - low) * f.price_e6 // E6
        if f.filled_e6 < top:
            need = top - f.filled_e6
            missing.append((f.token_id, need))
            if ask is None:
                hedgeable = False
            else:
                hedge_cost += need * ask // E6 + taker_fee_e6(need, ask, r)
    if hedgeable and paid + hedge_cost <= excess + max_loss_e6:
        return Repair("hedge", tuple(missing))
    return Repair("unwind", tuple((f.token_id, f.filled_e6 - low) for f in fills if f.filled_e6 > low))
