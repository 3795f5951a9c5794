"""`botfleet backtest`: replay a recorded market-channel tape through one strategy in paper mode.

Deterministic and as fast as the CPU allows: the clock is virtual (each frame's own timestamp),
orders fill in-process against the replayed books through the runtime's paper matching engine
(`PaperMatchingExchange`: walk of the opposite side up to the limit, Polymarket's taker fee, FOK
all-or-nothing, FAK partial, liquidity we took stays taken until the tape changes that level), and
scheduled work is drained after every frame, so the same tape always gives the same report (latency aside, which is measured).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer

from bot_runtime.contract.config import BotConfig, ConfigError, load_config
from bot_runtime.execution.paper import PaperMatchingExchange
from bot_runtime.marketdata.store import BookStore
from bot_runtime.marketdata.tape import iter_tape
from bot_runtime.strategies.base import Strategy, StrategyContext, get_strategy
from bot_runtime.types import Opportunity, OrderIntent, OrderResult, OrderStatus
from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.fees import rate_ppm_of
from bot_runtime.venue.polymarket.frames import (
    BookEvent,
    FrameError,
    MarketResolvedEvent,
    PriceChangeEvent,
    parse_frame,
)
from bot_runtime.venue.polymarket.gamma import MarketInfo, load_markets_file
from bot_runtime.venue.polymarket.signing import OrderError, SignedOrder, order_amounts


class BacktestError(ValueError):
    """Bad backtest input; the message names the file/line and the fix."""


def iso_ms(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# A backtest measures the strategy, not a wallet: the paper account starts with ample collateral.
BACKTEST_COLLATERAL_E6 = 10**9 * E6


def paper_order(n: int, intent: OrderIntent) -> SignedOrder:
    """The order as the paper engine reads it (amounts, token, side): the signer's own amounts
    (`order_amounts`: a market BUY spends `amount_e6` dollars), so the backtest trades what the
    exchange would. Nothing leaves the process, so it is not signed: signing would only cost time
    and make the replay depend on a key. Raises OrderError for an intent the signer refuses."""
    maker, taker = order_amounts(intent)
    order = {"tokenId": intent.token_id, "side": intent.side, "makerAmount": str(maker),
             "takerAmount": str(taker)}
    return SignedOrder(client_id=f"bt-{n}", order_hash=f"0xbt{n:062x}", order=order,
                       order_type=intent.order_type, post_only=intent.post_only)


class PaperFiller:
    """The `submit` of a backtest: the runtime's in-process paper matching engine
    (`PaperMatchingExchange`) against the replayed books, with the markets' taker fees."""

    def __init__(self, store: BookStore, markets: dict[str, MarketInfo], clock: Callable[[], int]) -> None:
        ppm: dict[str, int] = {}
        for m in markets.values():
            ppm[m.yes_token_id] = ppm[m.no_token_id] = rate_ppm_of(m.fees_enabled, m.fee_rate)
        self.engine = PaperMatchingExchange(store.book, fee_rate_ppm=lambda t: ppm.get(t, 0),
                                            usdc_e6=BACKTEST_COLLATERAL_E6, clock_ms=clock)
        self._ids = itertools.count(1)
        self.orders = 0
        self.fills = 0
        self.executions: list[dict[str, Any]] = []  # one per submitted group, filled shares per leg

    def levels_changed(self, events: list[Any]) -> None:
        """The tape changed these levels: what we took from them before is history, the level as now
        shown is fresh liquidity. (The engine alone cannot tell a level re-added with the same size
        from the one it consumed, and would refuse fills the tape offers.)"""
        for ev in events:
            t = type(ev)
            if t is PriceChangeEvent:
                for c in ev.changes:
                    self.engine.level_changed(c.asset_id, c.side, c.price_e6)
            elif t is BookEvent:
                self.engine.book_replaced(ev.asset_id)

    async def submit(self, intents: list[OrderIntent], opportunity: Opportunity) -> list[OrderResult]:
        out = await self._submit(intents)
        filled = [r.filled_size_e6 for r in out]
        complete = all(r.status == "matched" for r in out)
        self.executions.append({
            "ts": iso_ms(opportunity.ts_ms), "market": opportunity.market, "kind": opportunity.kind,
            "status": "filled" if complete and all(filled) else ("partial" if any(filled) else "unfilled"),
            "legs": [{"asset": r.intent.token_id, "side": r.intent.side, "shares": r.filled_size_e6 / E6,
                      "usd": r.filled_size_e6 * r.avg_price_e6 // E6 / E6} for r in out]})
        return out

    async def _submit(self, intents: list[OrderIntent]) -> list[OrderResult]:
        out: list[OrderResult] = []
        for it in intents:
            n = next(self._ids)
            self.orders += 1
            try:
                order = paper_order(n, it)
            except OrderError as exc:
                out.append(OrderResult(client_id=f"bt-{n}", intent=it, status="rejected", error=str(exc)))
                continue
            [res] = await self.engine.post_orders([order])
            fee = res.fee_e6
            if it.side == "BUY":
                filled, paid = res.taking_e6, res.making_e6
            else:
                filled, paid = res.making_e6, res.taking_e6
            if not res.ok:
                filled = paid = 0
            status: OrderStatus
            if filled:
                self.fills += 1
                status = "matched" if filled >= it.size_e6 else "partial"
            elif res.ok or "match" in res.error or "filled" in res.error:
                status = "unmatched"  # a killed FOK/FAK: nothing at the limit
            else:
                status = "rejected"
            avg = paid * E6 // filled if filled else 0
            out.append(OrderResult(client_id=f"bt-{n}", intent=it, status=status, order_id=res.order_id or
                                   res.order_hash, filled_size_e6=filled, avg_price_e6=avg, fee_e6=fee,
                                   error="" if res.ok else res.error))
        return out


def load_whale_trades(path: Path | None) -> list[dict[str, Any]]:
    """Data API `/activity`-shaped items (EliteMimic's input in a backtest), sorted by timestamp."""
    if path is None:
        return []
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise BacktestError(f"cannot read whale trades {path}: {e}") from None
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise BacktestError(f"{path} must hold a JSON list of Data API /activity items")
    return sorted(data, key=lambda x: int(x.get("timestamp") or 0))


async def run_backtest(
    tape: Path, markets_file: Path, strategy: str, config: BotConfig | None = None,
    whale_trades: Path | None = None,
) -> dict[str, Any]:
    try:
        markets = load_markets_file(markets_file)
    except ValueError as e:
        raise BacktestError(str(e)) from None
    if config is None:
        config = BotConfig.model_validate({"name": f"backtest-{strategy}", "strategy": get_strategy(strategy).name,
                                           "mode": "paper"})
    elif str(config.strategy) != get_strategy(strategy).name:
        raise BacktestError(f"the config's strategy is {config.strategy} but --strategy is {strategy}: "
                            "make them agree (the config's params belong to its strategy)")
    cls: type[Strategy] = get_strategy(strategy)
    store = BookStore()
    by_id = {m.condition_id: m for m in markets}
    now = [0]
    filler = PaperFiller(store, by_id, lambda: now[0])
    # replay logs nothing below CRITICAL: formatting millions of lines would dominate the run time
    logger = structlog.wrap_logger(structlog.ReturnLogger(), processors=[],
                                   wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    ctx = StrategyContext(
        config=config, params=config.strategy_params(), books=store, markets=by_id,
        submit=filler.submit, clock=lambda: now[0], metrics=None, log=logger, backtest=True,
        credentials={},
    )
    strat = cls(ctx)
    selected = strat.select_markets(list(markets))
    store.add_markets(selected)
    pending = load_whale_trades(whale_trades) if hasattr(strat, "feed_whale_trades") else []
    max_age = getattr(ctx.params, "maxBookAgeMs", 2000)
    last_touch = -(10**15)
    all_assets = list(store.books)
    frames = bad = 0
    perf = time.perf_counter_ns
    if not tape.is_file():
        raise BacktestError(f"tape {tape} not found; record one with `botfleet record --out FILE`")
    for fr in iter_tape(tape):
        line_no, raw = fr.line, fr.raw
        t0 = perf()
        try:
            events = parse_frame(raw)
        except FrameError as e:
            bad += 1
            if bad > 100 and bad > frames:
                raise BacktestError(f"{tape}:{line_no}: too many bad frames ({e})") from None
            continue
        ts = max((e.timestamp_ms for e in events), default=0) or now[0]
        now[0] = max(now[0], ts)
        if now[0] - last_touch > max_age // 2:
            store.touch(all_assets, now[0])  # replay: the feed is alive between frames
            last_touch = now[0]
        touched = store.apply_events(events, now[0])
        filler.levels_changed(events)
        frames += 1
        while pending and int(pending[0].get("timestamp") or 0) * 1000 <= now[0]:
            strat.feed_whale_trades([pending.pop(0)])  # type: ignore[attr-defined]
        for ev in events:
            if type(ev) is MarketResolvedEvent:
                strat.on_market_resolved(ev.market, ev.winning_asset_id)
        if touched:
            strat.on_book_update(sorted(touched), t0)
        await strat.tick()
        await strat.drain()
    await strat.stop()
    snap = strat.snapshot()
    opps: list[Opportunity] = list(getattr(strat, "opportunities", []))
    return {
        "strategy": cls.name,
        "frames": frames,
        "bad_frames": bad,
        "opportunities": [
            {"ts": iso_ms(o.ts_ms), "market": o.market, "kind": o.kind, "edge": round(o.edge, 8),
             "assets": list(o.assets)} for o in opps
        ],
        "orders": filler.orders,
        "fills": filler.fills,
        "executions": filler.executions,
        "pnl_usd": snap.get("pnl_usd", 0.0),
        "latency_us": snap.get("latency_us", {"p50": 0.0, "p99": 0.0}),
        "markets": len(selected),
        "summary": {k: v for k, v in snap.items() if k not in ("recent", "latency_us")},
    }


def backtest_command(
    tape: Annotated[Path, typer.Option("--tape", help="Recorded frames, one JSON frame per line.")],
    markets: Annotated[Path, typer.Option("--markets", help="Gamma /markets JSON (a list) for the tape.")],
    strategy: Annotated[str, typer.Option("--strategy", help="arbhunter | polyai | elitemimic")],
    report: Annotated[Path, typer.Option("--report", help="Where to write the JSON report.")],
    config: Annotated[Path | None, typer.Option("--config", help="Bot config.json; default: balanced preset.")]
    = None,
    whale_trades: Annotated[Path | None, typer.Option(
        "--whale-trades", help="EliteMimic: Data API /activity JSON list to replay.")] = None,
) -> None:
    """Replay a tape through a strategy in paper mode."""  # and write a report
    logging.getLogger("bot_runtime.marketdata").setLevel(logging.ERROR)
    try:
        cfg = load_config(config, env={}) if config is not None else None
        result = asyncio.run(run_backtest(tape, markets, strategy, cfg, whale_trades))
    except (BacktestError, ConfigError, ValueError) as e:
        typer.echo(f"backtest: {e}", err=True)
        raise typer.Exit(2) from None
    report.write_text(json.dumps(result, indent=2) + "\n")
    typer.echo(f"{result['strategy']}: {result['frames']} frames, {len(result['opportunities'])} opportunities, "
               f"{result['orders']} orders, {result['fills']} fills, pnl ${result['pnl_usd']:.2f}, "
               f"latency p50 {result['latency_us']['p50']:.0f} µs -> {report}")
