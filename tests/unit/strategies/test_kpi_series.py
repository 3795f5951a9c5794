"""The outcome counters the KPI panels divide exist at 0 from a strategy's start."""

from __future__ import annotations

from typing import Any

import pytest

from bot_runtime.contract.config import BotConfig
from bot_runtime.marketdata.store import BookStore
from bot_runtime.strategies import get_strategy
from bot_runtime.strategies.base import StrategyContext
from bot_runtime.telemetry.metrics import BotMetrics


async def _submit(intents: Any, opp: Any) -> list[Any]:
    return []


@pytest.mark.parametrize(("strategy", "params", "family", "label", "values"), [
    ("arbhunter", {}, "botfleet_arb_executions_total", "result", ("won", "lost", "failed")),
    ("polyai", {}, "botfleet_ai_predictions_total", "outcome", ("correct", "wrong")),
    ("elitemimic", {"wallets": ["0x" + "ab" * 20]}, "botfleet_copy_outcomes_total", "result", ("win", "loss")),
])
def test_outcome_counters_start_at_zero(strategy: str, params: dict[str, Any], family: str, label: str,
                                        values: tuple[str, ...]) -> None:
    # Prometheus sees no increase() in a series born at 1: the first win would not count, and a bot
    # that has only lost showed "No data" for its win rate instead of 0%.
    cfg = BotConfig.model_validate({"name": "b", "strategy": strategy, "params": params})
    m = BotMetrics()
    ctx = StrategyContext(config=cfg, params=cfg.strategy_params(), books=BookStore(), markets={},
                          submit=_submit, clock=lambda: 0, metrics=m, backtest=True)
    get_strategy(strategy)(ctx)
    for value in values:
        assert m.registry.get_sample_value(family, {"bot": "b", "strategy": strategy, label: value}) == 0
