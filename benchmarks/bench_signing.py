"""Order build + EIP-712 signing: our signer vs py-clob-client-v2's OrderBuilder.

One command, prints JSON:  .venv/bin/python benchmarks/bench_signing.py [--orders 10000]
Both sides build a V2 limit order from (token, price, size, side) and sign it with an EOA key;
ours also serialises the POST /order body (the client's number excludes that).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time

from py_clob_client_v2.clob_types import CreateOrderOptions, OrderArgsV2
from py_clob_client_v2.order_builder.builder import OrderBuilder
from py_clob_client_v2.signer import Signer

from bot_runtime.types import OrderIntent
from bot_runtime.venue.polymarket import signing
from bot_runtime.venue.polymarket.constants import CHAIN_ID, E6
from bot_runtime.venue.polymarket.signing import OrderSigner

KEY = "0x" + "5a" * 32


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def _summary(ns: list[int]) -> dict[str, float]:
    us = [x / 1000 for x in ns]
    return {"p50_us": round(_pct(us, 0.50), 1), "p99_us": round(_pct(us, 0.99), 1),
            "mean_us": round(statistics.fmean(us), 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    n = ap.parse_args().orders
    rng = random.Random(1)
    orders = [(str(rng.getrandbits(256)), rng.randrange(1, 99) * 10_000, rng.randrange(5, 500) * E6,
               rng.choice(["BUY", "SELL"]), rng.random() < 0.5) for _ in range(n)]

    ours = OrderSigner(KEY)
    ours_ns: list[int] = []
    for i, (token, price, size, side, neg) in enumerate(orders):
        intent = OrderIntent(market="0x01", token_id=token, side=side, price_e6=price, size_e6=size,  # type: ignore[arg-type]
                             neg_risk=neg)
        t0 = time.perf_counter_ns()
        so = ours.sign(intent, f"bench-{i}", 1_760_000_000_000 + i)
        so.body_json("api-key")
        ours_ns.append(time.perf_counter_ns() - t0)

    builder = OrderBuilder(Signer(KEY, CHAIN_ID))
    client_ns: list[int] = []
    for token, price, size, side, neg in orders:
        args = OrderArgsV2(token_id=token, price=price / E6, size=size / E6, side=side)
        opts = CreateOrderOptions(tick_size="0.01", neg_risk=neg)
        t0 = time.perf_counter_ns()
        builder.build_order(args, opts)
        client_ns.append(time.perf_counter_ns() - t0)

    o, c = _summary(ours_ns), _summary(client_ns)
    print(json.dumps({
        "benchmark": "order_signing", "orders": n,
        "ours": {**o, "backend": "coincurve" if signing._coincurve is not None else "eth_keys"},
        "py_clob_client_v2": c,
        "speedup_p50": round(c["p50_us"] / o["p50_us"], 1),
        "python": platform.python_version(), "machine": platform.machine(),
    }, indent=2))


if __name__ == "__main__":
    main()
