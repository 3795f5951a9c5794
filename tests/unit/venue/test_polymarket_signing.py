"""Our fast signer against py-clob-client-v2's own path: identical amounts, hashes, signatures, bodies."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
from eth_account import Account
from py_clob_client_v2.clob_types import ApiCreds as ClientCreds
from py_clob_client_v2.clob_types import CreateOrderOptions, MarketOrderArgsV2, OrderArgsV2, RequestArgs
from py_clob_client_v2.headers.headers import create_level_2_headers
from py_clob_client_v2.order_builder import builder as client_builder
from py_clob_client_v2.order_builder.builder import OrderBuilder
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2
from py_clob_client_v2.signer import Signer
from py_clob_client_v2.signing.hmac import build_hmac_signature

from bot_runtime.types import OrderIntent
from bot_runtime.venue.polymarket.auth import ApiCreds, hmac_signature, l2_headers
from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.signing import (
    OrderError,
    OrderSigner,
    SignedOrder,
    derive_salt,
    limit_amounts,
    market_amounts,
)

TICKS = {100_000: "0.1", 10_000: "0.01", 1_000: "0.001", 100: "0.0001", 5_000: "0.005", 2_500: "0.0025"}
FUNDER = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def _random_intent(rng: random.Random, order_type: str) -> OrderIntent:
    tick = rng.choice(list(TICKS))
    price = rng.randrange(tick, E6 - tick + 1, tick)
    size = rng.choice([rng.randrange(1, 5000) * 10_000, rng.randrange(1, 10**10), rng.randrange(5, 200) * E6])
    return OrderIntent(market="0x" + "ab" * 32, token_id=str(rng.getrandbits(256)), side=rng.choice(["BUY", "SELL"]),
                       price_e6=price, size_e6=size, order_type=order_type, tick_size_e6=tick,  # type: ignore[arg-type]
                       neg_risk=rng.random() < 0.5, post_only=order_type in ("GTC", "GTD") and rng.random() < 0.2,
                       expiration_s=rng.randrange(2_000_000_000) if order_type == "GTD" else 0)


def _client_body(key: str, sig_type: int, funder: str | None, intent: OrderIntent, salt: int, ts: int,
                 owner: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The official client's build_order / build_market_order, with its salt and clock pinned."""
    signer = Signer(key, 137)
    builder = OrderBuilder(signer, SignatureTypeV2(sig_type), funder)
    init = ExchangeOrderBuilderV2.__init__

    def pinned_salt_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        init(self, *args, **kwargs)
        self.generate_salt = lambda: str(salt)

    monkeypatch.setattr(ExchangeOrderBuilderV2, "__init__", pinned_salt_init)
    monkeypatch.setattr(client_builder.time, "time_ns", lambda: ts * 1_000_000)
    options = CreateOrderOptions(tick_size=TICKS[intent.tick_size_e6], neg_risk=intent.neg_risk)
    price = intent.price_e6 / E6
    if intent.order_type in ("FOK", "FAK"):
        amount = (intent.price_e6 * intent.size_e6 // E6 if intent.side == "BUY" else intent.size_e6) / E6
        args = MarketOrderArgsV2(token_id=intent.token_id, amount=amount, side=intent.side, price=price)
        order = builder.build_market_order(args, options)
    else:
        args2 = OrderArgsV2(token_id=intent.token_id, price=price, size=intent.size_e6 / E6, side=intent.side,
                            expiration=intent.expiration_s)
        order = builder.build_order(args2, options)
    monkeypatch.undo()
    return json.loads(json.dumps(order_to_json_v2(order, owner, intent.order_type, intent.post_only),
                                 separators=(",", ":"), ensure_ascii=False))


def _decimal_amounts(intent: OrderIntent) -> tuple[int, int]:
    """Independent reference of the client's rounding rules, in exact decimals."""
    from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

    amount_dp = {100_000: 3, 10_000: 4, 1_000: 5, 100: 6, 5_000: 5, 2_500: 6}[intent.tick_size_e6]
    price = Decimal(intent.price_e6) / E6
    cents = Decimal("0.01")
    if intent.order_type in ("FOK", "FAK") and intent.side == "BUY":
        dollars = (price * intent.size_e6 / E6).quantize(Decimal("0.000001"), ROUND_FLOOR).quantize(cents, ROUND_FLOOR)
        shares = (dollars / price).quantize(Decimal(10) ** -(amount_dp + 4), ROUND_CEILING)
        if shares != shares.quantize(Decimal(10) ** -amount_dp, ROUND_FLOOR):
            shares = shares.quantize(Decimal(10) ** -amount_dp, ROUND_FLOOR)
        return int(dollars * E6), int(shares * E6)
    shares = (Decimal(intent.size_e6) / E6).quantize(cents, ROUND_FLOOR)
    collateral = shares * price
    pair = (collateral, shares) if intent.side == "BUY" else (shares, collateral)
    return int(pair[0] * E6), int(pair[1] * E6)


def _client_signed_body(key: str, sig_type: int, funder: str | None, intent: OrderIntent, ours: SignedOrder,
                        owner: str) -> dict:
    """The client's V2 exchange order builder fed with our amounts, salt and timestamp."""
    from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2
    from py_clob_client_v2.order_utils.model.side import Side

    signer = Signer(key, 137)
    exchange = "0xe2222d279d744050d28e00520010520000310F59" if intent.neg_risk else "0xE111180000d2663C0091e4f400237545B87B996B"
    builder = ExchangeOrderBuilderV2(exchange, 137, signer, generate_salt=lambda: str(ours.order["salt"]))
    o = ours.order
    data = OrderDataV2(maker=funder or signer.address(), tokenId=intent.token_id, makerAmount=o["makerAmount"],
                       takerAmount=o["takerAmount"], side=Side.BUY if intent.side == "BUY" else Side.SELL,
                       signer=funder if sig_type == 3 else signer.address(), signatureType=SignatureTypeV2(sig_type),
                       timestamp=o["timestamp"], expiration=o["expiration"])
    order = builder.build_signed_order(data)
    return json.loads(json.dumps(order_to_json_v2(order, owner, intent.order_type, intent.post_only)))


@pytest.mark.parametrize("sig_type,funder", [(0, None), (1, FUNDER), (2, FUNDER), (3, FUNDER)])
@pytest.mark.parametrize("order_type", ["GTC", "GTD", "FOK", "FAK"])
def test_identical_to_official_client(sig_type: int, funder: str | None, order_type: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(f"{sig_type}-{order_type}")
    key = "0x" + rng.randbytes(32).hex()
    signer = OrderSigner(key, signature_type=sig_type, funder=funder)
    checked = float_quirks = 0
    for i in range(60):
        intent = _random_intent(rng, order_type)
        client_id = f"bot-{i}-{rng.getrandbits(32)}"
        ts = 1_760_000_000_000 + rng.randrange(10**9)
        try:
            ours = signer.sign(intent, client_id, ts)
        except OrderError:
            with pytest.raises(Exception):  # noqa: B017 - whatever the client raises, it must not build it either
                body = _client_body(key, sig_type, funder, intent, derive_salt(client_id), ts, "k", monkeypatch)
                assert int(body["order"]["makerAmount"]) > 0 and int(body["order"]["takerAmount"]) > 0
            continue
        theirs = _client_body(key, sig_type, funder, intent, derive_salt(client_id), ts, "owner-key", monkeypatch)
        ours_amounts = (int(ours.order["makerAmount"]), int(ours.order["takerAmount"]))
        assert ours_amounts == _decimal_amounts(intent), intent
        if (theirs["order"]["makerAmount"], theirs["order"]["takerAmount"]) != tuple(map(str, ours_amounts)):
            # The client computes in binary floats: floor(34.73 * 100) = 3472 loses a cent of size.
            # Ours are the exact amounts; the client's signing of those same amounts must match us.
            float_quirks += 1
            theirs = _client_signed_body(key, sig_type, funder, intent, ours, "owner-key")
        assert ours.body("owner-key") == theirs, intent
        assert ours.body_json("owner-key") == json.dumps(theirs, separators=(",", ":"), ensure_ascii=False)
        checked += 1
    assert float_quirks < checked / 4
    assert checked >= 50


def test_order_hash_is_the_eip712_digest_and_recovers_the_signer() -> None:
    from eth_account.messages import encode_typed_data
    from py_clob_client_v2.order_utils.model.order_data_v2 import OrderV2
    from py_clob_client_v2.order_utils.model.side import Side

    key = "0x" + "11" * 32
    signer = OrderSigner(key)
    for neg_risk in (False, True):
        intent = OrderIntent(market="0x01", token_id="123456789", side="BUY", price_e6=520_000, size_e6=10 * E6,
                             neg_risk=neg_risk)
        so = signer.sign(intent, "cid-1", 1_700_000_000_000)
        exchange = signer.neg_risk_exchange if neg_risk else signer.exchange
        b = ExchangeOrderBuilderV2(exchange, 137, Signer(key, 137))
        o = so.order
        typed = b.build_order_typed_data(OrderV2(
            salt=str(o["salt"]), maker=o["maker"], signer=o["signer"], tokenId=o["tokenId"],
            makerAmount=o["makerAmount"], takerAmount=o["takerAmount"], side=Side.BUY, signatureType=0,
            timestamp=o["timestamp"], metadata=o["metadata"], builder=o["builder"]))
        assert b.build_order_hash(typed) == so.order_hash
        assert Account.recover_message(encode_typed_data(full_message=typed), signature=o["signature"]) == signer.address
        assert o["makerAmount"] == "5200000" and o["takerAmount"] == "10000000"


def test_deterministic_and_distinct_per_client_id() -> None:
    signer = OrderSigner("0x" + "22" * 32)
    intent = OrderIntent(market="0x01", token_id="42", side="SELL", price_e6=330_000, size_e6=7_500_000)
    a = signer.sign(intent, "c1", 1_700_000_000_000)
    assert a == signer.sign(intent, "c1", 1_700_000_000_000)
    assert a.order_hash != signer.sign(intent, "c2", 1_700_000_000_000).order_hash
    assert SignedOrder.from_json(a.to_json()) == a
    assert "owner" not in a.to_json()


@pytest.mark.parametrize("kwargs,field", [
    ({"price_e6": 525_000}, "price_e6"),              # not on the 0.01 tick
    ({"price_e6": 0}, "price_e6"),
    ({"price_e6": E6}, "price_e6"),
    ({"tick_size_e6": 3}, "tick_size_e6"),
    ({"size_e6": 9_999}, "size_e6"),                  # below 0.01 shares
    ({"token_id": "0xabc"}, "token_id"),
    ({"post_only": True, "order_type": "FOK"}, "post_only"),
])
def test_bad_intents_name_the_field(kwargs: dict, field: str) -> None:
    signer = OrderSigner("0x" + "33" * 32)
    intent = replace(OrderIntent(market="0x01", token_id="42", side="BUY", price_e6=500_000, size_e6=E6), **kwargs)
    with pytest.raises(OrderError, match=field):
        signer.sign(intent, "c", 1)


def test_bad_private_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(OrderError) as exc:
        OrderSigner("0xnothex-secret")
    assert "nothex-secret" not in str(exc.value)
    assert "33" * 32 not in repr(OrderSigner("0x" + "33" * 32))


def test_amount_rules() -> None:
    # BUY 10.5678 shares at 0.37 (tick 0.01): shares floor to 10.56, collateral 3.9072
    assert limit_amounts("BUY", 370_000, 10_567_800, 10_000) == (3_907_200, 10_560_000)
    assert limit_amounts("SELL", 370_000, 10_567_800, 10_000) == (10_560_000, 3_907_200)
    # market BUY $10 at 0.03: 333.3333 shares (4 decimals at tick 0.01)
    assert market_amounts("BUY", 30_000, 10 * E6, 10_000) == (10 * E6, 333_333_300)
    assert market_amounts("BUY", 100_000, 300_000, 100_000) == (300_000, 3 * E6)


def test_hmac_and_l2_headers_match_the_client() -> None:
    rng = random.Random(7)
    for _ in range(50):
        import base64
        secret = base64.urlsafe_b64encode(rng.randbytes(32)).decode()
        body = json.dumps({"orderID": "0x" + rng.randbytes(32).hex(), "x": "it's"}, separators=(",", ":"))
        ts = rng.randrange(2_000_000_000)
        for method, path, b in (("POST", "/order", body), ("GET", "/data/orders", None), ("DELETE", "/cancel-all", "")):
            assert hmac_signature(secret, ts, method, path, b) == build_hmac_signature(secret, ts, method, path, b)
        key = "0x" + rng.randbytes(32).hex()
        creds = ApiCreds("api-key", secret, "pass")
        ours = l2_headers(Account.from_key(key).address, creds, "POST", "/order", body, ts)
        theirs = create_level_2_headers(Signer(key, 137), ClientCreds("api-key", secret, "pass"),
                                        RequestArgs(method="POST", request_path="/order", body=None,
                                                    serialized_body=body), timestamp=ts)
        assert ours == theirs
    assert "pass" not in repr(creds) and secret not in repr(creds)
