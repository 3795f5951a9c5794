"""Builds an Executor wired to a `botfleet sim` on loopback; shared by the tests and the crash child."""

from __future__ import annotations

from pathlib import Path

from bot_runtime.contract.config import SIM_CHAIN_ID
from bot_runtime.contract.params import Limits
from bot_runtime.execution.executor import Executor
from bot_runtime.execution.journal import open_journal
from bot_runtime.execution.risk import RiskEngine
from bot_runtime.venue.polymarket.auth import ApiCreds
from bot_runtime.venue.polymarket.clob_http import ClobHttpExchange
from bot_runtime.venue.polymarket.ratelimit import Backoff
from bot_runtime.venue.polymarket.signing import OrderSigner

LIMITS = Limits(maxOrderUsd=100, maxPositionPerMarketUsd=400, maxTotalExposureUsd=1000, maxDailyLossUsd=20,
                maxOpenOrders=10)


def build(url: str, key: str, creds: ApiCreds, journal_url: str, *, limits: Limits = LIMITS,
          marks: dict[str, int] | None = None, crash_hook=None) -> Executor:  # type: ignore[no-untyped-def]
    signer = OrderSigner(key, chain_id=SIM_CHAIN_ID)  # what the simulator verifies (paper bots sign for it)
    exchange = ClobHttpExchange(url, signer.address, lambda: creds, backoff=Backoff(base_s=0.02, cap_s=0.2),
                                cancel_only_pause_s=0.5)
    journal = open_journal(journal_url)
    risk = RiskEngine(limits, journal)
    marks = marks if marks is not None else {}
    return Executor(exchange, signer, journal, risk, marks=marks.get, crash_hook=crash_hook)


def journal_url(tmp: Path) -> str:
    return f"sqlite:///{tmp}/journal.sqlite"
