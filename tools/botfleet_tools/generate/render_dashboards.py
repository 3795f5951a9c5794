#!/usr/bin/env python3
"""Renders the Grafana dashboards of the chart as PNG pictures from real Prometheus data.

Each dashboard's panels are drawn with matplotlib where Grafana would put them (gridPos), from the
same PromQL, so docs/ shows what a user gets. Data comes from a Prometheus you name, or from one this
script starts (Debian's `prometheus`) scraping `botfleet demo` or the synthetic fleet of
tests/support/prometheus.py for a few minutes.

    python -m botfleet_tools.generate.render_dashboards --source synthetic --minutes 4        # self-contained
    python -m botfleet_tools.generate.render_dashboards --source demo --minutes 4
    python -m botfleet_tools.generate.render_dashboards --prometheus http://127.0.0.1:9090 --minutes 30
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import re
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

REPO = Path(__file__).resolve().parents[3]
DASHBOARDS = REPO / "helm" / "botfleet" / "dashboards"
OUT = REPO / "docs" / "images"
BG, PANEL, TEXT, GRID = "#111217", "#181b1f", "#d8d9da", "#2c3235"
COLORS = ["#73bf69", "#f2cc0c", "#5794f2", "#ff780a", "#b877d9", "#f2495c", "#8ab8ff", "#fade2a"]
THRESHOLD_COLORS = {"green": "#73bf69", "red": "#f2495c", "yellow": "#fade2a", "orange": "#ff9830"}


def _support() -> ModuleType:
    """tests/support/prometheus.py, loaded by path (tests/ is not an installed package)."""
    path = REPO / "tests" / "support" / "prometheus.py"
    spec = importlib.util.spec_from_file_location("botfleet_test_prometheus", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _get(url: str, params: dict[str, str]) -> Any:
    with urllib.request.urlopen(f"{url}?{urllib.parse.urlencode(params)}", timeout=30) as resp:  # loopback/user URL
        out = json.load(resp)
    if out.get("status") != "success":
        raise RuntimeError(f"{params.get('query')}: {out.get('error')}")
    return out["data"]["result"]


MODE = "paper"  # the dashboards' $mode while rendering (`--mode`): the demo's bots trade paper


def substitute(expr: str, rate_interval: str) -> str:
    for var, value in (("$__rate_interval", rate_interval), ("$__interval", rate_interval), ("$namespace", ".*"),
                       ("$bot", ".*"), ("$strategy", ".*"), ("$mode", MODE)):
        expr = expr.replace(var, value)
    return expr


def table_cells(panel: dict[str, Any], url: str, end: float, ri: str) -> tuple[list[str], list[list[str]]]:
    """A table panel as Grafana shows it after its transformations: `merge` (one row per label set,
    a column per query, renamed by `organize`) or `groupingToMatrix` (rows x columns from labels)."""
    unit = panel["fieldConfig"]["defaults"].get("unit", "short")
    results = [(chr(ord("A") + i), _get(f"{url}/api/v1/query", {"query": substitute(t["expr"], ri), "time": str(end)}))
               for i, t in enumerate(panel["targets"])]
    tf = {t["id"]: t.get("options", {}) for t in panel.get("transformations", [])}
    if "groupingToMatrix" in tf:
        o = tf["groupingToMatrix"]
        cols: list[str] = []
        grid: dict[str, dict[str, str]] = {}
        for _, series in results:
            for s in series:
                m = s["metric"]
                col = m.get(o["columnField"], "")
                if col not in cols:
                    cols.append(col)
                grid.setdefault(m.get(o["rowField"], ""), {})[col] = m.get(o["valueField"], s["value"][1])
        order = tf.get("organize", {}).get("indexByName", {})
        cols.sort(key=lambda c: order.get(c, 99))
        return ["TradingBot", *cols], [[r, *(grid[r].get(c, "") for c in cols)] for r in sorted(grid)]
    organize = tf.get("organize", {})
    rename, hidden = organize.get("renameByName", {}), organize.get("excludeByName", {})
    keys = ("namespace", "bot", "mode")
    rows: dict[tuple[str, str], dict[str, str]] = {}
    columns: list[str] = []
    for ref, series in results:
        name = rename.get(f"Value #{ref}", f"Value #{ref}")
        if not hidden.get(f"Value #{ref}") and name not in columns:
            columns.append(name)
        for s in series:
            m = s["metric"]
            row = rows.setdefault((m.get("namespace", ""), m.get("bot", "")), {})
            row.update({k: m[k] for k in keys if k in m})
            row[name] = fmt_value(float(s["value"][1]), "bytes" if name == "memory" else unit)
    header = [*keys, *columns]
    return header, [[r.get(c, "") for c in header] for _, r in sorted(rows.items())]


def draw_table(ax: Axes, panel: dict[str, Any], url: str, end: float, ri: str) -> None:
    header, cells = table_cells(panel, url, end, ri)
    ax.set_axis_off()
    if not cells:
        ax.text(0.5, 0.5, "No data", color=TEXT, ha="center", va="center", transform=ax.transAxes)
        return
    t = ax.table(cellText=cells, colLabels=header, loc="upper center", cellLoc="left", colLoc="left")
    t.auto_set_font_size(False)
    t.set_fontsize(6)
    for (r, _c), cell in t.get_celld().items():
        cell.set_facecolor(PANEL if r else GRID)
        cell.set_edgecolor(GRID)
        cell.get_text().set_color(TEXT)


def legend(fmt: str, labels: dict[str, str]) -> str:
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt or "")
    return text.strip() or ",".join(f"{k}={v}" for k, v in labels.items() if k != "__name__") or "value"


def fmt_value(v: float, unit: str) -> str:
    if math.isnan(v):
        return "-"
    if unit == "percentunit":
        return f"{v * 100:.1f}%"
    if unit == "currencyUSD":
        return f"${v:,.2f}" if abs(v) < 1e4 else f"${v / 1e3:,.1f}k"
    if unit == "s":
        if abs(v) >= 86400:
            return f"{v / 86400:.1f} d"
        if abs(v) >= 1:
            return f"{v:.1f} s"
        return f"{v * 1e3:.2f} ms" if abs(v) >= 1e-3 else f"{v * 1e6:.0f} µs"
    if float(v).is_integer() or abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:,.2f}"


def scale(unit: str, largest: float) -> tuple[float, str]:
    """Multiplier and axis label: percent for ratios, ms for sub-second durations."""
    if unit == "s":
        return (1e3, "ms") if largest < 1 else (1.0, "s")
    return {"percentunit": (100.0, "%"), "currencyUSD": (1.0, "$")}.get(unit, (1.0, ""))


def stat_color(panel: dict[str, Any], v: float) -> str:
    steps = panel["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
    color = "#5794f2"
    for s in steps:
        if s["value"] is None or v >= s["value"]:
            color = THRESHOLD_COLORS.get(s["color"], s["color"])
    return color


def draw_timeseries(ax: Axes, panel: dict[str, Any], url: str, start: float, end: float, step: float,
                    ri: str) -> None:
    unit = panel["fieldConfig"]["defaults"].get("unit", "short")
    results = [(t, series) for t in panel["targets"]
               for series in _get(f"{url}/api/v1/query_range", {"query": substitute(t["expr"], ri),
                                                                 "start": str(start), "end": str(end),
                                                                 "step": str(step)})]
    largest = max((abs(float(v)) for _, s in results for _, v in s["values"]), default=0.0)
    mult, suffix = scale(unit, largest)
    n = 0
    for t, series in results:
        xs = [(float(ts) - end) / 60 for ts, _ in series["values"]]
        ys = [float(v) * mult for _, v in series["values"]]
        ax.plot(xs, ys, lw=1.2, color=COLORS[n % len(COLORS)], label=legend(t.get("legendFormat", ""),
                                                                               series["metric"]))
        n += 1
    ax.set_facecolor(PANEL)
    ax.grid(color=GRID, lw=0.5)
    ax.tick_params(colors=TEXT, labelsize=6)
    ax.set_xlabel("minutes", color=TEXT, fontsize=6, labelpad=1)
    if suffix:
        ax.set_ylabel(suffix, color=TEXT, fontsize=6, labelpad=1)
    for spine in ax.spines.values():
        spine.set_color(GRID)
    if n:
        ax.legend(fontsize=5, loc="upper left", framealpha=0.3, facecolor=PANEL, labelcolor=TEXT,
                  ncol=2 if n > 4 else 1)
    else:
        ax.text(0.5, 0.5, "No data", color=TEXT, ha="center", va="center", transform=ax.transAxes)


def draw_stat(ax: Axes, panel: dict[str, Any], url: str, end: float, ri: str) -> None:
    unit = panel["fieldConfig"]["defaults"].get("unit", "short")
    values = [float(s["value"][1]) for t in panel["targets"]
              for s in _get(f"{url}/api/v1/query", {"query": substitute(t["expr"], ri), "time": str(end)})]
    ax.set_axis_off()
    if not values:
        ax.set_facecolor(PANEL)
        ax.text(0.5, 0.45, "No data", color=TEXT, ha="center", va="center", fontsize=10, transform=ax.transAxes)
        return
    v = values[0]
    ax.add_patch(plt.Rectangle((0, 0), 1, 1, transform=ax.transAxes, color=stat_color(panel, v), alpha=0.85))
    ax.text(0.5, 0.42, fmt_value(v, unit), color="white", ha="center", va="center", fontsize=16, weight="bold",
            transform=ax.transAxes)


def draw_bargauge(ax: Axes, panel: dict[str, Any], url: str, end: float, ri: str) -> None:
    unit = panel["fieldConfig"]["defaults"].get("unit", "short")
    rows = [(legend(t.get("legendFormat", ""), s["metric"]), float(s["value"][1])) for t in panel["targets"]
            for s in _get(f"{url}/api/v1/query", {"query": substitute(t["expr"], ri), "time": str(end)})]
    rows.sort()
    ax.set_facecolor(PANEL)
    ax.tick_params(colors=TEXT, labelsize=6)
    for spine in ax.spines.values():
        spine.set_color(GRID)
    if not rows:
        ax.text(0.5, 0.5, "No data", color=TEXT, ha="center", va="center", transform=ax.transAxes)
        return
    names, vals = zip(*rows, strict=True)
    colors = [stat_color(panel, v) for v in vals]
    ax.barh(range(len(vals)), vals, color=colors)
    ax.set_yticks(range(len(vals)), names)
    ax.set_xticks([])
    for i, v in enumerate(vals):
        ax.text(v, i, " " + fmt_value(v, unit), color=TEXT, va="center", fontsize=6)


def render_dashboard(path: Path, url: str, out: Path, minutes: float, rate_interval: str) -> Path:
    dash = json.loads(path.read_text())
    panels = dash["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    unit_px = 0.42  # inches per grid row
    fig = plt.figure(figsize=(16, rows * unit_px + 0.6), facecolor=BG)
    height = rows * unit_px + 0.6
    fig.text(0.01, 1 - 0.3 / height, dash["title"], color=TEXT, fontsize=12, weight="bold", va="center")
    end = time.time()
    start = end - minutes * 60
    step = max(2.0, minutes * 60 / 150)
    for p in panels:
        g = p["gridPos"]
        left, width = g["x"] / 24 + 0.004, g["w"] / 24 - 0.008
        top = 1 - (0.6 + g["y"] * unit_px) / height
        h = g["h"] * unit_px / height
        if p["type"] == "row":
            fig.text(left, top - h / 2, p["title"], color=TEXT, fontsize=9, weight="bold", va="center")
            continue
        title_h = 0.22 / height
        fig.add_artist(plt.Rectangle((left, top - h + 0.004), width, h - 0.008, transform=fig.transFigure,
                                     color=PANEL, zorder=0))
        fig.text(left + 0.004, top - title_h / 2 - 0.004, substitute(p["title"], rate_interval), color=TEXT,
                 fontsize=7, va="center")
        if p["type"] == "timeseries":
            ax = fig.add_axes((left + 0.03, top - h + 0.045 * 8 / height, width - 0.04, h - title_h - 0.06 * 8 / height))
            draw_timeseries(ax, p, url, start, end, step, rate_interval)
        elif p["type"] == "stat":
            ax = fig.add_axes((left + 0.004, top - h + 0.008, width - 0.008, h - title_h - 0.016))
            draw_stat(ax, p, url, end, rate_interval)
        elif p["type"] == "bargauge":
            ax = fig.add_axes((left + 0.06, top - h + 0.02 * 8 / height, width - 0.09, h - title_h - 0.04 * 8 / height))
            draw_bargauge(ax, p, url, end, rate_interval)
        elif p["type"] == "table":
            ax = fig.add_axes((left + 0.004, top - h + 0.008, width - 0.008, h - title_h - 0.016))
            draw_table(ax, p, url, end, rate_interval)
    target = out / f"{path.stem}.png"
    fig.savefig(target, dpi=72, facecolor=BG)
    plt.close(fig)
    return target


@contextlib.contextmanager
def own_prometheus(source: str, minutes: float) -> Iterator[str]:
    sup = _support()
    jobs: dict[str, list[tuple[str, dict[str, str]]]]
    with contextlib.ExitStack() as stack:
        if source == "demo":
            bots = stack.enter_context(sup.botfleet_demo())
            jobs = {sup.BOT_JOB: [(bots, {})]}
        else:
            bots, operator = stack.enter_context(sup.synthetic_fleet())
            jobs = {sup.BOT_JOB: [(bots, {})], sup.OPERATOR_JOB: [(operator, {})]}
        prom = stack.enter_context(sup.running_prometheus(jobs))
        print(f"collecting {minutes} min of data from the {source} into {prom.url} ...", file=sys.stderr)
        time.sleep(minutes * 60)
        yield prom.url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the chart's Grafana dashboards to PNG.")
    parser.add_argument("--prometheus", help="Use this Prometheus (base URL) instead of starting one.")
    parser.add_argument("--source", choices=["synthetic", "demo"], default="synthetic",
                        help="What a self-started Prometheus scrapes.")
    parser.add_argument("--minutes", type=float, default=4, help="Time range shown (and collected).")
    parser.add_argument("--rate-interval", default="30s", help="Value of $__rate_interval.")
    parser.add_argument("--mode", choices=["paper", "live"], default="paper", help="Value of $mode.")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("dashboards", nargs="*", help="Dashboard names (default: all).")
    args = parser.parse_args(argv)
    global MODE
    MODE = args.mode
    args.out.mkdir(parents=True, exist_ok=True)
    paths = [p for p in sorted(DASHBOARDS.glob("*.json")) if not args.dashboards or p.stem in args.dashboards]
    with contextlib.ExitStack() as stack:
        url = args.prometheus or stack.enter_context(own_prometheus(args.source, args.minutes))
        for p in paths:
            print(render_dashboard(p, url.rstrip("/"), args.out, args.minutes, args.rate_interval))
    return 0


if __name__ == "__main__":
    sys.exit(main())
