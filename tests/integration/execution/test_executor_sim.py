"""The executor against `botfleet sim` on loopback: real HTTP, real signatures, real L2 HMAC."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from exec_harness import build, journal_url

from bot_runtime.execution import risk
from bot_runtime.execution.journal import SqliteJournal
from bot_runtime.types import OrderIntent
from bot_runtime.venue.polymarket.auth import ApiCreds
from bot_runtime.venue.polymarket.clob_http import ClobHttpExchange
from bot_runtime.venue.polymarket.constants import E6

pytestmark = pytest.mark.asyncio


def _creds(c) -> ApiCreds:  # type: ignore[no-untyped-def]
    return ApiCreds(c.api_key, c.secret, c.passphrase)


def _market(sim):  # type: ignore[no-untyped-def]
    spec = next(m for m in sim.markets if not m.neg_risk)
    top = sim.engine.top(spec.yes_token)
    return spec, top


def _leg(spec, price: int, size: int = 10 * E6, order_type: str = "FOK", side: str = "BUY",  # type: ignore[no-untyped-def]
         token: str | None = None) -> OrderIntent:
    return OrderIntent(market=spec.condition_id, token_id=token or spec.yes_token, side=side,  # type: ignore[arg-type]
                       price_e6=price, size_e6=size, order_type=order_type, tick_size_e6=spec.tick,  # type: ignore[arg-type]
                       neg_risk=spec.neg_risk)


def _my_fills(sim, address: str):  # type: ignore[no-untyped-def]
    return [f for f in sim.ledger if address.lower() in (f.taker.lower(), f.maker.lower())]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_fok_fill_matches_ledger_and_journal(static_sim, sim_creds, tmp_path: Path, backend: str,  # type: ignore[no-untyped-def]
                                                   request: pytest.FixtureRequest) -> None:
    from tests.support.sim import TEST_PRIVATE_KEY

    url = journal_url(tmp_path) if backend == "sqlite" else request.getfixturevalue("postgres_url")
    ex = build(static_sim.url, TEST_PRIVATE_KEY, _creds(sim_creds), url)
    await ex.start()
    spec, top = _market(static_sim)
    yes_top, no_top = top, static_sim.engine.top(spec.no_token)
    results = await ex.submit([_leg(spec, yes_top.best_ask), _leg(spec, no_top.best_ask, token=spec.no_token)])
    assert [r.status for r in results] == ["matched", "matched"], results
    ledger = _my_fills(static_sim, ex.signer.address)
    journal = ex.journal.fills()
    assert sorted((f.id, f.price, f.size, f.fee) for f in ledger) == \
        sorted((f.trade_id, f.price_e6, f.size_e6, f.fee_e6) for f in journal)
    assert {f.order_id for f in journal} == {r.order_id for r in results}
    rows = {r.client_id: r for r in ex.journal.orders()}
    assert {r.status for r in rows.values()} == {"matched"} and len({r.group_id for r in rows.values()}) == 1
    pos = ex.positions
    assert pos[spec.yes_token].size_e6 == 10 * E6 and pos[spec.no_token].size_e6 == 10 * E6
    assert static_sim.position(ex.signer.address, spec.yes_token) == 10.0
    await ex.exchange.close()
    await ex.close()


async def test_gtc_rests_then_cancel_all(static_sim, sim_creds, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.sim import TEST_PRIVATE_KEY

    ex = build(static_sim.url, TEST_PRIVATE_KEY, _creds(sim_creds), journal_url(tmp_path))
    await ex.start()
    spec, top = _market(static_sim)
    price = top.best_bid - 2 * spec.tick
    [res] = await ex.submit([_leg(spec, price, order_type="GTC")])
    assert res.status == "live"
    assert [o.id for o in await ex.exchange.open_orders()] == [res.order_id]
    assert ex.risk_state().open_orders == 1
    done = await ex.cancel_all("test")
    assert done.canceled == [res.order_id]
    assert await ex.exchange.open_orders() == []
    assert ex.journal.order(res.client_id).status == "canceled"  # type: ignore[union-attr]
    assert ex.risk_state().open_orders == 0
    await ex.exchange.close()


async def test_risk_rejects_before_anything_is_journaled(static_sim, sim_creds, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.sim import TEST_PRIVATE_KEY

    ex = build(static_sim.url, TEST_PRIVATE_KEY, _creds(sim_creds), journal_url(tmp_path))
    await ex.start()
    spec, top = _market(static_sim)
    [res] = await ex.submit([_leg(spec, top.best_ask, size=500 * E6)])
    assert res.status == "rejected" and res.error == risk.MAX_ORDER_USD
    assert ex.journal.count_orders() == 0 and _my_fills(static_sim, ex.signer.address) == []
    await ex.exchange.close()


async def test_rate_limited_post_is_resent_once_accepted(static_sim, sim_creds, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.sim import TEST_PRIVATE_KEY

    ex = build(static_sim.url, TEST_PRIVATE_KEY, _creds(sim_creds), journal_url(tmp_path))
    await ex.start()
    spec, top = _market(static_sim)
    static_sim.faults.set_rate_limit(seconds=0.15)
    [res] = await ex.submit([_leg(spec, top.best_ask)])
    assert res.status == "matched", res
    assert len(_my_fills(static_sim, ex.signer.address)) >= 1
    assert len({f.taker_order_id for f in _my_fills(static_sim, ex.signer.address)}) == 1
    # A 429 storm longer than the order deadline: refused, never sent twice, nothing filled.
    static_sim.faults.set_rate_limit(seconds=3)
    before = len(static_sim.ledger)
    [res2] = await ex.submit([_leg(spec, top.best_ask)])
    assert res2.status == "rejected" and "Too Many Requests" in res2.error
    assert len(static_sim.ledger) == before
    static_sim.faults.clear()
    await ex.exchange.close()


async def test_cancel_only_503_stops_orders_but_not_cancels(static_sim, sim_creds, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.sim import TEST_PRIVATE_KEY

    ex = build(static_sim.url, TEST_PRIVATE_KEY, _creds(sim_creds), journal_url(tmp_path))
    await ex.start()
    spec, top = _market(static_sim)
    [live] = await ex.submit([_leg(spec, top.best_bid - spec.tick, order_type="GTC")])
    assert live.status == "live"
    static_sim.faults.set_cancel_only(seconds=None)
    [res] = await ex.submit([_leg(spec, top.best_ask)])
    assert res.status == "rejected" and res.error == "cancel_only"
    assert isinstance(ex.exchange, ClobHttpExchange)
    assert ex.exchange.cancel_only_until > 0  # placement paused locally: the next try does not hit the wire
    [res] = await ex.submit([_leg(spec, top.best_ask)])
    assert res.error == "cancel_only"
    assert (await ex.cancel_all("cancel-only window")).canceled == [live.order_id]
    static_sim.faults.clear()
    await asyncio.sleep(0.6)  # the local pause (0.5 s in the harness) ends
    [res] = await ex.submit([_leg(spec, top.best_ask)])
    assert res.status == "matched"
    await ex.exchange.close()


async def test_5xx_on_post_is_not_retried_and_reconciles_to_unsent(static_sim, sim_creds, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.sim import TEST_PRIVATE_KEY

    ex = build(static_sim.url, TEST_PRIVATE_KEY, _creds(sim_creds), journal_url(tmp_path))
    await ex.start()
    spec, top = _market(static_sim)
    static_sim.faults.set_errors(seconds=None)
    [res] = await ex.submit([_leg(spec, top.best_ask)])
    assert res.status == "error"            # outcome unknown: not retried
    static_sim.faults.clear()
    report = await ex.reconcile()
    assert report.statuses == {res.client_id: "unsent"}
    assert _my_fills(static_sim, ex.signer.address) == []
    await ex.exchange.close()


async def test_kill_switch_trips_cancels_and_survives_restart(static_sim, sim_creds, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.sim import TEST_PRIVATE_KEY

    marks: dict[str, int] = {}
    ex = build(static_sim.url, TEST_PRIVATE_KEY, _creds(sim_creds), journal_url(tmp_path), marks=marks)
    await ex.start()
    spec, top = _market(static_sim)
    [bought] = await ex.submit([_leg(spec, top.best_ask, size=100 * E6)])
    assert bought.status == "matched"
    [resting] = await ex.submit([_leg(spec, top.best_bid - 2 * spec.tick, order_type="GTC")])
    assert resting.status == "live"
    marks[spec.yes_token] = top.best_ask - 300_000   # the position loses $30 > $20 limit
    await ex.check_pnl()
    assert ex.risk.tripped
    assert await ex.exchange.open_orders() == []
    [refused] = await ex.submit([_leg(spec, top.best_ask)])
    assert refused.error == risk.KILL_SWITCH
    await ex.exchange.close()

    again = build(static_sim.url, TEST_PRIVATE_KEY, _creds(sim_creds), journal_url(tmp_path), marks={})
    await again.start()
    assert again.risk.tripped
    assert (await again.submit([_leg(spec, top.best_ask)]))[0].error == risk.KILL_SWITCH
    await again.reset_kill_switch("test-operator")
    assert (await again.submit([_leg(spec, top.best_ask)]))[0].status == "matched"
    kinds = [e.kind for e in SqliteJournal(tmp_path / "journal.sqlite").events()]
    assert "kill_switch_tripped" in kinds and "kill_switch_reset" in kinds and "cancel_all" in kinds
    await again.exchange.close()


@pytest.mark.parametrize("point", ["after_journal", "after_send"])
async def test_sigkill_between_journal_and_send_no_duplicates_no_lost_fills(
        static_sim, sim_creds, tmp_path: Path, point: str) -> None:  # type: ignore[no-untyped-def]
    from tests.support.sim import TEST_PRIVATE_KEY

    spec, top = _market(static_sim)
    env = {**os.environ, "T_API_KEY": sim_creds.api_key, "T_SECRET": sim_creds.secret,
           "T_PASSPHRASE": sim_creds.passphrase, "T_PRIVATE_KEY": TEST_PRIVATE_KEY}
    child = Path(__file__).with_name("crash_child.py")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(child), static_sim.url, journal_url(tmp_path), point, spec.condition_id,
        spec.yes_token, str(top.best_ask), str(10 * E6), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == -9, (out, err[-2000:])
    assert b"survived" not in out

    [row] = SqliteJournal(tmp_path / "journal.sqlite").orders()
    assert row.status == "pending"             # journaled before the crash, outcome unknown
    ex = build(static_sim.url, TEST_PRIVATE_KEY, _creds(sim_creds), journal_url(tmp_path))
    report = await ex.start(resend_unsent=True)
    fills = _my_fills(static_sim, ex.signer.address)
    journal = ex.journal
    if point == "after_journal":
        # Never reached the exchange: re-sent once, identical signed order (same hash).
        assert report.unsent == 1 and report.resent == 1
        assert len(fills) >= 1 and {f.taker_order_id for f in fills} == {row.order_hash}
        await ex.sync_fills(0)
    else:
        # Reached the exchange and filled: recorded from /data/trades, not re-sent.
        assert report.filled == 1 and report.resent == 0 and report.new_fills == len(fills) >= 1
        assert {f.taker_order_id for f in fills} == {row.order_hash}
        # And re-sending the journaled order would be refused as a duplicate by the exchange.
        from bot_runtime.venue.polymarket.signing import SignedOrder

        [dup] = await ex.exchange.post_orders([SignedOrder.from_json(row.signed_json)])
        assert not dup.ok and "uplicat" in dup.error
    assert sorted(f.id for f in _my_fills(static_sim, ex.signer.address)) == sorted(journal.trade_ids())
    assert journal.order(row.client_id).status == "matched"  # type: ignore[union-attr]
    assert journal.positions()[spec.yes_token].size_e6 == 10 * E6
    await ex.exchange.close()


async def test_official_client_exchange_against_the_sim(pyclob_static_sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from exec_harness import LIMITS

    from bot_runtime.execution.executor import Executor
    from bot_runtime.execution.journal import open_journal
    from bot_runtime.execution.risk import RiskEngine
    from bot_runtime.venue.polymarket.signing import OrderSigner
    from tests.support.pyclob_exchange import PyClobClientExchange
    from tests.support.sim import PYCLOB_CHAIN_ID, TEST_ADDRESS, TEST_PRIVATE_KEY

    static_sim = pyclob_static_sim  # the reference client signs for 137: this sim accepts it, explicitly
    creds = _creds(static_sim.create_api_key(TEST_ADDRESS))
    exchange = PyClobClientExchange(static_sim.url, TEST_PRIVATE_KEY, lambda: creds, chain_id=PYCLOB_CHAIN_ID)
    journal = open_journal(journal_url(tmp_path))
    ex = Executor(exchange, OrderSigner(TEST_PRIVATE_KEY, chain_id=PYCLOB_CHAIN_ID), journal,
                  RiskEngine(LIMITS, journal))
    await ex.start()
    spec, top = _market(static_sim)
    [filled] = await ex.submit([_leg(spec, top.best_ask)])
    [resting] = await ex.submit([_leg(spec, top.best_bid - 2 * spec.tick, order_type="GTC")])
    assert (filled.status, resting.status) == ("matched", "live")
    assert [o.id for o in await exchange.open_orders()] == [resting.order_id]
    assert (await exchange.get_order(resting.order_id)).status == "live"  # type: ignore[union-attr]
    assert sorted(f.trade_id for f in await exchange.trades()) == sorted(journal.trade_ids())
    assert (await ex.cancel_all("test")).canceled == [resting.order_id]
    await exchange.heartbeat()
    await ex.close()


async def test_no_secret_reaches_the_logs(static_sim, sim_creds, tmp_path: Path,  # type: ignore[no-untyped-def]
                                          capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    from tests.support.sim import TEST_PRIVATE_KEY

    caplog.set_level("DEBUG")
    creds = _creds(sim_creds)
    ex = build(static_sim.url, TEST_PRIVATE_KEY, creds, journal_url(tmp_path))
    await ex.start()
    spec, top = _market(static_sim)
    results = await ex.submit([_leg(spec, top.best_ask)])
    await ex.submit([_leg(spec, top.best_bid - spec.tick, order_type="GTC")])
    static_sim.faults.set_errors(seconds=None)
    await ex.submit([_leg(spec, top.best_ask)])
    static_sim.faults.clear()
    await ex.reconcile()
    await ex.trip("test")
    out, err = capfd.readouterr()
    text = out + err + caplog.text + repr(ex.signer) + repr(creds)
    assert "EXECUTED" in text and "KILL SWITCH TRIPPED" in text
    row = ex.journal.order(results[0].client_id)
    assert row is not None
    signature = __import__("json").loads(row.signed_json)["order"]["signature"]
    for secret in (TEST_PRIVATE_KEY, TEST_PRIVATE_KEY[2:], creds.secret, creds.passphrase, signature[2:]):
        assert secret not in text
    await ex.exchange.close()


async def test_batch_reports_each_leg(static_sim, sim_creds, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.sim import TEST_PRIVATE_KEY

    ex = build(static_sim.url, TEST_PRIVATE_KEY, _creds(sim_creds), journal_url(tmp_path))
    await ex.start()
    spec, top = _market(static_sim)
    no_top = static_sim.engine.top(spec.no_token)
    results = await ex.submit([_leg(spec, top.best_ask),
                               _leg(spec, no_top.best_ask - 5 * spec.tick, token=spec.no_token)])  # cannot fill
    assert [r.status for r in results] == ["matched", "rejected"]
    assert "FOK" in results[1].error or "fully filled" in results[1].error
    rows = {r.client_id: r.status for r in ex.journal.orders()}
    assert rows == {results[0].client_id: "matched", results[1].client_id: "rejected"}
    await ex.exchange.close()


async def test_power_cut_losing_the_last_journal_writes_is_recovered_by_reconcile(  # type: ignore[no-untyped-def]
        static_sim, sim_creds, tmp_path: Path) -> None:
    """The inline journal fsyncs right behind the send: a power cut in that window can lose the
    last pending rows of orders the exchange already has. Simulated by putting back a copy of the
    journal taken before them; the next start adopts them by order hash and re-reads their fills."""
    import shutil

    from tests.support.sim import TEST_PRIVATE_KEY

    ex = build(static_sim.url, TEST_PRIVATE_KEY, _creds(sim_creds), journal_url(tmp_path))
    await ex.start()
    spec, top = _market(static_sim)
    [kept] = await ex.submit([_leg(spec, top.best_ask)])                      # on disk before the cut
    await ex.sync_fills(0)
    on_disk = ex.journal.backup_to(tmp_path / "before-cut")
    [filled] = await ex.submit([_leg(spec, top.best_ask)])                    # lost: filled at once
    [resting] = await ex.submit([_leg(spec, top.best_bid - 2 * spec.tick, order_type="GTC")])  # lost: rests
    assert (kept.status, filled.status, resting.status) == ("matched", "matched", "live")
    await ex.sync_fills(0)
    await ex.exchange.close()
    await ex.close()
    ex.journal.close()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"journal.sqlite{suffix}").unlink(missing_ok=True)
    shutil.copy(on_disk, tmp_path / "journal.sqlite")                        # the power cut

    again = build(static_sim.url, TEST_PRIVATE_KEY, _creds(sim_creds), journal_url(tmp_path))
    report = await again.start()
    assert report.adopted == 2
    by_hash = {r.order_hash: r for r in again.journal.orders()}
    mine = [o for o in static_sim.engine.orders.values() if not o.internal
            and o.maker.lower() == again.signer.address.lower()]
    assert {o.id.lower() for o in mine} <= set(by_hash)                      # no unknown order
    assert by_hash[filled.order_id.lower()].status == "matched"
    assert by_hash[resting.order_id.lower()].status == "live"
    assert again.risk_state().open_orders == 1                               # counted in exposure
    assert sorted(f.id for f in _my_fills(static_sim, again.signer.address)) == sorted(again.journal.trade_ids())
    assert again.journal.positions()[spec.yes_token].size_e6 == 20 * E6      # both fills
    assert (await again.cancel_all("test")).canceled == [resting.order_id]
    assert again.journal.order_by_hash(resting.order_id).status == "canceled"  # type: ignore[union-attr]
    report = await again.reconcile()
    assert report.adopted == 0                                               # adopted once
    await again.exchange.close()
    await again.close()
