"""EliteMimic's decisions as pure functions: parse whale trades, then copy or skip each one.

A copy is sized min(copyRatio x whale size, maxCopySizeUsd, the per-order risk limit), priced within
maxSlippage of the whale's price (rounded onto the tick towards the safe side), and sent as FAK so it
never rests at a price the whale has already moved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot_runtime.chain.events import ChainFill
from bot_runtime.venue.polymarket.constants import E6, LOT_E6
from bot_runtime.venue.polymarket.data_api import DataApiParseError, parse_trade


@dataclass(frozen=True, slots=True)
class WhaleTrade:
    wallet: str
    side: str           # the whale's side: BUY | SELL
    token_id: str
    market: str         # condition id ("" when only the token is known, e.g. on chain)
    price_e6: int
    shares_e6: int
    usd_e6: int
    ts_ms: int
    tx_hash: str
    source: str         # dataapi | chain | backtest
    log_index: int = -1

    @property
    def key(self) -> tuple[str, str, str]:
        """Dedupe key: one transaction can carry several fills of the same token (counted as one trade)."""
        return self.tx_hash.lower(), self.token_id, self.wallet.lower()


class TradeParseError(ValueError):
    pass


def parse_data_api_trade(item: Mapping[str, Any], source: str = "dataapi") -> WhaleTrade | None:
    """One Data API trade item -> WhaleTrade; None for non-trades (SPLIT, REDEEM...).
    The venue reads the wire item; this only says it is a whale's trade."""
    try:
        t = parse_trade(item)
    except DataApiParseError as e:
        raise TradeParseError(str(e)) from None
    if t is None:
        return None
    return WhaleTrade(t.wallet, t.side, t.token_id, t.market, t.price_e6, t.shares_e6, t.usd_e6, t.ts_ms,
                      t.tx_hash, source)


def from_chain_fill(fill: ChainFill, wallet: str, ts_ms: int) -> WhaleTrade | None:
    side = fill.for_wallet(wallet)
    if side is None:
        return None
    return WhaleTrade(wallet, side, fill.token_id, "", fill.price_e6, fill.shares_e6, fill.usdc_e6, ts_ms,
                      fill.tx_hash, "chain", fill.log_index)


@dataclass(frozen=True, slots=True)
class CopyPlan:
    side: str
    token_id: str
    price_e6: int
    shares_e6: int
    usd_e6: int


@dataclass(frozen=True, slots=True)
class CopyDecision:
    result: str                    # copy | skipped_stale | skipped_small | skipped_size | skipped_price | ...
    plan: CopyPlan | None = None
    reason: str = ""


def plan_copy(
    t: WhaleTrade,
    now_ms: int,
    *,
    copy_ratio: float,
    max_copy_usd: float,
    max_order_usd: float,
    max_slippage: float,
    max_age_s: int,
    min_whale_usd: float,
    tick_e6: int,
    min_size_e6: int,
    best_e6: int | None = None,     # current best ask (whale BUY) or best bid (whale SELL), if known
    held_e6: int = 0,               # shares we hold of the token (to copy a SELL)
) -> CopyDecision:
    age_ms = now_ms - t.ts_ms
    if age_ms > max_age_s * 1000:
        return CopyDecision("skipped_stale", reason=f"{age_ms // 1000}s old > {max_age_s}s")
    if t.usd_e6 < round(min_whale_usd * E6):
        return CopyDecision("skipped_small", reason=f"whale trade ${t.usd_e6 / E6:,.2f} < ${min_whale_usd:,.0f}")
    buy = t.side == "BUY"
    slip = round(max_slippage * E6)
    if buy:  # pay at most whale price + slippage, on the tick, below 1
        limit = min(t.price_e6 * (E6 + slip) // E6 // tick_e6 * tick_e6, E6 - tick_e6)
    else:  # sell at no less than whale price - slippage, on the tick, above 0
        limit = max(-(-(t.price_e6 * (E6 - slip) // E6) // tick_e6) * tick_e6, tick_e6)
    if limit <= 0 or limit >= E6:
        return CopyDecision("skipped_price", reason="no valid limit price within the slippage bound")
    if best_e6 is not None and ((buy and best_e6 > limit) or (not buy and best_e6 < limit)):
        return CopyDecision("skipped_price", reason=f"market moved: best {best_e6 / E6:.4f} beyond limit "
                                                    f"{limit / E6:.4f}")
    if buy:
        usd = min(round(copy_ratio * t.usd_e6), round(max_copy_usd * E6), round(max_order_usd * E6))
        shares = usd * E6 // limit // LOT_E6 * LOT_E6
    else:
        if held_e6 <= 0:
            return CopyDecision("skipped_no_position", reason="the whale sold a token we do not hold")
        cap = min(round(max_copy_usd * E6), round(max_order_usd * E6)) * E6 // limit
        shares = min(round(copy_ratio * t.shares_e6), held_e6, cap) // LOT_E6 * LOT_E6
    if shares <= 0 or shares < min_size_e6:
        return CopyDecision("skipped_size", reason=f"copy of {shares / E6:.2f} shares is below the minimum "
                                                   f"{min_size_e6 / E6:.2f}")
    return CopyDecision("copy", CopyPlan(t.side, t.token_id, limit, shares, shares * limit // E6))


def copy_won(side: str, token_id: str, winning_token: str) -> bool:
    """A resolved copy won if it bought the winner or sold a loser."""
    return (token_id == winning_token) == (side == "BUY")
