"""CLOB REST wire: the exchange's answers as plain types (PostResult, CancelResult, OpenOrder), its
errors, the parsers of its JSON (`POST /order`, `/data/orders`, `/data/trades`), and the observer
protocol a CLOB client reports failed calls to.

The executor's `Exchange` protocol (execution/exchange.py) speaks these types; its implementations
are `ClobHttpExchange` (aiohttp, our fast path; real CLOB or `botfleet sim`),
`PyClobClientExchange` (the official py-clob-client-v2, in a thread; tests/support) and
`PaperMatchingExchange` (in-process matching against live books).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from bot_runtime.types import Fill
from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.fees import rate_ppm_from_bps, taker_fee_e6


def parse_e6(value: Any) -> int:
    """Decimal string or number on the wire -> e6 integer (exact for strings)."""
    if value is None or value == "":
        return 0
    if isinstance(value, int):
        return value * E6
    text = str(value)
    if "e" in text.lower():  # a float rendered in exponent form
        return round(float(text) * E6)
    whole, _, frac = text.partition(".")
    frac = (frac + "000000")[:6]
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole or "0")) * E6 + int(frac or "0"))


@dataclass(frozen=True, slots=True)
class PostResult:
    """The exchange's answer to one POST /order."""

    order_hash: str
    ok: bool
    order_id: str = ""
    status: str = ""            # live | matched | delayed | unmatched | canceled (lower case)
    making_e6: int = 0          # what we gave: collateral for a BUY, shares for a SELL
    taking_e6: int = 0          # what we got
    error: str = ""
    http_status: int = 200
    trade_ids: tuple[str, ...] = ()
    definite: bool = True       # False: we do not know whether the exchange has the order
    fee_e6: int = 0             # taker fee of the immediate fills, where the exchange reports it


@dataclass(frozen=True, slots=True)
class CancelResult:
    canceled: list[str] = field(default_factory=list)
    not_canceled: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OpenOrder:
    id: str
    market: str
    token_id: str
    side: str
    price_e6: int
    original_size_e6: int
    size_matched_e6: int
    status: str

    @property
    def remaining_e6(self) -> int:
        return max(self.original_size_e6 - self.size_matched_e6, 0)


class ExchangeError(Exception):
    """A request failed. `status` is the HTTP status (0: no response)."""

    def __init__(self, endpoint: str, status: int, message: str) -> None:
        super().__init__(f"{endpoint}: HTTP {status}: {message}" if status else f"{endpoint}: {message}")
        self.endpoint = endpoint
        self.status = status
        self.message = message


class RateLimited(ExchangeError):
    pass


class CancelOnly(ExchangeError):
    """503: trading paused or cancel-only; new orders are refused, cancels may work."""


class ClobObserver(Protocol):
    """What a CLOB client reports (the bot's metrics implement it; the venue imports no telemetry)."""

    def on_api_error(self, endpoint: str, status: int) -> None:
        """An exchange call failed: endpoint like "POST /order", HTTP status (0: no response)."""

    def on_api_request(self, endpoint: str, status: int) -> None:
        """A request answered outside the traced aiohttp session (the order lane)."""


class NullClobObserver:
    def on_api_error(self, endpoint: str, status: int) -> None:
        pass

    def on_api_request(self, endpoint: str, status: int) -> None:
        pass


def fills_from_trade(trade: dict[str, Any], owner: str, address: str = "") -> list[Fill]:
    """Our fills in one `/data/trades` item or user-channel `trade` event.

    As taker: the trade itself (trade id). As maker: each of our `maker_orders`
    (id `<trade id>:<order id>`, so several of our makers in one trade stay distinct). Makers pay
    no fee; a taker fee is taken from `fee` when present, else computed from `fee_rate_bps`.
    """
    tid = str(trade["id"])
    ts_raw = int(float(trade.get("match_time") or trade.get("timestamp") or 0))
    ts_ms = ts_raw * 1000 if ts_raw < 10**11 else ts_raw   # seconds and milliseconds both occur
    market = str(trade.get("market", ""))
    out: list[Fill] = []
    addr = address.lower()
    is_taker = str(trade.get("trader_side", "")).upper() == "TAKER" or (
        not trade.get("trader_side") and trade.get("owner") == owner)
    if is_taker:
        size, price = parse_e6(trade["size"]), parse_e6(trade["price"])
        if "fee" in trade and trade["fee"] not in (None, ""):
            fee = parse_e6(trade["fee"])
        else:
            fee = taker_fee_e6(size, price, rate_ppm_from_bps(trade.get("fee_rate_bps") or 0))
        out.append(Fill(tid, str(trade["taker_order_id"]), market, str(trade["asset_id"]), trade["side"],
                        price, size, fee, ts_ms))
        return out
    for mo in trade.get("maker_orders") or []:
        mine = mo.get("owner") == owner or (addr and str(mo.get("maker_address", "")).lower() == addr)
        if not mine:
            continue
        out.append(Fill(f"{tid}:{mo['order_id']}", str(mo["order_id"]), market,
                        str(mo.get("asset_id") or trade["asset_id"]), mo["side"], parse_e6(mo["price"]),
                        parse_e6(mo["matched_amount"]), 0, ts_ms))
    return out


def open_order_from_json(d: dict[str, Any]) -> OpenOrder:
    return OpenOrder(id=str(d["id"]), market=str(d.get("market", "")), token_id=str(d.get("asset_id", "")),
                     side=str(d.get("side", "")).upper(), price_e6=parse_e6(d.get("price")),
                     original_size_e6=parse_e6(d.get("original_size")),
                     size_matched_e6=parse_e6(d.get("size_matched")), status=str(d.get("status", "")).lower())


def post_result_from_json(order_hash: str, status: int, body: Any) -> PostResult:
    """Parse a POST /order response (success or `{"error"}` or `errorMsg`)."""
    if not isinstance(body, dict):
        return PostResult(order_hash, False, error=f"unexpected response: {str(body)[:200]}", http_status=status,
                          definite=status < 500)
    if status == 200 and body.get("success", True) and not body.get("error"):
        return PostResult(order_hash, True, order_id=str(body.get("orderID") or body.get("orderId") or order_hash),
                          status=str(body.get("status", "")).lower(),
                          making_e6=parse_e6(body.get("makingAmount")), taking_e6=parse_e6(body.get("takingAmount")),
                          error=str(body.get("errorMsg") or ""), http_status=status,
                          trade_ids=tuple(str(t) for t in body.get("tradeIDs") or ()))
    msg = str(body.get("error") or body.get("errorMsg") or body)
    return PostResult(order_hash, False, order_id=str(body.get("orderID") or ""), error=msg, http_status=status,
                      definite=status < 500)
