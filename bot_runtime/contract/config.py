"""The runtime configuration: what the operator renders into the bot's ConfigMap (`config.json`)
and the runtime loads. Credentials are never part of it: they come from files mounted from Secrets
(`credentialsDir/<secret kind>/<KEY>`) or, for local runs, from environment variables of the same name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot_runtime.contract import formats
from bot_runtime.contract.formats import formatted
from bot_runtime.contract.params import Limits, RiskProfile, Strategy, validate_params
from bot_runtime.venue.polymarket.constants import (
    CHAIN_ID,
    CLOB_URL,
    DATA_API_URL,
    GAMMA_URL,
    WS_MARKET_URL,
    WS_USER_URL,
)

Mode = Literal["paper", "live"]

# The simulator's own chain id (`botfleet sim`): paper bots sign orders (EIP-712 domain) and L1
# ClobAuth headers for it, never for Polygon (137), so nothing a paper bot signs is valid on
# Polymarket. 0xB07F1EE7 ("botfleet"), not the id of any public chain we know of. Lives in the
# contract because the operator renders it into paper bots' endpoints and the simulator checks it.
SIM_CHAIN_ID: Final = 0xB07F1EE7

# Secret key names. Wallet Secret (spec.walletSecretRef): the signing key and how orders are signed.
WALLET_PRIVATE_KEY = "PRIVATE_KEY"
WALLET_FUNDER_ADDRESS = "FUNDER_ADDRESS"      # optional: proxy/safe wallet that holds the funds
WALLET_SIGNATURE_TYPE = "SIGNATURE_TYPE"      # optional: 0 EOA (default), 1 POLY_PROXY, 2 GNOSIS_SAFE, 3 POLY_1271
WALLET_KEYS = (WALLET_PRIVATE_KEY, WALLET_FUNDER_ADDRESS, WALLET_SIGNATURE_TYPE)
# Credentials Secret (spec.credentialsSecretRef): API credentials.
CLOB_API_KEY = "CLOB_API_KEY"
CLOB_SECRET = "CLOB_SECRET"
CLOB_PASSPHRASE = "CLOB_PASSPHRASE"
OPENAI_API_KEY = "OPENAI_API_KEY"
NEWSAPI_KEY = "NEWSAPI_KEY"
SUPABASE_URL = "SUPABASE_URL"
SUPABASE_KEY = "SUPABASE_KEY"
POLYGON_RPC_URL = "POLYGON_RPC_URL"           # may embed a provider key, so it is a secret
CREDENTIAL_KEYS = (CLOB_API_KEY, CLOB_SECRET, CLOB_PASSPHRASE, OPENAI_API_KEY, NEWSAPI_KEY,
                   SUPABASE_URL, SUPABASE_KEY, POLYGON_RPC_URL)
ALL_SECRET_KEYS = WALLET_KEYS + CREDENTIAL_KEYS
# Backup encryption Secret (spec.backup.encryption.secretRef): the key backups are encrypted with.
BACKUP_ENCRYPTION_KEY = "BACKUP_ENCRYPTION_KEY"
# Public key in either Secret (RFC 3339): when the rotation Job last rotated the credentials.
ROTATED_AT = "ROTATED_AT"
# Pod-template annotation of the bot's Deployment: a digest of its Secrets, so a Secret change rolls
# the bot. The operator writes it; the rotation Job waits for it to change before revoking a key.
SECRETS_HASH_ANNOTATION = "botfleet.io/secrets-hash"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class MarketSelector(_Model):
    """Which markets a bot trades; all empty = the strategy's default discovery."""

    conditionIds: list[Annotated[str, formatted(formats.CONDITION_ID, max_length=66)]] = Field(
        default_factory=list, max_length=1000, description="Condition ids (0x + 64 hex).")
    slugs: list[Annotated[str, formatted(formats.SLUG, max_length=200)]] = Field(
        default_factory=list, max_length=1000, description="Market or event slugs.")
    tags: list[Annotated[str, formatted(formats.SLUG, max_length=100)]] = Field(
        default_factory=list, max_length=100, description="Gamma tags, e.g. crypto, politics.")
    maxMarkets: int = Field(200, ge=1, le=10_000, description="Upper bound on markets discovered.")


