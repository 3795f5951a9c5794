"""PolyAI's statistical-arbitrage scan as pure functions over a snapshot of quotes.

Four relations that prices of related markets must respect, plus mean reversion:
- the outcomes of one neg-risk event sum to 1;
- nested thresholds are ordered ("above $120k" is no likelier than "above $100k");
- the same question with a later deadline is at least as likely ("by June" <= "by December");
- a market far (in standard deviations) from its own rolling mean tends to come back.
Each signal names the token to BUY (YES of the cheap side, or NO of the rich side), the price to pay,
an expected edge per $1 and a confidence 0-100. Quotes are e6 integers; edges are floats for reports.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.gamma import MarketInfo, complete_negrisk_events


@dataclass(frozen=True, slots=True)
class Quote:
    market: MarketInfo
    yes_bid: int | None
    yes_ask: int | None
    no_ask: int | None

    @property
    def mid(self) -> float | None:
        if self.yes_bid is None or self.yes_ask is None:
            return None
        return (self.yes_bid + self.yes_ask) / 2 / E6

    @property
    def spread(self) -> float:
        if self.yes_bid is None or self.yes_ask is None:
            return 1.0
        return (self.yes_ask - self.yes_bid) / E6


@dataclass(frozen=True, slots=True)
class Signal:
    kind: str            # event_sum | nested | calendar | mean_reversion | news
    market: str          # condition id of the market traded
    token_id: str        # token to BUY
    price_e6: int        # limit (the current ask)
    edge: float          # expected profit per $1 (per share at resolution / reversion)
    confidence: int      # 0-100
    rationale: str
    group: str = ""      # what the signal compared (event id, template...)


def _conf_from_spread(spreads: Iterable[float]) -> int:
    """Tight books are trustworthy mids: 100 at zero spread, 0 at 10 cents average."""
    s = list(spreads)
    avg = sum(s) / len(s) if s else 1.0
    return int(max(0.0, min(100.0, 100.0 * (1 - avg / 0.10))))


def _buy_yes(q: Quote, fair: float, kind: str, conf: int, why: str, group: str) -> Signal | None:
    if q.yes_ask is None:
        return None
    edge = fair - q.yes_ask / E6
    return Signal(kind, q.market.condition_id, q.market.yes_token_id, q.yes_ask, round(edge, 6), conf, why,
                  group) if edge > 0 else None


def _buy_no(q: Quote, fair: float, kind: str, conf: int, why: str, group: str) -> Signal | None:
    if q.no_ask is None:
        return None
    edge = (1 - fair) - q.no_ask / E6
    return Signal(kind, q.market.condition_id, q.market.no_token_id, q.no_ask, round(edge, 6), conf, why,
                  group) if edge > 0 else None


def event_sum_signals(quotes: Sequence[Quote]) -> list[Signal]:
    """Outcomes of one neg-risk event (all of them): mids normalised to sum 1 give each a fair value.

    Only complete events (`complete_negrisk_events`): rescaling a subset of the outcomes to sum 1
    calls every quoted outcome cheap when the missing ones hold the rest of the probability."""
    by_cid = {q.market.condition_id: q for q in quotes}
    groups: dict[str, list[Quote]] = {
        gid: [by_cid[m.condition_id] for m in ms]
        for gid, ms in complete_negrisk_events(q.market for q in quotes).items()}
    out: list[Signal] = []
    for gid, qs in sorted(groups.items()):
        mids = [q.mid for q in qs]
        if len(qs) < 2 or any(x is None for x in mids):
            continue
        total = sum(x for x in mids if x is not None)
        if total <= 0:
            continue
        conf = _conf_from_spread(q.spread for q in qs)
        best: Signal | None = None
        for q, mid in zip(qs, mids, strict=True):
            assert mid is not None
            fair = mid / total
            why = f"outcome mids sum to {total:.3f}; fair {fair:.3f} vs mid {mid:.3f}"
            for s in (_buy_yes(q, fair, "event_sum", conf, why, gid), _buy_no(q, fair, "event_sum", conf, why, gid)):
                if s is not None and (best is None or s.edge > best.edge):
                    best = s
        if best is not None:
            out.append(best)
    return out


_NUM = re.compile(r"\$?\d[\d,]*(?:\.\d+)?\s*[kmb]?", re.IGNORECASE)
_UP = re.compile(r"\b(above|over|more than|at least|exceed|exceeds|reach|reaches|hit|hits|greater than|higher than)\b",
                 re.IGNORECASE)
_DOWN = re.compile(r"\b(below|under|less than|lower than|at most)\b", re.IGNORECASE)
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"]
_DATE = re.compile(r"\b(by|before|on|in|until|through)\s+(?:the\s+)?(?:end\s+of\s+)?(" + "|".join(_MONTHS)
                   + r")\b[\w ,]*?(?=\?|$)|\b(?:in|by|before)\s+\d{4}\b|\b(" + "|".join(_MONTHS)
                   + r")\s+\d{1,2}(?:st|nd|rd|th)?(?:,?\s*\d{4})?", re.IGNORECASE)


def _number(tok: str) -> float:
    t = tok.strip().lower().replace("$", "").replace(",", "").strip()
    mult = {"k": 1e3, "m": 1e6, "b": 1e9}.get(t[-1:], 1.0)
    return float(t.rstrip("kmb").strip()) * mult


def nested_signals(quotes: Sequence[Quote], min_gap: float) -> list[Signal]:
    """Same question with different numeric thresholds (and the same end date) must be monotone."""
    groups: dict[tuple[str, str, int], list[tuple[float, Quote]]] = {}
    for q in quotes:
        text = _DATE.sub("<DATE>", q.market.question)  # "Dec 31" is a date, not a threshold
        nums = _NUM.findall(text)
        if len(nums) != 1:
            continue
        direction = 1 if _UP.search(text) else (-1 if _DOWN.search(text) else 0)
        if not direction:
            continue
        try:
            n = _number(nums[0])
        except ValueError:
            continue
        tmpl = _NUM.sub("<N>", text).strip().lower()
        groups.setdefault((tmpl, q.market.end_date, direction), []).append((n, q))
    out: list[Signal] = []
    for (tmpl, _end, direction), items in sorted(groups.items(), key=lambda kv: kv[0]):
        items.sort(key=lambda t: t[0])
        # direction +1 ("above N"): P decreases with N; a higher N priced above a lower N is a violation
        for (_, q_lo), (_, q_hi) in itertools.pairwise(items):
            easier, harder = (q_lo, q_hi) if direction > 0 else (q_hi, q_lo)
            me, mh = easier.mid, harder.mid
            if me is None or mh is None or mh - me <= min_gap:
                continue
            conf = _conf_from_spread((easier.spread, harder.spread))
            fair = (me + mh) / 2
            why = (f"'{harder.market.question}' ({mh:.3f}) priced above the easier "
                   f"'{easier.market.question}' ({me:.3f})")
            cands = [_buy_yes(easier, fair, "nested", conf, why, tmpl), _buy_no(harder, fair, "nested", conf, why, tmpl)]
            best = max((c for c in cands if c is not None), key=lambda s: s.edge, default=None)
            if best is not None:
                out.append(best)
    return out


def calendar_signals(quotes: Sequence[Quote], min_gap: float) -> list[Signal]:
    """Same question, different deadlines: the later deadline is at least as likely."""
    groups: dict[str, list[Quote]] = {}
    for q in quotes:
        text = q.market.question
        if not _DATE.search(text) or not q.market.end_date:
            continue
        tmpl = re.sub(r"\s+", " ", _DATE.sub("<DATE>", text)).strip().lower()
        groups.setdefault(tmpl, []).append(q)
    out: list[Signal] = []
    for tmpl, qs in sorted(groups.items()):
        qs.sort(key=lambda q: q.market.end_date)
        for early, late in itertools.pairwise(qs):
            if early.market.end_date == late.market.end_date:
                continue
            me, ml = early.mid, late.mid
            if me is None or ml is None or me - ml <= min_gap:
                continue
            conf = _conf_from_spread((early.spread, late.spread))
            fair = (me + ml) / 2
            why = (f"earlier deadline '{early.market.question}' ({me:.3f}) priced above the later "
                   f"'{late.market.question}' ({ml:.3f})")
            cands = [_buy_yes(late, fair, "calendar", conf, why, tmpl), _buy_no(early, fair, "calendar", conf, why, tmpl)]
            best = max((c for c in cands if c is not None), key=lambda s: s.edge, default=None)
            if best is not None:
                out.append(best)
    return out


class RollingStats:
    """Rolling mean / standard deviation of one series over the last `window` samples."""

    __slots__ = ("_xs", "window")

    def __init__(self, window: int = 30) -> None:
        self.window = window
        self._xs: deque[float] = deque(maxlen=window)

    def add(self, x: float) -> None:
        self._xs.append(x)

    def __len__(self) -> int:
        return len(self._xs)

    def mean_std(self) -> tuple[float, float]:
        n = len(self._xs)
        if n == 0:
            return 0.0, 0.0
        m = sum(self._xs) / n
        var = sum((x - m) ** 2 for x in self._xs) / (n - 1) if n > 1 else 0.0
        return m, math.sqrt(var)


def mean_reversion_signal(q: Quote, stats: RollingStats, z_entry: float = 2.5, min_samples: int = 10,
                          reversion: float = 0.5) -> Signal | None:
    """|z| above `z_entry` on a history of `min_samples`: expect `reversion` of the gap to close.

    Call before adding the current mid to `stats`, so the mid is judged against its past.
    """
    mid = q.mid
    if mid is None or len(stats) < min_samples:
        return None
    mean, std = stats.mean_std()
    if std < 0.002:  # a flat history: one tick looks like many sigmas
        return None
    z = (mid - mean) / std
    if abs(z) < z_entry:
        return None
    conf = int(max(0.0, min(100.0, 40 + 10 * (abs(z) - z_entry) + 0.5 * _conf_from_spread([q.spread]))))
    fair = mid - reversion * (mid - mean)
    why = f"mid {mid:.3f} is {z:+.1f} sd from its rolling mean {mean:.3f}"
    return (_buy_no(q, fair, "mean_reversion", conf, why, "") if z > 0
            else _buy_yes(q, fair, "mean_reversion", conf, why, ""))
