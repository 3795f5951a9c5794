"""A deterministic analyzer that needs no API key: keyword sentiment over headlines, and a rule-based
approval of copy trades. It keeps the demo and the tests meaningful offline; it is not a forecaster.
"""

from __future__ import annotations

import hashlib
import math
import re

from bot_runtime.ai.types import Analysis, AnalysisRequest

_POS = frozenset(["win", "wins", "won", "lead", "leads", "leading", "surge", "surges", "soar", "soars", "rally", "rallies", "approve", "approved", "approval", "pass", "passes", "passed", "beat", "beats", "rise", "rises", "rising", "gain", "gains", "record", "confirm", "confirmed", "confirms", "likely", "ahead", "victory", "success", "successful", "agree", "agreed", "deal", "boost", "boosts", "up", "strong"])
_NEG = frozenset(["lose", "loses", "lost", "trail", "trails", "trailing", "drop", "drops", "plunge", "plunges", "fall", "falls", "falling", "reject", "rejected", "fail", "fails", "failed", "miss", "misses", "unlikely", "behind", "defeat", "delay", "delayed", "collapse", "crash", "crashes", "down", "weak", "cancel", "canceled", "cancelled", "ban", "banned", "doubt", "doubts"])
_STOP = frozenset(["will", "the", "a", "an", "of", "in", "on", "by", "to", "be", "is", "are", "for", "and", "or", "before", "after", "at", "than", "with", "this", "that"])
_WORD = re.compile(r"[a-z0-9]+")

EMBED_DIM = 256


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def keywords(question: str) -> set[str]:
    return {w for w in words(question) if w not in _STOP and len(w) > 2}


def hashed_embedding(text: str, dim: int = EMBED_DIM) -> list[float]:
    """Feature-hashed bag of words, L2-normalised: similar texts get a high cosine offline."""
    v = [0.0] * dim
    for w in words(text):
        if w in _STOP:
            continue
        h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "big")
        v[h % dim] += 1.0 if (h >> 63) & 1 else -1.0
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v] if n else v


class OfflineAnalyzer:
    model = "offline"

    async def analyze(self, req: AnalysisRequest) -> Analysis:
        if req.kind == "copy":
            return self._copy(req)
        return self._news(req)

    async def embed(self, text: str) -> list[float]:
        return hashed_embedding(text)

    def _news(self, req: AnalysisRequest) -> Analysis:
        keys = keywords(req.question)
        score = 0
        relevant = 0
        for h in req.headlines:
            ws = words(f"{h.title} {h.description}")
            if len(keys.intersection(ws)) < min(2, len(keys)):
                continue
            relevant += 1
            score += sum(1 for w in ws if w in _POS) - sum(1 for w in ws if w in _NEG)
        p0 = min(0.99, max(0.01, req.yes_price))
        if relevant == 0:
            return Analysis(p0, 0, "no relevant headlines")
        # each net sentiment word moves the log-odds by 0.25, capped at +-1.5
        shift = max(-1.5, min(1.5, 0.25 * score))
        logit = math.log(p0 / (1 - p0)) + shift
        prob = 1 / (1 + math.exp(-logit))
        conf = min(95, 40 + 10 * relevant + 5 * min(abs(score), 5))
        return Analysis(round(prob, 4), conf if score else min(conf, 40),
                        f"{relevant} relevant headline(s), net sentiment {score:+d}")

    def _copy(self, req: AnalysisRequest) -> Analysis:
        """Approve copies of sizeable trades at non-extreme prices; the confidence says how much."""
        f = req.facts
        usd = float(f.get("usd", 0.0))
        price = float(f.get("price", req.yes_price))
        age = float(f.get("age_s", 0.0))
        conf = 50.0
        conf += min(30.0, 10.0 * math.log10(max(usd, 1.0) / 100.0)) if usd > 100 else -10.0
        if price < 0.05 or price > 0.95:
            conf -= 30.0   # little left to win, or a lottery ticket
        elif 0.15 <= price <= 0.85:
            conf += 10.0
        conf -= min(20.0, age / 30.0)
        c = int(max(0, min(100, round(conf))))
        side = str(f.get("side", "BUY"))
        prob = price if side == "BUY" else 1 - price
        return Analysis(round(prob, 4), c, f"copy {side} ${usd:,.0f} at {price:.3f}, {age:.0f}s old")
