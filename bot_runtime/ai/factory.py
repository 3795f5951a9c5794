"""Pick the analyzer: the LLM when an OpenAI key is configured, else the deterministic offline one."""

from __future__ import annotations

from typing import Any

from bot_runtime.ai.offline import OfflineAnalyzer
from bot_runtime.contract.config import OPENAI_API_KEY


def make_analyzer(ctx: Any, model: str = "gpt-4o-mini", base_url: str | None = None,
                  embedding_model: str = "text-embedding-3-small") -> Any:
    """`ctx` is a StrategyContext. Backtests always use the offline analyzer (no network, deterministic)."""
    key = "" if ctx.backtest else ctx.secret(OPENAI_API_KEY)
    if not key:
        return OfflineAnalyzer()
    from bot_runtime.ai.llm import LLMAnalyzer

    return LLMAnalyzer(key, model, base_url, embedding_model, metrics=ctx.metrics,
                       labels=(ctx.bot, ctx.strategy_name))
