"""Polymarket facts (docs/venue.md, with sources): production endpoints, contracts, units, tick rules, rate limits."""

from __future__ import annotations

from typing import Final

# Production endpoints (paper mode against `botfleet sim` overrides them through Endpoints.for_sim).
CLOB_URL: Final = "https://clob.polymarket.com"
GAMMA_URL: Final = "https://gamma-api.polymarket.com"
DATA_API_URL: Final = "https://data-api.polymarket.com"
WS_MARKET_URL: Final = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
WS_USER_URL: Final = "wss://ws-subscriptions-clob.polymarket.com/ws/user"
# The venue's own maintenance message; the simulator serves it verbatim.
TRADING_DISABLED_MESSAGE: Final = "Trading is currently disabled. Check polymarket.com for updates"

# Polygon mainnet.
CHAIN_ID: Final = 137
EXCHANGE_V2: Final = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE_V2: Final = "0xe2222d279d744050d28e00520010520000310F59"
EXCHANGE_V1: Final = "0x4bFb41d5B3570DeFd03C39a9A4D8dE6Bd8B8982E"
NEG_RISK_EXCHANGE_V1: Final = "0xC5d563A36AE78145C45a50134d48A1215220f80a"
EXCHANGES_V2: Final = (EXCHANGE_V2, NEG_RISK_EXCHANGE_V2)
EXCHANGES_V1: Final = (EXCHANGE_V1, NEG_RISK_EXCHANGE_V1)
COLLATERAL_PUSD: Final = "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB"
NEG_RISK_ADAPTER: Final = "0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296"
CONDITIONAL_TOKENS: Final = "0x4D97DCd97eC945f40cF65F87097ACe5EA0476045"

# Units: collateral and outcome tokens have 6 decimals; prices, sizes and money are integers of 1e-6.
E6: Final = 1_000_000


def to_e6(value: float) -> int:
    """A decimal amount (USD, shares, price) -> integer micro-units, rounded to nearest."""
    return round(value * E6)


def from_e6(units: int) -> float:
    return units / E6


# Ticks: 0.1, 0.01, 0.001, 0.0001; a price lies in [tick, 1 - tick]. Sizes have 2 decimals.
TICK_SIZES_E6: Final = (100_000, 10_000, 1_000, 100)
LOT_E6: Final = 10_000  # order sizes are rounded down to 0.01 share at every tick size

# Rate limits: (method, path) -> [(requests, period_s)], "per 10 s unless stated".
RATE_WINDOW_S: Final = 10.0
CLOB_LIMITS: Final[dict[tuple[str, str], list[tuple[int, float]]]] = {
    ("POST", "/order"): [(3_500, 10.0), (36_000, 600.0)],
    ("POST", "/orders"): [(1_000, 10.0), (15_000, 600.0)],
    ("DELETE", "/order"): [(3_000, 10.0)],
    ("DELETE", "/orders"): [(1_000, 10.0)],
    ("DELETE", "/cancel-all"): [(250, 10.0)],
    ("DELETE", "/cancel-market-orders"): [(1_000, 10.0)],
    ("GET", "/book"): [(1_500, 10.0)],
    ("POST", "/books"): [(500, 10.0)],
    ("GET", "/price"): [(1_500, 10.0)],
    ("GET", "/midpoint"): [(1_500, 10.0)],
}
CLOB_GENERAL: Final = (9_000, 10.0)
GAMMA_LIMITS: Final[dict[tuple[str, str], list[tuple[int, float]]]] = {
    ("GET", "/markets"): [(300, 10.0)],
    ("GET", "/events"): [(500, 10.0)],
}
GAMMA_GENERAL: Final = (4_000, 10.0)
DATA_API_LIMITS: Final[dict[tuple[str, str], list[tuple[int, float]]]] = {
    ("GET", "/trades"): [(200, 10.0)], ("GET", "/positions"): [(150, 10.0)]}
DATA_API_GENERAL: Final = (1_000, 10.0)

# Dead-man switch: once started, no heartbeat for this long cancels every open order.
HEARTBEAT_TIMEOUT_S: Final = 10.0

# Auth header names (L1: wallet signature; L2: API key + HMAC).
POLY_ADDRESS: Final = "POLY_ADDRESS"
POLY_SIGNATURE: Final = "POLY_SIGNATURE"
POLY_TIMESTAMP: Final = "POLY_TIMESTAMP"
POLY_NONCE: Final = "POLY_NONCE"
POLY_API_KEY: Final = "POLY_API_KEY"
POLY_PASSPHRASE: Final = "POLY_PASSPHRASE"
