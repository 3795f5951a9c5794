"""CLOB authentication: L1 (EIP-712 ClobAuth signature) and L2 (HMAC over the request)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address

from bot_runtime.contract.config import SIM_CHAIN_ID
from bot_runtime.venue.polymarket.auth import clob_auth_typed_data  # one definition of ClobAuth
from bot_runtime.venue.polymarket.constants import CHAIN_ID

L1_HEADERS = ("POLY_ADDRESS", "POLY_SIGNATURE", "POLY_TIMESTAMP")
L2_HEADERS = ("POLY_ADDRESS", "POLY_SIGNATURE", "POLY_TIMESTAMP", "POLY_API_KEY", "POLY_PASSPHRASE")


class AuthError(Exception):
    """Authentication failed; the message is safe to return (it never contains secrets)."""


@dataclass(frozen=True)
class ApiCreds:
    api_key: str
    secret: str
    passphrase: str
    address: str
    nonce: int = 0

    def as_json(self) -> dict[str, str]:
        """The wire shape of POST /auth/api-key."""
        return {"apiKey": self.api_key, "secret": self.secret, "passphrase": self.passphrase}

    def __repr__(self) -> str:  # never print the secret or passphrase
        return f"ApiCreds(api_key={self.api_key!r}, address={self.address!r}, nonce={self.nonce})"


class ApiKeyStore:
    def __init__(self) -> None:
        self._by_key: dict[str, ApiCreds] = {}
        self._by_owner: dict[tuple[str, int], ApiCreds] = {}

    def create(self, address: str, nonce: int = 0) -> ApiCreds:
        """New credentials for (address, nonce); raises KeyError if that pair already has a key."""
        owner = (address.lower(), nonce)
        if owner in self._by_owner:
            raise KeyError("api key already exists for this address and nonce")
        creds = ApiCreds(api_key=str(uuid.uuid4()),
                         secret=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
                         passphrase=secrets.token_hex(32), address=to_checksum_address(address), nonce=nonce)
        self._by_key[creds.api_key] = creds
        self._by_owner[owner] = creds
        return creds

    def derive(self, address: str, nonce: int = 0) -> ApiCreds | None:
        return self._by_owner.get((address.lower(), nonce))

    def next_nonce(self, address: str) -> int:
        used = [n for (a, n) in self._by_owner if a == address.lower()]
        return max(used) + 1 if used else 0

    def get(self, api_key: str) -> ApiCreds | None:
        return self._by_key.get(api_key)

    def delete(self, api_key: str) -> bool:
        creds = self._by_key.pop(api_key, None)
        if creds is None:
            return False
        self._by_owner.pop((creds.address.lower(), creds.nonce), None)
        return True

    def keys_for(self, address: str) -> list[str]:
        return [c.api_key for c in self._by_key.values() if c.address.lower() == address.lower()]


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name) or headers.get(name.lower()) or headers.get(name.replace("_", "-"))
    if not value:
        raise AuthError(f"missing header {name}")
    return value


def _l1_signer(address: str, timestamp: str, nonce: int, signature: str, chain_id: int) -> str:
    msg = encode_typed_data(full_message=clob_auth_typed_data(address, timestamp, nonce, chain_id))
    return str(Account.recover_message(msg, signature=signature))


def verify_l1(headers: Mapping[str, str], chain_id: int = SIM_CHAIN_ID) -> tuple[str, int]:
    """Check L1 headers signed for `chain_id` (the simulator's own by default: a ClobAuth signed
    for Polygon is refused, so nothing valid on Polymarket is ever asked of a wallet); returns
    (checksummed address, nonce)."""
    address, signature, timestamp = (_header(headers, h) for h in L1_HEADERS)
    nonce_text = headers.get("POLY_NONCE") or headers.get("poly_nonce") or "0"
    try:
        nonce = int(nonce_text)
        address = to_checksum_address(address)
        recovered = _l1_signer(address, timestamp, nonce, signature, chain_id)
    except Exception as exc:
        raise AuthError("Invalid L1 Request headers") from exc
    if recovered.lower() != address.lower():
        if chain_id != CHAIN_ID and _l1_signer(address, timestamp, nonce, signature, CHAIN_ID).lower() == address.lower():
            raise AuthError(f"Invalid L1 Request headers: signed for Polygon (chain id {CHAIN_ID}); this "
                            f"simulator accepts chain id {chain_id} only (never sign for Polygon against a "
                            "simulator; a reference client needs `botfleet sim --chain-id 137`)")
        raise AuthError("Invalid L1 Request headers")
    return address, nonce


def hmac_signature(secret: str, timestamp: str, method: str, path: str, body: str = "") -> str:
    message = f"{timestamp}{method}{path}{body}"
    digest = hmac.new(base64.urlsafe_b64decode(secret), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


def l2_headers(creds: ApiCreds, method: str, path: str, body: str = "", timestamp: int | None = None) -> dict[str, str]:
    """Headers a client sends; used by tests and scripts that talk to the simulator without a SDK."""
    import time

    ts = str(timestamp if timestamp is not None else int(time.time()))
    return {"POLY_ADDRESS": creds.address, "POLY_SIGNATURE": hmac_signature(creds.secret, ts, method, path, body),
            "POLY_TIMESTAMP": ts, "POLY_API_KEY": creds.api_key, "POLY_PASSPHRASE": creds.passphrase}


def verify_l2(headers: Mapping[str, str], method: str, path: str, body: str, store: ApiKeyStore,
              now_s: int | None = None, max_age_s: int = 0) -> ApiCreds:
    address, signature, timestamp, api_key, passphrase = (_header(headers, h) for h in L2_HEADERS)
    creds = store.get(api_key)
    if creds is None or not hmac.compare_digest(creds.passphrase, passphrase):
        raise AuthError("Unauthorized/Invalid api key")
    if creds.address.lower() != address.lower():
        raise AuthError("Unauthorized/Invalid api key")
    if max_age_s and now_s is not None:
        try:
            if abs(now_s - int(timestamp)) > max_age_s:
                raise AuthError("Unauthorized/Invalid api key: POLY_TIMESTAMP too old")
        except ValueError as exc:
            raise AuthError("Unauthorized/Invalid api key: POLY_TIMESTAMP is not an integer") from exc
    candidates = {body, body.replace("'", '"')}
    for text in candidates:
        expected = hmac_signature(creds.secret, timestamp, method, path, text)
        if hmac.compare_digest(expected, signature):
            return creds
    raise AuthError("Unauthorized/Invalid api key")
