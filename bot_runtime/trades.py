"""`botfleet trades`: the trade history from the bot's journal as CSV (the guide's "trade history,
export to CSV"). Runs where the journal is: in the bot's pod (`botfleet fleet trades` execs it in
every pod of a fleet) or beside a restored backup."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, datetime

import typer

from bot_runtime.types import Fill
from bot_runtime.venue.polymarket.constants import E6

COLUMNS = ("time", "bot", "strategy", "mode", "market", "token_id", "side", "price", "shares", "usd", "fee_usd",
           "trade_id", "order_id")


def parse_since(text: str) -> int:
    """`2026-12-01`, `2026-12-01T08:00:00Z` or `today` -> epoch milliseconds (UTC)."""
    if text == "today":
        now = datetime.now(UTC)
        return int(datetime(now.year, now.month, now.day, tzinfo=UTC).timestamp() * 1000)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date: use YYYY-MM-DD, an ISO time or 'today'",
                                 param_hint="--since") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def fills_csv(fills: Iterable[Fill], bot: str, strategy: str, mode: str, header: bool = True) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    if header:
        w.writerow(COLUMNS)
    for f in fills:
        usd = f.price_e6 * f.size_e6 // E6
        w.writerow((datetime.fromtimestamp(f.ts_ms / 1000, UTC).isoformat(timespec="milliseconds"), bot, strategy,
                    mode, f.market, f.token_id, f.side, f"{f.price_e6 / E6:.6f}", f"{f.size_e6 / E6:.6f}",
                    f"{usd / E6:.6f}", f"{f.fee_e6 / E6:.6f}", f.trade_id, f.order_id))
    return out.getvalue()


def trades_command(
    since: str = typer.Option("today", "--since", help="First day (UTC) to export: YYYY-MM-DD, ISO time or 'today'."),
    header: bool = typer.Option(True, "--header/--no-header", help="Print the CSV header line."),
    config: str = typer.Option(None, "--config", envvar="BOTFLEET_CONFIG", help="The bot's config.json."),
) -> None:
    """Print the bot's fills since a date as CSV (from its journal)."""
    from bot_runtime.run import _journal_for

    since_ms = parse_since(since)
    cfg, journal = _journal_for(config)
    try:
        fills = journal.fills(since_ms)
    finally:
        journal.close()
    typer.echo(fills_csv(fills, cfg.name, str(cfg.strategy), cfg.mode, header), nl=False)
