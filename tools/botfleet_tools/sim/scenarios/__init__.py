"""Scenario registry: name -> factory(seed, **overrides)."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from .base import Action, Cancel, Dislocation, Ladder, NewsEvent, Place, Scenario, WalletSpec
from .randomwalk import RandomWalkParams, RandomWalkScenario

PRESETS: dict[str, dict[str, Any]] = {
    # Moving books, an injected arbitrage every few seconds, whales trading.
    "demo": {"nested_families": 1, "calendar_families": 1},
    # Books that never move and no traders: deterministic fixtures for tests.
    "static": {"move_prob": 0.0, "size_noise_prob": 0.0, "jump_prob": 0.0, "dislocation_every": (0, 0),
               "whales": 0},
    # Frequent dislocations (binary and neg-risk) for strategy tests.
    "arb": {"dislocation_every": (10, 25), "whale_every": (0, 0)},
    # Related-market mispricings (nested thresholds, calendar deadlines) for stat-arb tests.
    "statarb": {"nested_families": 2, "calendar_families": 2, "mispricing_every": (15, 40),
                "dislocation_every": (0, 0), "whale_every": (0, 0)},
    # Busy whales for copy-trading tests.
    "whales": {"whale_every": (3, 10), "dislocation_every": (0, 0)},
    # The demo's market as the exchange trades: arbitrages over several levels, neg-risk events that
    # are not complete sets (paused outcome, augmented), plus the faults in PRESET_FAULTS.
    "realistic": {"nested_families": 1, "calendar_families": 1, "dislocation_levels": 3,
                  "negrisk_paused_events": 1, "negrisk_augmented_events": 1},
}

# Faults a preset turns on at start (POST /_sim/faults shape): on by default in "realistic".
PRESET_FAULTS: dict[str, dict[str, Any]] = {
    "realistic": {
        "delayed": {"delay_ms": 400, "fraction": 0.1},           # some orders matched later: fill or die then
        "order_latency": {"delay_ms": 40},                      # our orders reach the engine 40 ms late
        "competitor": {"latency_ms": 10, "fraction": 0.3, "share": 0.5},  # a faster taker, 30% of the time
    },
}


def make_scenario(name: str, seed: int, **overrides: Any) -> RandomWalkScenario:
    if name not in PRESETS:
        raise ValueError(f"unknown scenario {name!r}: choose one of {', '.join(sorted(PRESETS))}")
    known = {f.name for f in fields(RandomWalkParams)}
    bad = sorted(set(overrides) - known)
    if bad:
        raise ValueError(f"unknown scenario parameter(s) {bad}: valid are {sorted(known)}")
    params = replace(RandomWalkParams(), **{**PRESETS[name], **overrides})
    return RandomWalkScenario(seed, params, name=name)


__all__ = ["PRESETS", "PRESET_FAULTS", "Action", "Cancel", "Dislocation", "Ladder", "NewsEvent", "Place", "RandomWalkParams",
           "RandomWalkScenario", "Scenario", "WalletSpec", "make_scenario"]
