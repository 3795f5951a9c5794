"""Spec -> the Kubernetes objects a bot consists of. Pure functions: no I/O, no clock.

`desired_objects` returns every object the operator server-side-applies for one TradingBot, each
with an owner reference to it, so garbage collection removes them with the bot.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from bot_runtime import __version__
from bot_runtime.contract.config import BotConfig, Endpoints, JournalConfig, MarketSelector, TelemetryConfig
from bot_runtime.contract.params import Limits, Strategy
from botfleet_operator import api
from botfleet_operator.presets import DEFAULT_RESOURCES, resolve_params
from botfleet_operator.secrets import SecretView, secrets_hash

Obj = dict[str, Any]

METRICS_PORT = 9100
CONFIG_DIR = "/etc/botfleet"
CONFIG_PATH = f"{CONFIG_DIR}/config.json"
CREDENTIALS_DIR = "/var/run/secrets/botfleet"
DATA_DIR = "/data"
BACKUP_DIR = "/backups"
JOURNAL_URL = f"sqlite:///{DATA_DIR}/journal.sqlite"
RUN_AS = 65532  # the image's numeric user (Dockerfile), so file ownership in the image matches

LABEL_BOT = "botfleet.io/bot"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "botfleet-operator"
ANN_CONFIG_HASH = "botfleet.io/config-hash"
ANN_SECRETS_HASH = "botfleet.io/secrets-hash"
ANN_ROTATION_TRIGGER = "botfleet.io/rotation-trigger"
# A tripped kill switch is reported through this pod annotation (see docs/operator.md).
ANN_KILL_SWITCH = "botfleet.io/kill-switch"


@dataclass(frozen=True)
class Settings:
    """Operator-wide settings (environment of the operator's pod)."""

    image: str = f"botfleet/botfleet:{__version__}"
    image_pull_policy: str = "IfNotPresent"
    sim_url: str | None = None            # paper mode talks to this simulated exchange when set
    journal_size: str = "1Gi"
    journal_storage_class: str | None = None
    extra_egress_ports: tuple[int, ...] = field(default_factory=tuple)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            image=env.get("BOTFLEET_BOT_IMAGE") or cls.image,
            image_pull_policy=env.get("BOTFLEET_BOT_IMAGE_PULL_POLICY") or cls.image_pull_policy,
            sim_url=env.get("BOTFLEET_SIM_URL") or None,
            journal_size=env.get("BOTFLEET_JOURNAL_SIZE") or cls.journal_size,
            journal_storage_class=env.get("BOTFLEET_JOURNAL_STORAGE_CLASS") or None,
        )


def short_hash(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()[:16]


def labels(name: str, strategy: str, component: str = "bot") -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "botfleet",
        "app.kubernetes.io/instance": name,
        LABEL_COMPONENT: component,
        LABEL_MANAGED_BY: MANAGER,
        LABEL_BOT: name,
        "botfleet.io/strategy": strategy,
    }


def owner_reference(bot: Obj) -> Obj:
    meta = bot["metadata"]
    return {"apiVersion": api.API_VERSION, "kind": api.KIND, "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


def _meta(bot: Obj, name: str, component: str = "bot", **extra: Any) -> Obj:
    meta = bot["metadata"]
    return {"name": name, "namespace": meta["namespace"],
            "labels": labels(meta["name"], bot["spec"]["strategy"], component),
            "ownerReferences": [owner_reference(bot)], **extra}


def bot_config(bot: Obj, settings: Settings) -> BotConfig:
    spec = bot["spec"]
    endpoints = Endpoints.for_sim(settings.sim_url) if spec.get("mode", "paper") == "paper" and settings.sim_url \
        else Endpoints()
    return BotConfig(
        name=bot["metadata"]["name"], namespace=bot["metadata"]["namespace"], strategy=spec["strategy"],
        mode=spec.get("mode", "paper"), riskProfile=spec.get("riskProfile", "balanced"),
        # The preset is applied here: the bot reads concrete parameters.
        params=resolve_params(spec["strategy"], spec.get("riskProfile", "balanced"),
                              spec.get("params") or {}).model_dump(mode="json"),
        limits=Limits.model_validate(spec.get("limits") or {}),
        markets=MarketSelector.model_validate(spec.get("markets") or {}), endpoints=endpoints, journal=JournalConfig(url=JOURNAL_URL),
        telemetry=TelemetryConfig(port=METRICS_PORT), paused=bool(spec.get("paused")),
        credentialsDir=CREDENTIALS_DIR,
        maxCredentialAgeDays=(spec.get("keyRotation") or {}).get("maxAgeDays"),
    )


def config_json(bot: Obj, settings: Settings) -> str:
    return json.dumps(bot_config(bot, settings).model_dump(mode="json"), sort_keys=True, indent=2) + "\n"


def service_account(bot: Obj) -> Obj:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(bot, bot["metadata"]["name"]),
            "automountServiceAccountToken": False}


