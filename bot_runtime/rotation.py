"""`botfleet rotate-credentials`: what the rotation Job runs.

1. note the bot's Deployment's Secrets-hash pod-template annotation (when the old key is to be revoked),
2. create new CLOB API credentials from the wallet (L1-signed, with a fresh nonce),
3. write them to the bot's credentials Secret (with ROTATED_AT): the operator rolls the bot,
4. when asked to revoke the previous key: wait (bounded, `--rollout-timeout`) until the Deployment
   has rolled onto the new Secret - template annotation changed, rollout complete, no old pod left -
   and only then revoke the old key (L2-signed with the old credentials). Until then the old pod
   trades, and on SIGTERM cancels its open orders, with the old key: revoking it earlier made those
   requests fail and could leave orders on the book. On timeout the old key is kept (both keys are
   valid, which is safe) and the command fails with one JSON line saying so.
The two CLOB requests are the venue's (`venue/polymarket/auth.py`).

It runs in the bot image (the operator only renders the Job). The Job's ServiceAccount may only
get/update/patch that one Secret and get that one Deployment (a Role with resourceNames).
No credential value is ever printed: errors name the step and the HTTP status only.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Callable
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
    SECRETS_HASH_ANNOTATION,
    WALLET_PRIVATE_KEY,
    load_config,
)
from bot_runtime.telemetry.logs import register_secret
from bot_runtime.venue.polymarket.auth import (
    ApiCreds,
    ApiKeyError,
    create_api_key,
    derive_api_key,
    revoke_api_key,
)

log = logging.getLogger("botfleet.rotation")

DEFAULT_ROLLOUT_TIMEOUT_S = 600
POLL_INTERVAL_S = 2.0


class RotationError(RuntimeError):
    pass


class OldKeyKept(RotationError):
    """The new key is stored but the bot did not roll onto it in time: the old key was not revoked."""

    def __init__(self, message: str, new_key: str, old_key: str, old_rotated_at: str | None) -> None:
        super().__init__(message)
        self.new_key, self.old_key, self.old_rotated_at = new_key, old_key, old_rotated_at


class SecretStore(Protocol):
    """What the Job may touch: the one Secret (read its base64 `data`, merge-patch new keys into it)
    and the bot's one Deployment (read only)."""

    def read(self, namespace: str, name: str) -> dict[str, str]: ...
    def patch(self, namespace: str, name: str, data: dict[str, str]) -> None: ...
    def read_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Deployment as a dict (API field names), None when it does not exist."""
        ...


class KubeSecrets:
    """SecretStore over the Kubernetes API (kubeconfig, else in-cluster config)."""

    def __init__(self, kubeconfig: str | None = None) -> None:
        from kubernetes import client, config

        cfg = client.Configuration()
        try:
            config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        except (config.ConfigException, TypeError, FileNotFoundError):
            config.load_incluster_config(client_configuration=cfg)
        api_client = client.ApiClient(cfg)
        self._core = client.CoreV1Api(api_client)
        self._apps = client.AppsV1Api(api_client)

    def read(self, namespace: str, name: str) -> dict[str, str]:
        secret: Any = self._core.read_namespaced_secret(name, namespace, _request_timeout=30)
        return dict(secret.data or {})

    def patch(self, namespace: str, name: str, data: dict[str, str]) -> None:
        self._core.patch_namespaced_secret(name, namespace, {"data": data}, _request_timeout=30)

    def read_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:  # raw JSON: the API's field names, as `rollout_state` reads them
            resp: Any = self._apps.read_namespaced_deployment(name, namespace, _request_timeout=30,
                                                             _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        loaded: dict[str, Any] = json.loads(resp.data)
        return loaded


def _decode(data: dict[str, str], key: str) -> str | None:
    value = data.get(key)
    return base64.b64decode(value).decode() if value else None


def read_old(kube: SecretStore, namespace: str, secret: str) -> tuple[ApiCreds | None, str | None]:
    """The Secret's current credentials, if complete, and its ROTATED_AT (a botfleet-made key's
    nonce is that time: how to find the key again should it have to be revoked by hand)."""
    try:
        data = kube.read(namespace, secret)
    except Exception as exc:
        raise RotationError(f"cannot read Secret {namespace}/{secret}: {type(exc).__name__}") from None
    key, sec, phrase = (_decode(data, k) for k in (CLOB_API_KEY, CLOB_SECRET, CLOB_PASSPHRASE))
    return (ApiCreds(key, sec, phrase) if key and sec and phrase else None), _decode(data, ROTATED_AT)


def write_new(kube: SecretStore, namespace: str, secret: str, creds: ApiCreds, now: datetime) -> None:
    enc = {k: base64.b64encode(v.encode()).decode() for k, v in (
        (CLOB_API_KEY, creds.api_key), (CLOB_SECRET, creds.secret), (CLOB_PASSPHRASE, creds.passphrase),
        (ROTATED_AT, now.strftime("%Y-%m-%dT%H:%M:%SZ")))}
    try:
        kube.patch(namespace, secret, enc)
    except Exception as exc:
        raise RotationError(f"cannot update Secret {namespace}/{secret}: {type(exc).__name__}") from None


def template_hash(deployment: dict[str, Any] | None) -> str | None:
    """The Secrets-hash annotation of a Deployment's pod template (None without one)."""
    template = ((deployment or {}).get("spec") or {}).get("template") or {}
    value = ((template.get("metadata") or {}).get("annotations") or {}).get(SECRETS_HASH_ANNOTATION)
    return str(value) if value is not None else None


