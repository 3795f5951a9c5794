"""CLOB V2 signed orders: parse the POST /order body, compute the EIP-712 hash, check the signature.

The order hash (EIP-712 digest) is the order id, exactly as on Polymarket, so a client can
re-derive the id of an order it signed before a crash. The domain's chain id is the simulator's
own (SIM_CHAIN_ID) unless the simulator was started for another one (`--chain-id`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from eth_keys import keys
from eth_utils import keccak

from bot_runtime.contract.config import SIM_CHAIN_ID

ORDER_TYPE_STRING = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,uint256 makerAmount,"
    "uint256 takerAmount,uint8 side,uint8 signatureType,uint256 timestamp,bytes32 metadata,bytes32 builder)"
)
ORDER_TYPE_HASH = keccak(text=ORDER_TYPE_STRING)
DOMAIN_TYPE_HASH = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
DOMAIN_NAME = "Polymarket CTF Exchange"
DOMAIN_VERSION = "2"
SIDES = {"BUY": 0, "SELL": 1}
SIGNATURE_TYPES = {0: "EOA", 1: "POLY_PROXY", 2: "POLY_GNOSIS_SAFE"}


class OrderPayloadError(ValueError):
    """The body is not a valid V2 order; the message names the field."""


def _u256(v: int) -> bytes:
    return v.to_bytes(32, "big")


def _addr(a: str) -> bytes:
    return _u256(int(a, 16))


def _b32(h: str) -> bytes:
    raw = bytes.fromhex(h[2:] if h.startswith("0x") else h)
    if len(raw) > 32:
        raise OrderPayloadError("bytes32 field longer than 32 bytes")
    return raw.rjust(32, b"\0")


_domain_cache: dict[tuple[str, int], bytes] = {}


def domain_separator(exchange: str, chain_id: int = SIM_CHAIN_ID) -> bytes:
    key = (exchange.lower(), chain_id)
    sep = _domain_cache.get(key)
    if sep is None:
        sep = keccak(DOMAIN_TYPE_HASH + keccak(text=DOMAIN_NAME) + keccak(text=DOMAIN_VERSION)
                     + _u256(chain_id) + _addr(exchange))
        _domain_cache[key] = sep
    return sep


@dataclass(frozen=True)
class SignedOrderV2:
    salt: int
    maker: str
    signer: str
    token_id: str
    maker_amount: int
    taker_amount: int
    side: str  # BUY | SELL
    signature_type: int
    timestamp: int  # ms
    metadata: str
    builder: str
    expiration: int
    signature: str

    def digest(self, exchange: str, chain_id: int = SIM_CHAIN_ID) -> bytes:
        struct = keccak(
            ORDER_TYPE_HASH + _u256(self.salt) + _addr(self.maker) + _addr(self.signer)
            + _u256(int(self.token_id)) + _u256(self.maker_amount) + _u256(self.taker_amount)
            + _u256(SIDES[self.side]) + _u256(self.signature_type) + _u256(self.timestamp)
            + _b32(self.metadata) + _b32(self.builder))
        return keccak(b"\x19\x01" + domain_separator(exchange, chain_id) + struct)

    def order_hash(self, exchange: str, chain_id: int = SIM_CHAIN_ID) -> str:
        return "0x" + self.digest(exchange, chain_id).hex()

    def recover_signer(self, exchange: str, chain_id: int = SIM_CHAIN_ID) -> str:
        return recover(self.digest(exchange, chain_id), self.signature)


def recover(digest: bytes, signature: str) -> str:
    """Lower-case address that produced a 65-byte (r, s, v) secp256k1 signature over a 32-byte digest."""
    try:
        raw = bytes.fromhex(signature[2:] if signature.startswith("0x") else signature)
    except ValueError as exc:
        raise OrderPayloadError("signature is not hex") from exc
    if len(raw) != 65:
        raise OrderPayloadError(f"signature must be 65 bytes, got {len(raw)}")
    v = raw[64]
    if v >= 27:
        v -= 27
    if v not in (0, 1):
        raise OrderPayloadError("signature has an invalid recovery id")
    sig = keys.Signature(vrs=(v, int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big")))
    return str(sig.recover_public_key_from_msg_hash(digest).to_address()).lower()


def _field(d: dict[str, Any], name: str, where: str = "order") -> Any:
    if name not in d or d[name] is None:
        raise OrderPayloadError(f"Invalid order payload: missing field '{where}.{name}'")
    return d[name]


def _int(d: dict[str, Any], name: str) -> int:
    v = _field(d, name)
    try:
        return int(v)
    except (TypeError, ValueError) as exc:
        raise OrderPayloadError(f"Invalid order payload: '{name}' must be an integer, got {v!r}") from exc


_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _address(d: dict[str, Any], name: str) -> str:
    """Lower-case address (checksumming costs a keccak per call; comparisons are case-insensitive)."""
    value = str(_field(d, name))
    if not _ADDRESS.match(value):
        raise OrderPayloadError(f"Invalid order payload: '{name}' must be a 0x-prefixed 20-byte hex address")
    return value.lower()


def parse_order(raw: Any) -> SignedOrderV2:
    if not isinstance(raw, dict):
        raise OrderPayloadError("Invalid order payload: 'order' must be an object")
    side = _field(raw, "side")
    if isinstance(side, int):
        side = "BUY" if side == 0 else "SELL"
    if side not in SIDES:
        raise OrderPayloadError(f"Invalid order payload: 'side' must be BUY or SELL, got {side!r}")
    if "timestamp" not in raw and "nonce" in raw:
        raise OrderPayloadError("order_version_mismatch: V1 orders (nonce, feeRateBps) are not accepted, "
                                "sign a V2 order (timestamp, metadata, builder)")
    maker, signer = _address(raw, "maker"), _address(raw, "signer")
    token = str(_field(raw, "tokenId"))
    if not token.isdigit():
        raise OrderPayloadError(f"Invalid order payload: 'tokenId' must be a decimal string, got {token!r}")
    return SignedOrderV2(
        salt=_int(raw, "salt"), maker=maker, signer=signer, token_id=token,
        maker_amount=_int(raw, "makerAmount"), taker_amount=_int(raw, "takerAmount"), side=side,
        signature_type=_int(raw, "signatureType"), timestamp=_int(raw, "timestamp"),
        metadata=str(raw.get("metadata") or "0x" + "00" * 32), builder=str(raw.get("builder") or "0x" + "00" * 32),
        expiration=int(raw.get("expiration") or 0), signature=str(_field(raw, "signature")))