def config_map(bot: Obj, settings: Settings) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(bot, bot["metadata"]["name"]),
            "data": {"config.json": config_json(bot, settings)}}


def journal_pvc(bot: Obj, settings: Settings) -> Obj:
    spec: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": settings.journal_size}}}
    if settings.journal_storage_class:
        spec["storageClassName"] = settings.journal_storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": _meta(bot, bot["metadata"]["name"]), "spec": spec}


def backup_pvc(bot: Obj) -> Obj | None:
    pvc = ((bot["spec"].get("backup") or {}).get("storage") or {}).get("pvc")
    if not pvc:
        return None
    spec: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": pvc.get("size", "1Gi")}}}
    if pvc.get("storageClassName"):
        spec["storageClassName"] = pvc["storageClassName"]
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": _meta(bot, f"{bot['metadata']['name']}-backups", "backup"), "spec": spec}


def _secret_volume(name: str, secret: str, mapping: dict[str, str] | None, present: SecretView | None) -> Obj:
    source: Obj = {"secretName": secret, "defaultMode": 0o440}
    if mapping and present is not None:
        # Project the user's key names onto botfleet's: file WALLET_KEY <- Secret key mapping[WALLET_KEY].
        theirs_to_ours = {theirs: ours for ours, theirs in mapping.items()}
        source["items"] = [{"key": k, "path": theirs_to_ours.get(k, k)} for k in sorted(present.keys)]
    return {"name": name, "secret": source}


def _security_context() -> Obj:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
            "runAsUser": RUN_AS, "runAsGroup": RUN_AS, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}}


def _pod_security_context() -> Obj:
    return {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS, "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"}}


def _resources(spec: Obj) -> Obj:
    res = spec.get("resources") or {}
    default = DEFAULT_RESOURCES[Strategy(spec["strategy"])]
    return {"requests": {k: str(v) for k, v in (res.get("requests") or default["requests"]).items()},
            "limits": {k: str(v) for k, v in (res.get("limits") or default["limits"]).items()}}


def _placement(spec: Obj) -> Obj:
    out: Obj = {}
    if spec.get("nodeSelector"):
        out["nodeSelector"] = dict(spec["nodeSelector"])
    if spec.get("tolerations"):
        out["tolerations"] = [dict(t) for t in spec["tolerations"]]
    if spec.get("affinity"):
        out["affinity"] = spec["affinity"]
    return out


def _config_volumes(bot: Obj) -> tuple[list[Obj], list[Obj]]:
    name = bot["metadata"]["name"]
    volumes: list[Obj] = [{"name": "config", "configMap": {"name": name}},
               {"name": "data", "persistentVolumeClaim": {"claimName": name}},
               {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    mounts: list[Obj] = [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
              {"name": "data", "mountPath": DATA_DIR},
              {"name": "tmp", "mountPath": "/tmp"}]
    return volumes, mounts


def deployment(bot: Obj, settings: Settings, secrets: dict[str, SecretView]) -> Obj:
    meta, spec = bot["metadata"], bot["spec"]
    name = meta["name"]
    volumes, mounts = _config_volumes(bot)
    wallet, creds = spec.get("walletSecretRef"), spec.get("credentialsSecretRef")
    if wallet:
        volumes.append(_secret_volume("wallet", wallet["name"], wallet.get("keys"), secrets.get(wallet["name"])))
        mounts.append({"name": "wallet", "mountPath": f"{CREDENTIALS_DIR}/wallet", "readOnly": True})
    if creds:
        volumes.append(_secret_volume("credentials", creds["name"], None, secrets.get(creds["name"])))
        mounts.append({"name": "credentials", "mountPath": f"{CREDENTIALS_DIR}/credentials", "readOnly": True})
    env = [{"name": "BOTFLEET_CONFIG", "value": CONFIG_PATH},
           {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           *({"name": e["name"], "value": e.get("value", "")} for e in spec.get("env") or [])]
    pod_labels = labels(name, spec["strategy"])
    container = {
        "name": "bot",
        "image": spec.get("image") or settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "args": ["run", "--config", CONFIG_PATH],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "env": env,
        "resources": _resources(spec),
        "volumeMounts": mounts,
        "securityContext": _security_context(),
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "metrics"}, "initialDelaySeconds": 10,
                          "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 3},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "metrics"}, "periodSeconds": 5,
                           "timeoutSeconds": 3, "failureThreshold": 3},
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(bot, name),
        "spec": {
            "replicas": 0 if spec.get("paused") else 1,
            # Recreate: the old pod is gone before the new one starts, two copies never trade one wallet.
            "strategy": {"type": "Recreate"},
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": {LABEL_BOT: name}},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {
                        ANN_CONFIG_HASH: short_hash(config_json(bot, settings)),
                        ANN_SECRETS_HASH: secrets_hash(spec, secrets)[:16],
                        "kubectl.kubernetes.io/default-container": "bot",
                    },
                },
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,  # SIGTERM cancels open orders first
                    "securityContext": _pod_security_context(),
                    "containers": [container],
                    "volumes": volumes,
                    **_placement(spec),
                },
            },
        },
    }


