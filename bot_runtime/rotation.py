"""`botfleet rotate-credentials`: what the rotation Job runs.

1. create new CLOB API credentials from the wallet (L1-signed, with a fresh nonce),
2. write them to the bot's credentials Secret (with ROTATED_AT) — the Secret change rolls the bot,
3. revoke the previous key (L2-signed with the old credentials) when asked.
The two CLOB requests are the venue's (`venue/polymarket/auth.py`).

It runs in the bot image (the operator only renders the Job). The Job's ServiceAccount may only
get/update/patch that one Secret (a Role with resourceNames).
No credential value is ever printed: errors name the step and the HTTP status only.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import typer
from eth_account import Account

from bot_runtime.contract.config import (
    CLOB_API_KEY,
    CLOB_PASSPHRASE,
    CLOB_SECRET,
    ROTATED_AT,
    WALLET_PRIVATE_KEY,
    load_config,
)
from bot_runtime.telemetry.logs import register_secret
from bot_runtime.venue.polymarket.auth import ApiCreds, ApiKeyError, create_api_key, revoke_api_key

log = logging.getLogger("botfleet.rotation")


class RotationError(RuntimeError):
    pass


class SecretStore(Protocol):
    """The one Secret the Job may touch: read its base64 `data`, merge-patch new keys into it."""

    def read(self, namespace: str, name: str) -> dict[str, str]: ...
    def patch(self, namespace: str, name: str, data: dict[str, str]) -> None: ...


class KubeSecrets:
    """SecretStore over the Kubernetes API (kubeconfig, else in-cluster config)."""

    def __init__(self, kubeconfig: str | None = None) -> None:
        from kubernetes import client, config

        cfg = client.Configuration()
        try:
            config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        except (config.ConfigException, TypeError, FileNotFoundError):
            config.load_incluster_config(client_configuration=cfg)
        self._core = client.CoreV1Api(client.ApiClient(cfg))

    def read(self, namespace: str, name: str) -> dict[str, str]:
        secret: Any = self._core.read_namespaced_secret(name, namespace, _request_timeout=30)
        return dict(secret.data or {})

    def patch(self, namespace: str, name: str, data: dict[str, str]) -> None:
        self._core.patch_namespaced_secret(name, namespace, {"data": data}, _request_timeout=30)


def _decode(data: dict[str, str], key: str) -> str | None:
    value = data.get(key)
    return base64.b64decode(value).decode() if value else None


def read_old(kube: SecretStore, namespace: str, secret: str) -> ApiCreds | None:
    try:
        data = kube.read(namespace, secret)
    except Exception as exc:
        raise RotationError(f"cannot read Secret {namespace}/{secret}: {type(exc).__name__}") from None
    key, sec, phrase = (_decode(data, k) for k in (CLOB_API_KEY, CLOB_SECRET, CLOB_PASSPHRASE))
    return ApiCreds(key, sec, phrase) if key and sec and phrase else None


def write_new(kube: SecretStore, namespace: str, secret: str, creds: ApiCreds, now: datetime) -> None:
    enc = {k: base64.b64encode(v.encode()).decode() for k, v in (
        (CLOB_API_KEY, creds.api_key), (CLOB_SECRET, creds.secret), (CLOB_PASSPHRASE, creds.passphrase),
        (ROTATED_AT, now.strftime("%Y-%m-%dT%H:%M:%SZ")))}
    try:
        kube.patch(namespace, secret, enc)
    except Exception as exc:
        raise RotationError(f"cannot update Secret {namespace}/{secret}: {type(exc).__name__}") from None


def rotate(kube: SecretStore, *, namespace: str, secret: str, clob_url: str, chain_id: int, private_key: str,
           revoke_old: bool, now: datetime | None = None) -> str:
    """Run the three steps; returns the new API key id (not secret on its own)."""
    now = now or datetime.now(UTC)
    register_secret(private_key)
    old = read_old(kube, namespace, secret)
    for value in (old.secret, old.passphrase) if old else ():
        register_secret(value)
    try:
        new = create_api_key(clob_url, private_key, chain_id, nonce=int(now.timestamp()))
    except ApiKeyError as exc:
        raise RotationError(str(exc)) from None
    for value in (new.secret, new.passphrase):
        register_secret(value)
    write_new(kube, namespace, secret, new, now)
    if revoke_old and old is not None and old.api_key != new.api_key:
        try:
            revoke_api_key(clob_url, Account.from_key(private_key).address, old)
        except ApiKeyError as exc:
            raise RotationError(str(exc)) from None
    return new.api_key


def _private_key(wallet_dir: str) -> str:
    path = Path(wallet_dir) / WALLET_PRIVATE_KEY
    if path.is_file():
        return path.read_text().strip()
    if os.environ.get(WALLET_PRIVATE_KEY):
        return os.environ[WALLET_PRIVATE_KEY].strip()
    raise RotationError(f"no {WALLET_PRIVATE_KEY} in {wallet_dir} nor in the environment")


def rotate_command(
    secret: str = typer.Option(..., "--secret", help="Credentials Secret to write the new keys to."),
    namespace: str = typer.Option(..., "--namespace", help="Namespace of the Secret."),
    config: str = typer.Option(None, "--config", help="Bot config.json (endpoints); default $BOTFLEET_CONFIG."),
    wallet_dir: str = typer.Option("/var/run/secrets/botfleet/wallet", "--wallet-dir",
                                   help="Directory with the wallet Secret's files."),
    revoke_old: bool = typer.Option(False, "--revoke-old", help="Revoke the previous API key afterwards."),
    kubeconfig: str = typer.Option(None, "--kubeconfig", help="Default: in-cluster or $KUBECONFIG."),
) -> None:
    """Rotate a bot's CLOB API credentials (the rotation Job). Logging: the bot's redacting JSON
    logger, set up by the root command for every bot command (bot_runtime/cli.py)."""
    try:
        cfg = load_config(config)
        kube = KubeSecrets(kubeconfig)
        key_id = rotate(kube, namespace=namespace, secret=secret, clob_url=cfg.endpoints.clobUrl,
                        chain_id=cfg.endpoints.chainId, private_key=_private_key(wallet_dir), revoke_old=revoke_old)
    except Exception as exc:  # RotationError, ValueError, a kubeconfig error: one JSON line, no secret
        if not isinstance(exc, (RotationError, ValueError)):
            exc = RotationError(f"kubernetes client: {type(exc).__name__}")
        typer.echo(json.dumps({"event": "rotation_failed", "error": str(exc)}), err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps({"event": "rotated", "secret": f"{namespace}/{secret}", "apiKey": key_id[:8] + "..."}))
