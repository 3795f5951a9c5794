"""A running live bot picks up rotated API credentials from its Secret volume without a restart.

Live mode against the simulator (its chain id in the endpoints): only a live bot uses the wallet
and the credentials Secret; a paper bot derives its own from its paper key."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bot_runtime.app import BotApp
from bot_runtime.contract.config import SIM_CHAIN_ID, BotConfig, Endpoints
from bot_runtime.credentials import CredentialsReader
from bot_runtime.venue.polymarket.clob import ExchangeError
from bot_runtime.venue.polymarket.signing import OrderSigner

PRIVATE_KEY = "0x" + "5c" * 32  # test-only


def write_secret(folder: Path, data: dict[str, str], stamp: str) -> None:
    """The kubelet's atomic update: new timestamped dir, then swap `..data`."""
    target = folder / f"..{stamp}"
    target.mkdir(parents=True)
    for k, v in data.items():
        (target / k).write_text(v + "\n")
    tmp = folder / "..data_tmp"
    tmp.symlink_to(target.name)
    os.replace(tmp, folder / "..data")
    for k in data:
        if not (folder / k).is_symlink():
            (folder / k).symlink_to(f"..data/{k}")


def creds_dict(c) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"CLOB_API_KEY": c.api_key, "CLOB_SECRET": c.secret, "CLOB_PASSPHRASE": c.passphrase}


async def test_rotated_api_credentials_are_used_without_restart(start_sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim = await start_sim(seed=3, scenario="static", speed=1.0)
    address = OrderSigner(PRIVATE_KEY, chain_id=SIM_CHAIN_ID).address
    first = sim.create_api_key(address, nonce=0)
    secrets_dir = tmp_path / "secrets"
    write_secret(secrets_dir / "wallet", {"PRIVATE_KEY": PRIVATE_KEY}, "one")
    write_secret(secrets_dir / "credentials", creds_dict(first), "one")
    config = BotConfig.model_validate({
        "name": "rot", "strategy": "arbhunter", "mode": "live", "endpoints": Endpoints.for_sim(sim.url).model_dump(),
        "journal": {"url": f"sqlite:///{tmp_path / 'journal.sqlite'}"}, "credentialsDir": str(secrets_dir)})
    reader = CredentialsReader(secrets_dir, env={}, poll_interval=0.05)
    app = BotApp(config, reader, sync_timeout_s=5)
    await app.start()
    try:
        exchange = app.execution.executor.exchange
        assert await exchange.open_orders() == []          # authenticated with the first key
        second = sim.create_api_key(address, nonce=1)
        sim.keys.delete(first.api_key)                      # the old key stops working at once
        with pytest.raises(ExchangeError):
            await exchange.open_orders()
        write_secret(secrets_dir / "credentials", creds_dict(second), "two")
        for _ in range(100):                                # the watch polls every 50 ms here
            if reader.get("CLOB_API_KEY") == second.api_key:
                break
            await asyncio.sleep(0.05)
        assert await exchange.open_orders() == []          # the new key, no restart
        assert reader.reloads >= 1
    finally:
        assert await app.stop() is True
        await sim.stop()


class _Secret:
    """The bot's credentials Secret as the rotation command reads it (base64 data)."""

    def __init__(self, creds) -> None:  # type: ignore[no-untyped-def]
        import base64
        self.data = {k: base64.b64encode(v.encode()).decode() for k, v in creds_dict(creds).items()}

    def read(self, namespace: str, name: str) -> dict[str, str]:
        return dict(self.data)

    def patch(self, namespace: str, name: str, data: dict[str, str]) -> None:
        raise AssertionError("revoking a kept key writes no Secret")

    def read_deployment(self, namespace: str, name: str) -> None:
        raise AssertionError("revoking a kept key reads no Deployment")


async def test_a_key_a_rotation_kept_is_revoked_by_its_nonce_never_the_one_in_use(start_sim) -> None:  # type: ignore[no-untyped-def]
    """`rotate-credentials --revoke-nonce N` against the simulator: the wallet derives the kept key
    again from its nonce and revokes it; the key in the bot's Secret is refused."""
    from bot_runtime.rotation import RotationError, revoke_kept

    sim = await start_sim(seed=3, scenario="static", speed=1.0)
    try:
        address = OrderSigner(PRIVATE_KEY, chain_id=SIM_CHAIN_ID).address
        kept = sim.create_api_key(address, nonce=1764000000)      # the key an earlier rotation kept
        current = sim.create_api_key(address, nonce=1765000000)   # the one the bot uses now
        store = _Secret(current)
        args = {"namespace": "ns", "secret": "creds", "clob_url": sim.url, "chain_id": SIM_CHAIN_ID,
                "private_key": PRIVATE_KEY}
        with pytest.raises(RotationError, match="the bot uses it; not revoked"):
            await asyncio.to_thread(revoke_kept, store, nonce=1765000000, **args)
        assert sim.keys.get(current.api_key) is not None
        revoked = await asyncio.to_thread(revoke_kept, store, nonce=1764000000, **args)
        assert revoked == kept.api_key
        assert sim.keys.get(kept.api_key) is None and sim.keys.get(current.api_key) is not None
        with pytest.raises(RotationError, match="no key for nonce 1764000000"):
            await asyncio.to_thread(revoke_kept, store, nonce=1764000000, **args)
    finally:
        await sim.stop()