def service(bot: Obj) -> Obj:
    name = bot["metadata"]["name"]
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(bot, name),
            # Headless: Prometheus scrapes the pod endpoints anyway, and 1,000 bots must not use up
            # the cluster's Service IP range.
            "spec": {"type": "ClusterIP", "clusterIP": "None", "selector": {LABEL_BOT: name},
                     "ports": [{"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"}]}}


def network_policy(bot: Obj, settings: Settings) -> Obj:
    name = bot["metadata"]["name"]
    egress_ports = {443, *settings.extra_egress_ports}
    if settings.sim_url and bot["spec"].get("mode", "paper") == "paper":
        parsed = urlparse(settings.sim_url)
        egress_ports.add(parsed.port or (443 if parsed.scheme in ("https", "wss") else 80))
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta(bot, name),
        "spec": {
            "podSelector": {"matchLabels": {LABEL_BOT: name}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": METRICS_PORT}]}],
            "egress": [
                {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                {"ports": [{"protocol": "TCP", "port": p} for p in sorted(egress_ports)]},
            ],
        },
    }


def _job_pod(bot: Obj, settings: Settings, component: str, args: list[str], mounts: list[Obj],
             volumes: list[Obj], env: list[Obj], service_account: str | None = None) -> Obj:
    name, spec = bot["metadata"]["name"], bot["spec"]
    pod: Obj = {
        "metadata": {"labels": labels(name, spec["strategy"], component)},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": service_account is not None,
            "serviceAccountName": service_account or name,
            "enableServiceLinks": False,
            "securityContext": _pod_security_context(),
            "containers": [{
                "name": component, "image": spec.get("image") or settings.image,
                "imagePullPolicy": settings.image_pull_policy, "args": args, "env": env,
                "volumeMounts": mounts, "securityContext": _security_context(),
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            }],
            "volumes": volumes,
            **_placement(spec),
        },
    }
    return pod


def backup_cronjob(bot: Obj, settings: Settings) -> Obj:
    name, spec = bot["metadata"]["name"], bot["spec"]
    backup = spec.get("backup") or {}
    volumes, mounts = _config_volumes(bot)
    if (backup.get("storage") or {}).get("pvc"):
        volumes.append({"name": "backups", "persistentVolumeClaim": {"claimName": f"{name}-backups"}})
        mounts.append({"name": "backups", "mountPath": BACKUP_DIR})
    else:
        mounts.append({"name": "data", "mountPath": BACKUP_DIR, "subPath": "backups"})
    env: list[Obj] = [{"name": "BOTFLEET_CONFIG", "value": CONFIG_PATH}]
    s3 = backup.get("s3")
    if s3:
        env += [{"name": "BOTFLEET_BACKUP_S3_ENDPOINT", "value": s3["endpoint"]},
                {"name": "BOTFLEET_BACKUP_S3_BUCKET", "value": s3["bucket"]},
                {"name": "BOTFLEET_BACKUP_S3_PREFIX", "value": s3.get("prefix") or f"{bot['metadata']['namespace']}/{name}/"}]
        env += [{"name": k, "valueFrom": {"secretKeyRef": {"name": s3["secretRef"]["name"], "key": k}}}
                for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")]
    pod = _job_pod(bot, settings, "backup",
                   ["backup", "--to", BACKUP_DIR, "--retain", str(backup.get("retain", 7)), "--config", CONFIG_PATH],
                   mounts, volumes, env)
    # The journal volume is ReadWriteOnce: run next to the bot so both pods can mount it.
    pod["spec"]["affinity"] = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "labelSelector": {"matchLabels": {LABEL_BOT: name, LABEL_COMPONENT: "bot"}},
        "topologyKey": "kubernetes.io/hostname"}]}}
    job_labels = labels(name, spec["strategy"], "backup")
    return {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": _meta(bot, f"{name}-backup", "backup"),
        "spec": {
            "schedule": backup.get("schedule", "0 */6 * * *"),
            "suspend": bool(backup.get("suspend")) or bool(spec.get("paused")),
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": job_labels},
                            "spec": {"backoffLimit": 2, "activeDeadlineSeconds": 1800, "template": pod}},
        },
    }


