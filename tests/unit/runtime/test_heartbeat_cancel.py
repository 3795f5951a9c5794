"""A bot's exchange heartbeat stops when its task is cancelled, even when the cancel arrives as a
beat completes: Python 3.11's asyncio.wait_for returned the beat's result then and lost the
cancellation (CPython gh-86296), so the heartbeat task outlived every cancel (a test waited for it
until its 600 s timeout in CI)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from bot_runtime.app_execution import Execution


async def test_a_cancel_that_arrives_as_a_beat_completes_is_not_lost() -> None:
    loop = asyncio.get_running_loop()
    task: asyncio.Task[None] | None = None

    async def beat() -> None:
        await asyncio.sleep(0)
        assert task is not None
        loop.call_soon(task.cancel)  # lands in the same turn as the beat's completion

    fake = SimpleNamespace(heartbeat_started_at=0.0, heartbeat_ok_at=0.0, heartbeat_failures=0,
                           last_heartbeat_error="", executor=SimpleNamespace(exchange=SimpleNamespace(heartbeat=beat)))

    gave_up = False

    async def loop_of_beats() -> None:  # what the bot's heartbeat task does, without the wait between beats
        while not gave_up:  # (only so that a failing run ends: the bot's loop has no such exit)
            await Execution.exchange_heartbeat(fake)  # type: ignore[arg-type]
            await asyncio.sleep(0)

    task = asyncio.create_task(loop_of_beats())
    done, _ = await asyncio.wait({task}, timeout=2)
    gave_up = True
    assert task in done and task.cancelled(), "the heartbeat loop outlived its cancel"