class Endpoints(_Model):
    """Where Polymarket is. Defaults are production; paper mode against `botfleet sim` overrides them."""

    clobUrl: str = CLOB_URL
    gammaUrl: str = GAMMA_URL
    dataApiUrl: str = DATA_API_URL
    wsMarketUrl: str = WS_MARKET_URL
    wsUserUrl: str = WS_USER_URL
    chainId: int = CHAIN_ID

    @classmethod
    def for_sim(cls, base_url: str) -> Endpoints:
        """All endpoints of one `botfleet sim` server (it serves every API on one port), and its chain id."""
        base = base_url.rstrip("/")
        ws = base.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        return cls(clobUrl=base, gammaUrl=f"{base}/gamma", dataApiUrl=f"{base}/data-api",
                   wsMarketUrl=f"{ws}/ws/market", wsUserUrl=f"{ws}/ws/user", chainId=SIM_CHAIN_ID)


class JournalConfig(_Model):
    url: str = Field("sqlite:///data/journal.sqlite",
                     description="sqlite:///PATH (embedded default) or postgresql://... (also Supabase).")


class TelemetryConfig(_Model):
    port: int = Field(9100, ge=1, le=65535, description="Metrics, /healthz, /readyz and /status.")
    logLevel: Literal["debug", "info", "warning", "error"] = "info"


class BotConfig(_Model):
    """Everything a bot process needs except credentials."""

    name: str = Field(min_length=1)
    namespace: str = "default"
    strategy: Strategy
    mode: Mode = "paper"
    # The operator applies the risk-profile preset and renders concrete `params`; the profile is
    # carried for status and metrics labels only.
    riskProfile: RiskProfile = RiskProfile.BALANCED
    params: dict[str, Any] = Field(
        default_factory=dict, description="Concrete strategy parameters; a missing key takes the model default.")
    limits: Limits = Field(default_factory=lambda: Limits())
    markets: MarketSelector = Field(default_factory=lambda: MarketSelector())
    endpoints: Endpoints = Field(default_factory=lambda: Endpoints())
    journal: JournalConfig = Field(default_factory=lambda: JournalConfig())
    telemetry: TelemetryConfig = Field(default_factory=lambda: TelemetryConfig())
    paused: bool = False
    credentialsDir: str = Field("/var/run/secrets/botfleet",
                                description="Secrets are mounted at <dir>/wallet/ and <dir>/credentials/.")
    maxCredentialAgeDays: int | None = Field(None, ge=1, description="Rotation is due after this age.")

    @model_validator(mode="after")
    def _params_belong(self) -> BotConfig:
        validate_params(self.strategy, self.params)  # raises ParamsError naming the key
        return self

    def strategy_params(self) -> Any:
        return validate_params(self.strategy, self.params)


class ConfigError(ValueError):
    pass


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None) -> BotConfig:
    """Load `config.json` (the operator's ConfigMap) then apply BOTFLEET_* environment overrides.

    Unknown keys are refused with their names: a typo must not silently fall back to a default.
    """
    env = dict(os.environ if env is None else env)
    path = path or env.get("BOTFLEET_CONFIG")
    data: dict[str, Any] = {}
    if path:
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found; set BOTFLEET_CONFIG to the rendered config.json") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid JSON (UTF-8): {exc}") from None
        except OSError as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc.strerror}; point BOTFLEET_CONFIG "
                              "at the rendered config.json") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must hold a JSON object, not {type(data).__name__}")
    for var, key in (("BOTFLEET_NAME", "name"), ("BOTFLEET_STRATEGY", "strategy"), ("BOTFLEET_MODE", "mode"),
                     ("BOTFLEET_RISK_PROFILE", "riskProfile"), ("BOTFLEET_JOURNAL_URL", "journal.url"),
                     ("BOTFLEET_METRICS_PORT", "telemetry.port"), ("BOTFLEET_CREDENTIALS_DIR", "credentialsDir")):
        if var in env:
            target = data
            *parents, leaf = key.split(".")
            for p in parents:
                target = target.setdefault(p, {})
            target[leaf] = env[var]
    try:
        return BotConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid bot configuration: {problems}") from None
