"""The TradingBot API (botfleet.io/v1alpha1): pydantic models that are the single source of truth.

The CRD's OpenAPI schema is generated from these models (`crd.py`), the API reference in
docs/api-reference.md too. Cross-field rules are CEL rules in `crd.py`, evaluated by the API server;
the operator re-checks what CEL cannot (e.g. `resolve_params`) and reports it in status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Optional

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot_runtime.contract import formats
from bot_runtime.contract.config import MarketSelector
from bot_runtime.contract.formats import formatted
from bot_runtime.contract.params import PARAM_MODELS, Limits, RiskProfile, Strategy

GROUP = "botfleet.io"
VERSION = "v1alpha1"
KIND = "TradingBot"
PLURAL = "tradingbots"
SINGULAR = "tradingbot"
SHORT_NAMES = ["tb"]
API_VERSION = f"{GROUP}/{VERSION}"

# Manual credential rotation trigger (cert-manager style): set it to any new value.
ROTATE_ANNOTATION = "botfleet.io/rotate-credentials"
# Who paused the bot, set by `botfleet fleet pause` in the same write as spec.paused: true, so that
# `fleet resume` resumes only what a fleet pause stopped, never a bot someone paused on purpose.
PAUSED_BY_ANNOTATION = "botfleet.io/paused-by"
PAUSED_BY_FLEET = "fleet"



def _quantity(value: int | str) -> int | str:
    if isinstance(value, str):
        formats.QUANTITY.check(value)
    return value


# A quantity as Kubernetes takes it: `cpu: 1` (an integer) or `memory: 512Mi` (a string).
Quantity = Annotated[int | str, AfterValidator(_quantity), Field(json_schema_extra={**formats.QUANTITY.hint(), "maxLength": 64})]
SecretKeyName = Annotated[str, formatted(formats.SECRET_KEY, min_length=1, max_length=253)]
LabelValue = Annotated[str, formatted(formats.LABEL_VALUE, max_length=63)]

# Defaults of the spec, stated here only (the models, the metrics and the docs read them).
Mode = Literal["paper", "live"]
DEFAULT_MODE: Mode = "paper"
DEFAULT_RISK_PROFILE = RiskProfile.BALANCED


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SecretRef(_Model):
    """A Secret in the bot's namespace."""

    name: str = formatted(formats.DNS_SUBDOMAIN, min_length=1, max_length=253, description="Secret name.")


class WalletSecretRef(SecretRef):
    """The wallet Secret: PRIVATE_KEY (required for live), FUNDER_ADDRESS and SIGNATURE_TYPE (optional)."""

    keys: dict[str, SecretKeyName] | None = Field(
        None, max_length=3,
        description="Maps botfleet's key names (PRIVATE_KEY, FUNDER_ADDRESS, SIGNATURE_TYPE) to the "
                    "key names used in your Secret, when they differ.")


class CredentialsSecretRef(SecretRef):
    """API credentials: CLOB_API_KEY/CLOB_SECRET/CLOB_PASSPHRASE (derived from the wallet when absent),
    OPENAI_API_KEY, NEWSAPI_KEY, SUPABASE_URL/SUPABASE_KEY, POLYGON_RPC_URL as the strategy needs."""


class KeyRotation(_Model):
    """CLOB API credential rotation."""

    maxAgeDays: int = Field(
        30, ge=1, le=3650, description="RotationDue=True once the credentials are older than this.")
    schedule: str | None = Field(
        None, max_length=100,
        description="Cron schedule on which a Job creates new CLOB API credentials from the wallet, writes "
                    "them to the credentials Secret and (revokeOld) revokes the old ones once the bot rolled onto them. Empty: no "
                    "scheduled rotation. Manual: annotate the bot with botfleet.io/rotate-credentials=<new value>.")
    revokeOld: bool = Field(True, description="Revoke the previous API key once the bot's Deployment has rolled onto the new one (at most 10 minutes' wait; past that the old key is kept and the Job fails).")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else formats.check_cron(value)


