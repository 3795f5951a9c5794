"""Value types of the AI layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class AnalysisError(RuntimeError):
    """The analyzer could not produce a usable answer (the message says why; never a secret)."""


@dataclass(frozen=True, slots=True)
class Headline:
    title: str
    description: str = ""
    source: str = ""
    url: str = ""
    published_at: str = ""


@dataclass(frozen=True, slots=True)
class AnalysisRequest:
    """What an analyzer is asked: the probability that `question` resolves YES."""

    market: str                      # condition id
    question: str
    yes_price: float                 # current market price of YES (0-1)
    kind: str = "news"               # "news" | "copy"
    headlines: tuple[Headline, ...] = ()
    memories: tuple[str, ...] = ()   # summaries of related past analyses (top-k)
    facts: dict[str, Any] = field(default_factory=dict)  # e.g. whale side/size/price for "copy"


@dataclass(frozen=True, slots=True)
class Analysis:
    probability: float               # P(YES), 0-1
    confidence: int                  # 0-100
    rationale: str
    model: str = "offline"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class Analyzer(Protocol):
    model: str

    async def analyze(self, req: AnalysisRequest) -> Analysis: ...

    async def embed(self, text: str) -> list[float]: ...
