"""One registry of strategies: the contract's entry names the parameter model and the package."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot_runtime.contract.params import PARAM_MODELS, STRATEGY_REGISTRY, Strategy
from bot_runtime.strategies import get_strategy


@pytest.mark.parametrize("name", list(Strategy))
def test_every_strategy_has_one_entry_and_its_package_registers_it(name: Strategy) -> None:
    entry = STRATEGY_REGISTRY[name]
    cls = get_strategy(name.value)
    assert cls.name == name.value
    assert cls.params_model is entry.params is PARAM_MODELS[name]
    assert cls.__module__.startswith(entry.package + ".")


def test_only_the_chosen_strategy_is_imported() -> None:
    names = ", ".join(repr(s.value) for s in Strategy)
    code = ("import sys; from bot_runtime.strategies import get_strategy; get_strategy('arbhunter'); "
            f"print(sorted(n for n in ({names}) if 'bot_runtime.strategies.' + n in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['arbhunter']"


def test_unknown_strategy_names_the_registered_ones() -> None:
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        get_strategy("nope")


def test_operator_tuning_tables_are_optional(monkeypatch: pytest.MonkeyPatch) -> None:
    # A new strategy is its package + its registry entry: without presets, resources or credential
    # keys in the operator's tables it runs its model defaults on the generic footprint.
    from botfleet_operator import presets, secrets

    # copies without arbhunter (the originals, and their order, come back after the test)
    for module, table in ((presets, "PRESETS"), (presets, "DEFAULT_RESOURCES"), (secrets, "STRATEGY_CREDENTIALS")):
        monkeypatch.setattr(module, table, {k: v for k, v in getattr(module, table).items() if k != Strategy.ARBHUNTER})
    assert presets.resolve_params("arbhunter", "aggressive") == PARAM_MODELS[Strategy.ARBHUNTER]()
    assert presets.default_resources(Strategy.ARBHUNTER) == presets.GENERIC_RESOURCES
    assert STRATEGY_REGISTRY[Strategy.ARBHUNTER].package == "bot_runtime.strategies.arbhunter"