def rollout_state(deployment: dict[str, Any] | None, noted_hash: str | None) -> tuple[bool, str]:
    """(rolled, why): has the bot's Deployment rolled onto a Secret written after `noted_hash` was read?

    Rolled = its pod template carries another Secrets hash than the noted one (the operator saw the
    new Secret) AND the Deployment controller finished that rollout: it observed the new
    generation, every replica is updated and available, and no pod of the old template is left
    (the old pod is the one still using the old key). A Deployment scaled to 0 (a paused bot) has
    no pod to wait for once its template changed. The hash is the operator's HMAC, which the Job
    cannot compute, so "another hash" is the test: a template change for another reason within
    the same seconds (a spec edit) would pass it too - that pod still picks the new key up from its
    Secret volume, which the bot re-reads (bot_runtime/credentials.py)."""
    if deployment is None:
        return False, "the Deployment does not exist"
    if template_hash(deployment) == noted_hash:
        return False, ("its pod template still has the Secrets hash from before the new key was written "
                       "(the operator has not rolled the bot yet)")
    meta, spec, status = (deployment.get(k) or {} for k in ("metadata", "spec", "status"))
    generation, observed = int(meta.get("generation") or 0), int(status.get("observedGeneration") or 0)
    if observed < generation:
        return False, f"the Deployment controller has not observed generation {generation} yet (at {observed})"
    desired = int(spec.get("replicas", 1) or 0)
    current = int(status.get("replicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if desired == 0:
        if current:
            return False, f"scaled to 0 but {current} pod(s) still running"
        return True, "scaled to 0 (paused): no pod uses the old key"
    if updated < desired:
        return False, f"{updated}/{desired} pod(s) on the new template"
    if current > updated:
        return False, f"{current - updated} pod(s) of the old template still running"
    if available < desired:
        return False, f"{available}/{desired} new pod(s) available"
    return True, f"{updated}/{desired} pod(s) on the new template and available"


def wait_for_rollout(kube: SecretStore, namespace: str, deployment: str, noted_hash: str | None, timeout: float,
                     *, poll_interval: float = POLL_INTERVAL_S, clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> tuple[bool, str]:
    """Poll the Deployment until `rollout_state` says rolled or `timeout` seconds passed:
    (rolled, the last reason). A failed read is retried until the timeout (the API server may blink)."""
    deadline = clock() + timeout
    said = ""
    while True:
        try:
            rolled, why = rollout_state(kube.read_deployment(namespace, deployment), noted_hash)
        except Exception as exc:  # retried; only the type is reported (no data)
            rolled, why = False, f"cannot read the Deployment: {type(exc).__name__}"
        if why != said:
            log.info("Deployment %s/%s: %s", namespace, deployment, why)
            said = why
        if rolled:
            return True, why
        remaining = deadline - clock()
        if remaining <= 0:
            return False, why
        sleep(min(poll_interval, remaining))


def rotate(kube: SecretStore, *, namespace: str, secret: str, clob_url: str, chain_id: int, private_key: str,
           revoke_old: bool, deployment: str | None = None, rollout_timeout: float = DEFAULT_ROLLOUT_TIMEOUT_S,
           poll_interval: float = POLL_INTERVAL_S, now: datetime | None = None,
           clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> str:
    """Run the steps; returns the new API key id (not secret on its own). Raises `OldKeyKept` when
    the bot did not roll onto the new key within `rollout_timeout` (the new key is stored)."""
    now = now or datetime.now(UTC)
    register_secret(private_key)
    old, old_rotated_at = read_old(kube, namespace, secret)
    for value in (old.secret, old.passphrase) if old else ():
        register_secret(value)
    noted: str | None = None
    if revoke_old and old is not None:
        # Read before anything changes: a missing Deployment or Role rule fails here, with no new key.
        if not deployment:
            raise RotationError("--revoke-old needs --deployment NAME (the bot's Deployment): the old key "
                                "is revoked only once that Deployment rolled onto the new Secret")
        try:
            current = kube.read_deployment(namespace, deployment)
        except Exception as exc:
            raise RotationError(f"cannot read Deployment {namespace}/{deployment}: {type(exc).__name__}; "
                                "nothing was changed") from None
        if current is None:
            raise RotationError(f"Deployment {namespace}/{deployment} not found: --deployment must name the "
                                "bot's Deployment; nothing was changed")
        noted = template_hash(current)
    try:
        new = create_api_key(clob_url, private_key, chain_id, nonce=int(now.timestamp()))
    except ApiKeyError as exc:
        raise RotationError(str(exc)) from None
    for value in (new.secret, new.passphrase):
        register_secret(value)
    write_new(kube, namespace, secret, new, now)
    if revoke_old and old is not None and old.api_key != new.api_key:
        assert deployment is not None  # checked above
        rolled, why = wait_for_rollout(kube, namespace, deployment, noted, rollout_timeout,
                                       poll_interval=poll_interval, clock=clock, sleep=sleep)
        if not rolled:
            raise OldKeyKept(
                f"Deployment {namespace}/{deployment} did not roll onto the new Secret within {rollout_timeout:g}s "
                f"({why}); the old key was kept, not revoked: both keys are valid", new.api_key, old.api_key,
                old_rotated_at)
        try:
            revoke_api_key(clob_url, Account.from_key(private_key).address, old)
        except ApiKeyError as exc:
            raise RotationError(str(exc)) from None
    return new.api_key


def revoke_kept(kube: SecretStore, *, namespace: str, secret: str, clob_url: str, chain_id: int, private_key: str,
                nonce: int) -> str:
    """Revoke a key an earlier rotation kept (`rotation_old_key_kept`): the wallet derives it again
    from its nonce (a botfleet-made key's is its ROTATED_AT as a Unix time; 0 for the wallet's first
    key). Refused when that is the key in the bot's Secret: the bot trades with it."""
    register_secret(private_key)
    current, _ = read_old(kube, namespace, secret)
    try:
        kept = derive_api_key(clob_url, private_key, chain_id, nonce)
    except ApiKeyError as exc:
        raise RotationError(f"{exc} (no key for nonce {nonce}?)") from None
    for value in (kept.secret, kept.passphrase):
        register_secret(value)
    if current is not None and current.api_key == kept.api_key:
        raise RotationError(f"the key of nonce {nonce} ({_key_id(kept.api_key)}) is the one in Secret "
                            f"{namespace}/{secret}: the bot uses it; not revoked")
    try:
        revoke_api_key(clob_url, Account.from_key(private_key).address, kept)
    except ApiKeyError as exc:
        raise RotationError(str(exc)) from None
    return kept.api_key


def _private_key(wallet_dir: str) -> str:
    path = Path(wallet_dir) / WALLET_PRIVATE_KEY
    if path.is_file():
        return path.read_text().strip()
    if os.environ.get(WALLET_PRIVATE_KEY):
        return os.environ[WALLET_PRIVATE_KEY].strip()
    raise RotationError(f"no {WALLET_PRIVATE_KEY} in {wallet_dir} nor in the environment")


def _key_id(api_key: str) -> str:
    return api_key[:8] + "..."


def rotate_command(
    secret: str = typer.Option(..., "--secret", help="Credentials Secret to write the new keys to."),
    namespace: str = typer.Option(..., "--namespace", help="Namespace of the Secret."),
    config: str = typer.Option(None, "--config", help="Bot config.json (endpoints); default $BOTFLEET_CONFIG."),
    wallet_dir: str = typer.Option("/var/run/secrets/botfleet/wallet", "--wallet-dir",
                                   help="Directory with the wallet Secret's files."),
    revoke_old: bool = typer.Option(False, "--revoke-old", help="Revoke the previous API key once the bot rolled "
                                    "onto the new one (needs --deployment)."),
    deployment: str = typer.Option(None, "--deployment", help="The bot's Deployment: the old key is revoked only "
                                   "once it rolled onto the new Secret."),
    rollout_timeout: int = typer.Option(DEFAULT_ROLLOUT_TIMEOUT_S, "--rollout-timeout", min=1,
                                        help="Seconds to wait for that roll; past them the old key is kept "
                                             "and the command fails."),
    revoke_nonce: int = typer.Option(None, "--revoke-nonce", min=0,
                                     help="Rotate nothing: revoke the wallet's key of this nonce, one an earlier "
                                          "rotation kept (its oldKeyRotatedAt as a Unix time; 0: the first key). "
                                          "Refused if it is the key in --secret."),
    kubeconfig: str = typer.Option(None, "--kubeconfig", help="Default: in-cluster or $KUBECONFIG."),
) -> None:
    """Rotate a bot's CLOB API credentials (the rotation Job), or revoke a key an earlier rotation kept."""
    # Logging: the bot's redacting JSON logger, set up by the root command (bot_runtime/cli.py).
    try:
        cfg = load_config(config)
        kube = KubeSecrets(kubeconfig)
        if revoke_nonce is not None:
            revoked = revoke_kept(kube, namespace=namespace, secret=secret, clob_url=cfg.endpoints.clobUrl,
                                  chain_id=cfg.endpoints.chainId, private_key=_private_key(wallet_dir),
                                  nonce=revoke_nonce)
            typer.echo(json.dumps({"event": "revoked", "nonce": revoke_nonce, "apiKey": _key_id(revoked)}))
            return
        key_id = rotate(kube, namespace=namespace, secret=secret, clob_url=cfg.endpoints.clobUrl,
                        chain_id=cfg.endpoints.chainId, private_key=_private_key(wallet_dir), revoke_old=revoke_old,
                        deployment=deployment, rollout_timeout=rollout_timeout)
    except OldKeyKept as exc:
        typer.echo(json.dumps({
            "event": "rotation_old_key_kept", "secret": f"{namespace}/{secret}", "apiKey": _key_id(exc.new_key),
            "oldApiKey": _key_id(exc.old_key), "oldKeyRotatedAt": exc.old_rotated_at, "oldKeyRevoked": False,
            "error": str(exc),
            "action": "the bot uses the new key once rolled; then revoke the old key by hand "
                      "(docs/operations.md#key-rotation) or rotate again"}), err=True)
        raise typer.Exit(1) from None
    except Exception as exc:  # RotationError, ValueError, a kubeconfig error: one JSON line, no secret
        if not isinstance(exc, (RotationError, ValueError)):
            exc = RotationError(f"kubernetes client: {type(exc).__name__}")
        typer.echo(json.dumps({"event": "rotation_failed", "error": str(exc)}), err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps({"event": "rotated", "secret": f"{namespace}/{secret}", "apiKey": _key_id(key_id)}))
