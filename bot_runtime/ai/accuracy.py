"""Prediction accuracy on resolved markets: the Brier score of the AI's probabilities next to the
Brier score of the market's own price at the moment of each prediction, and the guide's hit rate
(> 65% on the right side of 0.5).

Brier = mean of (p - outcome)^2 over resolved markets (0 is perfect, 0.25 is a coin flip). The market
price is the benchmark: an AI whose Brier is not below the market's adds nothing to the price it
trades against. The state is a plain dict (`to_state` / `from_state`) kept in the journal, so the
score survives restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATE_VERSION = 1


@dataclass
class AccuracyTracker:
    """The latest prediction per market; a resolution scores it once."""

    # market -> (p_yes by the AI, market's YES price then or None, yes token, prediction time ms)
    predictions: dict[str, tuple[float, float | None, str, int]] = field(default_factory=dict)
    correct: int = 0
    wrong: int = 0
    scored: int = 0                 # resolved predictions in the Brier sums
    brier_sum: float = 0.0          # sum of (p_ai - outcome)^2
    market_scored: int = 0          # of those, with a market price at prediction time
    market_brier_sum: float = 0.0   # sum of (p_market - outcome)^2
    model_brier_sum: float = 0.0    # the AI's sum over the same predictions (like for like)
    metrics: Any = None
    labels: tuple[str, str] = ("", "")

    def predict(self, market: str, p_yes: float, yes_token: str, market_p: float | None = None,
                ts_ms: int = 0) -> None:
        self.predictions[market] = (p_yes, market_p, yes_token, ts_ms)

    def resolve(self, market: str, winning_token: str) -> bool | None:
        """Score the market's prediction; returns whether it was on the right side (None: no call)."""
        pred = self.predictions.pop(market, None)
        if pred is None:
            return None
        p, market_p, yes_token, _ = pred
        outcome = 1.0 if winning_token == yes_token else 0.0
        self.scored += 1
        self.brier_sum += (p - outcome) ** 2
        if market_p is not None:
            self.market_scored += 1
            self.market_brier_sum += (market_p - outcome) ** 2
            self.model_brier_sum += (p - outcome) ** 2
        if p == 0.5:
            return None
        ok = (p > 0.5) == (outcome == 1.0)
        if ok:
            self.correct += 1
        else:
            self.wrong += 1
        if self.metrics is not None:
            self.metrics.ai_predictions.labels(*self.labels, "correct" if ok else "wrong").inc()
        return ok

    @property
    def accuracy(self) -> float | None:
        """Hit rate: resolved predictions on the right side of 0.5."""
        n = self.correct + self.wrong
        return self.correct / n if n else None

    @property
    def brier(self) -> float | None:
        return self.brier_sum / self.scored if self.scored else None

    @property
    def market_brier(self) -> float | None:
        """The market price's Brier score over the predictions that had one."""
        return self.market_brier_sum / self.market_scored if self.market_scored else None

    @property
    def skill(self) -> float | None:
        """Market Brier minus the AI's, over the same predictions: > 0 means better than the price."""
        if not self.market_scored:
            return None
        return (self.market_brier_sum - self.model_brier_sum) / self.market_scored

    def to_state(self) -> dict[str, Any]:
        return {"v": STATE_VERSION, "predictions": {k: list(v) for k, v in self.predictions.items()},
                "correct": self.correct, "wrong": self.wrong, "scored": self.scored, "brier_sum": self.brier_sum,
                "market_scored": self.market_scored, "market_brier_sum": self.market_brier_sum,
                "model_brier_sum": self.model_brier_sum}

    def load_state(self, state: Any) -> None:
        """Continue from a saved state; anything unreadable is ignored (a fresh tracker)."""
        if not isinstance(state, dict) or state.get("v") != STATE_VERSION:
            return
        try:
            preds = {str(k): (float(v[0]), None if v[1] is None else float(v[1]), str(v[2]), int(v[3]))
                     for k, v in dict(state.get("predictions") or {}).items()}
            self.correct, self.wrong = int(state["correct"]), int(state["wrong"])
            self.scored, self.brier_sum = int(state["scored"]), float(state["brier_sum"])
            self.market_scored = int(state["market_scored"])
            self.market_brier_sum = float(state["market_brier_sum"])
            self.model_brier_sum = float(state["model_brier_sum"])
        except (KeyError, TypeError, ValueError, IndexError):
            return
        self.predictions = preds
