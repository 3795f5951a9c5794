"""Data API (wallet activity): the client for `/activity` and `/v1/leaderboard`, and the parser of
its trade items (`/activity` and `/trades` share the shape).

Items carry proxyWallet, side, asset, conditionId, size, price, usdcSize, timestamp (seconds),
transactionHash (PROTOCOL.md). The parser turns one into a `DataApiTrade` (venue units: e6
integers, milliseconds); what a trade means to a strategy is the strategy's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from bot_runtime.venue.polymarket.constants import DATA_API_GENERAL, DATA_API_LIMITS, DATA_API_URL, E6
from bot_runtime.venue.polymarket.frames import parse_e6
from bot_runtime.venue.polymarket.ratelimit import RateLimiter

ACTIVITY = "data-api/activity"        # the endpoint names the hooks see
LEADERBOARD = "data-api/leaderboard"


class DataApiParseError(ValueError):
    """A Data API item that cannot be read; the message names the field."""


@dataclass(frozen=True, slots=True)
class DataApiTrade:
    wallet: str         # proxyWallet, as sent
    side: str           # BUY | SELL
    token_id: str       # asset
    market: str         # conditionId ("" when absent)
    price_e6: int
    shares_e6: int
    usd_e6: int         # usdcSize, else shares x price
    ts_ms: int
    tx_hash: str


def _e6(v: Any, name: str) -> int:
    if isinstance(v, bool) or v is None:
        raise DataApiParseError(f"field {name!r} is missing or not a number")
    if isinstance(v, int):
        return v * E6
    if isinstance(v, float):
        return round(v * E6)
    if isinstance(v, str):
        try:
            return parse_e6(v)
        except ValueError:
            pass
    raise DataApiParseError(f"field {name!r} is not a decimal: {v!r}")


def parse_trade(item: Mapping[str, Any]) -> DataApiTrade | None:
    """One `/activity` or `/trades` item -> DataApiTrade; None for non-trades (SPLIT, REDEEM...)."""
    kind = str(item.get("type") or "TRADE").upper()
    if kind != "TRADE":
        return None
    side = str(item.get("side") or "").upper()
    if side not in ("BUY", "SELL"):
        raise DataApiParseError(f"field 'side' must be BUY or SELL, got {item.get('side')!r}")
    shares = _e6(item.get("size"), "size")
    price = _e6(item.get("price"), "price")
    usd = _e6(item["usdcSize"], "usdcSize") if item.get("usdcSize") is not None else shares * price // E6
    ts = item_time(item)
    ts_ms = ts * 1000 if ts < 100_000_000_000 else ts  # seconds; milliseconds pass through
    return DataApiTrade(str(item.get("proxyWallet") or ""), side, str(item.get("asset") or ""),
                        str(item.get("conditionId") or ""), price, shares, usd, ts_ms,
                        str(item.get("transactionHash") or ""))


def item_time(item: Mapping[str, Any]) -> int:
    """The item's `timestamp` as sent (seconds; 0 when absent): the `/activity` cursor's unit."""
    return int(item.get("timestamp") or 0)


class DataApiHooks(Protocol):
    """Request accounting: the bot's metrics implement it (the venue imports no telemetry)."""

    def on_response(self, endpoint: str, status: int) -> None:
        """A response arrived (any HTTP status)."""

    def on_error(self, endpoint: str, kind: str) -> None:
        """The request failed: `kind` names the error (the exception's class name)."""


class NullHooks:
    def on_response(self, endpoint: str, status: int) -> None:
        pass

    def on_error(self, endpoint: str, kind: str) -> None:
        pass


class DataApiClient:
    """One GET per call, no retries (a poller asks again on its next round); a non-200 answer or
    a network error raises, after the hooks have seen it."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str = DATA_API_URL, *,
                 hooks: DataApiHooks | None = None, limiter: RateLimiter | None = None) -> None:
        self._session = session  # the caller's (it owns and closes it)
        self.base_url = base_url.rstrip("/")
        self.hooks: DataApiHooks = hooks or NullHooks()
        self.limiter = limiter or RateLimiter(limits=DATA_API_LIMITS, general=DATA_API_GENERAL)

    async def _get(self, endpoint: str, path: str, params: dict[str, str]) -> Any:
        await self.limiter.acquire("GET", path)
        try:
            async with self._session.get(self.base_url + path, params=params) as r:
                self.hooks.on_response(endpoint, r.status)
                if r.status != 200:
                    raise RuntimeError(f"GET {path}: HTTP {r.status}")
                return await r.json(content_type=None)
        except Exception as e:
            self.hooks.on_error(endpoint, type(e).__name__)
            raise

    async def activity(self, wallet: str, start: int, *, limit: int = 100,
                       kind: str = "TRADE") -> list[dict[str, Any]]:
        """The wallet's `/activity` items of `kind` since `start` (unix seconds, inclusive),
        oldest first; anything that is not a JSON object is dropped."""
        data = await self._get(ACTIVITY, "/activity", {"user": wallet, "type": kind, "start": str(start),
                                                       "limit": str(limit)})
        items = [i for i in data if isinstance(i, dict)] if isinstance(data, list) else []
        items.sort(key=item_time)
        return items

    async def leaderboard(self, limit: int) -> list[str]:
        """The wallets of the top `limit` rows of `/v1/leaderboard`, lower-cased, in rank order
        (rows without a 0x address are skipped)."""
        data = await self._get(LEADERBOARD, "/v1/leaderboard", {"limit": str(limit)})
        out: list[str] = []
        for row in data if isinstance(data, list) else []:
            w = str(row.get("proxyWallet") or row.get("wallet") or "").lower() if isinstance(row, dict) else ""
            if w.startswith("0x"):
                out.append(w)
        return out
