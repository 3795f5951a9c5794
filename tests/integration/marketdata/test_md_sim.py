"""The market-data layer against the simulated exchange, over real loopback sockets."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

import tests.support.marketdata_ws as md_ws
import tests.support.sim as sim_support
from bot_runtime.marketdata.store import BookStore
from bot_runtime.marketdata.tape import iter_tape, replay
from bot_runtime.venue.polymarket.frames import parse_book
from bot_runtime.venue.polymarket.gamma import GammaClient, MarketFilter, load_markets_file
from bot_runtime.venue.polymarket.ws import MarketDataHooks, MarketWsClient, WsSettings, fetch_books
from botfleet_tools.record import record
from botfleet_tools.sim import SimExchange

wait_for = md_ws.wait_for

# busy books: most markets move every step
BUSY = {"move_prob": 0.9, "size_noise_prob": 0.9, "jump_prob": 0.02, "whales": 0}


class CountingHooks(MarketDataHooks):
    def __init__(self) -> None:
        self.connects = 0
        self.disconnects: list[str] = []
        self.reconnects = 0
        self.frames = 0
        self.bytes = 0
        self.frame_errors = 0
        self.resyncs: list[tuple[int, str]] = []

    def on_connect(self, shard_id: int) -> None:
        self.connects += 1

    def on_disconnect(self, shard_id: int, reason: str) -> None:
        self.disconnects.append(reason)

    def on_reconnect(self, shard_id: int) -> None:
        self.reconnects += 1

    def on_frame(self, n_bytes: int) -> None:
        self.frames += 1
        self.bytes += n_bytes

    def on_frame_error(self, error: Exception) -> None:
        self.frame_errors += 1

    def on_resync(self, asset_ids: list[str], source: str) -> None:
        self.resyncs.append((len(asset_ids), source))


def _fast(url: str, **kw: Any) -> WsSettings:
    return WsSettings(url=url, backoff_min_s=0.05, backoff_max_s=0.5, **kw)


def _tokens(sim: SimExchange) -> list[str]:
    return [t for m in sim.markets for t in m.tokens]


async def _rest_levels(sim: SimExchange, tokens: list[str]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        items = await fetch_books(http, sim.url, tokens)
    out = {}
    for d in items:
        ev = parse_book(d)
        out[ev.asset_id] = (sorted(ev.bids, reverse=True), sorted(ev.asks))
    return out


async def _assert_books_match_rest(sim: SimExchange, store: BookStore, tokens: list[str]) -> None:
    """Our incrementally maintained books equal fresh REST snapshots, level for level."""
    want = await _rest_levels(sim, tokens)
    assert set(want) == set(tokens)

    def same() -> bool:
        return all(store.books[t].levels() == want[t] for t in tokens)

    try:
        await wait_for(same, 15.0, "books to equal the REST snapshots")
    except AssertionError:
        bad = [t for t in tokens if store.books[t].levels() != want[t]]
        t = bad[0]
        raise AssertionError(f"{len(bad)} books differ; e.g. {t}: ours={store.books[t].levels()} rest={want[t]}") from None


@pytest_asyncio.fixture
async def busy_sim() -> AsyncIterator[SimExchange]:
    s = await sim_support.start_sim(seed=3, scenario="demo", speed=0, scenario_params=BUSY)
    try:
        yield s
    finally:
        await s.stop()


async def test_gamma_discovery(busy_sim: SimExchange) -> None:
    sim = busy_sim
    async with GammaClient(sim.url + "/gamma", page_size=3) as g:  # small pages: pagination is exercised
        markets = await g.markets()
        assert {m.condition_id for m in markets} == {m.condition_id for m in sim.markets}
        by_cid = {m.condition_id: m for m in markets}
        for spec in sim.markets:
            info = by_cid[spec.condition_id]
            assert (info.yes_token_id, info.no_token_id) == (spec.yes_token, spec.no_token)
            assert info.neg_risk == spec.neg_risk
            assert info.tick_size_e6 == spec.tick
        one = sim.markets[0]
        picked = await g.markets(MarketFilter(condition_ids=[one.condition_id], slugs=[sim.markets[1].slug]))
        assert [m.condition_id for m in picked] == [one.condition_id, sim.markets[1].condition_id]
        ev_markets = await g.event_markets()
        groups = {m.neg_risk_market_id for m in ev_markets if m.neg_risk}
        assert len(groups) >= 1 and all(m.neg_risk_market_id for m in ev_markets if m.neg_risk)
        rate = await g.fee_rate(sim.url, one.yes_token)
        assert rate == pytest.approx(one.fee_rate)


async def test_books_stay_exact_through_thousands_of_price_changes(busy_sim: SimExchange) -> None:
    sim = busy_sim
    tokens = _tokens(sim)
    store = BookStore()
    hooks = CountingHooks()
    async with MarketWsClient(store, _fast(sim.ws_url + "/market"), hooks) as client:
        await client.start(tokens)
        assert await client.wait_synced(timeout=10)
        steps = 0
        while store.stats.level_updates < 3000:
            await sim.step()
            steps += 1
            if steps % 100 == 0:  # check along the way too, not only at the end
                await _assert_books_match_rest(sim, store, tokens)
        await _assert_books_match_rest(sim, store, tokens)
    assert store.stats.level_updates >= 3000
    assert store.stats.desyncs == 0  # our best bid/ask always agreed with the exchange's
    assert hooks.frame_errors == 0 and store.stats.bad_frames == 0


async def test_reconnect_resubscribe_and_rebuild_after_drops(busy_sim: SimExchange) -> None:
    sim = busy_sim
    tokens = _tokens(sim)
    store = BookStore()
    hooks = CountingHooks()
    async with MarketWsClient(store, _fast(sim.ws_url + "/market"), hooks) as client:
        await client.start(tokens)
        assert await client.wait_synced(timeout=10)
        for drop in range(3):
            sim.faults.drop_connections()
            await wait_for(lambda n=drop: len(hooks.disconnects) > n, 5, "the disconnect")
            # books are not trusted from the drop until their next snapshot
            await wait_for(lambda n=drop: client.reconnects > n, 10, "the reconnect")
            assert await client.wait_synced(timeout=10)
            for _ in range(30):
                await sim.step()
            await _assert_books_match_rest(sim, store, tokens)
    assert client.reconnects >= 3 and hooks.reconnects == client.reconnects
    # a stopped client starts again with its subscriptions
    await client.start()
    try:
        assert await client.wait_synced(timeout=10)
        await _assert_books_match_rest(sim, store, tokens)
    finally:
        await client.stop()
    # every (re)connection subscribed again: one snapshot per token per connection
    assert store.stats.snapshots >= 4 * len(tokens)


async def test_drop_marks_books_not_fresh() -> None:
    book_frame = json.dumps({"event_type": "book", "asset_id": "1", "market": "0xm", "bids": [{"price": ".4", "size": "5"}],
                             "asks": [{"price": ".6", "size": "5"}], "timestamp": "1757908890000", "hash": "x"})
    async with md_ws.ReplayMarketServer(lambda assets: [book_frame] if "1" in assets else []) as srv:
        store = BookStore()
        # a long backoff keeps the books down long enough to look at them
        settings = WsSettings(url=srv.url, backoff_min_s=1.0, backoff_max_s=1.0)
        async with MarketWsClient(store, settings) as client:
            await client.start(["1"])
            assert await client.wait_synced(timeout=5)
            assert store.is_fresh("1", store.books["1"].received_ms, 1_000)
            await srv.drop_all()
            await wait_for(lambda: not store.books["1"].synced, 5, "the book to be marked unsynced")
            now = store.books["1"].received_ms
            assert not store.is_fresh("1", now, 1_000)
            assert await client.wait_synced(timeout=5)  # the snapshot after resubscribing
            assert srv.received[-1] == {"assets_ids": ["1"], "type": "market", "custom_feature_enabled": True}


async def test_silent_peer_is_dropped_after_pong_timeout() -> None:
    book = '{"event_type":"book","asset_id":"7","market":"0xm","bids":[],"asks":[],"timestamp":"1757908890000"}'
    async with md_ws.ReplayMarketServer(lambda assets: [book]) as srv:
        srv.answer_ping = False
        store = BookStore()
        hooks = CountingHooks()
        settings = WsSettings(url=srv.url, ping_interval_s=0.1, pong_timeout_s=0.35, backoff_min_s=0.05,
                              backoff_max_s=0.1)
        async with MarketWsClient(store, settings, hooks) as client:
            await client.start(["7"])
            await wait_for(lambda: client.reconnects >= 1, 10, "a reconnect after missing PONGs")
            assert srv.pings >= 2  # text PINGs were sent
            assert srv.connections >= 2
            srv.answer_ping = True
            assert await client.wait_synced(timeout=5)
            before = client.reconnects
            await asyncio.sleep(0.8)  # several ping intervals with PONGs: the link stays up
            assert client.reconnects == before


@pytest.mark.slow
async def test_sharding_over_500_assets_and_dynamic_subscriptions() -> None:
    sim = await sim_support.start_sim(
        seed=5, scenario="demo", speed=0, scenario_params={**BUSY, "binary_markets": 250, "depth": 2}
    )
    try:
        tokens = _tokens(sim)
        assert len(tokens) > 500
        store = BookStore()
        hooks = CountingHooks()
        async with MarketWsClient(store, _fast(sim.ws_url + "/market"), hooks) as client:
            await client.start(tokens)
            assert client.shard_count == 2
            assert all(len(s) <= 500 for s in client.shard_assets())
            assert set().union(*client.shard_assets()) == set(tokens)
            assert await client.wait_synced(timeout=20)
            await wait_for(lambda: hooks.connects == 2, 5, "both connections")
            for _ in range(5):
                await sim.step()
            await _assert_books_match_rest(sim, store, tokens)

            # dynamic: drop 10 assets, they stop updating and are not fresh
            gone = tokens[:10]
            await client.unsubscribe(gone, drop_books=False)
            assert not any(store.books[t].synced for t in gone)
            # the exchange handles the `operation` message asynchronously: wait until it has
            await wait_for(
                lambda: not any(set(gone) & c.assets for c in sim.market_hub.conns), 5, "the unsubscription"
            )
            frozen = {t: store.books[t].levels() for t in gone}
            for _ in range(10):
                await sim.step()
            keep = tokens[10:]
            await _assert_books_match_rest(sim, store, keep)
            assert {t: store.books[t].levels() for t in gone} == frozen

            # ... and come back on the shard with free room, via an `operation` message
            await client.subscribe(gone)
            assert client.shard_count == 2
            assert await client.wait_synced(gone, timeout=10)
            await _assert_books_match_rest(sim, store, tokens)

            # unsubscribing drops the books by default: nothing stale is left behind
            await client.unsubscribe(gone)
            for _ in range(3):
                await sim.step()
            assert not set(gone) & set(store.books)
            await _assert_books_match_rest(sim, store, keep)
            assert client.all_synced()
    finally:
        await sim.stop()


async def test_desync_is_repaired_from_rest(busy_sim: SimExchange) -> None:
    sim = busy_sim
    tokens = _tokens(sim)
    store = BookStore()
    hooks = CountingHooks()
    settings = _fast(sim.ws_url + "/market", rest_url=sim.url)
    async with MarketWsClient(store, settings, hooks) as client:
        await client.start(tokens)
        assert await client.wait_synced(timeout=10)
        # corrupt every book locally: a bid the exchange does not have, above the real best
        for t in tokens:
            store.books[t].apply_level("BUY", 990_000, 1_000_000)
        while store.stats.desyncs == 0:
            await sim.step()
        await wait_for(lambda: any(src == "rest" for _, src in hooks.resyncs), 15, "a REST rebuild")
        for _ in range(200):  # every book gets a price change sooner or later
            await sim.step()
            if all(store.books[t].best_bid() != (990_000, 1_000_000) for t in tokens):
                break
        await wait_for(lambda: client.all_synced(), 15, "the rebuilt books")
        await _assert_books_match_rest(sim, store, tokens)


async def test_record_then_replay(busy_sim: SimExchange, tmp_path: Path) -> None:
    sim = busy_sim
    tape, markets_file = tmp_path / "tape.jsonl", tmp_path / "markets.json"
    stop = asyncio.Event()
    live = BookStore()

    async def drive() -> None:
        await wait_for(lambda: len(live.books) == len(_tokens(sim)) and all(b.synced for b in live.books.values()),
                       15, "the recorder's subscription")
        for _ in range(40):
            await sim.step()
            await asyncio.sleep(0.01)
        # everything sent has been received (and so taped) once the live books equal the exchange's
        await _assert_books_match_rest(sim, live, _tokens(sim))
        stop.set()

    driver = asyncio.create_task(drive())
    summary = await record(tape, markets_out=markets_file, ws_url=sim.ws_url + "/market",
                           gamma_url=sim.url + "/gamma", duration_s=60, stop=stop, store=live)
    await driver
    assert summary.frames > 40 and summary.markets == len(sim.markets)
    infos = load_markets_file(markets_file)
    assert {m.condition_id for m in infos} == {m.condition_id for m in sim.markets}
    frames = list(iter_tape(tape))
    assert len(frames) == summary.frames and all(f.recv_ms for f in frames)

    def run() -> Any:
        s = BookStore()
        s.add_markets(infos)
        steps = [(st.ts_ms, sorted(st.touched)) for st in replay(tape, s)]
        return steps, {a: b.levels() for a, b in s.books.items()}, s.stats.desyncs

    first, second = run(), run()
    assert first == second  # deterministic
    assert first[2] == 0
    # the replayed books are the exchange's books at the end of the recording
    want = await _rest_levels(sim, _tokens(sim))
    assert first[1] == want


async def test_record_command_as_a_process(busy_sim: SimExchange, tmp_path: Path) -> None:
    """`record` as the CLI runs it: a separate process, real sockets, exit 0, JSON summary."""

    sim = busy_sim
    tape, markets_file = tmp_path / "t.jsonl", tmp_path / "m.json"
    one = sim.markets[0]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botfleet_tools.record", "--out", str(tape), "--markets-out", str(markets_file),
        "--ws-url", sim.ws_url + "/market", "--gamma-url", sim.url + "/gamma", "--duration", "2",
        "--market", one.condition_id, "--market", sim.markets[1].slug,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    async def drive() -> None:
        while proc.returncode is None:
            await sim.step()
            await asyncio.sleep(0.02)

    driver = asyncio.create_task(drive())
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    await driver
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["markets"] == 2 and summary["assets"] == 4 and summary["frames"] > 0
    assert {m.condition_id for m in load_markets_file(markets_file)} == {one.condition_id, sim.markets[1].condition_id}
    wire_assets = {t for m in sim.markets[:2] for t in m.tokens}
    for fr in iter_tape(tape):  # every line is one frame, as sent, for the recorded assets only
        body = json.loads(fr.raw)
        for ev in body if isinstance(body, list) else [body]:
            ids = {c["asset_id"] for c in ev.get("price_changes", [])} | ({ev["asset_id"]} if "asset_id" in ev else set())
            assert ids <= wire_assets


async def test_record_command_names_the_problem_when_nothing_matches(busy_sim: SimExchange, tmp_path: Path) -> None:

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botfleet_tools.record", "--out", str(tmp_path / "t.jsonl"),
        "--gamma-url", busy_sim.url + "/gamma", "--ws-url", busy_sim.ws_url + "/market", "--market", "no-such-slug",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert "no tradable market matched" in err.decode() and "--market" in err.decode()


async def test_stale_feed_shows_in_feed_age_not_in_book_age(busy_sim: SimExchange) -> None:
    """The exchange answers PING but sends no data: books stay 'current' by PONG, the feed ages."""
    sim = busy_sim
    tokens = _tokens(sim)
    store = BookStore()
    clock = [1_800_000_000_000]  # a test clock: ages are exact, whatever the machine's load
    settings = _fast(sim.ws_url + "/market", ping_interval_s=0.05, pong_timeout_s=30, resync_after_silence_s=0.3)
    async with MarketWsClient(store, settings, clock_ms=lambda: clock[0]) as client:
        await client.start(tokens)
        assert await client.wait_synced(timeout=10)
        await sim.step()
        await _assert_books_match_rest(sim, store, tokens)
        sim.faults.set_stale_feed()
        for _ in range(20):
            await sim.step()
        clock[0] += 10_000
        before = store.last_frame_ms
        await wait_for(lambda: store.last_frame_ms > before, 10, "a PONG at the new time")
        assert store.data_age_ms(clock[0]) == 0  # PONGs keep the books current...
        assert store.feed_age_ms(clock[0]) == 10_000  # ...but no data came for 10 s
        await asyncio.sleep(0.4)  # longer than resync_after_silence_s
        assert any(store.books[t].levels() != lv for t, lv in (await _rest_levels(sim, tokens)).items())
        sim.faults.clear()
        # updates lost while the feed stalled are repaired when data resumes
        while store.feed_age_ms(clock[0]) != 0:
            await sim.step()
            await asyncio.sleep(0.01)
        await _assert_books_match_rest(sim, store, tokens)
