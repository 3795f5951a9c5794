"""Trading strategies, registered by name (`strategy: arbhunter` in a TradingBot)."""

from __future__ import annotations

# built-in strategies register themselves on import
from bot_runtime.strategies import arbhunter, elitemimic, polyai
from bot_runtime.strategies.base import (
    STRATEGIES,
    Strategy,
    StrategyContext,
    get_strategy,
    register,
)

__all__ = ["STRATEGIES", "Strategy", "StrategyContext", "arbhunter", "elitemimic", "get_strategy", "polyai", "register"]
