"""Endpoint labels of botfleet_api_requests_total keep identifiers out (bounded cardinality)."""

from __future__ import annotations

from bot_runtime.telemetry.http_metrics import code_class, endpoint_label


def test_endpoint_label() -> None:
    assert endpoint_label("get", "/data/order/0x" + "ab" * 32) == "GET /data/order/{id}"
    assert endpoint_label("GET", "/book?token_id=123") == "GET /book"
    assert endpoint_label("DELETE", "/cancel-all") == "DELETE /cancel-all"
    assert endpoint_label("GET", "/gamma/markets/12345678") == "GET /gamma/markets/{id}"
    assert endpoint_label("GET", "/auth/api-key/6f1c35af-e9cf-4a58-bcd4-e715431a69ab") == "GET /auth/api-key/{id}"
    assert endpoint_label("GET", "") == "GET /"


def test_code_class() -> None:
    assert [code_class(s) for s in (200, 204, 404, 429, 503, 0, None)] == ["2xx", "2xx", "4xx", "4xx", "5xx",
                                                                           "error", "error"]
