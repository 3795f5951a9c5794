"""PolyAI: statistical arbitrage between related markets plus LLM analysis of news."""

from bot_runtime.strategies.polyai.strategy import PolyAI

__all__ = ["PolyAI"]
