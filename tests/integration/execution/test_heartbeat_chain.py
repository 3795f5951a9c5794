"""The dead-man switch's heartbeats form a chain of ids; a lost chain is restarted, not fatal."""

from __future__ import annotations

from bot_runtime.venue.polymarket.clob_http import ClobHttpExchange
from bot_runtime.venue.polymarket.ratelimit import Backoff
from tests.support.sim import TEST_ADDRESS


async def test_heartbeats_send_back_the_id_the_exchange_gave(static_sim, sim_creds) -> None:  # type: ignore[no-untyped-def]
    ex = ClobHttpExchange(static_sim.url, TEST_ADDRESS, lambda: sim_creds, backoff=Backoff(base_s=0.01, cap_s=0.05))
    try:
        await ex.heartbeat()
        account = TEST_ADDRESS.lower()
        first = static_sim.heartbeat_ids[account]
        await ex.heartbeat()  # refused with 400 if it did not send `first`
        second = static_sim.heartbeat_ids[account]
        assert second != first
        assert static_sim.heartbeat_chain[account] == 2

        # The exchange forgets the chain (a lapse, or a restart): the next beat starts a new one.
        static_sim.heartbeat_ids[account] = "some-other-id"
        await ex.heartbeat()
        assert static_sim.heartbeat_ids[account] not in ("some-other-id", second)
        assert static_sim.heartbeat_chain[account] == 1
        await ex.heartbeat()
        assert static_sim.heartbeat_chain[account] == 2
    finally:
        await ex.close()
