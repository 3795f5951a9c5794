"""What a scenario is: market definitions plus a deterministic stream of trader actions.

Scenarios never touch the engine. `step(now_ms)` returns actions that the exchange applies, so
the same seed gives the same actions step after step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from ..markets import EventSpec, MarketSpec

Side = Literal["BUY", "SELL"]


@dataclass(frozen=True)
class Ladder:
    """Target resting quotes of a market maker on one token: [(price, size)], micro-units."""

    owner: str
    token: str
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Place:
    """A one-shot order (dislocation liquidity, whale trade). `key` names it for a later Cancel."""

    key: str
    owner: str
    wallet: str
    token: str
    side: Side
    price: int
    size: int
    order_type: str = "GTC"


@dataclass(frozen=True)
class Cancel:
    key: str


Action = Ladder | Place | Cancel


@dataclass
class Dislocation:
    """An injected arbitrage (kinds binary, negrisk) or stat-arb mispricing (kinds nested, calendar).

    Arbitrage: `edge` = 1 - sum of the legs' asks, `net_edge` subtracts one share's taker fees;
    `market` is the condition id (binary) or the negRiskMarketID (neg-risk event).
    Mispricing: `market` is the mispriced (harder / earlier-deadline) market, `edge` how far its mid
    sits above the easier market's, `net_edge` the profit per $1 of buying the easier market's YES
    at its ask if the two mids meet halfway, after the fee; assets = [easier YES, harder NO].
    """

    ts_ms: int
    market: str
    kind: Literal["binary", "negrisk", "nested", "calendar"]
    edge: float
    net_edge: float
    assets: list[str]
    prices: list[float]
    size: float
    duration_ms: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class NewsEvent:
    """A news-like jump of a market's fair value (`delta` in price, signed)."""

    ts_ms: int
    market: str
    question: str
    category: str
    delta: float
    fair: float

    def headline(self) -> str:
        move = "surge" if self.delta > 0 else "slump"
        return f"{self.question} Odds {move} after a new report"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "headline": self.headline()}


@dataclass
class WalletSpec:
    address: str
    usdc: float
    unlimited: bool = False
    role: str = "trader"  # mm | whale | trader


class Scenario(Protocol):
    name: str
    seed: int
    markets: list[MarketSpec]
    events: list[EventSpec]
    wallets: list[WalletSpec]
    dislocations: list[Dislocation]

    def step(self, now_ms: int) -> list[Action]: ...


@dataclass
class ScenarioState:
    """Bookkeeping shared by scenario implementations."""

    step_no: int = 0
    active: dict[str, int] = field(default_factory=dict)  # dislocation key -> end ms
