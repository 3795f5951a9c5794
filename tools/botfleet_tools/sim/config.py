"""Configuration of the simulated exchange."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot_runtime.contract.config import SIM_CHAIN_ID
from bot_runtime.venue.polymarket.constants import CHAIN_ID

MIN_ADMIN_TOKEN = 16  # a token given by hand; generated ones have 43 characters (32 random bytes)


@dataclass
class SimConfig:
    seed: int = 1
    scenario: str = "demo"  # demo | static | arb | whales (see scenarios.PRESETS)
    scenario_params: dict[str, Any] = field(default_factory=dict)  # RandomWalkParams overrides
    preset_faults: bool = True  # apply the scenario's PRESET_FAULTS at start ("realistic")
    step_ms: int = 100  # scenario step period at speed 1
    speed: float = 1.0  # 0 = no background stepping: call `await sim.step()` yourself
    default_usdc: float = 10_000.0  # pUSD given to a wallet when its first API key is created
    trade_confirm_ms: int = 200  # MATCHED -> MINED -> CONFIRMED delay on the user channel
    heartbeat_timeout_s: float = 10.0  # dead-man switch: cancel all orders of a silent API key
    check_l2_timestamp_s: int = 0  # >0: reject L2 requests whose POLY_TIMESTAMP is older than this
    enforce_rate_limits: bool = False  # 429 above Polymarket's documented per-10s limits (ratelimits.py)
    rate_limit_scale: float = 1.0  # multiply those limits (e.g. 0.01 to hit them quickly in tests)
    # Bearer token of the admin listener (`/_sim/*`); empty = a random one per start. Never in a repr.
    admin_token: str = field(default="", repr=False)
    # The chain id orders and L1 auth must be signed for: the simulator's own, so a signature made
    # for Polygon (137) is refused and nothing a paper bot signs is valid on Polymarket. Reference
    # clients that only know 137/80002 (py-clob-client-v2) need 137 here, explicitly.
    chain_id: int = SIM_CHAIN_ID

    def __post_init__(self) -> None:
        if self.speed < 0:
            raise ValueError(f"SimConfig.speed must be >= 0 (0 = step by hand), got {self.speed}")
        if self.step_ms <= 0:
            raise ValueError(f"SimConfig.step_ms must be > 0, got {self.step_ms}")
        if self.default_usdc < 0:
            raise ValueError(f"SimConfig.default_usdc must be >= 0, got {self.default_usdc}")
        if self.chain_id <= 0:
            raise ValueError(f"SimConfig.chain_id must be > 0 ({SIM_CHAIN_ID} by default, {CHAIN_ID} for "
                             f"py-clob-client-v2), got {self.chain_id}")
        if self.heartbeat_timeout_s <= 0:
            raise ValueError(f"SimConfig.heartbeat_timeout_s must be > 0, got {self.heartbeat_timeout_s}")
        if self.admin_token and len(self.admin_token) < MIN_ADMIN_TOKEN:
            raise ValueError(f"SimConfig.admin_token must be at least {MIN_ADMIN_TOKEN} characters "
                             "(or empty for a random one)")
