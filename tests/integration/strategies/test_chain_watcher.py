"""The OrderFilled watcher against a real in-process EVM emitting the exchanges' events."""

from __future__ import annotations

import asyncio
from typing import Any

from bot_runtime.chain.events import MATCHED_TOPIC, V1_TOPIC, V2_TOPIC, decode_order_filled
from bot_runtime.chain.watcher import OrderFilledWatcher
from bot_runtime.venue.polymarket.constants import E6

H = bytes.fromhex("aa" * 32)


def h(n: int) -> bytes:
    return n.to_bytes(32, "big")


def test_topics_match_the_compiled_contract(evm: Any) -> None:
    # the ABI compiled by solc hashes to the same topics as the canonical signatures we compute
    topics = {e["name"] + str(len(e["inputs"])): e for e in evm.emitter.abi if e["type"] == "event"}
    assert set(topics) == {"OrderFilled8", "OrderFilled10", "OrdersMatched6"}
    rcpt = evm.transact(evm.emitter.functions.fillV1(H, evm.accounts[1], evm.accounts[2], 0, 123, 52 * E6, 100 * E6, 0))
    assert rcpt["logs"][0]["topics"][0].hex().removeprefix("0x") == V1_TOPIC[2:]
    rcpt = evm.transact(evm.emitter.functions.fillV2(H, evm.accounts[1], evm.accounts[2], 0, 123, 52 * E6, 100 * E6, 7))
    assert rcpt["logs"][0]["topics"][0].hex().removeprefix("0x") == V2_TOPIC[2:]
    rcpt = evm.transact(evm.emitter.functions.matchV2(H, evm.accounts[2], 1, 5, [h(1)], [evm.accounts[1]],
                                                      [10 * E6], [4 * E6]))
    assert rcpt["logs"][-1]["topics"][0].hex().removeprefix("0x") == MATCHED_TOPIC[2:]


def test_v1_and_v2_fills_decode_with_side_token_price(evm: Any) -> None:
    whale, other = evm.accounts[3], evm.accounts[4]
    # V1: maker sold 100 shares of token 777 for 52 USDC (makerAssetId = token)
    rcpt = evm.transact(evm.emitter.functions.fillV1(H, whale, other, 777, 0, 100 * E6, 52 * E6, 1000))
    f = decode_order_filled(rcpt["logs"][0])
    assert f is not None and (f.version, f.side, f.token_id, f.shares_e6, f.usdc_e6, f.price_e6, f.fee_e6) == (
        1, "SELL", "777", 100 * E6, 52 * E6, 520_000, 1000)
    assert f.maker == whale and f.taker == other and f.for_wallet(whale) == "SELL" and f.for_wallet(other) == "BUY"
    # V2 BUY: maker paid 30 pUSD for 100 shares of a 77-digit token id
    tok = 2**255 + 12345
    rcpt = evm.transact(evm.emitter.functions.fillV2(H, whale, other, 0, tok, 30 * E6, 100 * E6, 0))
    f = decode_order_filled(rcpt["logs"][0])
    assert f is not None and (f.version, f.side, f.token_id, f.price_e6) == (2, "BUY", str(tok), 300_000)
    assert f.exchange == evm.exchange and f.tx_hash == rcpt["transactionHash"].to_0x_hex().lower()


def test_each_fill_counted_once_taker_aggregate_skipped(evm: Any) -> None:
    whale, m1, m2 = evm.accounts[5], evm.accounts[6], evm.accounts[7]
    w = OrderFilledWatcher(evm.w3, [evm.exchange], [whale], start_block=int(evm.w3.eth.block_number) + 1)
    # the whale's order takes two maker orders (makers SELL 60 + 40 shares of token 9 at 0.45)
    evm.transact(evm.emitter.functions.matchV2(h(100), whale, 1, 9, [h(1), h(2)], [m1, m2],
                                               [60 * E6, 40 * E6], [27 * E6, 18 * E6]))
    fills = w.poll_once()
    assert len(fills) == 2  # not 3: the taker aggregate (taker = exchange) repeats the maker fills
    assert [f.for_wallet(whale) for f in fills] == ["BUY", "BUY"]
    assert sum(f.shares_e6 for f in fills) == 100 * E6 and {f.price_e6 for f in fills} == {450_000}
    assert w.poll_once() == []  # re-reading the reorg window does not repeat them
    # a maker-side fill of the whale is seen too; fills of unwatched wallets are not
    evm.transact(evm.emitter.functions.fillV2(h(3), whale, m1, 1, 9, 10 * E6, 5 * E6, 0))
    evm.transact(evm.emitter.functions.fillV2(h(4), m1, m2, 1, 9, 10 * E6, 5 * E6, 0))
    fills = w.poll_once()
    assert [(f.maker, f.for_wallet(whale)) for f in fills] == [(whale, "SELL")]


def test_reorg_replaced_block_is_read_again(evm: Any) -> None:
    whale, m1 = evm.accounts[8], evm.accounts[9]
    w = OrderFilledWatcher(evm.w3, [evm.exchange], [whale], start_block=int(evm.w3.eth.block_number) + 1,
                           reorg_window=5)
    snap = evm.snapshot()
    evm.transact(evm.emitter.functions.fillV2(h(10), whale, m1, 0, 42, 5 * E6, 10 * E6, 0))
    assert [f.order_hash[-2:] for f in w.poll_once()] == ["0a"]
    evm.revert(snap)  # that block is gone; another branch includes a different fill
    evm.transact(evm.emitter.functions.fillV2(h(11), whale, m1, 0, 42, 6 * E6, 10 * E6, 0))
    fills = w.poll_once()  # head is not past the cursor: only the reorg window finds it
    assert [f.order_hash[-2:] for f in fills] == ["0b"]


