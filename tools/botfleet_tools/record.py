"""`botfleet record`: tape the market channel for backtesting.

Writes the frames exactly as received (one per line, see marketdata/tape.py) and the
recorded markets as Gamma `/markets` JSON (a list), which `botfleet backtest --markets`
reads back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import aiohttp
import typer

from bot_runtime.marketdata.store import BookStore
from bot_runtime.marketdata.tape import TapeWriter
from bot_runtime.venue.polymarket.constants import GAMMA_URL, WS_MARKET_URL
from bot_runtime.venue.polymarket.gamma import (
    GammaClient,
    GammaError,
    MarketFilter,
    parse_markets,
)
from bot_runtime.venue.polymarket.ws import MarketDataHooks, MarketWsClient, WsSettings


class RecordError(RuntimeError):
    pass


@dataclass(slots=True)
class RecordSummary:
    tape: str
    markets_file: str | None
    markets: int
    assets: int
    frames: int
    bytes: int
    bad_frames: int
    reconnects: int
    duration_s: float


class _TapeHooks(MarketDataHooks):
    def __init__(self, writer: TapeWriter) -> None:
        self.writer = writer

    def on_raw_frame(self, raw: bytes, recv_ms: int) -> None:
        self.writer.write(raw, recv_ms)


def split_market_args(values: list[str]) -> tuple[list[str], list[str]]:
    """`--market` values: condition ids (0x + 64 hex digits) or slugs."""
    cids: list[str] = []
    slugs: list[str] = []
    for v in values:
        v = v.strip()
        if not v:
            continue
        if v.startswith("0x") and len(v) == 66:
            cids.append(v.lower())
        else:
            slugs.append(v)
    return cids, slugs


async def record(
    out: Path,
    *,
    markets_out: Path | None = None,
    ws_url: str = WS_MARKET_URL,
    gamma_url: str = GAMMA_URL,
    duration_s: float | None = None,
    markets: list[str] | None = None,
    categories: list[str] | None = None,
    max_markets: int = 50,
    recv_times: bool = True,
    stop: asyncio.Event | None = None,
    store: BookStore | None = None,
) -> RecordSummary:
    """Record until `duration_s` passes or `stop` is set. `store`, if given, is kept current
    while recording (to watch the books)."""
    cids, slugs = split_market_args(markets or [])
    f = MarketFilter(
        condition_ids=cids,
        slugs=slugs,
        categories=categories or [],
        max_markets=None if (cids or slugs) else max_markets,
    )
    async with GammaClient(gamma_url) as gamma:
        raws = await gamma.markets_raw(f)
        await gamma.annotate_raw_events(raws)  # a neg-risk set needs its whole event (models.complete_negrisk_events)
    infos = parse_markets(raws)
    if not infos:
        raise RecordError(
            f"no tradable market matched (markets={markets or 'any'}, categories={categories or 'any'}) "
            f"at {gamma_url}: check --market / --category and --gamma-url"
        )
    used = {m.condition_id for m in infos}
    if markets_out is not None:
        markets_out.parent.mkdir(parents=True, exist_ok=True)
        markets_out.write_text(json.dumps([r for r in raws if r.get("conditionId") in used], indent=1))
    assets = [t for m in infos for t in m.token_ids]

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    started = loop.time()
    # verify_best off: the recorder must not add resubscription traffic to the tape
    store = store if store is not None else BookStore(verify_best=False)
    store.verify_best = False
    with TapeWriter(out, recv_times=recv_times) as writer:
        client = MarketWsClient(store, WsSettings(url=ws_url), _TapeHooks(writer))

        async def flusher() -> None:  # a killed recorder loses at most the last second
            while True:
                await asyncio.sleep(1.0)
                writer.flush()

        flush_task = asyncio.create_task(flusher())
        try:
            await client.start(assets)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration_s)
        finally:
            flush_task.cancel()
            await client.stop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(sig)
    return RecordSummary(
        tape=str(out),
        markets_file=str(markets_out) if markets_out else None,
        markets=len(infos),
        assets=len(assets),
        frames=writer.frames,
        bytes=writer.bytes,
        bad_frames=store.stats.bad_frames,
        reconnects=client.reconnects,
        duration_s=round(loop.time() - started, 3),
    )


def record_command(
    out: Annotated[Path, typer.Option("--out", help="Tape file to write (JSON lines; .gz compresses).")],
    markets_out: Annotated[
        Path | None, typer.Option("--markets-out", help="Write the recorded markets as Gamma JSON (a list).")
    ] = None,
    ws_url: Annotated[
        str, typer.Option("--ws-url", envvar="BOTFLEET_WS_URL", help="CLOB market websocket URL.")
    ] = WS_MARKET_URL,
    gamma_url: Annotated[
        str, typer.Option("--gamma-url", envvar="BOTFLEET_GAMMA_URL", help="Gamma API base URL.")
    ] = GAMMA_URL,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Stop after this many seconds (default: Ctrl-C).")
    ] = None,
    market: Annotated[
        list[str] | None, typer.Option("--market", help="Condition id (0x...) or slug; repeatable.")
    ] = None,
    category: Annotated[
        list[str] | None, typer.Option("--category", help="Only markets of this category/tag; repeatable.")
    ] = None,
    max_markets: Annotated[
        int, typer.Option("--max-markets", min=1, help="Without --market: record at most this many.")
    ] = 50,
    recv_times: Annotated[
        bool, typer.Option("--recv-times/--no-recv-times", help="Write receive times to <out>.recv_ms.")
    ] = True,
) -> None:
    """Record market-channel frames to a tape."""  # exactly as received, plus the markets' Gamma JSON
    try:
        summary = asyncio.run(
            record(
                out,
                markets_out=markets_out,
                ws_url=ws_url,
                gamma_url=gamma_url,
                duration_s=duration,
                markets=market,
                categories=category,
                max_markets=max_markets,
                recv_times=recv_times,
            )
        )
    except RecordError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    except (OSError, GammaError, aiohttp.ClientError, TimeoutError) as e:
        typer.echo(f"error: {type(e).__name__}: {e}", err=True)
        raise typer.Exit(1) from None
    sys.stdout.write(json.dumps(asdict(summary)) + "\n")


app = typer.Typer(add_completion=False)
app.command(name="record")(record_command)


if __name__ == "__main__":  # `python -m botfleet_tools.record --out tape.jsonl ...`
    app()
