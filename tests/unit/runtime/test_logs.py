"""Logs are JSON with searchable event names and never carry a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from bot_runtime.credentials import CredentialsReader
from bot_runtime.telemetry.logs import ARB_OPPORTUNITY, REDACTED, configure_logging, register_secret

PRIVATE_KEY = "0x" + "5e" * 32
API_SECRET = "c2VjcmV0LWFwaS1zZWNyZXQtdmFsdWU="
PASSPHRASE = "pass-phrase-0042"
CONDITION = "0x" + "1c" * 32


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure_logging("debug", stream=out, bot="b1")
    yield out
    logging.getLogger().handlers = [h for h in logging.getLogger().handlers if not getattr(h, "_botfleet", False)]


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_json_lines_with_event_name_and_context(captured: io.StringIO) -> None:
    structlog.get_logger("t").info(ARB_OPPORTUNITY, market=CONDITION, edge=0.012)
    (rec,) = lines(captured)
    assert rec["event"] == "ARB OPPORTUNITY"
    assert rec["market"] == CONDITION  # public ids of the same shape as a key stay readable
    assert rec["bot"] == "b1" and rec["level"] == "info" and "ts" in rec


def test_secrets_redacted_everywhere(captured: io.StringIO) -> None:
    creds = CredentialsReader(None, env={"PRIVATE_KEY": PRIVATE_KEY, "CLOB_SECRET": API_SECRET,
                                         "CLOB_PASSPHRASE": PASSPHRASE})
    log = structlog.get_logger("t")
    log.info("signing", key=creds["PRIVATE_KEY"], note=f"using {creds['CLOB_SECRET']} now")
    log.info("headers", headers={"POLY_PASSPHRASE": PASSPHRASE, "POLY_API_KEY": "k", "x": [API_SECRET]})
    log.info("fields", private_key="abc", api_key="k-123", signature="0xsig", signature_type=0)
    log.info("hex", blob="0x" + "77" * 32, market="0x" + "77" * 32)
    try:
        raise ValueError(f"bad key {PRIVATE_KEY}")
    except ValueError:
        log.exception("failed")
    logging.getLogger("some.lib").warning("stdlib says %s", API_SECRET)
    text = captured.getvalue()
    for secret in (PRIVATE_KEY, PRIVATE_KEY[2:], API_SECRET, PASSPHRASE):
        assert text.count(secret) == 0
    recs = lines(captured)
    assert recs[2]["private_key"] == REDACTED and recs[2]["api_key"] == REDACTED
    assert recs[2]["signature_type"] == 0
    assert recs[3]["blob"] == REDACTED and recs[3]["market"] == "0x" + "77" * 32
    assert recs[4]["event"] == "failed" and "ValueError" in str(recs[4]["exception"])
    assert recs[5]["event"] == f"stdlib says {REDACTED}"


def test_known_secret_redacted_even_in_public_fields(captured: io.StringIO) -> None:
    register_secret("0x" + "99" * 32)
    structlog.get_logger("t").info("x", market="0x" + "99" * 32)
    assert lines(captured)[0]["market"] == REDACTED


def test_short_values_not_registered(captured: io.StringIO) -> None:
    register_secret("1")
    structlog.get_logger("t").info("count 1 of 10")
    assert lines(captured)[0]["event"] == "count 1 of 10"


def test_level_filter(captured: io.StringIO) -> None:
    configure_logging("warning", stream=captured)
    structlog.get_logger("t").info("hidden")
    structlog.get_logger("t").warning("shown")
    assert [r["event"] for r in lines(captured)] == ["shown"]


def test_registered_public_ids_stay_readable_in_text(captured: io.StringIO) -> None:
    from bot_runtime.telemetry.logs import register_public

    market = "0x" + "3d" * 32
    register_public([market])
    structlog.get_logger("t").info("x", detail=f"{market}: book age 2077 ms", other="0x" + "3e" * 32)
    rec = lines(captured)[0]
    assert rec["detail"] == f"{market}: book age 2077 ms" and rec["other"] == REDACTED


@pytest.mark.parametrize(("url", "secret", "printed"), [
    # Alchemy/Infura: the key is a path segment; urllib3 prints the path alone
    ("https://polygon-mainnet.g.alchemy.com/v2/AbCdEf0123456789xyzKEYone", "AbCdEf0123456789xyzKEYone",
     "Max retries exceeded with url: /v2/AbCdEf0123456789xyzKEYone (Caused by ...)"),
    ("https://rpc.example.net/?apikey=queryKEY0123456789", "queryKEY0123456789",
     "GET /?apikey=queryKEY0123456789 -> 429"),
    ("https://user:pw-0123456789@rpc.example.net/", "pw-0123456789", "auth failed for pw-0123456789"),
])
def test_a_secret_url_is_redacted_by_its_parts(captured: io.StringIO, url: str, secret: str, printed: str) -> None:
    register_secret(url)
    pool = logging.getLogger("urllib3.connectionpool")
    level = pool.level
    pool.setLevel(logging.WARNING)  # whatever an earlier test of the same process left
    try:
        pool.warning("retrying: %s", printed)
    finally:
        pool.setLevel(level)
    structlog.get_logger().warning("rpc down", error=printed)
    text = captured.getvalue()
    assert secret not in text and text.count(REDACTED) >= 2, text


def test_ordinary_endpoints_stay_readable(captured: io.StringIO) -> None:
    from bot_runtime.telemetry.logs import register_url_parts

    for url in ("https://data-api.polymarket.com/trades", "http://sim.botfleet.svc:8000/gamma/markets"):
        register_url_parts(url)
    structlog.get_logger().info("polled", url="https://data-api.polymarket.com/trades", path="/gamma/markets")
    line = lines(captured)[-1]
    assert line["url"] == "https://data-api.polymarket.com/trades" and line["path"] == "/gamma/markets"


def test_a_secret_is_redacted_in_base64_too(captured: io.StringIO) -> None:
    import base64

    value = "b64-planted-secret-0042"
    register_secret(value)
    structlog.get_logger().info("patched", body={"data": {"K": base64.b64encode(value.encode()).decode()}})
    assert base64.b64encode(value.encode()).decode() not in captured.getvalue()
