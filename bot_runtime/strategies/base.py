"""The contract between the runtime and a strategy, and the registry of strategies by name.

A strategy is pure decision code over the runtime's interfaces: it reads books (`ctx.books`),
market metadata (`ctx.markets`) and the clock (`ctx.clock`), and hands `OrderIntent`s to
`ctx.submit` (the executor: risk checks, journal, send). The same code therefore runs live, in
paper mode and in backtests (where the clock is virtual and `submit` fills in-process).

Adding a strategy = one package with a `@register`-ed `Strategy` subclass + its entry in
`bot_runtime.contract.params.STRATEGY_REGISTRY` (parameter model, package name).
"""

from __future__ import annotations

import abc
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from bot_runtime.types import Opportunity, OrderIntent, OrderResult

if TYPE_CHECKING:  # imported for types only: keeps `import bot_runtime.strategies` light
    import aiohttp

    from bot_runtime.contract.config import BotConfig
    from bot_runtime.telemetry.metrics import BotMetrics
    from bot_runtime.venue.polymarket.gamma import MarketInfo

SubmitFn = Callable[[list[OrderIntent], Opportunity], Awaitable[list[OrderResult]]]
ResolveFn = Callable[[list[OrderResult]], Awaitable[list[OrderResult]]]
ClockFn = Callable[[], int]


async def _already_final(results: list[OrderResult]) -> list[OrderResult]:
    return results


def _nothing_held() -> dict[str, tuple[int, int]]:
    return {}


async def _no_journal(kind: str, data: dict[str, Any]) -> None:
    return None


def _no_state(key: str) -> Any:
    return None


async def _drop_state(key: str, value: Any) -> None:
    return None


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class StrategyContext:
    """Everything a strategy may touch. The runtime (app.py), the demo and the backtester build it."""

    config: BotConfig
    params: Any                                # the resolved param model (ArbHunterParams, ...)
    books: Any                                 # marketdata BookStore: .get(asset_id) -> OrderBook | None
    markets: dict[str, MarketInfo]             # condition id -> metadata (the strategy's selection)
    submit: SubmitFn                           # executor: risk engine + journal + send
    clock: ClockFn = _wall_ms                  # ms since epoch; virtual in backtests
    metrics: BotMetrics | None = None          # label with (ctx.bot, ctx.strategy_name, ...)
    log: Any = None                            # structlog BoundLogger; None -> a default logger
    http: aiohttp.ClientSession | None = None  # shared session for Data API / NewsAPI / Gamma
    credentials: Mapping[str, str] = field(default_factory=dict)  # secret values by key name
    data_api_url: str = ""                     # default: config.endpoints.dataApiUrl
    gamma_url: str = ""                        # default: config.endpoints.gammaUrl
    state_dir: str = ""                        # where a strategy may keep files (memory DB); "" = temp
    newsapi_url: str = "https://newsapi.org"   # NewsAPI base URL (tests point it at a local server)
    backtest: bool = False                     # True in `botfleet backtest`: no network, virtual clock
    perf_ns: Callable[[], int] = time.perf_counter_ns  # monotonic clock for latency measurement
    # executor.resolve: the exchange's final word on results still `pending` (delayed) or `error`
    # (the POST's answer was lost); returns them updated, possibly still not final (call again)
    resolve: ResolveFn = _already_final
    # token -> (shares held, cost basis) from the journal: what the bot holds after a restart
    held: Callable[[], Mapping[str, tuple[int, int]]] = _nothing_held
    # journal an event (e.g. an unwind that left shares unsold)
    record_event: Callable[[str, dict[str, Any]], Awaitable[None]] = _no_journal
    # a strategy's own durable state in the journal (key -> JSON value), e.g. PolyAI's prediction scores
    state_get: Callable[[str], Any] = _no_state
    state_set: Callable[[str, Any], Awaitable[None]] = _drop_state

    def __post_init__(self) -> None:
        if self.log is None:
            import structlog

            self.log = structlog.get_logger("botfleet.strategy")
        if not self.data_api_url:
            self.data_api_url = self.config.endpoints.dataApiUrl
        if not self.gamma_url:
            self.gamma_url = self.config.endpoints.gammaUrl

    @property
    def bot(self) -> str:
        return self.config.name

    @property
    def strategy_name(self) -> str:
        return str(self.config.strategy)

    def secret(self, key: str) -> str:
        """A credential value or "" when absent. Never log the result."""
        try:
            v = self.credentials.get(key)
        except Exception:  # a reader backed by files may fail on a half-written rotation
            return ""
        return v or ""


class Strategy(abc.ABC):
    """One trading strategy. Lifecycle: __init__(ctx) -> select_markets -> run() ... stop()."""

    name: ClassVar[str]
    params_model: ClassVar[type]

    def __init__(self, ctx: StrategyContext) -> None:
        self.ctx = ctx
        self.params = ctx.params
        self.log = ctx.log.bind(strategy=self.name) if hasattr(ctx.log, "bind") else ctx.log

    def select_markets(self, markets: list[MarketInfo]) -> list[MarketInfo]:
        """The markets this strategy wants books for (default: every tradable one)."""
        return [m for m in markets if m.tradable]

    def on_book_update(self, asset_ids: Iterable[str], received_ns: int = 0) -> None:  # noqa: B027
        """Hot path, synchronous: called by the BookStore after each applied frame.

        `received_ns` is `ctx.perf_ns()` when the frame arrived (0 = unknown: use now); it is the
        start of the tick-to-order latency. Must return quickly; submissions are scheduled as tasks.
        """

    def on_market_resolved(self, market: str, winning_asset_id: str) -> None:  # noqa: B027
        """A `market_resolved` event: strategies that track outcomes override this."""

    async def tick(self) -> None:  # noqa: B027
        """Periodic work that is due at `ctx.clock()` (scans, polls). `run()` calls it in a loop;
        backtests call it after each frame with the virtual clock, so it must not sleep."""

    @abc.abstractmethod
    async def run(self) -> None:
        """Periodic work (scans, polling). Returns when `stop()` is called."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop new work, let in-flight submissions finish."""

    async def drain(self) -> None:  # noqa: B027
        """Wait for scheduled submissions to finish (backtests call it after each frame)."""

    @abc.abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """Summary for /status and the demo: opportunities, orders, fills, pnl_usd, latency_us."""


STRATEGIES: dict[str, type[Strategy]] = {}
_S = TypeVar("_S", bound=type[Strategy])


def register(cls: _S) -> _S:
    """Class decorator: make `strategy: <cls.name>` select this class."""
    name = cls.name
    if name in STRATEGIES and STRATEGIES[name] is not cls:
        raise ValueError(f"strategy name {name!r} is already registered by {STRATEGIES[name].__qualname__}")
    STRATEGIES[name] = cls
    return cls


def get_strategy(name: str) -> type[Strategy]:
    """The class registered under `name`; imports its package (from the contract's registry) on first use."""
    import importlib

    from bot_runtime.contract.params import STRATEGY_REGISTRY
    from bot_runtime.contract.params import Strategy as StrategyName

    if str(name) not in STRATEGIES and str(name) in set(StrategyName):
        importlib.import_module(STRATEGY_REGISTRY[StrategyName(str(name))].package)  # registers it
    try:
        return STRATEGIES[str(name)]
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r}; registered: {', '.join(sorted(STRATEGIES)) or '(none)'}") from None
