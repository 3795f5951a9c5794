"""Strategy parameters and money limits: what the bot reads, defined once.

The TradingBot CRD (operator) and the runtime configuration both build on these models, so a
parameter is declared once. Field names are camelCase because they are the Kubernetes API.
Risk-profile presets belong to the operator (botfleet_operator.presets): it renders concrete
parameters into the bot's configuration.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot_runtime.contract import formats
from bot_runtime.contract.formats import formatted

WalletAddress = Annotated[str, formatted(formats.WALLET_ADDRESS, max_length=42)]


class Strategy(StrEnum):  # the API's strategy names; each has one STRATEGY_REGISTRY entry below
    ARBHUNTER = "arbhunter"
    POLYAI = "polyai"
    ELITEMIMIC = "elitemimic"


class RiskProfile(StrEnum):
    CONSERVATIVE = "conservative"
    BALANCED = "balanced"
    AGGRESSIVE = "aggressive"


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ArbHunterParams(_Params):
    """Pure arbitrage: buy every leg when their asks plus taker fees sum below 1 - threshold."""

    minProfitThreshold: float = Field(
        0.005, gt=0, lt=0.5,
        description="Minimum expected profit per $1 of payout, after taker fees (0.005 = 0.5%).")
    tradeSizeUsd: float = Field(
        100.0, gt=0, le=100_000, description="Maximum USD spent per leg of one opportunity.")
    orderType: Literal["FOK", "FAK"] = Field(
        "FOK", description="FOK: each leg fills whole or not at all. FAK: partial fills, the excess is unwound.")
    negRisk: bool = Field(True, description="Also trade multi-outcome neg-risk events (sum of YES asks < 1).")
    maxBookAgeMs: int = Field(
        2000, ge=100, le=60_000, description="Books older than this are stale: no order is placed on them.")
    cooldownMs: int = Field(
        500, ge=0, le=60_000, description="Minimum time between two executions on the same market.")


class PolyAIParams(_Params):
    """Statistical arbitrage between related markets plus LLM analysis of news."""

    scanIntervalMinutes: float = Field(5, gt=0, le=1440, description="Stat-arb scan period.")
    newsIntervalMinutes: float = Field(10, gt=0, le=1440, description="News analysis period.")
    minConfidence: int = Field(70, ge=0, le=100, description="LLM confidence (0-100) required to trade.")
    minEdge: float = Field(0.03, gt=0, lt=1, description="Expected edge per $1 required to trade.")
    tradeSizeUsd: float = Field(50.0, gt=0, le=100_000, description="USD per signal.")
    llmModel: str = formatted(formats.MODEL_NAME, "gpt-4o-mini", min_length=1, max_length=200,
                              description="Chat model name for news analysis.")
    llmBaseUrl: str | None = formatted(formats.HTTP_URL, None, max_length=2048,
                                       description="OpenAI-compatible base URL; empty = the OpenAI API.")
    embeddingModel: str = formatted(formats.MODEL_NAME, "text-embedding-3-small", min_length=1, max_length=200,
                                    description="Embedding model.")
    memoryBackend: Literal["embedded", "supabase"] = Field(
        "embedded", description="Where past analyses are remembered: embedded SQLite or Supabase.")
    newsDailyRequestLimit: int = Field(100, ge=1, le=100_000, description="NewsAPI requests per day.")


class EliteMimicParams(_Params):
    """Copy trading of large wallets with an AI approval gate."""

    minAiConfidence: int = Field(70, ge=0, le=100, description="AI approval threshold (0-100).")
    maxCopySizeUsd: float = Field(500.0, gt=0, le=1_000_000, description="Maximum USD per copied trade.")
    copyRatio: float = Field(0.5, gt=0, le=1, description="Fraction of the whale's size copied, in (0, 1].")
    maxSlippage: float = Field(0.02, ge=0, lt=0.5, description="Limit price at most this far from the whale's price.")
    maxTradeAgeSeconds: int = Field(120, ge=1, le=86_400, description="Whale trades older than this are not copied.")
    wallets: list[WalletAddress] = Field(
        default_factory=list, max_length=500, description="Wallet addresses (0x + 40 hex) to copy.")
    leaderboardTop: int = Field(0, ge=0, le=100, description="Also copy the top N wallets of the leaderboard (0 = off).")
    source: Literal["chain", "dataapi", "both"] = Field(
        "dataapi", description="Where whale trades come from: on-chain OrderFilled logs, the Data API, or both.")
    minWhaleTradeUsd: float = Field(1000.0, ge=0, description="Whale trades smaller than this are ignored.")


@dataclass(frozen=True)
class StrategyEntry:
    """One strategy as the contract knows it: its parameter model and the bot package that runs it
    (imported by name, only by the bot, only when that strategy is chosen)."""

    params: type[_Params]
    package: str


# The one registry. Adding a strategy = its package under bot_runtime/strategies/ (a @register-ed
# Strategy subclass) + its Strategy member and entry here. The operator's risk presets and default
# resources are optional tuning (the model defaults and generic resources apply without them).
STRATEGY_REGISTRY: dict[Strategy, StrategyEntry] = {
    Strategy.ARBHUNTER: StrategyEntry(ArbHunterParams, "bot_runtime.strategies.arbhunter"),
    Strategy.POLYAI: StrategyEntry(PolyAIParams, "bot_runtime.strategies.polyai"),
    Strategy.ELITEMIMIC: StrategyEntry(EliteMimicParams, "bot_runtime.strategies.elitemimic"),
}
PARAM_MODELS: dict[Strategy, type[_Params]] = {s: e.params for s, e in STRATEGY_REGISTRY.items()}

class ParamsError(ValueError):
    """Bad `params`: the message names the field under `spec.params` and what to do."""


def param_names(strategy: Strategy) -> frozenset[str]:
    return frozenset(PARAM_MODELS[strategy].model_fields)


def check_param_keys(strategy: Strategy, keys: Iterable[str]) -> None:
    """Unknown or foreign keys are refused by name: a typo must not fall back to a default."""
    own = param_names(strategy)
    for key in keys:
        if key in own:
            continue
        owners = [s.value for s in Strategy if s != strategy and key in param_names(s)]
        if owners:
            raise ParamsError(
                f"spec.params.{key} belongs to strategy {owners[0]}, not {strategy.value}; remove it")
        raise ParamsError(
            f"spec.params.{key} is not a parameter of {strategy.value}; valid keys: {', '.join(sorted(own))}")


def validate_params(strategy: Strategy | str, values: dict[str, Any] | None = None) -> _Params:
    """Concrete parameters of `strategy` (the operator has already applied the risk-profile preset);
    a missing key takes the model default."""
    strategy = Strategy(strategy)
    values = dict(values or {})
    check_param_keys(strategy, values)
    try:
        return PARAM_MODELS[strategy].model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ParamsError(f"spec.params.{loc}: {first['msg']}") from None


# maxOrderUsd <= maxPositionPerMarketUsd <= maxTotalExposureUsd: the defaults of the ones not given
# follow the ones given, so a partial `limits:` that is consistent in itself stays valid (e.g.
# `maxTotalExposureUsd: 500` alone lowers the per-market default to 500 instead of being refused).
_CHAIN = ("maxOrderUsd", "maxPositionPerMarketUsd", "maxTotalExposureUsd")
_CHAIN_DEFAULTS = {"maxOrderUsd": 250.0, "maxPositionPerMarketUsd": 1000.0, "maxTotalExposureUsd": 5000.0}


def _no_chain_defaults(schema: dict[str, Any]) -> None:
    # Not in the CRD: the API server would fill them in before the CEL rules compare them.
    for name in _CHAIN:
        schema.get("properties", {}).get(name, {}).pop("default", None)


class Limits(BaseModel):
    """Money limits enforced by the runtime's risk engine, the one place that says no."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra=_no_chain_defaults)

    @model_validator(mode="before")
    @classmethod
    def _chain_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict) or all(k in data for k in _CHAIN):
            return data
        out = dict(data)
        given = {k: float(v) for k, v in data.items()
                 if k in _CHAIN and isinstance(v, (int, float)) and not isinstance(v, bool)}
        for i, name in enumerate(_CHAIN):
            if name in out:
                continue
            value = _CHAIN_DEFAULTS[name]
            below = [given[k] for k in _CHAIN[:i] if k in given]
            above = [given[k] for k in _CHAIN[i + 1:] if k in given]
            value = max([value, *below])
            value = min([value, *above])
            out[name] = value
        return out

    @model_validator(mode="after")
    def _chain_order(self) -> Limits:
        if self.maxOrderUsd > self.maxPositionPerMarketUsd:
            raise ValueError("spec.limits.maxOrderUsd must not exceed spec.limits.maxPositionPerMarketUsd; "
                             "lower maxOrderUsd")
        if self.maxPositionPerMarketUsd > self.maxTotalExposureUsd:
            raise ValueError("spec.limits.maxPositionPerMarketUsd must not exceed spec.limits.maxTotalExposureUsd; "
                             "lower it or raise maxTotalExposureUsd")
        return self

    maxOrderUsd: float = Field(250.0, gt=0, description="Largest single order, in USD.")
    maxPositionPerMarketUsd: float = Field(1000.0, gt=0, description="Largest position in one market, USD at cost.")
    maxTotalExposureUsd: float = Field(5000.0, gt=0, description="Sum of all positions and open orders, USD.")
    maxDailyLossUsd: float = Field(
        200.0, gt=0, description="Realised+unrealised loss since UTC midnight that trips the kill switch.")
    maxOpenOrders: int = Field(20, ge=1, le=10_000, description="Open orders at once.")
