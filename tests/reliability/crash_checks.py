"""Compare an order journal with the simulated exchange's order book and ledger (pure functions)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot_runtime.execution.journal import OrderRow
from bot_runtime.types import Fill
from bot_runtime.venue.polymarket.constants import E6


@dataclass
class Mismatch:
    duplicate_orders: list[str] = field(default_factory=list)   # one intent executed more than once
    unknown_orders: list[str] = field(default_factory=list)     # on the exchange, not in the journal
    lost_fills: list[str] = field(default_factory=list)         # in the ledger, not in the journal
    phantom_fills: list[str] = field(default_factory=list)      # in the journal, not in the ledger
    wrong_fills: list[str] = field(default_factory=list)        # same trade id, different price/size/fee
    position_diffs: dict[str, tuple[int, int]] = field(default_factory=dict)  # token -> (journal, exchange)
    stuck_pending: list[str] = field(default_factory=list)      # outcome still unknown after reconcile

    def __bool__(self) -> bool:
        return any((self.duplicate_orders, self.unknown_orders, self.lost_fills, self.phantom_fills,
                    self.wrong_fills, self.position_diffs, self.stuck_pending))


def compare(rows: Iterable[OrderRow], journal_fills: Iterable[Fill], exchange_orders: Iterable[Any],
            ledger: Iterable[Any], exchange_positions: dict[str, int], address: str) -> Mismatch:
    """`exchange_orders`: the sim's Order objects of this wallet; `ledger`: the sim's fills of it."""
    rows = list(rows)
    out = Mismatch()
    by_hash: dict[str, OrderRow] = {}
    for h, n in Counter(r.order_hash.lower() for r in rows).items():
        if n > 1:
            out.duplicate_orders.append(f"order hash {h} journaled {n} times")
    by_hash = {r.order_hash.lower(): r for r in rows}
    for o in exchange_orders:
        if o.id.lower() not in by_hash:
            out.unknown_orders.append(o.id)
    me = address.lower()
    ledger = [f for f in ledger if me in (f.taker.lower(), f.maker.lower())]
    # An intent filled beyond its size means it reached the exchange twice under different orders.
    # A market BUY's size is dollars (its signed makerAmount): it may buy more shares than its
    # estimate when the book got cheaper, never spend more than its amount.
    filled: Counter[str] = Counter()
    spent: Counter[str] = Counter()
    for f in ledger:
        oid = f.taker_order_id if f.taker.lower() == me else f.maker_order_id
        filled[oid.lower()] += f.size
        spent[oid.lower()] += f.size * f.price // E6
    for oid, shares in filled.items():
        row = by_hash.get(oid)
        if row is None:
            continue
        it = row.intent
        if it.side == "BUY" and it.order_type in ("FOK", "FAK"):
            budget = it.amount_e6 or it.price_e6 * it.size_e6 // E6
            if spent[oid] > budget:
                out.duplicate_orders.append(f"{row.client_id} spent {spent[oid]} > amount {budget}")
        elif shares > it.size_e6:
            out.duplicate_orders.append(f"{row.client_id} filled {shares} > size {it.size_e6}")
    ours = {f.trade_id: f for f in journal_fills}
    # Our side(s) of each ledger fill, keyed as the journal keys them: the trade id as taker,
    # `<trade id>:<maker order id>` as maker (both when the wallet traded with itself).
    theirs: dict[str, tuple[int, int, int]] = {}
    for f in ledger:
        if f.taker.lower() == me:
            theirs[f.id] = (f.price, f.size, f.fee)
        if f.maker.lower() == me:
            theirs[f"{f.id}:{f.maker_order_id}"] = (f.price, f.size, 0)
    out.lost_fills = sorted(set(theirs) - set(ours))
    out.phantom_fills = sorted(set(ours) - set(theirs))
    for tid in set(ours) & set(theirs):
        a = ours[tid]
        if (a.price_e6, a.size_e6, a.fee_e6) != theirs[tid]:
            out.wrong_fills.append(f"{tid}: journal {(a.price_e6, a.size_e6, a.fee_e6)} ledger {theirs[tid]}")
    journal_pos: dict[str, int] = {}
    for f in ours.values():
        journal_pos[f.token_id] = journal_pos.get(f.token_id, 0) + (f.size_e6 if f.side == "BUY" else -f.size_e6)
    for token in set(journal_pos) | set(exchange_positions):
        ours_n, theirs_n = journal_pos.get(token, 0), exchange_positions.get(token, 0)
        if ours_n != theirs_n:
            out.position_diffs[token] = (ours_n, theirs_n)
    out.stuck_pending = [r.client_id for r in rows if r.status == "pending"]
    return out


__all__ = ["E6", "Mismatch", "compare"]
