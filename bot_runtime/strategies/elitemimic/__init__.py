"""EliteMimic: copy trading of large wallets with an AI approval gate."""

from bot_runtime.strategies.elitemimic.strategy import EliteMimic

__all__ = ["EliteMimic"]
