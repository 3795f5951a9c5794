"""Prediction accuracy on resolved markets (the guide's KPI: > 65%)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class AccuracyTracker:
    """Keeps the latest P(YES) per market; a resolution scores it once (correct if on the right side of 0.5)."""

    predictions: dict[str, tuple[float, str]] = field(default_factory=dict)  # market -> (p_yes, yes token)
    correct: int = 0
    wrong: int = 0
    metrics: Any = None
    labels: tuple[str, str] = ("", "")

    def predict(self, market: str, p_yes: float, yes_token: str) -> None:
        self.predictions[market] = (p_yes, yes_token)

    def resolve(self, market: str, winning_token: str) -> bool | None:
        pred = self.predictions.pop(market, None)
        if pred is None or pred[0] == 0.5:
            return None
        ok = (pred[0] > 0.5) == (winning_token == pred[1])
        if ok:
            self.correct += 1
        else:
            self.wrong += 1
        if self.metrics is not None:
            self.metrics.ai_predictions.labels(*self.labels, "correct" if ok else "wrong").inc()
        return ok

    @property
    def accuracy(self) -> float | None:
        n = self.correct + self.wrong
        return self.correct / n if n else None