def rotator_name(bot: Obj) -> str:
    return f"{bot['metadata']['name']}-rotator"


def rotation_rbac(bot: Obj) -> list[Obj]:
    """ServiceAccount + Role (this bot's credentials Secret only) + RoleBinding for rotation Jobs."""
    sa = rotator_name(bot)
    secret = bot["spec"]["credentialsSecretRef"]["name"]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(bot, sa, "rotation")},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(bot, sa, "rotation"),
         "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret],
                    "verbs": ["get", "update", "patch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": _meta(bot, sa, "rotation"),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
         "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": bot["metadata"]["namespace"]}]},
    ]


def _rotation_pod(bot: Obj, settings: Settings) -> Obj:
    spec = bot["spec"]
    rotation = spec.get("keyRotation") or {}
    wallet = spec["walletSecretRef"]
    volumes: list[Obj] = [{"name": "config", "configMap": {"name": bot["metadata"]["name"]}},
               _secret_volume("wallet", wallet["name"], wallet.get("keys"), None),
               {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}]
    mounts: list[Obj] = [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
              {"name": "wallet", "mountPath": f"{CREDENTIALS_DIR}/wallet", "readOnly": True},
              {"name": "tmp", "mountPath": "/tmp"}]
    args = ["rotate-credentials", "--config", CONFIG_PATH, "--secret", spec["credentialsSecretRef"]["name"],
            "--namespace", bot["metadata"]["namespace"]]
    if rotation.get("revokeOld", True):
        args.append("--revoke-old")
    return _job_pod(bot, settings, "rotation", args, mounts, volumes,
                    [{"name": "BOTFLEET_CONFIG", "value": CONFIG_PATH}], service_account=rotator_name(bot))


def rotation_cronjob(bot: Obj, settings: Settings) -> Obj | None:
    schedule = (bot["spec"].get("keyRotation") or {}).get("schedule")
    if not schedule:
        return None
    name = bot["metadata"]["name"]
    return {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": _meta(bot, f"{name}-rotate", "rotation"),
        "spec": {"schedule": schedule, "concurrencyPolicy": "Forbid", "suspend": bool(bot["spec"].get("paused")),
                 "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
                 "jobTemplate": {"metadata": {"labels": labels(name, bot["spec"]["strategy"], "rotation")},
                                 "spec": {"backoffLimit": 1, "template": _rotation_pod(bot, settings)}}},
    }


def rotation_job(bot: Obj, settings: Settings, trigger: str) -> Obj:
    """A one-off rotation for the manual trigger annotation; its name is derived from the value,
    so re-applying it is idempotent and a new value makes a new Job."""
    name = bot["metadata"]["name"]
    job_meta = _meta(bot, f"{name}-rotate-{short_hash(trigger)[:8]}", "rotation",
                     annotations={ANN_ROTATION_TRIGGER: trigger})
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": job_meta,
            "spec": {"backoffLimit": 1, "ttlSecondsAfterFinished": 86400, "template": _rotation_pod(bot, settings)}}


def wants_rotation_rbac(bot: Obj) -> bool:
    spec = bot["spec"]
    return bool(spec.get("walletSecretRef") and spec.get("credentialsSecretRef"))


def desired_objects(bot: Obj, settings: Settings, secrets: dict[str, SecretView], *,
                    include_deployment: bool = True) -> list[Obj]:
    """Every object of the bot, in apply order (dependencies first).

    `include_deployment=False` when the Secrets are incomplete: the running pod (if any) is left
    alone rather than rolled onto a Secret it cannot use.
    """
    objs: list[Obj] = [service_account(bot), config_map(bot, settings), journal_pvc(bot, settings)]
    pvc = backup_pvc(bot)
    if pvc:
        objs.append(pvc)
    objs += [service(bot), network_policy(bot, settings)]
    if include_deployment:
        objs.append(deployment(bot, settings, secrets))
    objs.append(backup_cronjob(bot, settings))
    if wants_rotation_rbac(bot):
        objs += rotation_rbac(bot)
        cron = rotation_cronjob(bot, settings)
        if cron:
            objs.append(cron)
    return objs


def key(obj: Obj) -> tuple[str, str, str]:
    """(kind, namespace, name): identity of an object for caches and logs."""
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
