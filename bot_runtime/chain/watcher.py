"""Polls exchange `OrderFilled` logs for watched wallets with web3, reorg- and reconnect-safe.

Every poll re-reads the last `reorg_window` blocks (logs of a replaced block reappear with their new
position, logs flagged `removed` are ignored) and counts each fill once by (tx hash, log index).
Fills are delivered only after `confirmations` blocks. An RPC error leaves the cursor where it was,
so the next successful poll resumes without a gap; the caller decides how long to back off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from eth_utils import to_checksum_address

from bot_runtime.chain.events import (
    V1_TOPIC,
    V2_TOPIC,
    ChainFill,
    LogDecodeError,
    decode_order_filled,
    is_taker_aggregate,
)

log = logging.getLogger(__name__)


def _addr_topic(addr: str) -> str:
    return "0x" + "0" * 24 + addr.lower().removeprefix("0x")


class OrderFilledWatcher:
    def __init__(
        self,
        w3: Any,                              # web3.Web3 (sync; calls run in a thread from `run`)
        exchanges: Iterable[str],
        wallets: Iterable[str],
        *,
        start_block: int | None = None,       # None: start at the current head
        confirmations: int = 0,
        reorg_window: int = 5,
        max_range: int = 2_000,               # blocks per eth_getLogs request
        seen_capacity: int = 100_000,
    ) -> None:
        self.w3 = w3
        self.exchanges = [to_checksum_address(a) for a in exchanges]
        self.wallets = {w.lower() for w in wallets}
        self.confirmations = confirmations
        self.reorg_window = reorg_window
        self.max_range = max_range
        self.next_block = start_block         # first block not yet scanned
        self.first_block = start_block or 0   # never look before the configured start
        self._seen: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._seen_capacity = seen_capacity
        self.errors = 0
        self.decode_errors = 0

    def set_wallets(self, wallets: Iterable[str]) -> None:
        self.wallets = {w.lower() for w in wallets}

    def _get_logs(self, frm: int, to: int, wallet_topic_index: int) -> list[Any]:
        topics: list[Any] = [[V1_TOPIC, V2_TOPIC], None, None, None]
        topics[wallet_topic_index] = [_addr_topic(w) for w in sorted(self.wallets)]
        flt = {"fromBlock": frm, "toBlock": to, "address": self.exchanges, "topics": topics}
        return list(self.w3.eth.get_logs(flt))

    def poll_once(self) -> list[ChainFill]:
        """Scan new blocks (plus the reorg window); returns fills of watched wallets not seen before.

        Raises on RPC errors without moving the cursor.
        """
        if not self.wallets:
            return []
        head = int(self.w3.eth.block_number) - self.confirmations
        if self.next_block is None:
            self.next_block = self.first_block = head + 1
            return []
        if head < 0:
            return []
        frm = max(self.first_block, self.next_block - self.reorg_window)
        out: list[ChainFill] = []
        batch: set[tuple[str, int]] = set()
        while frm <= head:
            to = min(head, frm + self.max_range - 1)
            logs = self._get_logs(frm, to, 2) + self._get_logs(frm, to, 3)  # wallet as maker, as taker
            logs.sort(key=lambda lg: (int(lg["blockNumber"]), int(lg["logIndex"])))
            for lg in logs:
                if lg.get("removed"):
                    continue
                try:
                    fill = decode_order_filled(lg)
                except LogDecodeError as e:
                    self.decode_errors += 1
                    log.warning("skipping undecodable log: %s", e)
                    continue
                if fill is None or is_taker_aggregate(fill) or fill.key in self._seen or fill.key in batch:
                    continue
                batch.add(fill.key)
                out.append(fill)
            frm = to + 1
        # a fill happened when its block was made, not when we read it: stamp the block's time
        # (an RPC error here raises like any other, and the cursor stays)
        times: dict[int, int] = {}
        for n in sorted({f.block_number for f in out}):
            times[n] = int(self.w3.eth.get_block(n)["timestamp"]) * 1000
        out = [replace(f, block_time_ms=times[f.block_number]) for f in out]
        for f in out:  # seen only once everything about them is read: a failure re-reads them
            self._remember(f.key)
        self.next_block = max(self.next_block, head + 1)
        return out

    def _remember(self, key: tuple[str, int]) -> None:
        self._seen[key] = None
        if len(self._seen) > self._seen_capacity:
            self._seen.popitem(last=False)

    async def run(self, on_fills: Callable[[list[ChainFill]], None], stop: asyncio.Event,
                  interval_s: float = 2.0, max_backoff_s: float = 60.0) -> None:
        """Poll until `stop` is set; RPC failures back off exponentially and resume from the cursor."""
        backoff = interval_s
        while not stop.is_set():
            try:
                fills = await asyncio.to_thread(self.poll_once)
            except Exception as e:  # RPC down, timeout, rate limit: keep the cursor, retry later
                self.errors += 1
                log.warning("OrderFilled poll failed (%s: %s); retrying in %.1fs", type(e).__name__, e, backoff)
                delay = backoff
                backoff = min(max_backoff_s, backoff * 2)
            else:
                backoff = interval_s
                delay = interval_s
                if fills:
                    on_fills(fills)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
