"""`botfleet sim`: a simulated Polymarket (CLOB V2, Gamma, Data API, websockets) on one port."""

from .auth import ApiCreds
from .config import SimConfig
from .engine import Fill, MatchingEngine, OrderRejected
from .exchange import SimExchange
from .scenarios import Dislocation

__all__ = ["ApiCreds", "Dislocation", "Fill", "MatchingEngine", "OrderRejected", "SimConfig", "SimExchange"]
