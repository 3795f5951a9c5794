"""`botfleet sim`: run the simulated exchange in the foreground until Ctrl-C / SIGTERM.

Mounted as `botfleet sim` by the entry point `sim` of the `botfleet.commands` group (pyproject.toml).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal

import typer

from bot_runtime.contract.config import SIM_CHAIN_ID

from .config import SimConfig
from .exchange import SimExchange
from .scenarios import PRESETS


async def run_sim(host: str = "127.0.0.1", port: int = 8765, scenario: str = "demo", seed: int = 1,
                  speed: float = 1.0, stop: asyncio.Event | None = None, **config: object) -> SimExchange:
    """Serve until `stop` is set (or SIGINT/SIGTERM when no event is given); returns the stopped sim."""
    sim = SimExchange(SimConfig(seed=seed, scenario=scenario, speed=speed, **config))  # type: ignore[arg-type]
    await sim.start(host=host, port=port)
    done = stop or asyncio.Event()
    if stop is None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, done.set)
    print(json.dumps({"event": "SIM READY", "url": sim.url, "ws": sim.ws_url, "gamma": sim.url + "/gamma",
                      "data_api": sim.url + "/data-api", "scenario": scenario, "seed": seed,
                      "chain_id": sim.config.chain_id,
                      "markets": len(sim.markets)}), flush=True)
    try:
        await done.wait()
    finally:
        await sim.stop()
    return sim


def sim_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8765, "--port", help="TCP port (0 = any free port)."),
    scenario: str = typer.Option("demo", "--scenario", help=f"One of: {', '.join(sorted(PRESETS))}."),
    seed: int = typer.Option(1, "--seed", help="RNG seed: same seed, same markets and same scenario actions."),
    speed: float = typer.Option(1.0, "--speed", help="Scenario speed multiplier (0 = frozen books)."),
    default_usdc: float = typer.Option(10_000.0, "--default-usdc", help="pUSD credited to each new API wallet."),
    chain_id: int = typer.Option(SIM_CHAIN_ID, "--chain-id", min=1,
                                 help="Chain id orders and L1 auth must be signed for. The default is the "
                                      "simulator's own (paper bots sign for it); 137 (Polygon) only for "
                                      "reference clients such as py-clob-client-v2."),
    log_level: str = typer.Option("INFO", "--log-level", help="Python log level."),
) -> None:
    """Run the simulated Polymarket exchange."""  # CLOB REST, websockets, Gamma, Data API on one port
    if scenario not in PRESETS:
        raise typer.BadParameter(f"unknown scenario {scenario!r}: choose one of {', '.join(sorted(PRESETS))}",
                                 param_hint="--scenario")
    logging.basicConfig(level=log_level.upper(), format="%(message)s")
    asyncio.run(run_sim(host, port, scenario, seed, speed, default_usdc=default_usdc, chain_id=chain_id))


app = typer.Typer(add_completion=False)
app.command(name="sim")(sim_command)
