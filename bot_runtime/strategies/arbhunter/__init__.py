"""ArbHunter: binary-complement and neg-risk multi-outcome arbitrage."""

from bot_runtime.strategies.arbhunter.strategy import ArbHunter

__all__ = ["ArbHunter"]
