"""The forms of the Secret values the bot parses at start, as pure functions.

The bot refuses to start on a malformed value (a crash loop the user only sees in the pod's log);
the operator runs the very same checks on each watched Secret and reports a malformed value in the
TradingBot's status, naming the field and the key. Messages never contain the value.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass

from bot_runtime.contract.config import (
    BACKUP_ENCRYPTION_KEY,
    WALLET_FUNDER_ADDRESS,
    WALLET_PRIVATE_KEY,
    WALLET_SIGNATURE_TYPE,
)

# Order of the secp256k1 group: a private key is an integer in [1, n-1].
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SIGNATURE_TYPES = (0, 1, 2, 3)   # EOA, POLY_PROXY, GNOSIS_SAFE, POLY_1271
BACKUP_KEY_BYTES = 32


def private_key_bytes(text: str) -> bytes | None:
    """The 32-byte secp256k1 key of `text` (64 hex digits, 0x optional), None when it is not one."""
    text = text.strip()
    digits = text.removeprefix("0x")
    if not re.fullmatch(r"[0-9a-fA-F]{64}", digits):
        return None
    key = bytes.fromhex(digits)
    return key if 0 < int.from_bytes(key, "big") < SECP256K1_ORDER else None


def signature_type(text: str) -> int | None:
    """SIGNATURE_TYPE as a number; an empty value means 0 (EOA). None when it is none of 0-3."""
    text = text.strip() or "0"
    return int(text) if text in {str(t) for t in SIGNATURE_TYPES} else None


def funder_address_ok(text: str) -> bool:
    """FUNDER_ADDRESS: a wallet address; an empty value means none (the signing key's own address).
    0x is optional, as it always was for the bot's signer (eth_utils.to_checksum_address)."""
    text = text.strip()
    return not text or re.fullmatch(r"(0x)?[0-9a-fA-F]{40}", text) is not None


def backup_key_bytes(text: str | bytes) -> bytes | None:
    """The 32-byte backup encryption key from its base64 text (standard or URL-safe alphabet)."""
    raw = text.strip() if isinstance(text, bytes) else text.strip().encode()
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            key = decode(raw + b"=" * (-len(raw) % 4))
        except (binascii.Error, ValueError):
            continue
        if len(key) == BACKUP_KEY_BYTES:
            return key
    return None


@dataclass(frozen=True)
class ValueForm:
    key: str                        # botfleet's key name
    must: str                       # what the value must be, for a message that never shows it
    ok: Callable[[str], bool]


FORMS: dict[str, ValueForm] = {f.key: f for f in (
    ValueForm(WALLET_PRIVATE_KEY, "a secp256k1 private key: 64 hex characters, optionally 0x-prefixed",
              lambda v: private_key_bytes(v) is not None),
    ValueForm(WALLET_FUNDER_ADDRESS, "empty or a wallet address: 40 hex digits, optionally 0x-prefixed",
              funder_address_ok),
    ValueForm(WALLET_SIGNATURE_TYPE, "0 (EOA), 1 (POLY_PROXY), 2 (GNOSIS_SAFE) or 3 (POLY_1271); empty means 0",
              lambda v: signature_type(v) is not None),
    ValueForm(BACKUP_ENCRYPTION_KEY, "32 random bytes in base64 (e.g. `openssl rand -base64 32`)",
              lambda v: backup_key_bytes(v) is not None),
)}


def must_be(key: str) -> str:
    """"PRIVATE_KEY must be ...": what a value of botfleet's key `key` must look like."""
    return f"{key} must be {FORMS[key].must}"


def malformed(key: str, value: str) -> bool:
    """Is `value` not of the form botfleet's key `key` needs? False for keys without a known form."""
    form = FORMS.get(key)
    return form is not None and not form.ok(value)