class PVCStorage(_Model):
    size: str = formatted(formats.QUANTITY, "1Gi", max_length=64, description="Size of the backup volume.")
    storageClassName: str | None = formatted(
        formats.DNS_SUBDOMAIN, None, max_length=253, description="Storage class; empty = the default.")


class S3Target(_Model):
    """Optional S3-compatible copy of every backup."""

    endpoint: str = formatted(formats.HTTPS_URL, max_length=2048,
                              description="S3 endpoint, https only, e.g. https://s3.eu-west-1.amazonaws.com.")
    bucket: str = formatted(formats.S3_BUCKET, min_length=3, max_length=63, description="Bucket name.")
    prefix: str = Field("", max_length=1024, description="Key prefix inside the bucket.")
    secretRef: SecretRef = Field(description="Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                                             "(mounted as files in the backup Job, never environment variables).")


class BackupEncryption(_Model):
    """Client-side encryption (AES-256-GCM) of every backup, before it is written or uploaded."""

    secretRef: SecretRef = Field(description="Secret with BACKUP_ENCRYPTION_KEY: 32 random bytes in base64 "
                                             "(`openssl rand -base64 32`). Keep a copy outside the cluster: "
                                             "without it no backup can be restored.")


class BackupStorage(_Model):
    pvc: PVCStorage | None = Field(
        None, description="A separate PersistentVolumeClaim for backups; empty = a backups/ folder on the journal volume.")


class Backup(_Model):
    """Journal backups by a CronJob running `botfleet backup --to /backup`."""

    schedule: str = Field("0 */6 * * *", max_length=100, description="Cron schedule (5 fields or @hourly/@daily...).")
    retain: int = Field(7, ge=1, le=1000, description="Number of backups kept.")
    suspend: bool = Field(False, description="Pause the backup CronJob.")
    storage: BackupStorage | None = Field(None, description="Where backups are written.")
    s3: S3Target | None = Field(None, description="Also upload each backup to this S3-compatible bucket "
                                                  "(requires encryption).")
    encryption: BackupEncryption | None = Field(
        None, description="Encrypt every backup (on the volume and in S3) with a key from a Secret; required "
                          "with s3.")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return formats.check_cron(value)

    @model_validator(mode="after")
    def _s3_needs_encryption(self) -> Backup:  # the CRD's CEL rule, re-checked for the operator
        if self.s3 is not None and self.encryption is None:
            raise ValueError("spec.backup.s3 requires spec.backup.encryption: name a Secret with "
                             "BACKUP_ENCRYPTION_KEY in spec.backup.encryption.secretRef")
        return self


class ResourceList(_Model):
    cpu: Quantity | None = Field(None, description="CPU, e.g. 250m or 1.")
    memory: Quantity | None = Field(None, description="Memory, e.g. 512Mi or 1Gi.")


class ResourceRequirements(_Model):
    """Merged per resource with the strategy's defaults; a default request never exceeds your limit."""

    requests: ResourceList | None = Field(None, description="e.g. cpu: 250m, memory: 256Mi")
    limits: ResourceList | None = Field(None, description="e.g. cpu: '1', memory: 512Mi")


class Retention(_Model):
    """What happens to the bot's data when the TradingBot is deleted."""

    journal: Literal["Retain", "Delete"] = Field(
        "Retain", description="Retain: the journal PVC (trade history, default backups) outlives the TradingBot "
                              "and a new bot of the same name re-uses it. Delete: it is deleted with the bot.")
    backups: Literal["Retain", "Delete"] = Field(
        "Retain", description="The same for the separate backup PVC (spec.backup.storage.pvc).")


class JournalUrlSecretRef(SecretRef):
    """A Secret holding the database URL (it carries a password, so never the spec or a ConfigMap)."""

    key: SecretKeyName = Field("JOURNAL_URL", description="The key whose value is the URL, e.g. "
                               "postgresql://bot:PASSWORD@db.example.com:5432/botfleet?sslmode=require.")


class Journal(_Model):
    """Where the order journal lives: SQLite on the bot's own volume (default: no network hop per
    order), or PostgreSQL (Supabase's database included) for a journal outside the pod."""

    backend: Literal["sqlite", "postgres"] = Field("sqlite", description="sqlite | postgres.")
    urlSecretRef: JournalUrlSecretRef | None = Field(
        None, description="postgres: the Secret and key holding the database URL (required for postgres).")
    port: int = Field(5432, ge=1, le=65535,
                      description="postgres: the database's port; the bot's and its Jobs' NetworkPolicy allow it.")


class EgressRule(_Model):
    """One more destination port the bot's pods may reach (e.g. a Polygon RPC or an LLM endpoint on a
    port other than 443; ports of llmBaseUrl, the journal and S3 are added by themselves)."""

    port: int = Field(ge=1, le=65535, description="Destination port.")
    protocol: Literal["TCP", "UDP"] = Field("TCP", description="TCP | UDP.")


class LocalObjectReference(_Model):
    name: str = formatted(formats.DNS_SUBDOMAIN, min_length=1, max_length=253, description="Secret name.")


class EnvVar(_Model):
    name: str = formatted(formats.ENV_NAME, min_length=1, max_length=253, description="Variable name.")
    value: str = Field("", max_length=32768, description="Value (plain text: never put secrets here).")


class Toleration(_Model):
    key: str | None = formatted(formats.TOLERATION_KEY, None, max_length=317, description="Taint key (required: a "
                                "toleration without a key would tolerate every taint; control-plane keys are "
                                "refused).")
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = formatted(formats.LABEL_VALUE, None, max_length=63, description="Taint value (Equal only).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    tolerationSeconds: int | None = None


AFFINITY_KEYS = ("nodeAffinity", "podAffinity", "podAntiAffinity")


def _affinity_keys(value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    # The CRD's CEL rule, re-checked for objects stored under an older CRD.
    unknown = sorted(set(value) - set(AFFINITY_KEYS))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}: only {', '.join(AFFINITY_KEYS)} may be set")
    return value


# A map, not a model: CEL can then name the allowed keys when one is misspelt (strict decoding would
# only say "unknown field"); the content of each is core/v1's, checked when the Deployment is applied.
Affinity = Annotated[dict[str, dict[str, Any]], AfterValidator(_affinity_keys),
                     Field(json_schema_extra={"maxProperties": len(AFFINITY_KEYS)})]


def _params_model() -> type[BaseModel]:
    """Type-only view of every strategy's parameters (for the schema); ownership is checked by CEL."""
    from pydantic import create_model

    fields: dict[str, Any] = {}
    for model in PARAM_MODELS.values():
        for name, info in model.model_fields.items():
            fields.setdefault(name, (Optional[info.annotation], Field(None, description=info.description)))  # noqa: UP045
    return create_model("StrategyParams", __config__=ConfigDict(extra="forbid"), **fields)


class TradingBotSpec(_Model):
    """Desired state of one trading bot."""

    strategy: Strategy = Field(description="arbhunter | polyai | elitemimic. Immutable: create a new bot to change it.")
    mode: Mode = Field(
        DEFAULT_MODE, description="paper: simulated fills, no money moves. live: real orders, needs walletSecretRef.")
    riskProfile: RiskProfile = Field(
        DEFAULT_RISK_PROFILE, description="Preset of the strategy's parameters (see operator/botfleet_operator/presets.py PRESETS).")
    params: dict[str, Any] | None = Field(
        None, description="Overrides of the strategy's parameters (camelCase keys of that strategy only).")
    limits: Limits | None = Field(None, description="Money limits enforced by the runtime's risk engine.")
    markets: MarketSelector | None = Field(None, description="Markets traded; empty = the strategy's discovery.")
    walletSecretRef: WalletSecretRef | None = Field(None, description="Wallet Secret; required when mode is live.")
    credentialsSecretRef: CredentialsSecretRef | None = Field(None, description="API credentials Secret.")
    keyRotation: KeyRotation | None = Field(None, description="Credential age limit and scheduled rotation.")
    backup: Backup | None = Field(None, description="Journal backups; empty = defaults (every 6 h, keep 7).")
    resources: ResourceRequirements | None = Field(
        None, description="Container resources; empty = per-strategy defaults (ArbHunter/EliteMimic 512Mi, PolyAI 1Gi).")
    image: str | None = formatted(
        formats.IMAGE, None, max_length=1024,
        description="Bot image; empty = the operator's default image. Must be allowed by the operator's image "
                    "policy (operator.allowedImages); always pulled.")
    paused: bool = Field(False, description="Scale to zero (the runtime cancels open orders on SIGTERM).")
    env: list[EnvVar] | None = Field(
        None, max_length=64, description="Extra environment variables: only TZ, LANG, LANGUAGE, LC_ALL, LC_*, "
        "MALLOC_ARENA_MAX and BOT_* names (an allowlist: docs/security.md).")
    nodeSelector: dict[str, LabelValue] | None = Field(None, max_length=32, description="Pod node selector.")
    tolerations: list[Toleration] | None = Field(None, max_length=32, description="Pod tolerations.")
    affinity: Affinity | None = Field(
        None, description="Pod affinity (core/v1 Affinity): nodeAffinity, podAffinity and/or podAntiAffinity.")
    journal: Journal | None = Field(None, description="Where the order journal lives (default: SQLite on the "
                                                       "bot's volume).")
    imagePullSecrets: list[LocalObjectReference] | None = Field(
        None, max_length=8, description="Registry credentials for this bot's pods (bot, backup and rotation "
                                        "Jobs), added to the operator's defaults (chart: imagePullSecrets).")
    extraEgress: list[EgressRule] | None = Field(
        None, max_length=16, description="More destination ports the bot's pods may reach (NetworkPolicy).")
    retention: Retention | None = Field(
        None, description="Whether the journal and backup volumes outlive the TradingBot; empty = Retain both.")


class Condition(_Model):
    """metav1.Condition."""

    type: str = Field(max_length=316)
    status: Literal["True", "False", "Unknown"]
    observedGeneration: int | None = Field(None, ge=0)
    lastTransitionTime: str = Field(description="RFC 3339 time of the last status change.")
    reason: str = Field(max_length=1024)
    message: str = Field("", max_length=32768)


class TradingBotStatus(_Model):
    """Observed state, written by the operator only."""

    observedGeneration: int | None = Field(None, description="metadata.generation last reconciled.")
    conditions: list[Condition] | None = Field(
        None, description="Ready, Progressing, Degraded, SecretsReady, BackupSucceeded, RotationDue.")
    lastBackupTime: str | None = Field(None, description="Completion time of the last successful backup Job.")
    lastRotationTime: str | None = Field(None, description="Completion time of the last credential rotation.")
    credentialsHash: str | None = Field(
        None, description="HMAC-SHA256 (the operator's key) of the referenced Secrets' data: changes with it, "
                          "reveals nothing of it.")
    rotationTrigger: str | None = Field(None, description="Last handled value of the rotate-credentials annotation.")
    replicas: int | None = Field(None, description="Available bot pods.")


PARAMS_MODEL = _params_model()


class SpecError(ValueError):
    """A TradingBot whose spec does not parse (a CRD older than the operator); names the fields."""


def spec_error(exc: ValidationError) -> SpecError:
    problems = ["spec." + ".".join(str(p) for p in err["loc"]) + ": " + err["msg"] for err in exc.errors()]
    return SpecError("; ".join(problems) + " (fix the TradingBot, or update the CRD to this operator's)")


@dataclass(frozen=True)
class TradingBot:
    """One TradingBot as the operator reconciles it: the object's identity and its spec, parsed once
    into `TradingBotSpec` (defaults applied) so that nothing downstream reads raw dictionaries."""

    name: str
    namespace: str
    uid: str
    spec: TradingBotSpec
    generation: int | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    status: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> TradingBot:
        """Raises SpecError naming the offending fields."""
        meta = obj["metadata"]
        try:
            spec = TradingBotSpec.model_validate(obj.get("spec") or {})
        except ValidationError as exc:
            raise spec_error(exc) from None
        return cls(name=meta["name"], namespace=meta["namespace"], uid=meta.get("uid", ""), spec=spec,
                   generation=meta.get("generation"), annotations=dict(meta.get("annotations") or {}),
                   status=dict(obj.get("status") or {}))
