"""The map of rooms in docs/architecture.md stays complete: every module of the bot has a layer."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import bot_runtime

REPO = Path(__file__).resolve().parents[2]


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    return list(config["contracts"])


def test_every_module_of_the_bot_is_in_a_layer() -> None:
    """lint-imports ignores a module no layer names: a new one would escape the arrows unnoticed."""
    layers = next(c for c in _contracts() if c["type"] == "layers")["layers"]
    assert isinstance(layers, list)
    named = {name.strip() for layer in layers for name in str(layer).replace(":", "|").split("|")}
    children = {f"bot_runtime.{m.name}" for m in pkgutil.iter_modules(bot_runtime.__path__)}
    missing = sorted(children - named)
    assert not missing, f"add {missing} to a layer in pyproject.toml [tool.importlinter] and docs/architecture.md"
    assert not named - children, f"layers name modules that do not exist: {sorted(named - children)}"
