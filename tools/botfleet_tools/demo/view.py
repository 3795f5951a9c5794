"""What the demo shows: a live rich table on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from botfleet_tools.demo.report import BotRow

_STATE_STYLE = {"trading": "green", "KILLED": "bold red", "error": "red", "paused": "yellow"}


def _money(v: float) -> Text:
    return Text(f"{v:+,.2f}", style="green" if v > 0 else "red" if v < 0 else "")


def bots_table(rows: list[BotRow], title: str = "bots") -> Table:
    t = Table(title=title, expand=True, title_justify="left")
    for col, justify in (("bot", "left"), ("strategy", "left"), ("state", "left"), ("opps", "right"),
                         ("orders", "right"), ("fills", "right"), ("PnL $", "right"), ("exposure $", "right"),
                         ("p50 µs", "right"), ("p99 µs", "right"), ("data age", "right"),
                         ("last opportunity", "left")):
        t.add_column(col, justify=justify, no_wrap=col != "last opportunity")  # type: ignore[arg-type]
    for r in rows:
        age = "-" if r.data_age_s is None else f"{r.data_age_s:.1f}s"
        t.add_row(r.name, r.strategy, Text(r.state[:40], style=_STATE_STYLE.get(r.state, "yellow")),
                  str(r.opportunities), str(r.orders), str(r.fills), _money(r.pnl_usd), f"{r.exposure_usd:,.2f}",
                  f"{r.latency_us['p50']:,.0f}", f"{r.latency_us['p99']:,.0f}", age, r.last_opportunity)
    return t


def live_view(rows: list[BotRow], elapsed_s: float, duration_s: float | None, header: str,
              recent: list[str]) -> Group:
    left = "until Ctrl-C" if duration_s is None else f"of {duration_s:.0f}s"
    title = f"botfleet demo · {elapsed_s:5.1f}s {left}"
    events = Text("\n".join(recent[-8:]) or "waiting for the first opportunity...", style="dim")
    return Group(Text(header, style="dim"), bots_table(rows, title), Panel(events, title="recent events"))


def plain_lines(rows: list[BotRow], elapsed_s: float) -> list[str]:
    return [f"[{elapsed_s:6.1f}s] {r.name:<18} {r.strategy:<10} {r.state[:24]:<24} opps={r.opportunities:<4} "
            f"orders={r.orders:<4} fills={r.fills:<4} pnl=${r.pnl_usd:+.2f} "
            f"p50={r.latency_us['p50']:.0f}us p99={r.latency_us['p99']:.0f}us" for r in rows]
