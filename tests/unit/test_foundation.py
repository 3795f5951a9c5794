"""The project's foundation: import names, the console script, and the presets of the guide."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot_runtime.contract.params import ArbHunterParams, RiskProfile, Strategy
from botfleet_operator.presets import PRESETS, ParamsError, resolve_params

REPO = Path(__file__).resolve().parents[2]


def test_stdlib_operator_still_importable_from_the_repo_root() -> None:
    # The folder operator/ must never shadow the standard library's `operator`.
    assert not (REPO / "operator" / "__init__.py").exists()
    out = subprocess.run(
        [sys.executable, "-c", "import operator, botfleet_operator; print(operator.add(2, 3))"],
        cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "5"


def test_console_script_reports_version() -> None:
    out = subprocess.run([sys.executable, "-m", "bot_runtime.cli", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("botfleet ")


@pytest.mark.parametrize(
    ("strategy", "profile", "expected"),
    [
        ("arbhunter", "conservative", {"minProfitThreshold": 0.007, "tradeSizeUsd": 50}),
        ("arbhunter", "balanced", {"minProfitThreshold": 0.005, "tradeSizeUsd": 100}),
        ("arbhunter", "aggressive", {"minProfitThreshold": 0.003, "tradeSizeUsd": 200}),
        ("polyai", "conservative", {"scanIntervalMinutes": 10, "newsIntervalMinutes": 15}),
        ("polyai", "balanced", {"scanIntervalMinutes": 5, "newsIntervalMinutes": 10}),
        ("polyai", "aggressive", {"scanIntervalMinutes": 3, "newsIntervalMinutes": 5}),
        ("elitemimic", "conservative", {"minAiConfidence": 80, "maxCopySizeUsd": 200, "copyRatio": 0.3}),
        ("elitemimic", "balanced", {"minAiConfidence": 70, "maxCopySizeUsd": 500, "copyRatio": 0.5}),
        ("elitemimic", "aggressive", {"minAiConfidence": 60, "maxCopySizeUsd": 1000, "copyRatio": 0.7}),
    ],
)
def test_presets_are_the_operations_guide_tables(strategy: str, profile: str, expected: dict) -> None:
    params = resolve_params(strategy, profile)
    for key, value in expected.items():
        assert getattr(params, key) == value


def test_every_preset_is_valid_for_its_model() -> None:
    for strategy in Strategy:
        for profile in RiskProfile:
            resolve_params(strategy, profile)
        assert set(PRESETS[strategy]) == set(RiskProfile)


def test_overrides_win_over_the_preset() -> None:
    params = resolve_params("arbhunter", "conservative", {"tradeSizeUsd": 75})
    assert isinstance(params, ArbHunterParams)
    assert params.tradeSizeUsd == 75 and params.minProfitThreshold == 0.007


def test_param_of_another_strategy_is_refused_by_name() -> None:
    with pytest.raises(ParamsError, match=r"spec.params.copyRatio belongs to strategy elitemimic"):
        resolve_params("arbhunter", "balanced", {"copyRatio": 0.5})


def test_unknown_param_lists_the_valid_keys() -> None:
    with pytest.raises(ParamsError, match=r"spec.params.minProfit is not a parameter of arbhunter.*minProfitThreshold"):
        resolve_params("arbhunter", "balanced", {"minProfit": 0.1})


def test_out_of_range_param_names_the_field() -> None:
    with pytest.raises(ParamsError, match=r"spec.params.copyRatio"):
        resolve_params("elitemimic", "balanced", {"copyRatio": 1.5})


COMMANDS = {"run", "backup", "restore", "kill-switch", "rotate-credentials", "trades",   # the bot
            "operator", "crd",                                                           # the operator
            "sim", "demo", "record", "backtest", "dev", "fleet"}                         # the tools


def test_every_command_is_declared() -> None:
    from bot_runtime.commands import available

    assert set(available()) == COMMANDS


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_loads(name: str) -> None:
    # A typo in an entry point or an import error in a command module must fail here, not in a pod.
    from bot_runtime.commands import _load, available

    cmd = _load(name, available()[name])
    assert cmd.name == name
    assert cmd.help


def test_command_of_an_absent_package_is_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """The image ships no botfleet_tools: its commands must vanish, not break `botfleet --help`."""
    from importlib.metadata import EntryPoint

    from typer.testing import CliRunner

    import bot_runtime.commands as commands
    from bot_runtime.cli import app

    eps = [EntryPoint("run", "bot_runtime.run:run_command", commands.GROUP),
           EntryPoint("sim", "botfleet_no_such_package.sim:sim_command", commands.GROUP)]
    monkeypatch.setattr(commands, "entry_points", lambda group: [e for e in eps if e.group == group])
    commands.available.cache_clear()
    try:
        assert set(commands.available()) == {"run"}
        result = CliRunner().invoke(app, ["--help"])
        assert result.exit_code == 0, result.output
        assert " run " in result.output and " sim " not in result.output
    finally:
        commands.available.cache_clear()


def test_test_module_names_are_unique() -> None:
    # Test folders are not packages: two test modules of one name would shadow each other.
    seen: dict[str, Path] = {}
    for path in (REPO / "tests").rglob("*.py"):
        if path.name in ("__init__.py", "conftest.py") or "support" in path.parts:
            continue
        assert path.name not in seen, f"{path} and {seen[path.name]} share a module name; rename one"
        seen[path.name] = path


def test_tests_support_is_this_repository() -> None:
    # py-order-utils installs a top-level `tests` package; ours must win (pythonpath in pyproject).
    import tests.support.sim

    assert Path(tests.support.sim.__file__).resolve().is_relative_to(REPO / "tests")
