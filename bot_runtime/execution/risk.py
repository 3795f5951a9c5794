"""The risk engine: the one place that says no.

`check(intents, state)` is a pure decision over a whole group of legs (all or none). The kill switch
is the only state the engine owns: it trips on the daily loss limit (or by hand), is persisted in
the journal and stays tripped across restarts until an operator calls `reset()`.
Reasons are short machine-readable strings, used as metric labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from bot_runtime.contract.params import Limits
from bot_runtime.types import OrderIntent
from bot_runtime.venue.polymarket.constants import E6

log = structlog.get_logger()

# Reasons (metric label values).
APPROVED = "approved"
KILL_SWITCH = "kill_switch"
PAUSED = "paused"
EMPTY_GROUP = "empty_group"
INVALID_INTENT = "invalid_intent"
STALE_DATA = "stale_data"
MAX_ORDER_USD = "max_order_usd"
MAX_OPEN_ORDERS = "max_open_orders"
MAX_POSITION_USD = "max_position_usd"
MAX_TOTAL_EXPOSURE_USD = "max_total_exposure_usd"
DAILY_LOSS = "daily_loss"
REASONS = (KILL_SWITCH, PAUSED, EMPTY_GROUP, INVALID_INTENT, STALE_DATA, MAX_ORDER_USD, MAX_OPEN_ORDERS,
           MAX_POSITION_USD, MAX_TOTAL_EXPOSURE_USD, DAILY_LOSS)

KILL_SWITCH_KEY = "risk.kill_switch"
DAY_ANCHOR_KEY = "risk.day_anchor"


class AgeSource(Protocol):
    """Book age by market (a dict works)."""

    def get(self, market: str, /) -> int | None: ...


@dataclass(frozen=True, slots=True)
class RiskState:
    """What the decision needs to know about the world, gathered by the executor."""

    position_usd_e6: Mapping[str, int] = field(default_factory=dict)    # market -> position at cost
    open_buy_usd_e6: Mapping[str, int] = field(default_factory=dict)    # market -> open BUY notional
    open_orders: int = 0
    daily_pnl_e6: int = 0                                               # realised + unrealised today
    data_age_ms: AgeSource = field(default_factory=dict[str, int])             # market -> book age (ms)
    paused: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    approved: bool
    reason: str = APPROVED
    detail: str = ""
    leg: int | None = None   # index of the offending leg, when one leg is to blame

    def __bool__(self) -> bool:
        return self.approved


class KillSwitchStore(Protocol):
    """The part of the journal the kill switch uses."""

    def kv_get(self, key: str) -> Any: ...

    def kv_set(self, key: str, value: Any) -> None: ...

    def add_event(self, kind: str, data: dict[str, Any] | None = None) -> None: ...


def _usd(e6: int) -> str:
    return f"${e6 / E6:,.2f}"


class RiskEngine:
    def __init__(self, limits: Limits, store: KillSwitchStore | None = None, max_data_age_ms: int = 2000) -> None:
        self.limits = limits
        self.store = store
        self.max_data_age_ms = max_data_age_ms
        self.max_order_e6 = round(limits.maxOrderUsd * E6)
        self.max_position_e6 = round(limits.maxPositionPerMarketUsd * E6)
        self.max_exposure_e6 = round(limits.maxTotalExposureUsd * E6)
        self.max_daily_loss_e6 = round(limits.maxDailyLossUsd * E6)
        saved = store.kv_get(KILL_SWITCH_KEY) if store else None
        self._kill: dict[str, Any] = saved if isinstance(saved, dict) else {"tripped": False}

    # -- kill switch ----------------------------------------------------------------------------
    @property
    def tripped(self) -> bool:
        return bool(self._kill.get("tripped"))

    @property
    def kill_reason(self) -> str:
        return str(self._kill.get("reason", "")) if self.tripped else ""

    def trip(self, reason: str, detail: str = "") -> bool:
        """Trip (idempotent). Returns True if this call tripped it. Persisted before returning."""
        if self.tripped:
            return False
        self._kill = {"tripped": True, "reason": reason, "detail": detail,
                      "at": datetime.now(UTC).isoformat()}
        if self.store:
            self.store.kv_set(KILL_SWITCH_KEY, self._kill)
            self.store.add_event("kill_switch_tripped", {"reason": reason, "detail": detail})
        log.warning("KILL SWITCH TRIPPED", reason=reason, detail=detail)
        return True

    def reset(self, operator: str = "operator") -> None:
        """Operator action: trading may resume."""
        was = dict(self._kill)
        self._kill = {"tripped": False}
        if self.store:
            self.store.kv_set(KILL_SWITCH_KEY, self._kill)
            self.store.add_event("kill_switch_reset", {"by": operator, "was": was})
        log.warning("KILL SWITCH RESET", by=operator)

    def observe_pnl(self, daily_pnl_e6: int) -> bool:
        """Trip on the daily loss limit; returns True if this observation tripped the switch."""
        if daily_pnl_e6 <= -self.max_daily_loss_e6:
            return self.trip(DAILY_LOSS, f"daily PnL {_usd(daily_pnl_e6)} <= -{_usd(self.max_daily_loss_e6)}")
        return False

    # -- the decision ---------------------------------------------------------------------------
    def check(self, intents: Sequence[OrderIntent], state: RiskState) -> Decision:
        """Approve or refuse a group of legs as a whole. Pure: no state changes."""
        if self.tripped:
            return Decision(False, KILL_SWITCH, self.kill_reason)
        if state.paused:
            return Decision(False, PAUSED, "bot is paused")
        if not intents:
            return Decision(False, EMPTY_GROUP, "no legs")
        if state.daily_pnl_e6 <= -self.max_daily_loss_e6:
            return Decision(False, DAILY_LOSS, f"daily PnL {_usd(state.daily_pnl_e6)}")
        if state.open_orders + len(intents) > self.limits.maxOpenOrders:
            return Decision(False, MAX_OPEN_ORDERS,
                            f"{state.open_orders} open + {len(intents)} > {self.limits.maxOpenOrders}")
        new_buy: dict[str, int] = {}
        for i, leg in enumerate(intents):
            if leg.size_e6 <= 0 or not 0 < leg.price_e6 < E6:
                return Decision(False, INVALID_INTENT, f"price_e6={leg.price_e6} size_e6={leg.size_e6}", i)
            age = state.data_age_ms.get(leg.market)
            if age is None:
                return Decision(False, STALE_DATA, f"{leg.market}: no tradable book (not synced, or its feed "
                                "stalled)", i)
            if age > self.max_data_age_ms:
                return Decision(False, STALE_DATA, f"{leg.market}: book age {age} ms > {self.max_data_age_ms}", i)
            notional = leg.notional_e6
            if notional > self.max_order_e6:
                return Decision(False, MAX_ORDER_USD, f"{_usd(notional)} > {_usd(self.max_order_e6)}", i)
            if leg.side == "BUY":
                new_buy[leg.market] = new_buy.get(leg.market, 0) + notional
        for market, add in new_buy.items():
            held = state.position_usd_e6.get(market, 0) + state.open_buy_usd_e6.get(market, 0)
            if held + add > self.max_position_e6:
                return Decision(False, MAX_POSITION_USD,
                                f"{market}: {_usd(held)} + {_usd(add)} > {_usd(self.max_position_e6)}")
        exposure = sum(state.position_usd_e6.values()) + sum(state.open_buy_usd_e6.values())
        added = sum(new_buy.values())
        if exposure + added > self.max_exposure_e6:
            return Decision(False, MAX_TOTAL_EXPOSURE_USD,
                            f"{_usd(exposure)} + {_usd(added)} > {_usd(self.max_exposure_e6)}")
        return Decision(True)


def utc_midnight_ms(now_ms: int) -> int:
    day = datetime.fromtimestamp(now_ms / 1000, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return int(day.timestamp() * 1000)


def daily_pnl_e6(realised_today_e6: int, unrealised_now_e6: int, store: KillSwitchStore | None,
                 now_ms: int) -> int:
    """Realised since UTC midnight plus the change of unrealised PnL since the day's anchor.

    The anchor (unrealised PnL at the first look of the UTC day) is persisted, so a restart
    during the day measures against the same baseline.
    """
    day = datetime.fromtimestamp(now_ms / 1000, UTC).date().isoformat()
    anchor = store.kv_get(DAY_ANCHOR_KEY) if store else None
    if not isinstance(anchor, dict) or anchor.get("day") != day:
        anchor = {"day": day, "unrealised_e6": unrealised_now_e6}
        if store:
            store.kv_set(DAY_ANCHOR_KEY, anchor)
    return realised_today_e6 + unrealised_now_e6 - int(anchor["unrealised_e6"])
