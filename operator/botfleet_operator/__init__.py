"""The botfleet Kubernetes operator (kopf). Import name `botfleet_operator`: `operator` is stdlib."""

from bot_runtime import __version__

__all__ = ["__version__"]
