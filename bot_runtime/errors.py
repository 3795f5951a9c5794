"""Errors shared by the bot's lifecycle (app.py) and its execution wiring (app_execution.py)."""

from __future__ import annotations


class StartupError(RuntimeError):
    """The bot cannot start; `config_error` means fixing the configuration/Secrets is the cure."""

    def __init__(self, message: str, config_error: bool = False) -> None:
        super().__init__(message)
        self.config_error = config_error
