"""The demo's bots: one paper-mode BotConfig per registered strategy, all against one simulator.

Parameters are the balanced presets, tightened only where the preset's timescale (minutes) or the
whale-size floor would leave a strategy idle during a one-minute demo.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot_runtime.contract.config import BotConfig, Endpoints, JournalConfig, TelemetryConfig

DEMO_ORDER = ("arbhunter", "polyai", "elitemimic")
# The simulator serves NewsAPI-shaped headlines of its scenario's news at /newsapi and accepts any
# key: PolyAI's news path runs end to end without a real key (nothing leaves the machine).
DEMO_NEWSAPI_KEY = "botfleet-demo-news-key"


def demo_params(strategy: str, whales: Sequence[str]) -> dict[str, Any]:
    """Overrides of the balanced preset that make each strategy act within a minute."""
    if strategy == "polyai":
        # minutes-scale cycles would do nothing in a demo; the offline analyzer (no LLM key) is rarely
        # confident, so the bars are lowered to show its signals trading within a minute
        # (the simulator's news feed is free: the daily NewsAPI budget is lifted so every cycle reads)
        return {"scanIntervalMinutes": 0.1, "newsIntervalMinutes": 0.1, "tradeSizeUsd": 20.0,
                "minConfidence": 30, "minEdge": 0.01, "newsDailyRequestLimit": 50_000}
    if strategy == "elitemimic":
        # the simulator's whales trade $25-$200: the $1,000 production floor would ignore them all;
        # its books move every 100 ms, and the offline analyzer (no LLM key) is rarely confident,
        # so the slippage bound and the approval bar are relaxed to show copies within a minute
        return {"wallets": list(whales), "source": "dataapi", "minWhaleTradeUsd": 10.0,
                "maxCopySizeUsd": 100.0, "maxTradeAgeSeconds": 60, "maxSlippage": 0.05, "minAiConfidence": 35}
    return {}


def order_strategies(names: Sequence[str]) -> list[str]:
    """Registered strategies, the three built-ins first in the README's order."""
    known = [n for n in DEMO_ORDER if n in names]
    return known + sorted(n for n in names if n not in DEMO_ORDER)


def demo_configs(sim_url: str, strategies: Sequence[str], workdir: Path, whales: Sequence[str] = (),
                 param_model_fields: dict[str, set[str]] | None = None) -> list[BotConfig]:
    """One BotConfig per strategy; each bot has its own journal under `workdir/<name>/`.

    `param_model_fields` (strategy -> its parameter names) drops overrides a strategy does not
    declare, so a strategy added later still runs in the demo with its preset.
    """
    out = []
    for strategy in strategies:
        name = f"demo-{strategy}"
        params = demo_params(strategy, whales)
        if param_model_fields is not None and strategy in param_model_fields:
            params = {k: v for k, v in params.items() if k in param_model_fields[strategy]}
        out.append(BotConfig.model_validate({
            "name": name, "namespace": "demo", "strategy": strategy, "mode": "paper", "params": params,
            "endpoints": Endpoints.for_sim(sim_url).model_dump(),
            "journal": JournalConfig(url=f"sqlite:///{workdir / name / 'journal.sqlite'}").model_dump(),
            "telemetry": TelemetryConfig(port=9100).model_dump(),
            "credentialsDir": str(workdir / name / "no-secrets"),
        }))
    return out
