"""Tick to order: from a market-data websocket frame arriving at the runtime to the signed order's
bytes leaving it, for ArbHunter in paper mode against `botfleet sim` on loopback.

One command, prints JSON:
    .venv/bin/python benchmarks/bench_tick_to_order.py [--opportunities 10000] [--signer ours|pyclob]

What runs: a real BotApp (arbhunter, paper mode, real EIP-712 signing with its paper key, which the sim
funds, real SQLite journal, real risk engine, real aiohttp order client) whose exchange is a
`botfleet sim` subprocess (pinned to the other core) and whose market websocket is a small feed
server in this process that plays one dislocation (both outcomes' asks at 0.10, below anything the
sim's books offer, so both FOK legs are refused: no fills, no hedging) at a time and
then a non-arb book, waiting for the bot between opportunities (nothing else runs in the window),
and at most one opportunity per 12.5 ms (--min-interval-ms): the exchange allows 1,000 POST
/orders per 10 s, and faster the client's own rate limiter would hold orders back.

What is measured, with time.perf_counter_ns in this process (the bot pinned to one core):
  t0: the runtime's websocket reader has the frame (BotApp's market-data hook `on_raw_frame`,
      the stamp the runtime itself uses for its tick-to-order histogram);
  t1: the POST /orders bytes were handed to the socket (`transport.write` returned): the order
      lane's write hook, or aiohttp's `on_request_chunk_sent` on the exchange's own session when
      the request went through aiohttp (`--no-lane`, or no warm lane connection).
t1 - t0 covers: frame parse, book apply, arbitrage detection, risk check, signing both legs, the
journal's `pending` write, HTTP request build and write. `cpu_us` is the bot thread's CPU time
over the same window (time.thread_time_ns): wall minus CPU is time spent waiting (for the core,
which other processes share on a loaded machine, or for the disk with --journal-fsync).
`gc_in_window` counts cyclic-GC passes that ran inside a window (gc.callbacks).

--signer pyclob additionally builds and signs every leg with py-clob-client-v2's OrderBuilder
(the stock SDK path) inside the same window: the tick-to-order the runtime would have had with
the stock signer (its result is discarded so the sim sees identical orders).
--journal-fsync: the journal fsyncs every pending write before the send (on its thread), as
before issue #14. --no-lane: orders go through aiohttp instead of the warm order lane.
--realtime: the event loop's thread runs at SCHED_FIFO priority 1, so other processes on its core
do not preempt it (what a core of its own, e.g. a Guaranteed pod under the static CPU manager,
gives); needs root.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import functools
import gc
import json
import logging
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import structlog
import websockets

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def _inside(t: int, windows: list[tuple[int, int]]) -> bool:
    """Is t inside one of the (sorted, disjoint) windows?"""
    i = bisect.bisect_right(windows, (t, 1 << 62)) - 1
    return i >= 0 and windows[i][0] <= t <= windows[i][1]


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": model, "loadavg": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version()}


def _book(asset: str, market: str, bid: str, ask: str, ts: int) -> dict[str, Any]:
    return {"event_type": "book", "asset_id": asset, "market": market, "timestamp": str(ts), "hash": "0x0",
            "bids": [{"price": bid, "size": "500"}], "asks": [{"price": ask, "size": "500"}]}


class Feed:
    """A market-channel websocket: snapshots on subscribe, PONG on PING, frames on demand."""

    def __init__(self, markets: dict[str, tuple[str, str]]) -> None:
        self.markets = markets            # condition id -> (yes, no)
        self.conn: Any = None
        self.ready = asyncio.Event()
        self.ts = int(time.time() * 1000)

    def frame(self, ask: str, bid: str, only: str | None = None) -> bytes:
        self.ts += 1
        return orjson.dumps([_book(t, m, bid, ask, self.ts) for m, toks in self.markets.items()
                             if only is None or m == only for t in toks])

    async def handler(self, ws: Any) -> None:
        async for msg in ws:
            if msg == "PING":
                await ws.send("PONG")
                continue
            with contextlib.suppress(ValueError):
                if "assets_ids" in json.loads(msg):
                    await ws.send(self.frame("0.55", "0.45"))
                    self.conn = ws
                    self.ready.set()


async def run(n: int, signer_mode: str, journal_fsync: bool = False, lane: bool = True,
              gc_mode: str = "runtime", realtime: bool = False, min_interval_s: float = 0.0125) -> dict[str, Any]:
    from bot_runtime import app_execution
    from bot_runtime.app import BotApp
    from bot_runtime.contract.config import BotConfig, Endpoints
    from bot_runtime.credentials import CredentialsReader

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    logging.getLogger().setLevel(logging.WARNING)
    port = _free_port()
    sim = subprocess.Popen([sys.executable, "-m", "bot_runtime.cli", "sim", "--scenario", "static", "--speed", "0",
                            "--port", str(port), "--log-level", "WARNING"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= 2:  # the exchange on one core, the bot on the other
        os.sched_setaffinity(sim.pid, {cores[1]})
        os.sched_setaffinity(0, {cores[0]})
    sim_url = f"http://127.0.0.1:{port}"
    tmp = Path(tempfile.mkdtemp(prefix="bench-t2o-"))
    http = aiohttp.ClientSession()
    try:
        for _ in range(300):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{sim_url}/gamma/markets") as r:
                    if r.status == 200:
                        gamma = await r.json()
                        break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("the simulator did not start")
        binary = next(m for m in gamma if not m.get("negRisk"))
        cid = binary["conditionId"]
        yes, no = json.loads(binary["clobTokenIds"])
        feed = Feed({cid: (yes, no)})
        feed_port = _free_port()
        server = await websockets.serve(feed.handler, "127.0.0.1", feed_port)
        endpoints = Endpoints.for_sim(sim_url).model_dump() | {"wsMarketUrl": f"ws://127.0.0.1:{feed_port}"}
        config = BotConfig.model_validate({
            "name": "bench-t2o", "strategy": "arbhunter", "mode": "paper", "riskProfile": "aggressive",
            "params": {"cooldownMs": 0, "orderType": "FOK"}, "endpoints": endpoints,
            "markets": {"conditionIds": [cid]},
            "limits": {"maxOrderUsd": 1000, "maxPositionPerMarketUsd": 1_000_000, "maxTotalExposureUsd": 1_000_000,
                       "maxDailyLossUsd": 1_000_000, "maxOpenOrders": 10_000},
            "journal": {"url": f"sqlite:///{tmp / 'journal.sqlite'}"}, "credentialsDir": str(tmp / "none")})
        if journal_fsync:
            app_execution.open_journal = functools.partial(  # type: ignore[attr-defined]
                app_execution.open_journal, fsync_before_send=True)
        app = BotApp(config, CredentialsReader(None, env={}))
        hooks = app.hooks
        real_on_raw = hooks.on_raw_frame
        cpu0 = [0]

        def on_raw_frame(raw: bytes, recv_ms: int) -> None:
            real_on_raw(raw, recv_ms)
            cpu0[0] = time.thread_time_ns()

        hooks.on_raw_frame = on_raw_frame  # type: ignore[method-assign]
        await app.start()
        if realtime:  # the event loop's thread only; the journal's threads were started above
            app.execution.executor.journal.sync_soon()
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        if gc_mode == "off":      # an upper bound of what the cyclic GC costs the window
            gc.disable()
        elif gc_mode == "freeze":
            gc.collect()
            gc.freeze()
        await asyncio.wait_for(feed.ready.wait(), 30)
        ex = app.execution.executor

        stamps: dict[str, int] = {}
        sent = asyncio.Event()
        answered = asyncio.Event()

        def stamp_t1() -> None:
            if "t1" not in stamps:
                stamps["t1"] = time.perf_counter_ns()
                stamps["cpu1"] = time.thread_time_ns()
                sent.set()

        async def on_chunk(_s: Any, _c: Any, params: Any) -> None:
            stamp_t1()

        tc = aiohttp.TraceConfig()
        tc.on_request_chunk_sent.append(on_chunk)
        bench_session = ex.exchange._session = aiohttp.ClientSession(  # the exchange's session, traced
            timeout=aiohttp.ClientTimeout(total=10),
            connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=60),
            trace_configs=[tc])
        if ex.exchange.lane is not None:
            if lane:
                real_write = ex.exchange.lane.write

                def lane_write(transport: Any, data: bytes) -> None:
                    real_write(transport, data)
                    stamp_t1()

                ex.exchange.lane.write = lane_write
                ex.exchange.lane.warm()
            else:
                await ex.exchange.lane.close()
                ex.exchange.lane = None
        lane_posts = [0]
        real_post = ex.exchange.post_orders

        async def post_orders(orders: Any) -> Any:
            try:
                return await real_post(orders)
            finally:
                answered.set()

        ex.exchange.post_orders = post_orders

        if signer_mode == "pyclob":
            from py_clob_client_v2.clob_types import CreateOrderOptions, OrderArgsV2
            from py_clob_client_v2.order_builder.builder import OrderBuilder
            from py_clob_client_v2.signer import Signer

            from bot_runtime.venue.polymarket.constants import CHAIN_ID

            stock = OrderBuilder(Signer("0x" + "5a" * 32, CHAIN_ID))

            class StockSigningCost:
                """Our signer, plus the stock SDK's build + sign of the same order (result dropped)."""

                def __init__(self, inner: Any) -> None:
                    self._inner = inner

                def __getattr__(self, name: str) -> Any:
                    return getattr(self._inner, name)

                def sign(self, intent: Any, client_id: str, ts: int) -> Any:
                    stock.build_order(OrderArgsV2(token_id=intent.token_id, price=intent.price_e6 / 1e6,
                                                  size=intent.size_e6 / 1e6, side=intent.side),
                                      CreateOrderOptions(tick_size="0.01", neg_risk=intent.neg_risk))
                    return self._inner.sign(intent, client_id, ts)

            ex.signer = StockSigningCost(ex.signer)

        # breakdown stamps: the executor entered, the journal's durable write began / ended
        real_submit, real_pending = ex.submit, ex.journal.record_pending

        async def submit(*a: Any, **k: Any) -> Any:
            stamps.setdefault("submit", time.perf_counter_ns())
            return await real_submit(*a, **k)

        def record_pending(*a: Any, **k: Any) -> Any:
            stamps.setdefault("journal_in", time.perf_counter_ns())
            try:
                return real_pending(*a, **k)
            finally:
                stamps.setdefault("journal_out", time.perf_counter_ns())

        ex.submit = submit  # type: ignore[method-assign]
        ex.journal.record_pending = record_pending  # type: ignore[method-assign]
        parts: dict[str, list[int]] = {"frame_to_submit": [], "submit_to_journal": [], "journal_write": [],
                                       "journal_to_wire": []}
        lat_ns: list[int] = []
        cpu_ns: list[int] = []
        windows: list[tuple[int, int]] = []
        gc_state: dict[str, Any] = {"start": 0, "passes": []}   # (start ns, end ns, generation)

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_state["start"] = time.perf_counter_ns()
            else:
                gc_state["passes"].append((gc_state["start"], time.perf_counter_ns(), info["generation"]))

        gc.callbacks.append(on_gc)
        missed = 0
        limiter = ex.exchange.limiter
        limited = 0
        next_at = time.monotonic()
        for i in range(n + 200):                          # the first 200: warm-up, not counted
            stamps.clear()
            sent.clear()
            answered.clear()
            # at most one opportunity per min_interval_s: faster, the client-side rate limiter (the
            # exchange's 1,000 POST /orders per 10 s) would hold orders back, and that is not latency
            await asyncio.sleep(max(next_at - time.monotonic(), 0))
            next_at = time.monotonic() + min_interval_s
            if limiter.delay("POST", "/orders") > 0:
                limited += 1
            await feed.conn.send(feed.frame("0.10", "0.05"))   # built before, sent now: t0 is at receipt
            try:
                await asyncio.wait_for(sent.wait(), 2)
                await asyncio.wait_for(answered.wait(), 5)
            except TimeoutError:
                missed += 1
                continue
            if i >= 200:
                t0 = app.hooks.last_frame_ns
                lat_ns.append(stamps["t1"] - t0)
                windows.append((t0, stamps["t1"]))
                cpu_ns.append(stamps["cpu1"] - cpu0[0])
                if {"submit", "journal_in", "journal_out"} <= stamps.keys():
                    parts["frame_to_submit"].append(stamps["submit"] - t0)
                    parts["submit_to_journal"].append(stamps["journal_in"] - stamps["submit"])
                    parts["journal_write"].append(stamps["journal_out"] - stamps["journal_in"])
                    parts["journal_to_wire"].append(stamps["t1"] - stamps["journal_out"])
            await feed.conn.send(feed.frame("0.55", "0.45"))
            for _ in range(2000):                         # the bot settles the result (no order)
                await asyncio.sleep(0 if _ < 100 else 0.001)
                if not any(s.busy for s in app.strategy.sets):
                    break
        gc.callbacks.remove(on_gc)
        in_window = [p for p in gc_state["passes"] if _inside(p[0], windows)]
        lane_posts[0] = ex.exchange.lane is not None
        journal_orders = ex.journal.count_orders()
        await app.stop("benchmark done")
        await bench_session.close()
        server.close()
    finally:
        await http.close()
        sim.terminate()
        sim.wait(10)
    us = [x / 1000 for x in lat_ns]
    cpu = [x / 1000 for x in cpu_ns]
    return {
        "benchmark": "tick_to_order", "signer": signer_mode, "journal": "fsync before send" if journal_fsync else
        "inline, fsync behind the send", "http": "order lane" if lane_posts[0] else "aiohttp", "gc": gc_mode,
        "scheduling": "SCHED_FIFO 1 (event loop)" if realtime else "normal",
        "opportunities": len(us), "missed": missed, "rate_limited": limited,
        "min_interval_ms": min_interval_s * 1000,
        "p50_us": round(_pct(us, 0.50), 1), "p99_us": round(_pct(us, 0.99), 1),
        "p99_9_us": round(_pct(us, 0.999), 1), "max_us": round(max(us), 1), "mean_us": round(statistics.fmean(us), 1),
        "cpu_p50_us": round(_pct(cpu, 0.50), 1), "cpu_p99_us": round(_pct(cpu, 0.99), 1),
        "cpu_p99_9_us": round(_pct(cpu, 0.999), 1),
        "target_p99_us": 1000, "met": _pct(us, 0.99) < 1000, "journal_orders": journal_orders,
        "gc_in_window": {f"gen{g}": sum(1 for p in in_window if p[2] == g) for g in range(3)}
        | {"pause_ms": round(sum(b - a for a, b, _ in in_window) / 1e6, 2),
           "passes_during_run": len(gc_state["passes"])},
        "breakdown_p50_us": {k: round(_pct([x / 1000 for x in v], 0.5), 1) for k, v in parts.items() if v},
        "breakdown_p99_us": {k: round(_pct([x / 1000 for x in v], 0.99), 1) for k, v in parts.items() if v},
        "measured": "websocket frame received by the runtime -> POST /orders bytes written to the socket",
        "machine": machine() | {"pinned_core": sorted(os.sched_getaffinity(0))},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--opportunities", type=int, default=10_000)
    ap.add_argument("--signer", choices=["ours", "pyclob"], default="ours")
    ap.add_argument("--journal-fsync", action="store_true", help="fsync every pending write before the send")
    ap.add_argument("--no-lane", action="store_true", help="send orders through aiohttp, not the order lane")
    ap.add_argument("--gc", choices=["runtime", "freeze", "off"], default="runtime",
                    help="runtime: as the bot runs it; freeze: gc.freeze() after start; off: gc.disable()")
    ap.add_argument("--realtime", action="store_true",
                    help="the bot's event-loop thread at SCHED_FIFO priority 1 on its core (needs root): what a "
                         "core of its own gives, on a machine whose cores other processes share")
    ap.add_argument("--min-interval-ms", type=float, default=12.5,
                    help="opportunities at most this often (default 80/s, inside the exchange's 1,000 POST /orders "
                         "per 10 s, so the client-side rate limiter never holds an order back)")
    a = ap.parse_args()
    print(json.dumps(asyncio.run(run(a.opportunities, a.signer, a.journal_fsync, not a.no_lane, a.gc, a.realtime,
                                     a.min_interval_ms / 1000)), indent=1))


if __name__ == "__main__":
    main()
