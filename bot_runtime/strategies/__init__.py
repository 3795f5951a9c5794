"""Trading strategies, registered by name (`strategy: arbhunter` in a TradingBot)."""

from __future__ import annotations

from bot_runtime.strategies.base import (
    STRATEGIES,
    Strategy,
    StrategyContext,
    get_strategy,
    register,
)

__all__ = ["STRATEGIES", "Strategy", "StrategyContext", "get_strategy", "register"]
