"""CLOB V2 orders: exact amounts, EIP-712 hashing and signing, the POST /order body, L2 HMAC headers.

The official client (py-clob-client-v2) builds the typed-data dict, re-derives the domain separator
and type hashes and goes through eth_account for every order (~3.3 ms). Here everything constant is
precomputed once per wallet and exchange, the struct is ABI-encoded by hand (all fields are static
32-byte words), hashed with keccak and the digest signed with libsecp256k1 (coincurve). Both use
RFC 6979 deterministic nonces and low-s normalisation, so the signatures are byte-identical to the
client's; tests/unit/execution/test_signing.py proves it over random orders.

Salt and timestamp are inputs, not random: the salt is derived from the client order id and the
timestamp is fixed when the order is journaled, so re-deriving an order after a crash yields the
same order hash (= the exchange's orderID), and the exchange rejects a resend as a duplicate.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from eth_utils import to_checksum_address

from bot_runtime.types import OrderIntent
from bot_runtime.venue.polymarket.constants import CHAIN_ID, E6, EXCHANGE_V2, NEG_RISK_EXCHANGE_V2

keccak: Callable[[bytes], bytes]
try:  # safe-pysha3: C keccak, ~5 us per order struct (eth_hash's default path is ~8x slower)
    _sha3 = importlib.import_module("sha3")

    def keccak(data: bytes) -> bytes:
        return _sha3.keccak_256(data).digest()  # type: ignore[no-any-return]
except ImportError:  # pragma: no cover
    from eth_hash.auto import keccak

_coincurve: Any
try:  # libsecp256k1 bindings: much faster than eth_keys' pure-Python fallback
    _coincurve = importlib.import_module("coincurve")
except ImportError:  # pragma: no cover - exercised only where coincurve is missing
    _coincurve = None

BYTES32_ZERO = "0x" + "00" * 32

SIG_EOA, SIG_POLY_PROXY, SIG_POLY_GNOSIS_SAFE, SIG_POLY_1271 = 0, 1, 2, 3
SIDE_BUY, SIDE_SELL = 0, 1

ORDER_TYPE_STRING = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,"
    "uint256 makerAmount,uint256 takerAmount,uint8 side,uint8 signatureType,"
    "uint256 timestamp,bytes32 metadata,bytes32 builder)"
)
_DOMAIN_TYPE_STRING = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
# POLY_1271 (smart-contract wallets, Solady ERC-7739 nested typed data).
_SOLADY_TYPE_STRING = (
    "TypedDataSign(Order contents,string name,string version,uint256 chainId,"
    "address verifyingContract,bytes32 salt)" + ORDER_TYPE_STRING
)
ORDER_TYPE_HASH = keccak(ORDER_TYPE_STRING.encode())
_DOMAIN_TYPE_HASH = keccak(_DOMAIN_TYPE_STRING.encode())
_SOLADY_TYPE_HASH = keccak(_SOLADY_TYPE_STRING.encode())
_DEPOSIT_WALLET_NAME_HASH = keccak(b"DepositWallet")
_DEPOSIT_WALLET_VERSION_HASH = keccak(b"1")
_1271_SUFFIX = ORDER_TYPE_STRING.encode().hex() + len(ORDER_TYPE_STRING).to_bytes(2, "big").hex()

# Decimal places per tick size, as the official client rounds (price, size, amount).
_ROUNDING: dict[int, tuple[int, int, int]] = {
    100_000: (1, 2, 3),
    10_000: (2, 2, 4),
    5_000: (3, 2, 5),
    2_500: (4, 2, 6),
    1_000: (3, 2, 5),
    100: (4, 2, 6),
}
_SALT_MASK = (1 << 53) - 1  # stays exact in JSON parsers that read numbers as doubles


class OrderError(ValueError):
    """An intent that cannot become a valid order; the message names the field."""


def domain_separator(exchange: str, chain_id: int, version: str = "2") -> bytes:
    return keccak(
        _DOMAIN_TYPE_HASH
        + keccak(b"Polymarket CTF Exchange")
        + keccak(version.encode())
        + chain_id.to_bytes(32, "big")
        + bytes.fromhex(exchange[2:]).rjust(32, b"\0")
    )


def derive_salt(client_id: str) -> int:
    """Deterministic salt from the client order id (53 bits)."""
    return int.from_bytes(hashlib.sha256(client_id.encode()).digest()[:8], "big") & _SALT_MASK


# ---------------------------------------------------------------------------------------------
# Amounts: exact integer arithmetic reproducing the official client's rounding rules.
# ---------------------------------------------------------------------------------------------

def _rounding(tick_size_e6: int) -> tuple[int, int, int]:
    try:
        return _ROUNDING[tick_size_e6]
    except KeyError:
        valid = ", ".join(str(t / E6) for t in sorted(_ROUNDING))
        raise OrderError(f"tick_size_e6={tick_size_e6} is not a Polymarket tick size; use one of {valid}") from None


def _check_price(price_e6: int, tick_e6: int) -> None:
    if not tick_e6 <= price_e6 <= E6 - tick_e6:
        raise OrderError(f"price_e6={price_e6} outside [{tick_e6}, {E6 - tick_e6}] for tick {tick_e6 / E6}")
    if price_e6 % tick_e6:
        raise OrderError(f"price_e6={price_e6} is not a multiple of the tick {tick_e6}; round it to the tick")


def _floor_to(value_e6: int, decimals: int) -> int:
    unit = 10 ** (6 - decimals)
    return value_e6 // unit * unit


def limit_amounts(side: str, price_e6: int, size_e6: int, tick_e6: int) -> tuple[int, int]:
    """(makerAmount, takerAmount) of a limit order (GTC/GTD) in e6: shares rounded down to the
    size precision, collateral = shares x price (exact: it never has more decimals than allowed)."""
    _, size_dp, _ = _rounding(tick_e6)
    _check_price(price_e6, tick_e6)
    shares = _floor_to(size_e6, size_dp)
    if shares <= 0:
        raise OrderError(f"size_e6={size_e6} rounds to zero shares (precision {size_dp} decimals)")
    collateral = shares * price_e6 // E6
    if side == "BUY":
        return collateral, shares
    if side == "SELL":
        return shares, collateral
    raise OrderError(f"side={side!r}: must be 'BUY' or 'SELL'")


def market_amounts(side: str, price_e6: int, amount_e6: int, tick_e6: int) -> tuple[int, int]:
    """(makerAmount, takerAmount) of a market order (FOK/FAK): BUY spends `amount_e6` dollars
    (rounded down to cents), SELL sells `amount_e6` shares; the other leg is rounded as the client
    does (ceil at amount+4 decimals, then floor at amount decimals)."""
    _, size_dp, amount_dp = _rounding(tick_e6)
    _check_price(price_e6, tick_e6)
    maker = _floor_to(amount_e6, size_dp)
    if maker <= 0:
        raise OrderError(f"amount_e6={amount_e6} rounds to zero (precision {size_dp} decimals)")
    if side == "BUY":
        # shares = dollars / price, counted in units of 10^-(amount_dp+4), rounded up
        scale = 10 ** (amount_dp + 4)
        ceil_units = -(-maker * scale // price_e6)
        if ceil_units % 10_000:  # more than amount_dp decimals: floor to amount_dp
            ceil_units = ceil_units // 10_000 * 10_000
        taker = ceil_units * E6 // scale
        return maker, taker
    if side == "SELL":
        return maker, maker * price_e6 // E6
    raise OrderError(f"side={side!r}: must be 'BUY' or 'SELL'")


def order_amounts(intent: OrderIntent) -> tuple[int, int]:
    """Amounts for an intent: FOK/FAK BUY spends `amount_e6` dollars (the walked cost; default
    price x size), FOK/FAK SELL sells `size_e6` shares, everything else is a limit order."""
    if intent.order_type in ("FOK", "FAK"):
        amount = (intent.amount_e6 or intent.price_e6 * intent.size_e6 // E6) if intent.side == "BUY" \
            else intent.size_e6
        return market_amounts(intent.side, intent.price_e6, amount, intent.tick_size_e6)
    return limit_amounts(intent.side, intent.price_e6, intent.size_e6, intent.tick_size_e6)


# ---------------------------------------------------------------------------------------------
# Signed orders
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SignedOrder:
    """One signed V2 order plus what POST /order needs around it."""

    client_id: str
    order_hash: str                 # 0x..., the exchange's orderID
    order: dict[str, Any]           # the "order" object of the body, in the client's key order
    order_type: str
    post_only: bool = False
    defer_exec: bool = False

    def body(self, owner: str) -> dict[str, Any]:
        return {"order": self.order, "owner": owner, "orderType": self.order_type,
                "deferExec": self.defer_exec, "postOnly": self.post_only}

    def body_json(self, owner: str) -> str:
        """Serialised byte-for-byte as the official client does (json.dumps, compact separators,
        ensure_ascii=False); the L2 HMAC covers these bytes. orjson writes the same for these types."""
        return orjson.dumps(self.body(owner)).decode()

    def to_json(self) -> str:
        """Journal form (no owner: the API key is not stored with orders). orjson: ~10x faster
        than json.dumps, and it runs on the hot path before every send."""
        return orjson.dumps({"client_id": self.client_id, "order_hash": self.order_hash, "order": self.order,
                             "order_type": self.order_type, "post_only": self.post_only,
                             "defer_exec": self.defer_exec}).decode()

    @classmethod
    def from_json(cls, text: str) -> SignedOrder:
        d = json.loads(text)
        return cls(client_id=d["client_id"], order_hash=d["order_hash"], order=d["order"],
                   order_type=d["order_type"], post_only=d["post_only"], defer_exec=d.get("defer_exec", False))


def _addr_word(address: str) -> bytes:
    return bytes.fromhex(address[2:]).rjust(32, b"\0")


def _b32(hex_str: str) -> bytes:
    return bytes.fromhex(hex_str[2:] if hex_str.startswith("0x") else hex_str).rjust(32, b"\0")


@dataclass(slots=True)
class OrderSigner:
    """Signs V2 orders for one wallet. Holds the private key: never log or repr it."""

    private_key: str = field(repr=False)
    chain_id: int = CHAIN_ID
    signature_type: int = SIG_EOA
    funder: str | None = None
    exchange: str = EXCHANGE_V2
    neg_risk_exchange: str = NEG_RISK_EXCHANGE_V2
    builder: str = BYTES32_ZERO
    metadata: str = BYTES32_ZERO
    address: str = field(init=False)
    maker: str = field(init=False)
    signer_field: str = field(init=False)
    _key: Any = field(init=False, repr=False)
    _domains: dict[bool, bytes] = field(init=False, repr=False)
    _words: tuple[bytes, bytes, bytes, bytes] = field(init=False, repr=False)
    _tail: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        key_hex = self.private_key[2:] if self.private_key.startswith("0x") else self.private_key
        try:
            key_bytes = bytes.fromhex(key_hex)
            if len(key_bytes) != 32:
                raise ValueError
        except ValueError:
            raise OrderError("PRIVATE_KEY must be 32 bytes of hex (64 hex digits, optional 0x)") from None
        if self.signature_type not in (SIG_EOA, SIG_POLY_PROXY, SIG_POLY_GNOSIS_SAFE, SIG_POLY_1271):
            raise OrderError(f"SIGNATURE_TYPE={self.signature_type}: use 0 EOA, 1 POLY_PROXY, 2 GNOSIS_SAFE, 3 POLY_1271")
        if _coincurve is not None:
            self._key = _coincurve.PrivateKey(key_bytes)
            pub = self._key.public_key.format(compressed=False)[1:]
        else:  # pragma: no cover
            from eth_keys import keys
            self._key = keys.PrivateKey(key_bytes)
            pub = self._key.public_key.to_bytes()
        self.address = to_checksum_address(keccak(pub)[-20:])
        self.maker = to_checksum_address(self.funder) if self.funder else self.address
        # POLY_1271: the smart-contract wallet is both maker and signer.
        self.signer_field = self.maker if self.signature_type == SIG_POLY_1271 else self.address
        self._domains = {False: domain_separator(self.exchange, self.chain_id),
                         True: domain_separator(self.neg_risk_exchange, self.chain_id)}
        self._words = (ORDER_TYPE_HASH, _addr_word(self.maker), _addr_word(self.signer_field),
                       self.signature_type.to_bytes(32, "big"))
        self._tail = _b32(self.metadata) + _b32(self.builder)

    def _sign_digest(self, digest: bytes) -> bytes:
        if _coincurve is not None:
            sig = self._key.sign_recoverable(digest, hasher=None)
            return sig[:64] + bytes((sig[64] + 27,))
        sig = self._key.sign_msg_hash(digest)  # pragma: no cover
        return sig.to_bytes()[:64] + bytes((sig.v + 27,))  # pragma: no cover

    def sign(self, intent: OrderIntent, client_id: str, timestamp_ms: int) -> SignedOrder:
        """Build and sign the order for an intent; same inputs -> same order hash and signature."""
        if intent.post_only and intent.order_type in ("FOK", "FAK"):
            raise OrderError("post_only is only valid with GTC or GTD orders")
        try:
            token = int(intent.token_id)
        except ValueError:
            raise OrderError(f"token_id={intent.token_id!r} must be a decimal integer string") from None
        maker_amount, taker_amount = order_amounts(intent)
        salt = derive_salt(client_id)
        side = SIDE_BUY if intent.side == "BUY" else SIDE_SELL
        typehash, maker_w, signer_w, sigtype_w = self._words
        contents = keccak(
            typehash + salt.to_bytes(32, "big") + maker_w + signer_w + token.to_bytes(32, "big")
            + maker_amount.to_bytes(32, "big") + taker_amount.to_bytes(32, "big")
            + side.to_bytes(32, "big") + sigtype_w + timestamp_ms.to_bytes(32, "big") + self._tail)
        domain = self._domains[intent.neg_risk]
        order_hash = keccak(b"\x19\x01" + domain + contents)
        if self.signature_type == SIG_POLY_1271:
            signature = self._sign_1271(domain, contents)
        else:
            signature = "0x" + self._sign_digest(order_hash).hex()
        expiration = str(intent.expiration_s) if intent.order_type == "GTD" else "0"
        order = {
            "salt": salt, "maker": self.maker, "signer": self.signer_field, "tokenId": intent.token_id,
            "makerAmount": str(maker_amount), "takerAmount": str(taker_amount), "side": intent.side,
            "expiration": expiration, "signatureType": self.signature_type, "timestamp": str(timestamp_ms),
            "metadata": self.metadata, "builder": self.builder, "signature": signature,
        }
        return SignedOrder(client_id=client_id, order_hash="0x" + order_hash.hex(), order=order,
                           order_type=intent.order_type, post_only=intent.post_only)

    def _sign_1271(self, domain: bytes, contents: bytes) -> str:
        struct = keccak(
            _SOLADY_TYPE_HASH + contents + _DEPOSIT_WALLET_NAME_HASH + _DEPOSIT_WALLET_VERSION_HASH
            + self.chain_id.to_bytes(32, "big") + _addr_word(self.signer_field) + b"\0" * 32)
        inner = self._sign_digest(keccak(b"\x19\x01" + domain + struct))
        return "0x" + inner.hex() + domain.hex() + contents.hex() + _1271_SUFFIX
