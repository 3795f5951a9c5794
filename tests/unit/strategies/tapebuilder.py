"""Deterministic market-channel tapes with known arbitrage dislocations, for ArbHunter tests.

Normal frames keep every complete set priced at or above $1 (a random walk of mids with a spread),
so the only opportunities are the injected ones. Near misses (gross edge positive but below the
threshold after taker fees) are injected too: a correct strategy must not report them.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.frames import format_e6


def p(v_e6: int) -> str:
    return format_e6(v_e6)


@dataclass
class Mkt:
    cid: str
    yes: str
    no: str
    fee: float
    neg_risk_id: str = ""
    yes_mid: int = 500_000

    def gamma(self, question: str) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.cid[-6:], "question": question, "conditionId": self.cid, "slug": question.lower()[:40],
            "outcomes": json.dumps(["Yes", "No"]), "clobTokenIds": json.dumps([self.yes, self.no]),
            "orderPriceMinTickSize": 0.01, "orderMinSize": 5, "active": True, "closed": False,
            "acceptingOrders": True, "enableOrderBook": True, "feesEnabled": self.fee > 0,
            "negRisk": bool(self.neg_risk_id), "endDate": "2027-01-01T00:00:00Z",
        }
        if self.fee > 0:
            d["feeRate"] = self.fee
        if self.neg_risk_id:
            d["negRiskMarketID"] = self.neg_risk_id
        return d


@dataclass
class Tape:
    frames: list[Any] = field(default_factory=list)
    expected: list[tuple[int, str, str]] = field(default_factory=list)  # (ts, market key, kind)
    near_misses: list[tuple[int, str]] = field(default_factory=list)
    markets: list[dict[str, Any]] = field(default_factory=list)

    def write(self, dir_: Path) -> tuple[Path, Path]:
        tape = dir_ / "tape.jsonl"
        tape.write_text("".join(json.dumps(f, separators=(",", ":")) + "\n" for f in self.frames))
        mk = dir_ / "markets.json"
        mk.write_text(json.dumps(self.markets))
        return tape, mk


def _size(ts: int, i: int) -> str:
    """Level sizes that change with every snapshot (200-299), as refreshed liquidity does: a paper
    engine that remembers what it took from a level sees the level as new."""
    return str(200 + (ts // 100 + 7 * i) % 100)


def _book(m: Mkt, token: str, best_ask: int, best_bid: int, ts: int, reverse: bool) -> dict[str, Any]:
    asks = [{"price": p(best_ask + i * 10_000), "size": _size(ts, i)} for i in range(3) if best_ask + i * 10_000 < E6]
    bids = [{"price": p(best_bid - i * 10_000), "size": _size(ts, i)} for i in range(3) if best_bid - i * 10_000 > 0]
    # wire order: bids ascending, asks descending (best last); `reverse` sends the opposite order
    asks.sort(key=lambda x: float(x["price"]), reverse=not reverse)
    bids.sort(key=lambda x: float(x["price"]), reverse=reverse)
    return {"event_type": "book", "asset_id": token, "market": m.cid, "bids": bids, "asks": asks,
            "timestamp": str(ts), "hash": "0x0"}


def _quote(m: Mkt, ts: int, reverse: bool, spread: int = 10_000) -> list[dict[str, Any]]:
    """Both tokens of a market in one frame: ask(YES) + ask(NO) = 1 + 2 * spread."""
    y = m.yes_mid
    return [_book(m, m.yes, y + spread, y - spread, ts, reverse),
            _book(m, m.no, E6 - y + spread, E6 - y - spread, ts, reverse)]


def build_tape(seed: int = 7, n_binary: int = 4, steps: int = 400, threshold: float = 0.005) -> Tape:
    rnd = random.Random(seed)
    t = Tape()
    ts = 1_760_000_000_000
    mk: list[Mkt] = []
    for i in range(n_binary):
        fee = 0.07 if i % 2 == 0 else 0.0
        mk.append(Mkt(f"0x{i + 1:064x}", str(10**20 + 2 * i), str(10**20 + 2 * i + 1), fee,
                      yes_mid=rnd.randrange(20, 80) * 10_000))
    # a neg-risk event of 3 outcomes: YES asks sum to 1.05, NO asks are wide (no binary arb)
    nr_id = "0x" + "ab" * 32
    outs = [Mkt(f"0x{100 + j:064x}", str(10**21 + 2 * j), str(10**21 + 2 * j + 1), 0.0, nr_id) for j in range(3)]
    for i, m in enumerate(mk):
        t.markets.append(m.gamma(f"Binary market {i}?"))
    for j, m in enumerate(outs):  # the whole event is known: its outcomes form a complete set
        t.markets.append(m.gamma(f"Outcome {j}?") | {"eventOutcomeIds": [o.cid for o in outs]})
    yes_asks = [350_000, 350_000, 350_000]

    def tick() -> int:
        nonlocal ts
        ts += 100
        return ts

    for m in mk:
        t.frames.append(_quote(m, tick(), reverse=rnd.random() < 0.5))
    for j, m in enumerate(outs):
        t.frames.append([_book(m, m.yes, yes_asks[j], yes_asks[j] - 20_000, tick(), False),
                         _book(m, m.no, 750_000, 600_000, ts, True)])
    for _step in range(steps):
        r = rnd.random()
        if r < 0.55:  # random walk of one market's mid, both tokens in one frame
            m = rnd.choice(mk)
            m.yes_mid = min(900_000, max(100_000, m.yes_mid + rnd.choice((-10_000, 10_000))))
            t.frames.append(_quote(m, tick(), reverse=rnd.random() < 0.5))
        elif r < 0.75:  # size change deeper in the book, never at the best
            m = rnd.choice(mk)
            tok, side, px = ((m.yes, "SELL", m.yes_mid + 30_000) if rnd.random() < 0.5
                             else (m.no, "BUY", E6 - m.yes_mid - 30_000))
            if 0 < px < E6:
                t.frames.append({"event_type": "price_change", "market": m.cid, "timestamp": str(tick()),
                                 "price_changes": [{"asset_id": tok, "price": p(px), "size": str(rnd.randint(1, 500)),
                                                    "side": side, "hash": "h"}]})
        elif r < 0.85:  # binary dislocation: a cheap YES ask appears, then is removed by size "0"
            m = rnd.choice(mk)
            no_ask = E6 - m.yes_mid + 10_000
            # on a 7% fee market 5% gross beats the two legs' fees even at p = 0.5 (<= 3.5%)
            gross = 0.05 if m.fee > 0 else rnd.choice((0.01, 0.02, 0.03))
            cheap = E6 - no_ask - round(gross * E6)
            if cheap < 10_000:
                continue
            start = tick()
            t.frames.append({"event_type": "price_change", "market": m.cid, "timestamp": str(start),
                             "price_changes": [{"asset_id": m.yes, "price": p(cheap), "size": f"{rnd.randint(30, 80)}.{len(t.expected) % 100:02d}",
                                                "side": "SELL", "hash": "d"}]})
            t.expected.append((start, m.cid, "binary"))
            t.frames.append({"event_type": "price_change", "market": m.cid, "timestamp": str(tick()),
                             "price_changes": [{"asset_id": m.yes, "price": p(cheap), "size": "0", "side": "SELL",
                                                "hash": "e"}]})
            # liquidity comes back (our paper fills consumed some of the NO side): a fresh quote
            t.frames.append(_quote(m, tick(), reverse=rnd.random() < 0.5))
        elif r < 0.93:  # near miss: gross edge 1% on a 7% fee market near p = 0.5 -> not an arbitrage
            fee_mk = [m for m in mk if m.fee > 0 and 300_000 <= m.yes_mid <= 700_000]
            if not fee_mk:
                continue
            m = rnd.choice(fee_mk)
            no_ask = E6 - m.yes_mid + 10_000
            cheap = E6 - no_ask - 10_000
            start = tick()
            t.frames.append({"event_type": "price_change", "market": m.cid, "timestamp": str(start),
                             "price_changes": [{"asset_id": m.yes, "price": p(cheap), "size": "50", "side": "SELL",
                                                "hash": "n"}]})
            t.near_misses.append((start, m.cid))
            t.frames.append({"event_type": "price_change", "market": m.cid, "timestamp": str(tick()),
                             "price_changes": [{"asset_id": m.yes, "price": p(cheap), "size": "0", "side": "SELL",
                                                "hash": "o"}]})
        else:  # neg-risk dislocation: one outcome's YES ask drops so the three sum to 0.97
            j = rnd.randrange(3)
            o = outs[j]
            cheap = yes_asks[j] - 80_000
            start = tick()
            t.frames.append({"event_type": "price_change", "market": o.cid, "timestamp": str(start),
                             "price_changes": [{"asset_id": o.yes, "price": p(cheap), "size": f"{rnd.randint(20, 60)}.{len(t.expected) % 100:02d}",
                                                "side": "SELL", "hash": "x"}]})
            t.expected.append((start, nr_id, "negrisk"))
            t.frames.append({"event_type": "price_change", "market": o.cid, "timestamp": str(tick()),
                             "price_changes": [{"asset_id": o.yes, "price": p(cheap), "size": "0", "side": "SELL",
                                                "hash": "y"}]})
            # liquidity comes back (our paper fills consumed some): fresh snapshots of the event
            ts_r = tick()
            t.frames.append([_book(oo, oo.yes, yes_asks[k], yes_asks[k] - 20_000, ts_r, False)
                             for k, oo in enumerate(outs)])
    return t
