"""Pick the analyzer: the LLM when an OpenAI key is configured, else the deterministic offline one."""

from __future__ import annotations

from typing import Any

from bot_runtime.ai.offline import OfflineAnalyzer
from bot_runtime.contract.config import OPENAI_API_KEY


class AnalyzerUnavailable(ValueError):
    """Live trading on an AI decision without a configured LLM: refused at start."""


def make_analyzer(ctx: Any, model: str = "gpt-4o-mini", base_url: str | None = None,
                  embedding_model: str = "text-embedding-3-small", required: bool = True) -> Any:
    """`ctx` is a StrategyContext. Backtests always use the offline analyzer (no network, deterministic).

    The LLM needs OPENAI_API_KEY, or an OpenAI-compatible `base_url` (a self-hosted endpoint may
    need no key). Without either, paper mode falls back to the offline keyword analyzer; live mode
    refuses when the strategy's decisions need the AI (`required`): real money is not traded on
    keyword matching that nobody asked for."""
    if ctx.backtest:
        return OfflineAnalyzer()
    key = ctx.secret(OPENAI_API_KEY)
    if not key and base_url:
        key = "not-needed"  # the OpenAI client requires some key; the endpoint decides
    if not key:
        if required and getattr(ctx.config, "mode", "paper") == "live":
            raise AnalyzerUnavailable(
                f"strategy {ctx.strategy_name} in live mode needs an LLM: put {OPENAI_API_KEY} in the bot's "
                "credentials Secret or set params.llmBaseUrl to an OpenAI-compatible endpoint (paper mode "
                "runs on the offline analyzer)")
        return OfflineAnalyzer()
    from bot_runtime.ai.llm import LLMAnalyzer

    return LLMAnalyzer(key, model, base_url, embedding_model, metrics=ctx.metrics,
                       labels=(ctx.bot, ctx.strategy_name))
