"""`botfleet sim`: run the simulated exchange in the foreground until Ctrl-C / SIGTERM.

Mounted as `botfleet sim` by the entry point `sim` of the `botfleet.commands` group (pyproject.toml).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import tempfile
from pathlib import Path

import typer

from bot_runtime.contract.config import SIM_CHAIN_ID

from .config import MIN_ADMIN_TOKEN, SimConfig
from .exchange import SimExchange
from .scenarios import PRESETS

ADMIN_TOKEN_ENV = "BOTFLEET_SIM_ADMIN_TOKEN"


def write_token_file(path: Path | None, token: str) -> tuple[Path, bool]:
    """Write the admin token readable by its owner only; a fresh temp file when no path is given.
    Returns the path and whether it is ours to delete at exit."""
    if path is None:
        fd, name = tempfile.mkstemp(prefix="botfleet-sim-admin-", suffix=".token")  # mode 0600
        with os.fdopen(fd, "w") as fh:
            fh.write(token)
        return Path(name), True
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT: narrow it
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    return path, False


async def run_sim(host: str = "127.0.0.1", port: int = 8765, scenario: str = "demo", seed: int = 1,
                  speed: float = 1.0, stop: asyncio.Event | None = None, *, admin_host: str = "127.0.0.1",
                  admin_port: int = 0, admin_token_file: Path | None = None, **config: object) -> SimExchange:
    """Serve until `stop` is set (or SIGINT/SIGTERM when no event is given); returns the stopped sim.

    A token given in `config["admin_token"]` is not written anywhere; a generated one goes to
    `admin_token_file` (or a private temp file, removed at exit) whose path the READY line prints."""
    sim = SimExchange(SimConfig(seed=seed, scenario=scenario, speed=speed, **config))  # type: ignore[arg-type]
    given = bool(config.get("admin_token"))  # "" = generate one
    token_file, ours = (None, False) if given else write_token_file(admin_token_file, sim.admin_token)
    try:
        await sim.start(host=host, port=port, admin_host=admin_host, admin_port=admin_port)
        done = stop or asyncio.Event()
        if stop is None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, done.set)
        # The token itself is never printed: the file holds a generated one, the caller knows its own.
        print(json.dumps({"event": "SIM READY", "url": sim.url, "ws": sim.ws_url, "gamma": sim.url + "/gamma",
                          "data_api": sim.url + "/data-api", "admin_url": sim.admin_url,
                          "admin_token_file": str(token_file) if token_file else None,
                          "admin_token": f"from {ADMIN_TOKEN_ENV}" if given else "generated",
                          "chain_id": sim.config.chain_id,
                          "scenario": scenario, "seed": seed, "markets": len(sim.markets)}), flush=True)
        try:
            await done.wait()
        finally:
            await sim.stop()
    finally:
        if ours and token_file is not None:
            token_file.unlink(missing_ok=True)
    return sim


def sim_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8765, "--port", help="TCP port (0 = any free port)."),
    admin_host: str = typer.Option("127.0.0.1", "--admin-host",
                                   help="Interface of the token-protected /_sim/* admin listener."),
    admin_port: int = typer.Option(0, "--admin-port", help="Admin TCP port (0 = any free port, printed at start)."),
    admin_token_file: Path = typer.Option(
        None, "--admin-token-file",
        help=f"Write the generated admin bearer token here (mode 0600; default: a temp file, path printed). "
             f"To choose the token, set {ADMIN_TOKEN_ENV} instead."),
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
    """Run the simulated Polymarket exchange."""  # CLOB REST, websockets, Gamma, Data API on one port; admin on another
    if scenario not in PRESETS:
        raise typer.BadParameter(f"unknown scenario {scenario!r}: choose one of {', '.join(sorted(PRESETS))}",
                                 param_hint="--scenario")
    token = os.environ.get(ADMIN_TOKEN_ENV, "").strip()
    if token and admin_token_file is not None:
        raise typer.BadParameter(f"{ADMIN_TOKEN_ENV} is set: the token is yours, there is none to write; "
                                 "drop --admin-token-file or unset the variable", param_hint="--admin-token-file")
    if token and len(token) < MIN_ADMIN_TOKEN:
        raise typer.BadParameter(f"{ADMIN_TOKEN_ENV} must be at least {MIN_ADMIN_TOKEN} characters "
                                 "(e.g. `openssl rand -base64 32`)", param_hint=ADMIN_TOKEN_ENV)
    logging.basicConfig(level=log_level.upper(), format="%(message)s")
    asyncio.run(run_sim(host, port, scenario, seed, speed, admin_host=admin_host, admin_port=admin_port,
                        admin_token_file=admin_token_file, default_usdc=default_usdc, admin_token=token,
                        chain_id=chain_id))


app = typer.Typer(add_completion=False)
app.command(name="sim")(sim_command)
