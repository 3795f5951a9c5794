"""The simulator's order hash, signature recovery and auth match py-clob-client-v2 byte for byte,
for the simulator's own chain id by default and Polygon's (137) only when asked for."""

from __future__ import annotations

import pytest
from py_clob_client_v2.clob_types import ApiCreds as ClientCreds
from py_clob_client_v2.clob_types import RequestArgs
from py_clob_client_v2.headers.headers import create_level_1_headers, create_level_2_headers
from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2, Side
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2, order_to_json_v2
from py_clob_client_v2.signer import Signer

from bot_runtime.contract.config import SIM_CHAIN_ID
from bot_runtime.venue.polymarket.constants import CHAIN_ID
from bot_runtime.venue.polymarket.constants import EXCHANGE_V2 as V2_EXCHANGE
from bot_runtime.venue.polymarket.constants import NEG_RISK_EXCHANGE_V2 as V2_NEG_RISK_EXCHANGE
from botfleet_tools.sim.auth import ApiKeyStore, AuthError, l2_headers, verify_l1, verify_l2
from botfleet_tools.sim.orders import OrderPayloadError, parse_order

KEY = "0x" + "22" * 32
SIGNER = Signer(KEY, SIM_CHAIN_ID)     # the SDK signs for any chain id it is given
POLYGON_SIGNER = Signer(KEY, CHAIN_ID)


def signed_body(exchange: str = V2_EXCHANGE, side: Side = Side.BUY, chain_id: int = SIM_CHAIN_ID) -> tuple[dict, str]:
    builder = ExchangeOrderBuilderV2(exchange, chain_id, Signer(KEY, chain_id))
    order = builder.build_signed_order(OrderDataV2(
        maker=SIGNER.address(), tokenId="123456789", makerAmount="5000000", takerAmount="10000000", side=side))
    expected = builder.build_order_hash(builder.build_order_typed_data(order))
    return order_to_json_v2(order, "key", "GTC"), expected


@pytest.mark.parametrize("exchange", [V2_EXCHANGE, V2_NEG_RISK_EXCHANGE])
def test_order_hash_and_signer_match_the_sdk(exchange: str) -> None:
    body, expected_hash = signed_body(exchange)
    so = parse_order(body["order"])
    assert so.order_hash(exchange) == expected_hash
    assert so.recover_signer(exchange) == SIGNER.address().lower()


def test_an_order_signed_for_polygon_does_not_verify_by_default() -> None:
    assert SIM_CHAIN_ID != CHAIN_ID
    body, polygon_hash = signed_body(chain_id=CHAIN_ID)
    so = parse_order(body["order"])
    assert so.recover_signer(V2_EXCHANGE) != SIGNER.address().lower()     # the sim's default chain
    assert so.order_hash(V2_EXCHANGE) != polygon_hash
    assert so.recover_signer(V2_EXCHANGE, CHAIN_ID) == SIGNER.address().lower()  # only when asked for
    assert so.order_hash(V2_EXCHANGE, CHAIN_ID) == polygon_hash


def test_wrong_exchange_does_not_recover_the_signer() -> None:
    body, _ = signed_body(V2_EXCHANGE)
    assert parse_order(body["order"]).recover_signer(V2_NEG_RISK_EXCHANGE) != SIGNER.address().lower()


def test_bad_payload_names_the_field() -> None:
    body, _ = signed_body()
    del body["order"]["maker"]
    with pytest.raises(OrderPayloadError, match=r"order\.maker"):
        parse_order(body["order"])
    v1 = {"salt": 1, "maker": SIGNER.address(), "nonce": "0", "side": "BUY"}
    with pytest.raises(OrderPayloadError, match="order_version_mismatch"):
        parse_order(v1)


def test_l1_headers_from_the_sdk_verify() -> None:
    headers = create_level_1_headers(SIGNER, nonce=3)
    assert verify_l1(headers) == (SIGNER.address(), 3)
    tampered = {**headers, "POLY_NONCE": "4"}
    with pytest.raises(AuthError):
        verify_l1(tampered)


def test_l1_headers_signed_for_polygon_are_refused_by_default_and_named() -> None:
    headers = create_level_1_headers(POLYGON_SIGNER, nonce=0)
    with pytest.raises(AuthError, match=r"signed for Polygon \(chain id 137\)"):
        verify_l1(headers)
    assert verify_l1(headers, chain_id=CHAIN_ID) == (SIGNER.address(), 0)  # the explicit option
    with pytest.raises(AuthError):
        verify_l1(create_level_1_headers(SIGNER, nonce=0), chain_id=CHAIN_ID)


def test_l2_headers_from_the_sdk_verify_and_tampering_fails() -> None:
    store = ApiKeyStore()
    creds = store.create(SIGNER.address(), 0)
    client = ClientCreds(api_key=creds.api_key, api_secret=creds.secret, api_passphrase=creds.passphrase)
    body = '{"orderID":"0xabc"}'
    headers = create_level_2_headers(SIGNER, client, RequestArgs("DELETE", "/order", None, body))
    assert verify_l2(headers, "DELETE", "/order", body, store) == creds
    with pytest.raises(AuthError):
        verify_l2(headers, "DELETE", "/order", body.replace("abc", "abd"), store)
    with pytest.raises(AuthError):
        verify_l2(headers, "DELETE", "/orders", body, store)
    with pytest.raises(AuthError):
        verify_l2({**headers, "POLY_PASSPHRASE": "x"}, "DELETE", "/order", body, store)
    own = l2_headers(creds, "GET", "/data/orders")
    assert verify_l2(own, "GET", "/data/orders", "", store) == creds
    store.delete(creds.api_key)
    with pytest.raises(AuthError):
        verify_l2(own, "GET", "/data/orders", "", store)


def test_creds_repr_hides_secrets() -> None:
    creds = ApiKeyStore().create(SIGNER.address(), 0)
    assert creds.secret not in repr(creds) and creds.passphrase not in repr(creds)
