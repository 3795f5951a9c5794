"""Market data: Gamma discovery, the CLOB market websocket, order books, tapes.

Numbers are exact ints in millionths ("e6"): 0.48 -> 480_000, 10 shares -> 10_000_000.

- book.OrderBook: best_bid()/best_ask() -> (price_e6, size_e6) | None in O(1);
  bids_desc()/asks_asc() walk depth; apply_snapshot / apply_level (size = new total, 0 removes).
- venue.polymarket.frames.parse_frame(raw) -> typed events; malformed input raises FrameError only.
- store.BookStore: books by token id, metadata by condition id; add_update_listener(fn(set_of_assets))
  runs after each frame that changed books; is_fresh(asset, now_ms, max_age_ms); data_age_ms(now_ms).
  now_ms is wall-clock ms (ws.wall_ms()); in replay, the frames' own timestamps.
- ws.MarketWsClient(store, WsSettings(url=..., rest_url=...), hooks): sharded (<= 500 assets per
  connection), PING every 10 s, reconnect with jittered backoff, resubscribe, desync repair.
  MarketDataHooks: on_connect/on_disconnect/on_reconnect/on_frame/on_raw_frame/on_frame_error/on_resync.
- venue.polymarket.gamma: GammaClient + MarketFilter (discovery) and MarketInfo (what strategies import).
- tape: TapeWriter / iter_tape / replay for recording and backtests.
"""

from bot_runtime.marketdata.book import OrderBook
from bot_runtime.marketdata.store import BookStore
from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.frames import BUY, SELL, FrameError, format_e6, parse_e6, parse_frame
from bot_runtime.venue.polymarket.gamma import MarketInfo, load_markets_file, market_from_gamma

__all__ = [
    "BUY",
    "E6",
    "SELL",
    "BookStore",
    "FrameError",
    "MarketInfo",
    "OrderBook",
    "format_e6",
    "load_markets_file",
    "market_from_gamma",
    "parse_e6",
    "parse_frame",
]
