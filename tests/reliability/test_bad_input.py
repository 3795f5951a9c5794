"""Bad input: hypothesis throws malformed, truncated and hostile data at every parser of the
runtime. Each may refuse it only with its documented error type, never crash otherwise:

  market websocket frames   BookStore.apply_raw / parse_frame   -> FrameError
  REST /book, POST /books   BookStore.apply_rest_books           -> FrameError
  Gamma /markets, /events   market_from_gamma / parse_markets    -> MarketParseError
  chain OrderFilled logs    decode_order_filled                  -> LogDecodeError (or None: not ours)
  config files              load_config                          -> ConfigError
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

import orjson
from eth_abi import encode as abi_encode
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot_runtime.chain.events import V1_TOPIC, V2_TOPIC, LogDecodeError, decode_order_filled
from bot_runtime.contract.config import ConfigError, load_config
from bot_runtime.marketdata.store import BookStore
from bot_runtime.venue.polymarket.constants import EXCHANGE_V2
from bot_runtime.venue.polymarket.frames import FrameError, parse_frame
from bot_runtime.venue.polymarket.gamma import MarketParseError, market_from_gamma, markets_from_event

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "tests" / "unit" / "marketdata" / "data" / "market-channel-samples.jsonl"
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values that break naive parsers: wrong types, huge and negative numbers, NaN/inf spellings,
# deep nesting, control characters, very long strings.
hostile_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "0", "-1", "1e309", "-1e309", "NaN", "inf", "-0", ".5", "0x10", "1_000", " 1 ", "１",
                     "0.000000000001", "99999999999999999999999", "\x00", "💥", "a" * 5000, "[]", "{}", "null"]),
    st.text(max_size=30),
)
hostile_json = st.recursive(hostile_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=12)


def _samples() -> list[Any]:
    return [json.loads(line) for line in SAMPLES.read_text().splitlines() if line.strip()]


SAMPLE_FRAMES = _samples()


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """A real frame with some fields replaced, deleted or given hostile values, recursively."""
    if isinstance(base, dict):
        out = {}
        for k, v in base.items():
            action = draw(st.integers(0, 9))
            if action == 0:
                continue                                   # key deleted
            out[k] = draw(hostile_json) if action == 1 else draw(mutated(v))
        if draw(st.integers(0, 6)) == 0:
            out[draw(st.text(max_size=8))] = draw(hostile_json)   # unknown key
        return out
    if isinstance(base, list):
        items: list[Any] = [draw(mutated(x)) for x in base]
        if items and draw(st.booleans()):  # type: ignore[arg-type]
            items = items * draw(st.integers(1, 3))
        return items
    return draw(hostile_json) if draw(st.integers(0, 4)) == 0 else base


frames = st.sampled_from(SAMPLE_FRAMES).flatmap(mutated)


def _apply(raw: bytes | str) -> None:
    store = BookStore()
    with contextlib.suppress(FrameError):
        store.apply_raw(raw, 1)
    for book in store.books.values():   # whatever was applied left a readable book
        book.best_bid(), book.best_ask(), book.levels()


@FAST
@given(frames)
def test_ws_frames_mutated(frame: Any) -> None:
    _apply(orjson.dumps(frame, option=orjson.OPT_NON_STR_KEYS) if _encodable(frame) else json.dumps(frame))


@FAST
@given(st.lists(frames, min_size=1, max_size=4))
def test_ws_frame_arrays(events: list[Any]) -> None:
    _apply(json.dumps(events))


@FAST
@given(frames, st.data())
def test_ws_frames_truncated(frame: Any, data: st.DataObject) -> None:
    raw = json.dumps(frame).encode()
    cut = data.draw(st.integers(0, len(raw)))
    _apply(raw[:cut])


@FAST
@given(st.binary(max_size=300))
def test_ws_frames_random_bytes(raw: bytes) -> None:
    _apply(raw)


def test_ws_frames_deep_nesting_and_huge() -> None:
    for raw in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
                json.dumps({"event_type": "book", "asset_id": "1", "market": "0x",
                            "bids": [{"price": "0.5", "size": str(i)} for i in range(50_000)],
                            "asks": [], "timestamp": "1"}).encode()):
        _apply(raw)
    with contextlib.suppress(FrameError):
        parse_frame(b"\xff\xfe")


def _encodable(x: Any) -> bool:
    try:
        orjson.dumps(x, option=orjson.OPT_NON_STR_KEYS)
        return True
    except (TypeError, orjson.JSONEncodeError):
        return False


BOOK = next((f for f in SAMPLE_FRAMES if isinstance(f, dict) and f.get("event_type") == "book"), SAMPLE_FRAMES[0])


@FAST
@given(st.one_of(mutated(BOOK), hostile_json))
def test_rest_book(item: Any) -> None:
    store = BookStore()
    with contextlib.suppress(FrameError):
        store.apply_rest_books([item], 1)


GAMMA_MARKET = {
    "id": "12", "question": "Will it rain?", "conditionId": "0x" + "ab" * 32, "slug": "rain",
    "clobTokenIds": json.dumps(["111", "222"]), "outcomes": json.dumps(["Yes", "No"]),
    "outcomePrices": json.dumps(["0.5", "0.5"]), "active": True, "closed": False, "negRisk": False,
    "orderPriceMinTickSize": 0.01, "orderMinSize": 5, "endDate": "2027-01-01T00:00:00Z",
    "enableOrderBook": True, "acceptingOrders": True, "feesEnabled": True, "category": "Weather",
    "tags": [{"label": "Weather"}], "negRiskMarketID": "", "groupItemTitle": "",
}


@FAST
@given(st.one_of(mutated(GAMMA_MARKET), hostile_json.filter(lambda x: isinstance(x, dict))))
def test_gamma_market(raw: Any) -> None:
    with contextlib.suppress(MarketParseError):
        market_from_gamma(raw)


@FAST
@given(st.one_of(mutated({"id": "e1", "negRisk": True, "markets": [GAMMA_MARKET, GAMMA_MARKET]}),
                 hostile_json.filter(lambda x: isinstance(x, dict))))
def test_gamma_event(raw: Any) -> None:
    with contextlib.suppress(MarketParseError):
        markets_from_event(raw)


def _v2_log() -> dict[str, Any]:
    data = abi_encode(["uint8", "uint256", "uint256", "uint256", "uint256", "bytes32", "bytes32"],
                      [0, 123, 500_000, 1_000_000, 0, b"\x00" * 32, b"\x00" * 32])
    addr = "0x" + "00" * 12 + "11" * 20
    return {"address": EXCHANGE_V2, "topics": [V2_TOPIC, "0x" + "22" * 32, addr, addr],
            "data": "0x" + data.hex(), "blockNumber": 5, "transactionHash": "0x" + "33" * 32, "logIndex": 1,
            "blockHash": "0x" + "44" * 32}


def test_valid_log_decodes() -> None:   # the mutations below start from something that works
    fill = decode_order_filled(_v2_log())
    assert fill is not None and fill.side == "BUY" and fill.shares_e6 == 1_000_000


@st.composite
def chain_logs(draw: st.DrawFn) -> Any:
    base = _v2_log()
    if draw(st.booleans()):
        base["topics"][0] = V1_TOPIC
    log = draw(mutated(base))
    if isinstance(log, dict) and "data" in log and draw(st.booleans()):
        raw = bytes.fromhex(_v2_log()["data"][2:])
        log["data"] = "0x" + raw[: draw(st.integers(0, len(raw)))].hex()   # truncated ABI data
    return log


@FAST
@given(st.one_of(chain_logs(), hostile_json.filter(lambda x: isinstance(x, dict))))
@example({**_v2_log(), "logIndex": None})
def test_chain_logs(log: Any) -> None:
    with contextlib.suppress(LogDecodeError):
        decode_order_filled(log)


EXAMPLE_CONFIG = {"name": "arb-1", "strategy": "arbhunter", "mode": "paper", "riskProfile": "conservative"}


@FAST
@given(st.one_of(mutated(EXAMPLE_CONFIG), hostile_json), st.booleans())
def test_config_files(doc: Any, truncate: bool) -> None:
    text = json.dumps(doc)
    if truncate:
        text = text[: len(text) // 2]
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "config.json"
        p.write_text(text)
        try:
            load_config(p, env={})
        except ConfigError as exc:
            assert str(exc)   # a message, naming what is wrong


@FAST
@given(st.binary(max_size=200))
@example(b"\x80")
def test_config_files_binary(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "config.json"
        p.write_bytes(raw)
        with contextlib.suppress(ConfigError):
            load_config(p, env={})
