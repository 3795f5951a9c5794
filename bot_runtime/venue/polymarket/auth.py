"""CLOB authentication (docs/venue.md#authentication): L1 headers (a wallet's EIP-712 ClobAuth signature),
L2 headers (API key + HMAC of the request), and API credentials from a wallet key: L1-authenticated
`GET /auth/derive-api-key`, else `POST /auth/api-key`. Deriving is used by paper mode against
`botfleet sim` (always, with the bot's paper key and the simulator's chain id) and, live, by a wallet
whose keys were never created. Rotation (a blocking Job, no event loop) creates a key with a fresh nonce and
revokes the old one (L2-signed `DELETE /auth/api-key`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import requests
from eth_account import Account
from eth_account.messages import encode_typed_data

from bot_runtime.venue.polymarket.constants import (
    POLY_ADDRESS,
    POLY_API_KEY,
    POLY_NONCE,
    POLY_PASSPHRASE,
    POLY_SIGNATURE,
    POLY_TIMESTAMP,
)

CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"


class ApiKeyError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class ApiCreds:
    api_key: str
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)


def hmac_signature(secret: str, timestamp: int | str, method: str, path: str, body: str | None = None) -> str:
    """urlsafe-base64(HMAC-SHA256(urlsafe-b64decode(secret), ts + METHOD + path + body))."""
    message = f"{timestamp}{method}{path}"
    if body:
        message += body.replace("'", '"')  # as the official client does
    digest = hmac.new(base64.urlsafe_b64decode(secret), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


def l2_headers(address: str, creds: ApiCreds, method: str, path: str, body: str | None,
               timestamp: int) -> dict[str, str]:
    """POLY_* headers of an authenticated CLOB request; `path` excludes the query string."""
    return {
        POLY_ADDRESS: address,
        POLY_SIGNATURE: hmac_signature(creds.secret, timestamp, method, path, body),
        POLY_TIMESTAMP: str(timestamp),
        POLY_API_KEY: creds.api_key,
        POLY_PASSPHRASE: creds.passphrase,
    }


def clob_auth_typed_data(address: str, timestamp: str, nonce: int, chain_id: int) -> dict[str, Any]:
    return {
        "primaryType": "ClobAuth",
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"}],
            "ClobAuth": [{"name": "address", "type": "address"}, {"name": "timestamp", "type": "string"},
                         {"name": "nonce", "type": "uint256"}, {"name": "message", "type": "string"}],
        },
        "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": chain_id},
        "message": {"address": address, "timestamp": timestamp, "nonce": nonce, "message": CLOB_AUTH_MESSAGE},
    }


def l1_headers(private_key: str, chain_id: int, nonce: int = 0, timestamp: int | None = None) -> dict[str, str]:
    acct = Account.from_key(private_key)
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signed = acct.sign_message(encode_typed_data(full_message=clob_auth_typed_data(acct.address, ts, nonce, chain_id)))
    sig = signed.signature.hex()
    return {POLY_ADDRESS: acct.address, POLY_SIGNATURE: sig if sig.startswith("0x") else "0x" + sig,
            POLY_TIMESTAMP: ts, POLY_NONCE: str(nonce)}


def _creds(body: Any) -> ApiCreds | None:
    if isinstance(body, dict) and body.get("apiKey") and body.get("secret") and body.get("passphrase"):
        return ApiCreds(str(body["apiKey"]), str(body["secret"]), str(body["passphrase"]))
    return None


async def create_or_derive_api_creds(session: aiohttp.ClientSession, clob_url: str, private_key: str,
                                     chain_id: int, nonce: int = 0) -> ApiCreds:
    """Derive the wallet's existing key for `nonce`, or create one. Errors never carry the key."""
    base = clob_url.rstrip("/")
    try:
        async with session.get(f"{base}/auth/derive-api-key", headers=l1_headers(private_key, chain_id, nonce)) as r:
            if r.status == 200 and (c := _creds(await r.json(content_type=None))):
                return c
        async with session.post(f"{base}/auth/api-key", headers=l1_headers(private_key, chain_id, nonce)) as r:
            body = await r.json(content_type=None)
            if r.status == 200 and (c := _creds(body)):
                return c
            detail = body.get("error", "") if isinstance(body, dict) else ""
            raise ApiKeyError(f"POST {base}/auth/api-key failed: HTTP {r.status} {str(detail)[:200]}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ApiKeyError(f"cannot reach {base} for API credentials: {type(exc).__name__}: {exc}") from None


API_KEY_PATH = "/auth/api-key"


def _l1_creds(method: str, url: str, private_key: str, chain_id: int, nonce: int, timeout: float) -> ApiCreds:
    """An L1-signed request that answers with API credentials; blocking. Errors name the request
    and the HTTP status, never a credential."""
    send = requests.post if method == "POST" else requests.get
    try:
        r = send(url, headers=l1_headers(private_key, chain_id, nonce), timeout=timeout)
    except requests.RequestException as exc:
        raise ApiKeyError(f"{method} {url}: {type(exc).__name__}") from None
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    if r.status_code != 200 or not (c := _creds(body)):
        detail = str(body.get("error", ""))[:200] if isinstance(body, dict) else ""
        raise ApiKeyError(f"{method} {url} failed: HTTP {r.status_code} {detail}")
    return c


def create_api_key(clob_url: str, private_key: str, chain_id: int, nonce: int, timeout: float = 15) -> ApiCreds:
    """A new API key for the wallet (L1-signed `POST /auth/api-key`)."""
    return _l1_creds("POST", clob_url.rstrip("/") + API_KEY_PATH, private_key, chain_id, nonce, timeout)


def derive_api_key(clob_url: str, private_key: str, chain_id: int, nonce: int, timeout: float = 15) -> ApiCreds:
    """The wallet's existing API key for `nonce` (L1-signed `GET /auth/derive-api-key`)."""
    return _l1_creds("GET", clob_url.rstrip("/") + "/auth/derive-api-key", private_key, chain_id, nonce, timeout)


def revoke_api_key(clob_url: str, address: str, creds: ApiCreds, timeout: float = 15) -> None:
    """Revoke `creds` (L2-signed `DELETE /auth/api-key` made with those credentials); blocking."""
    headers = l2_headers(address, creds, "DELETE", API_KEY_PATH, None, int(time.time()))
    try:
        r = requests.delete(clob_url.rstrip("/") + API_KEY_PATH, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise ApiKeyError(f"DELETE {API_KEY_PATH}: {type(exc).__name__}") from None
    if r.status_code != 200:
        raise ApiKeyError(f"DELETE {API_KEY_PATH} failed: HTTP {r.status_code}")