def test_confirmations_hold_fills_back(evm: Any) -> None:
    whale, m1 = evm.accounts[8], evm.accounts[9]
    w = OrderFilledWatcher(evm.w3, [evm.exchange], [whale], start_block=int(evm.w3.eth.block_number) + 1,
                           confirmations=2)
    evm.transact(evm.emitter.functions.fillV2(h(20), whale, m1, 0, 42, 5 * E6, 10 * E6, 0))
    assert w.poll_once() == []
    evm.mine(2)
    assert len(w.poll_once()) == 1


class FlakyEth:
    """Delegates to a real web3 `eth`, failing the first `fail` get_logs calls like a dropped RPC."""

    def __init__(self, eth: Any, fail: int) -> None:
        self._eth, self.fail = eth, fail

    @property
    def block_number(self) -> int:
        return int(self._eth.block_number)

    def get_logs(self, flt: Any) -> Any:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("RPC connection reset")
        return self._eth.get_logs(flt)

    def get_block(self, n: int) -> Any:
        return self._eth.get_block(n)


class FlakyW3:
    def __init__(self, w3: Any, fail: int) -> None:
        self.eth = FlakyEth(w3.eth, fail)


async def test_rpc_failures_resume_without_gap_or_duplicate(evm: Any) -> None:
    whale, m1 = evm.accounts[1], evm.accounts[2]
    flaky = FlakyW3(evm.w3, fail=3)
    w = OrderFilledWatcher(flaky, [evm.exchange], [whale], start_block=int(evm.w3.eth.block_number) + 1)
    for i in range(3):
        evm.transact(evm.emitter.functions.fillV2(h(30 + i), whale, m1, 0, 42, 5 * E6, 10 * E6, 0))
    got: list[Any] = []
    stop = asyncio.Event()

    def on_fills(fs: list[Any]) -> None:
        got.extend(fs)
        if len(got) >= 3:
            stop.set()

    await asyncio.wait_for(w.run(on_fills, stop, interval_s=0.01, max_backoff_s=0.05), timeout=30)
    assert w.errors >= 2 and len(got) == 3 and len({f.key for f in got}) == 3


async def test_chain_fill_of_a_whale_becomes_a_copy_order(evm: Any) -> None:
    import json

    from bot_runtime.contract.config import BotConfig
    from bot_runtime.marketdata.store import BookStore
    from bot_runtime.strategies import get_strategy
    from bot_runtime.strategies.base import StrategyContext
    from bot_runtime.types import OrderResult
    from bot_runtime.venue.polymarket.gamma import market_from_gamma

    whale, maker = evm.accounts[2], evm.accounts[3]
    now = [1_700_000_000_000]
    cid, yes, no = "0x" + "33" * 32, "9001", "9002"
    info = market_from_gamma({"conditionId": cid, "question": "Chain?", "clobTokenIds": json.dumps([yes, no])})
    cfg = BotConfig.model_validate({"name": "m", "strategy": "elitemimic", "params": {
        "wallets": [whale], "source": "chain", "minWhaleTradeUsd": 100, "minAiConfidence": 0}})
    sent: list[Any] = []

    async def submit(intents: list[Any], opp: Any) -> list[OrderResult]:
        sent.extend(intents)
        return [OrderResult("c", i, "matched", "o", i.size_e6, i.price_e6) for i in intents]

    ctx = StrategyContext(config=cfg, params=cfg.strategy_params(), books=BookStore(), markets={cid: info},
                          submit=submit, clock=lambda: now[0])
    strat: Any = get_strategy("elitemimic")(ctx)
    w = OrderFilledWatcher(evm.w3, [evm.exchange], [whale], start_block=int(evm.w3.eth.block_number) + 1)
    # the whale (taker) buys 1000 YES at 0.40 from one maker: maker SELLs, whale BUYs
    evm.transact(evm.emitter.functions.matchV2(h(200), whale, 1, int(yes), [h(201)], [maker],
                                               [1000 * E6], [400 * E6]))
    fills = w.poll_once()
    block = evm.w3.eth.get_block(fills[0].block_number)
    assert fills and all(f.block_time_ms == int(block["timestamp"]) * 1000 for f in fills)
    now[0] = fills[0].block_time_ms + 5_000  # read 5 s after its block
    strat.on_chain_fills(fills)
    await strat.drain()
    assert [(i.token_id, i.side, i.price_e6) for i in sent] == [(yes, "BUY", 400_000)]  # 0.408 -> tick 0.01, down
    assert strat.snapshot()["decisions"] == {"copied": 1}
    # the same kind of fill read an hour after its block is stale (before: stamped "now", copied)
    evm.transact(evm.emitter.functions.matchV2(h(210), whale, 1, int(yes), [h(211)], [maker],
                                               [1000 * E6], [400 * E6]))
    late = w.poll_once()
    now[0] = late[0].block_time_ms + 3_600_000
    strat.on_chain_fills(late)
    await strat.drain()
    assert len(sent) == 1 and strat.snapshot()["decisions"].get("skipped_stale") == 1
