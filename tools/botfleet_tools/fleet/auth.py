"""`botfleet fleet check`: does the exchange accept each live bot's keys? One authenticated read,
never an order: L2 (`GET /auth/api-keys`) with the bot's CLOB credentials when its Secret has them,
else L1 (`GET /auth/derive-api-key`) with its wallet, which is what the bot does at start."""

from __future__ import annotations

import time

import requests
from eth_account import Account

from bot_runtime.contract.config import CLOB_API_KEY, CLOB_PASSPHRASE, CLOB_SECRET, WALLET_PRIVATE_KEY
from bot_runtime.contract.secret_values import must_be, private_key_bytes
from bot_runtime.venue.polymarket.auth import ApiCreds, l1_headers, l2_headers


def auth_check(clob_url: str, chain_id: int, wallet: dict[str, str], creds: dict[str, str],
               timeout_s: float = 10.0) -> tuple[bool, str]:
    """(accepted, what was tried and the exchange's answer); never returns a secret."""
    key = wallet.get(WALLET_PRIVATE_KEY, "")
    if not key:
        return False, "no wallet key: a live bot needs PRIVATE_KEY in its wallet Secret"
    if private_key_bytes(key) is None:  # the bot's own check, and the operator's (SecretValueInvalid)
        return False, must_be(WALLET_PRIVATE_KEY)
    key = key.strip()
    address = Account.from_key(key).address
    base = clob_url.rstrip("/")
    try:
        if all(creds.get(k) for k in (CLOB_API_KEY, CLOB_SECRET, CLOB_PASSPHRASE)):
            api = ApiCreds(creds[CLOB_API_KEY], creds[CLOB_SECRET], creds[CLOB_PASSPHRASE])
            headers = l2_headers(address, api, "GET", "/auth/api-keys", None, int(time.time()))
            r = requests.get(f"{base}/auth/api-keys", headers=headers, timeout=timeout_s)
            what = "CLOB API credentials (L2)"
        else:
            r = requests.get(f"{base}/auth/derive-api-key", headers=l1_headers(key, chain_id), timeout=timeout_s)
            what = "wallet signature (L1)"
    except requests.RequestException as e:
        return False, f"{base} unreachable: {type(e).__name__}"
    if r.status_code == 200:
        return True, f"{what} accepted by {base} for {address}"
    if r.status_code == 400 and "derive" in r.url:
        # The signature passed; the wallet just has no API key yet. The bot creates one at start.
        return True, f"{what} accepted by {base} for {address} (no API key yet: the bot creates one at start)"
    return False, f"{what} refused by {base} for {address}: HTTP {r.status_code}"
