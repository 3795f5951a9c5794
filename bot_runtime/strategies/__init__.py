"""Trading strategies, registered by name (`strategy: arbhunter` in a TradingBot).

Each strategy is a package here, listed once in bot_runtime.contract.params.STRATEGY_REGISTRY;
`get_strategy(name)` imports only the package of the strategy that runs.
"""

from __future__ import annotations

from bot_runtime.strategies.base import (
    STRATEGIES,
    Strategy,
    StrategyContext,
    get_strategy,
    register,
)

__all__ = ["STRATEGIES", "Strategy", "StrategyContext", "get_strategy", "register"]
