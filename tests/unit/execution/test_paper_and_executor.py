"""The paper matching engine, and the executor's flow on it (no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot_runtime.contract.params import Limits
from bot_runtime.execution import risk
from bot_runtime.execution.executor import Executor
from bot_runtime.execution.journal import SqliteJournal
from bot_runtime.execution.paper import PaperMatchingExchange
from bot_runtime.execution.risk import RiskEngine
from bot_runtime.marketdata.book import OrderBook
from bot_runtime.types import OrderIntent
from bot_runtime.venue.polymarket.constants import E6
from bot_runtime.venue.polymarket.signing import OrderSigner

YES, NO, M = "111", "222", "0xmarket"
DEFAULT_LIMITS = Limits.model_validate({})


def _books() -> dict[str, OrderBook]:
    yes = OrderBook(YES, M)
    yes.apply_snapshot([(400_000, 50 * E6), (390_000, 100 * E6)], [(420_000, 10 * E6), (430_000, 100 * E6)], 1)
    no = OrderBook(NO, M)
    no.apply_snapshot([(560_000, 50 * E6)], [(570_000, 20 * E6)], 1)
    return {YES: yes, NO: no}


def _leg(token: str, price: int, size: int, order_type: str = "FOK", side: str = "BUY") -> OrderIntent:
    return OrderIntent(market=M, token_id=token, side=side, price_e6=price, size_e6=size,  # type: ignore[arg-type]
                       order_type=order_type)  # type: ignore[arg-type]


def _executor(tmp_path: Path, books: dict[str, OrderBook], limits: Limits | None = None,
              usdc: int = 1000 * E6, marks: dict[str, int] | None = None) -> tuple[Executor, PaperMatchingExchange]:
    paper = PaperMatchingExchange(books.get, fee_rate_ppm=lambda t: 70_000, usdc_e6=usdc)
    journal = SqliteJournal(tmp_path / "j.sqlite")
    m = marks if marks is not None else {}
    ex = Executor(paper, OrderSigner("0x" + "44" * 32), journal, RiskEngine(limits or DEFAULT_LIMITS, journal),
                  marks=m.get)
    return ex, paper


def _market_buy(token: str, price: int, size: int, amount: int, order_type: str = "FOK") -> OrderIntent:
    return OrderIntent(market=M, token_id=token, side="BUY", price_e6=price, size_e6=size,
                       order_type=order_type, amount_e6=amount)  # type: ignore[arg-type]


async def test_market_buy_spends_dollars_as_the_exchange_does(tmp_path: Path) -> None:
    """A FOK BUY's amount is dollars: shares x worst price ($12.90 for 30 shares walked over
    0.42 and 0.43) buys 30.23 shares, more than the walk planned; the walked cost buys 30."""
    books = _books()
    ex, _ = _executor(tmp_path, books)
    await ex.start()
    [r] = await ex.submit([_leg(YES, 430_000, 30 * E6)])
    assert r.status == "matched" and r.filled_size_e6 == 30_232_558
    books = _books()
    ex2, _ = _executor(tmp_path / "b", books)
    await ex2.start()
    [r] = await ex2.submit([_market_buy(YES, 430_000, 30 * E6, 12_800_000)])
    assert r.status == "matched" and r.filled_size_e6 == 30 * E6
    # with the second level only 20 deep, shares x worst price cannot be spent: FOK killed
    books = _books()
    books[YES].apply_level("SELL", 430_000, 20 * E6)
    ex3, _ = _executor(tmp_path / "c", books)
    await ex3.start()
    assert (await ex3.submit([_leg(YES, 430_000, 30 * E6)]))[0].status == "rejected"
    assert (await ex3.submit([_market_buy(YES, 430_000, 30 * E6, 12_800_000)]))[0].filled_size_e6 == 30 * E6


async def test_fok_walks_the_book_with_taker_fees(tmp_path: Path) -> None:
    books = _books()
    ex, paper = _executor(tmp_path, books)
    await ex.start()
    [r] = await ex.submit([_market_buy(YES, 430_000, 30 * E6, 12_800_000)])
    assert r.status == "matched" and r.filled_size_e6 == 30 * E6
    fills = ex.journal.fills()
    assert [(f.price_e6, f.size_e6) for f in fills] == [(420_000, 10 * E6), (430_000, 20 * E6)]
    # fee = shares * 0.07 * p * (1 - p)
    assert fills[0].fee_e6 == round(10 * 0.07 * 0.42 * 0.58 * E6)
    assert ex.positions[YES].size_e6 == 30 * E6
    assert paper.usdc_e6 == 1000 * E6 - (4_200_000 + 8_600_000) - sum(f.fee_e6 for f in fills)


async def test_fok_killed_when_depth_is_short_and_consumed_depth_is_not_reused(tmp_path: Path) -> None:
    books = _books()
    ex, _ = _executor(tmp_path, books)
    await ex.start()
    [r] = await ex.submit([_leg(NO, 570_000, 21 * E6)])
    assert r.status == "rejected" and "FOK" in r.error
    assert (await ex.submit([_leg(NO, 570_000, 20 * E6)]))[0].status == "matched"
    # The 20 shares we took are gone until the feed changes that level.
    assert (await ex.submit([_leg(NO, 570_000, 5 * E6)]))[0].status == "rejected"
    books[NO].apply_level("SELL", 570_000, 30 * E6)
    assert (await ex.submit([_leg(NO, 570_000, 5 * E6)]))[0].status == "matched"


async def test_gtc_rests_fills_as_maker_and_cancels(tmp_path: Path) -> None:
    books = _books()
    ex, paper = _executor(tmp_path, books)
    await ex.start()
    [r] = await ex.submit([_leg(YES, 410_000, 10 * E6, order_type="GTC")])
    assert r.status == "live" and ex.risk_state().open_orders == 1
    books[YES].apply_level("SELL", 410_000, 4 * E6)     # someone offers at our bid
    await ex.sync_fills(0)
    pos = ex.positions[YES]
    assert pos.size_e6 == 4 * E6 and ex.journal.fills()[0].fee_e6 == 0
    assert (await ex.cancel_all("test")).canceled == [r.order_id]
    assert await paper.open_orders() == [] and ex.risk_state().open_orders == 0
    assert ex.journal.order(r.client_id).status == "partial"  # type: ignore[union-attr]


async def test_group_refused_as_a_whole_and_nothing_journaled(tmp_path: Path) -> None:
    ex, _ = _executor(tmp_path, _books(), limits=Limits.model_validate({"maxOrderUsd": 5}))
    await ex.start()
    results = await ex.submit([_leg(YES, 420_000, 10 * E6), _leg(NO, 570_000, 10 * E6)])  # $4.20 ok, $5.70 not
    assert [r.error for r in results] == [risk.MAX_ORDER_USD] * 2
    assert ex.journal.count_orders() == 0


async def test_invalid_leg_refuses_the_group(tmp_path: Path) -> None:
    ex, _ = _executor(tmp_path, _books())
    await ex.start()
    results = await ex.submit([_leg(YES, 420_000, 10 * E6), _leg(NO, 575_000, 10 * E6)])  # off-tick price
    assert {r.error for r in results} == {risk.INVALID_INTENT} and ex.journal.count_orders() == 0


async def test_paper_balance_and_duplicates(tmp_path: Path) -> None:
    books = _books()
    ex, paper = _executor(tmp_path, books, usdc=3 * E6)
    await ex.start()
    [r] = await ex.submit([_leg(YES, 420_000, 10 * E6)])
    assert r.status == "rejected" and "balance" in r.error
    [s] = await ex.submit([_leg(YES, 400_000, 10 * E6, side="SELL")])
    assert s.status == "rejected" and "balance" in s.error
    signed = ex.signer.sign(_leg(YES, 420_000, 5 * E6), "dup-1", 1)
    [first] = await paper.post_orders([signed])
    [again] = await paper.post_orders([signed])
    assert first.ok and first.status == "matched"
    assert not again.ok and "Duplicated" in again.error and len(await paper.trades()) == 1


async def test_kill_switch_on_loss_cancels_resting_orders(tmp_path: Path) -> None:
    books = _books()
    marks: dict[str, int] = {}
    ex, paper = _executor(tmp_path, books, limits=Limits.model_validate({"maxDailyLossUsd": 1}), marks=marks)
    await ex.start()
    assert (await ex.submit([_leg(YES, 420_000, 10 * E6)]))[0].status == "matched"
    [rest] = await ex.submit([_leg(NO, 500_000, 10 * E6, order_type="GTC")])
    assert rest.status == "live"
    marks[YES] = 300_000                                   # -$1.20 unrealised
    await ex.check_pnl()
    assert ex.risk.tripped and await paper.open_orders() == []
    assert (await ex.submit([_leg(YES, 420_000, 1 * E6)]))[0].error == risk.KILL_SWITCH


async def test_stale_data_halts(tmp_path: Path) -> None:
    paper = PaperMatchingExchange(_books().get)
    journal = SqliteJournal(tmp_path / "j.sqlite")
    ages = {M: 10_000}
    ex = Executor(paper, OrderSigner("0x" + "44" * 32), journal, RiskEngine(DEFAULT_LIMITS, journal), data_age_ms=ages.get)
    await ex.start()
    assert (await ex.submit([_leg(YES, 420_000, E6)]))[0].error == risk.STALE_DATA
    ages[M] = 50
    assert (await ex.submit([_leg(YES, 420_000, E6)]))[0].status == "matched"
    ex.paused = True
    assert (await ex.submit([_leg(YES, 420_000, E6)]))[0].error == risk.PAUSED


@pytest.mark.parametrize("crash_at", ["after_journal"])
async def test_crash_before_send_reconciles_to_unsent(tmp_path: Path, crash_at: str) -> None:
    class Crash(BaseException):
        pass

    def hook(name: str) -> None:
        if name == crash_at:
            raise Crash

    books = _books()
    paper = PaperMatchingExchange(books.get)
    journal = SqliteJournal(tmp_path / "j.sqlite")
    ex = Executor(paper, OrderSigner("0x" + "44" * 32), journal, RiskEngine(DEFAULT_LIMITS, journal), crash_hook=hook)
    await ex.start()
    with pytest.raises(Crash):
        await ex.submit([_leg(YES, 420_000, E6)])
    assert [r.status for r in journal.orders()] == ["pending"]
    ex2 = Executor(paper, OrderSigner("0x" + "44" * 32), journal, RiskEngine(DEFAULT_LIMITS, journal))
    report = await ex2.start()
    assert report.unsent == 1 and [r.status for r in journal.orders()] == ["unsent"]
    assert await paper.trades() == []


async def test_kill_switch_cancel_is_retried_until_the_exchange_answers(tmp_path: Path) -> None:
    from bot_runtime.venue.polymarket.clob import CancelResult, ExchangeError

    class Flaky(PaperMatchingExchange):
        failures = 1

        async def cancel_all(self) -> CancelResult:
            if self.failures:
                self.failures -= 1
                raise ExchangeError("DELETE /cancel-all", 502, "bad gateway")
            return await super().cancel_all()

    books = _books()
    paper = Flaky(books.get)
    journal = SqliteJournal(tmp_path / "j.sqlite")
    ex = Executor(paper, OrderSigner("0x" + "44" * 32), journal, RiskEngine(DEFAULT_LIMITS, journal))
    await ex.start()
    [rest] = await ex.submit([_leg(NO, 500_000, 10 * E6, order_type="GTC")])
    await ex.trip("operator", "test")
    assert ex.risk.tripped and len(await paper.open_orders()) == 1      # the first cancel failed
    await ex.check_pnl()
    assert await paper.open_orders() == []
    assert journal.order(rest.client_id).status == "canceled"  # type: ignore[union-attr]


async def test_restart_with_tripped_switch_cancels_what_still_rests(tmp_path: Path) -> None:
    books = _books()
    paper = PaperMatchingExchange(books.get)
    journal = SqliteJournal(tmp_path / "j.sqlite")
    ex = Executor(paper, OrderSigner("0x" + "44" * 32), journal, RiskEngine(DEFAULT_LIMITS, journal))
    await ex.start()
    await ex.submit([_leg(NO, 500_000, 10 * E6, order_type="GTC")])
    RiskEngine(DEFAULT_LIMITS, journal).trip("operator")   # tripped by another process, nothing canceled
    assert len(await paper.open_orders()) == 1
    ex2 = Executor(paper, OrderSigner("0x" + "44" * 32), journal, RiskEngine(DEFAULT_LIMITS, journal))
    await ex2.start()
    assert await paper.open_orders() == []


@pytest.mark.parametrize("fsync_before_send", [False, True])
async def test_pending_rows_are_written_before_the_send_and_synced_after(tmp_path: Path,
                                                                         fsync_before_send: bool) -> None:
    """Inline journal: pending rows committed on the event loop thread, the fsync asked for only
    once the send is under way, the cyclic GC back on afterwards. fsync_before_send: the rows
    are fsync'd on the journal thread before the send, as before."""
    import gc
    import threading

    books = _books()
    paper = PaperMatchingExchange(books.get)
    journal = SqliteJournal(tmp_path / "j.sqlite", fsync_before_send=fsync_before_send)
    ex = Executor(paper, OrderSigner("0x" + "44" * 32), journal, RiskEngine(DEFAULT_LIMITS, journal))
    await ex.start()
    trace: list[tuple[str, str, bool]] = []
    real_pending, real_sync, real_post = journal.record_pending, journal.sync_soon, paper.post_orders

    def record_pending(orders, *, durable=True):  # type: ignore[no-untyped-def]
        trace.append(("journal", threading.current_thread().name, durable))
        return real_pending(orders, durable=durable)

    def sync_soon() -> None:
        trace.append(("sync_soon", threading.current_thread().name, gc.isenabled()))
        real_sync()

    async def post_orders(orders):  # type: ignore[no-untyped-def]
        rows = journal.orders(["pending"])  # what a kill -9 here would leave: every leg, pending
        trace.append(("post", f"{len(rows)} pending", gc.isenabled()))
        return await real_post(orders)

    journal.record_pending = record_pending  # type: ignore[method-assign]
    journal.sync_soon = sync_soon  # type: ignore[method-assign]
    paper.post_orders = post_orders  # type: ignore[method-assign]
    results = await ex.submit([_leg(YES, 420_000, E6), _leg(NO, 570_000, E6)])
    assert [r.status for r in results] == ["matched", "matched"]
    main = threading.current_thread().name
    if fsync_before_send:
        assert trace[0][0] == "journal" and trace[0][1] != main and trace[0][2] is True
        assert [t[0] for t in trace] == ["journal", "post"]
    else:
        assert trace[0] == ("journal", main, False)
        assert trace[1] == ("post", "2 pending", False)   # GC deferred across the send
        assert trace[2][0] == "sync_soon" and trace[2][1] == main
    assert gc.isenabled()
    assert [r.status for r in journal.orders()] == ["matched", "matched"]
    await ex.close()
    journal.close()
