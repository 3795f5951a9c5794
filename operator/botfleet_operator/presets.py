"""Risk-profile presets and default container resources: the operator turns a TradingBot's
`riskProfile` + `params` into the concrete parameters it renders into the bot's configuration.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bot_runtime.contract.params import (
    ParamsError,
    RiskProfile,
    Strategy,
    check_param_keys,
    validate_params,
)

__all__ = ["DEFAULT_RESOURCES", "GENERIC_RESOURCES", "PRESETS", "ParamsError", "default_resources", "resolve_params"]

# The operations guide's tuning tables, keyed by risk profile.
# ArbHunter: the guide keys its table by market volatility (high 0.7% $200-500, medium 0.5% $100-200,
# low 0.3% $50-100). A risk profile is about how much capital is put at risk per opportunity, so
# conservative demands the largest edge with the smallest size, aggressive accepts thin edges at a
# larger size; balanced is the guide's default row (0.5%, $100).
PRESETS: dict[Strategy, dict[RiskProfile, dict[str, Any]]] = {
    Strategy.ARBHUNTER: {
        RiskProfile.CONSERVATIVE: {"minProfitThreshold": 0.007, "tradeSizeUsd": 50.0},
        RiskProfile.BALANCED: {"minProfitThreshold": 0.005, "tradeSizeUsd": 100.0},
        RiskProfile.AGGRESSIVE: {"minProfitThreshold": 0.003, "tradeSizeUsd": 200.0},
    },
    Strategy.POLYAI: {
        RiskProfile.CONSERVATIVE: {"scanIntervalMinutes": 10, "newsIntervalMinutes": 15, "minConfidence": 80},
        RiskProfile.BALANCED: {"scanIntervalMinutes": 5, "newsIntervalMinutes": 10, "minConfidence": 70},
        RiskProfile.AGGRESSIVE: {"scanIntervalMinutes": 3, "newsIntervalMinutes": 5, "minConfidence": 60},
    },
    Strategy.ELITEMIMIC: {
        RiskProfile.CONSERVATIVE: {"minAiConfidence": 80, "maxCopySizeUsd": 200.0, "copyRatio": 0.3},
        RiskProfile.BALANCED: {"minAiConfidence": 70, "maxCopySizeUsd": 500.0, "copyRatio": 0.5},
        RiskProfile.AGGRESSIVE: {"minAiConfidence": 60, "maxCopySizeUsd": 1000.0, "copyRatio": 0.7},
    },
}


def resolve_params(
    strategy: Strategy | str, profile: RiskProfile | str = RiskProfile.BALANCED,
    overrides: dict[str, Any] | None = None,
) -> BaseModel:
    """Preset of the risk profile, then explicit overrides; unknown or foreign keys are refused."""
    strategy = Strategy(strategy)
    profile = RiskProfile(profile)
    overrides = dict(overrides or {})
    check_param_keys(strategy, overrides)
    # a strategy without presets runs its model defaults in every profile
    return validate_params(strategy, {**PRESETS.get(strategy, {}).get(profile, {}), **overrides})


# Per-strategy container resources, from the guide (ArbHunter 512Mi, PolyAI 1Gi, EliteMimic 512Mi).
# Ephemeral storage: the bot writes only logs and /tmp (an emptyDir of 64Mi); the journal is a PVC.
_EPHEMERAL = {"requests": {"ephemeral-storage": "64Mi"}, "limits": {"ephemeral-storage": "256Mi"}}


def _with_ephemeral(r: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {k: {**v, **_EPHEMERAL[k]} for k, v in r.items()}


DEFAULT_RESOURCES: dict[Strategy, dict[str, dict[str, str]]] = {
    Strategy.ARBHUNTER: _with_ephemeral(
        {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}),
    Strategy.POLYAI: _with_ephemeral(
        {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}),
    Strategy.ELITEMIMIC: _with_ephemeral(
        {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}),
}
# For a strategy the table does not name (a new one): the guide's smallest footprint.
GENERIC_RESOURCES: dict[str, dict[str, str]] = _with_ephemeral({
    "requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}})


def default_resources(strategy: Strategy) -> dict[str, dict[str, str]]:
    return DEFAULT_RESOURCES.get(strategy, GENERIC_RESOURCES)
