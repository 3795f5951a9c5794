"""Decoding of the CTF / NegRisk exchanges' `OrderFilled` events (V1 and V2).

Topic hashes are computed as keccak256 of the canonical event signature, never copied. Amounts are
6-decimal integers (collateral and outcome tokens alike), so prices are exact e6 ratios.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

# Polymarket exchanges on Polygon: V2 first, V1 for history.
from bot_runtime.venue.polymarket.constants import E6

V1_SIGNATURE = "OrderFilled(bytes32,address,address,uint256,uint256,uint256,uint256,uint256)"
V2_SIGNATURE = "OrderFilled(bytes32,address,address,uint8,uint256,uint256,uint256,uint256,bytes32,bytes32)"
MATCHED_SIGNATURE = "OrdersMatched(bytes32,address,uint256,uint256,uint256,uint256)"


def topic(signature: str) -> str:
    return "0x" + keccak(text=signature).hex().removeprefix("0x")


V1_TOPIC = topic(V1_SIGNATURE)
V2_TOPIC = topic(V2_SIGNATURE)
MATCHED_TOPIC = topic(MATCHED_SIGNATURE)
_V1_DATA = ["uint256"] * 5
_V2_DATA = ["uint8", "uint256", "uint256", "uint256", "uint256", "bytes32", "bytes32"]



class LogDecodeError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ChainFill:
    """One maker fill, from the maker's point of view."""

    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    exchange: str
    version: int
    order_hash: str
    maker: str
    taker: str
    side: str          # the maker's side: BUY or SELL of `token_id`
    token_id: str
    shares_e6: int
    usdc_e6: int
    fee_e6: int
    block_time_ms: int = 0   # the block's timestamp (the watcher fills it); 0: not known

    @property
    def key(self) -> tuple[str, int]:
        return self.tx_hash, self.log_index

    @property
    def price_e6(self) -> int:
        return self.usdc_e6 * E6 // self.shares_e6 if self.shares_e6 else 0

    def for_wallet(self, wallet: str) -> str | None:
        """The side `wallet` traded in this fill (the taker trades the opposite side), or None."""
        w = wallet.lower()
        if self.maker.lower() == w:
            return self.side
        if self.taker.lower() == w:
            return "SELL" if self.side == "BUY" else "BUY"
        return None


def _hex(v: Any) -> str:
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    if hasattr(v, "hex") and not isinstance(v, str):
        h = v.hex()
        return h if h.startswith("0x") else "0x" + h
    s = str(v)
    return s if s.startswith("0x") else "0x" + s


def _topic_address(t: Any) -> str:
    h = _hex(t)
    return to_checksum_address("0x" + h[-40:])


def _data_bytes(v: Any) -> bytes:
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    return bytes.fromhex(_hex(v)[2:])


def decode_order_filled(log: Mapping[str, Any]) -> ChainFill | None:
    """A V1/V2 OrderFilled log -> ChainFill; None for other events. Raises LogDecodeError."""
    try:
        topics = [_hex(t) for t in log.get("topics") or []]
    except Exception as e:
        raise LogDecodeError(f"log topics are not hex: {type(e).__name__}: {e}"[:300]) from None
    if not topics:
        return None
    t0 = topics[0].lower()
    if t0 not in (V1_TOPIC, V2_TOPIC):
        return None
    if len(topics) != 4:
        raise LogDecodeError(f"OrderFilled log with {len(topics)} topics (expected 4)")
    try:
        data = _data_bytes(log.get("data", b""))
        maker = _topic_address(topics[2])
        taker = _topic_address(topics[3])
        if t0 == V1_TOPIC:
            maker_asset, taker_asset, maker_amt, taker_amt, fee = abi_decode(_V1_DATA, data)
            if maker_asset == 0:  # maker paid collateral: bought takerAssetId
                side, token, usdc, shares = "BUY", taker_asset, maker_amt, taker_amt
            else:
                side, token, usdc, shares = "SELL", maker_asset, taker_amt, maker_amt
            version = 1
        else:
            side_n, token, maker_amt, taker_amt, fee, _b, _m = abi_decode(_V2_DATA, data)
            if side_n == 0:
                side, usdc, shares = "BUY", maker_amt, taker_amt
            elif side_n == 1:
                side, usdc, shares = "SELL", taker_amt, maker_amt
            else:
                raise LogDecodeError(f"OrderFilled side {side_n} is neither 0 (BUY) nor 1 (SELL)")
            version = 2
        # Built inside the guard: a hostile log (logIndex null, a bad address) is a decode error too.
        return ChainFill(
            tx_hash=_hex(log.get("transactionHash", "")).lower(),
            log_index=int(log.get("logIndex", 0)),
            block_number=int(log.get("blockNumber", 0)),
            block_hash=_hex(log.get("blockHash", "")).lower(),
            exchange=to_checksum_address(_hex(log.get("address", "0x" + "0" * 40))),
            version=version,
            order_hash=topics[1].lower(),
            maker=maker,
            taker=taker,
            side=side,
            token_id=str(token),
            shares_e6=int(shares),
            usdc_e6=int(usdc),
            fee_e6=int(fee),
        )
    except LogDecodeError:
        raise
    except Exception as e:
        raise LogDecodeError(f"undecodable OrderFilled log: {type(e).__name__}: {e}"[:300]) from None


def is_taker_aggregate(fill: ChainFill) -> bool:
    """The taker order's own OrderFilled (taker = the exchange) repeats the maker fills: skip it."""
    return fill.taker.lower() == fill.exchange.lower()
