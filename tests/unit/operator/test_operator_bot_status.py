"""The operator reads each running bot pod's /status: a tripped kill switch makes the TradingBot
Ready=False/Degraded=True with reason KillSwitchTripped, and a reset clears it (issue 12 item 9).

A real HTTP server on loopback plays the bot pod; the Kubernetes writes go to a recording fake."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from botfleet_operator.conditions import condition
from botfleet_operator.metrics import REGISTRY
from botfleet_operator.resources import Settings
from botfleet_operator.runner import Controller
from tests.unit.operator.tb_fixtures import bot


class RecordingKube:
    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        return obj

    def patch_status(self, namespace: str, name: str, status: dict[str, Any],
                     resource_version: str | None = None) -> dict[str, Any]:
        self.statuses.append(status)
        return {}

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return None

    get_metadata = get

    def event(self, bot: dict[str, Any], type_: str, reason: str, message: str) -> None:
        pass

    def delete(self, kind: str, namespace: str, name: str, uid: str | None = None) -> None:
        pass

    def secret_exists(self, namespace: str, name: str) -> bool:
        return False


def running_pod(ip: str) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": "a-7f9c", "namespace": "ns", "labels": {
        "botfleet.io/bot": "a", "app.kubernetes.io/component": "bot", "app.kubernetes.io/managed-by": "botfleet"}},
        "status": {"phase": "Running", "podIP": ip}}


async def wait_for(kube: RecordingKube, ready_reason: str) -> dict[str, Any]:
    for _ in range(1000):
        if kube.statuses:
            c = condition(kube.statuses[-1], "Ready")
            if c and c["reason"] == ready_reason:
                return kube.statuses[-1]
        await asyncio.sleep(0.01)
    raise AssertionError(f"no status with Ready reason {ready_reason}: {kube.statuses[-1:]}")


async def test_kill_switch_from_the_bots_status_endpoint() -> None:
    state: dict[str, Any] = {"tripped": True}

    async def status(_: web.Request) -> web.Response:
        return web.json_response({"name": "a", "paused": False, "accepting": True,
                                  "killSwitch": {"tripped": state["tripped"],
                                                 "reason": "daily loss 50.5 >= 50" if state["tripped"] else None}})

    app = web.Application()
    app.router.add_get("/status", status)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    kube = RecordingKube()
    ctl = Controller(kube, Settings(image="img"), workers=2, resync_seconds=3600, bot_status_seconds=0.05)
    ctl.bot_status_port = port
    ctl.cache.put_bot(bot("a"))
    ctl.cache.put_owned(running_pod("127.0.0.1"), deleted=False)
    await ctl.start()
    try:
        ctl.enqueue(("ns", "a"))
        def reads() -> float:
            return REGISTRY.get_sample_value("botfleet_operator_bot_status_reads_total", {"result": "ok"}) or 0.0
        before = reads()
        st = await wait_for(kube, "KillSwitchTripped")
        assert reads() > before
        assert condition(st, "Ready")["status"] == "False"  # type: ignore[index]
        assert "daily loss 50.5 >= 50" in condition(st, "Ready")["message"]  # type: ignore[index]
        assert condition(st, "Degraded")["reason"] == "KillSwitchTripped"  # type: ignore[index]
        state["tripped"] = False  # `botfleet kill-switch reset` in the pod
        st = await wait_for(kube, "RollingOut")  # the fake has no available Deployment
        assert condition(st, "Degraded")["status"] == "False"  # type: ignore[index]
    finally:
        await ctl.stop()
        await runner.cleanup()


def test_status_reads_are_on_in_a_cluster_and_off_outside_by_default() -> None:
    from botfleet_operator.cli import default_bot_status_seconds

    assert default_bot_status_seconds({"KUBERNETES_SERVICE_HOST": "10.96.0.1"}) == 30.0
    assert default_bot_status_seconds({}) == 0.0
