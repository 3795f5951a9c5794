"""Market data: Gamma discovery, the CLOB market websocket, order books, tapes."""

from bot_runtime.marketdata.book import BUY, E6, SELL, OrderBook, format_e6, parse_e6
from bot_runtime.marketdata.frames import FrameError, parse_frame
from bot_runtime.marketdata.models import MarketInfo, load_markets_file, market_from_gamma
from bot_runtime.marketdata.store import BookStore

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
