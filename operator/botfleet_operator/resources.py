"""Spec -> the Kubernetes objects a bot consists of. Pure functions: no I/O, no clock.

`desired_objects` returns every object the operator server-side-applies for one TradingBot, each
with an owner reference to it, so garbage collection removes them with the bot, except the volumes
that `spec.retention` keeps (Retain, the default): they outlive the bot and a new bot of the same
name mounts them again. Each object carries the hash of its own desired state (`ANN_DESIRED_HASH`):
a removed spec field changes the hash, so the object is re-applied and server-side apply drops the
field. The bot arrives parsed (`api.TradingBot`): its spec's defaults come from the API models.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from bot_runtime import __version__
from bot_runtime.contract.config import (
    SECRETS_HASH_ANNOTATION,
    BotConfig,
    Endpoints,
    JournalConfig,
    MarketSelector,
    TelemetryConfig,
)
from bot_runtime.contract.params import Limits
from botfleet_operator import api
from botfleet_operator.api import Backup, KeyRotation, PVCStorage, TradingBot
from botfleet_operator.memo import Memo
from botfleet_operator.presets import default_resources, resolve_params
from botfleet_operator.quantity import parse_quantity
from botfleet_operator.secrets import PodSecrets, SecretView, pod_secrets, secrets_hash
from botfleet_operator.tenancy import DEFAULT_ALLOWED_ENDPOINTS, pull_policy

Obj = dict[str, Any]

METRICS_PORT = 9100
CONFIG_DIR = "/etc/botfleet"
CONFIG_PATH = f"{CONFIG_DIR}/config.json"
CREDENTIALS_DIR = "/var/run/secrets/botfleet"
DATA_DIR = "/data"
BACKUP_DIR = "/backups"
BACKUP_S3_DIR = f"{CREDENTIALS_DIR}/s3"            # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY files
BACKUP_KEY_DIR = f"{CREDENTIALS_DIR}/backup-key"   # BACKUP_ENCRYPTION_KEY file
BACKUP_KEY_NAME = "BACKUP_ENCRYPTION_KEY"
JOURNAL_URL = f"sqlite:///{DATA_DIR}/journal.sqlite"
RUN_AS = 65532  # the image's numeric user (Dockerfile), so file ownership in the image matches

LABEL_BOT = "botfleet.io/bot"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "botfleet-operator"
ANN_CONFIG_HASH = "botfleet.io/config-hash"
ANN_SECRETS_HASH = SECRETS_HASH_ANNOTATION  # the rotation Job reads it (bot_runtime/rotation.py)
ANN_ROTATION_TRIGGER = "botfleet.io/rotation-trigger"
ANN_DESIRED_HASH = "botfleet.io/desired-hash"
COMPONENT_BOT = "bot"
# Kinds that can drop out of a bot's desired set (rotation RBAC and CronJob, the backup PVC): the
# operator deletes them (docs/operator.md#pruning); its RBAC grants delete on these kinds only.
# Service: bots had a headless metrics Service each until the chart's PodMonitor replaced it (three
# objects per bot fewer for the control plane: the Service, its Endpoints and EndpointSlice); a bot
# created by an older operator has its Service pruned.
PRUNABLE_KINDS = frozenset({"ServiceAccount", "Role", "RoleBinding", "CronJob", "PersistentVolumeClaim", "Service"})
# The API server of a cluster listens on 6443 (kubeadm, most distributions) or 443 behind the
# `kubernetes` Service; NetworkPolicies see the endpoint's port, so both are allowed to rotation Jobs.
API_SERVER_PORTS = (443, 6443)


STARTING_DEADLINE_S = 600


@dataclass(frozen=True)
class Settings:
    """Operator-wide settings (environment of the operator's pod)."""

    image: str = f"botfleet/botfleet:{__version__}"
    image_pull_policy: str = "IfNotPresent"
    sim_url: str | None = None            # paper mode talks to this simulated exchange when set
    journal_size: str = "1Gi"
    journal_storage_class: str | None = None
    image_pull_secrets: tuple[str, ...] = field(default_factory=tuple)  # every bot's pods (chart: imagePullSecrets)
    # NetworkPolicy (docs/security.md#pods-and-network): the pod and Service CIDRs a bot may not
    # reach (beyond DNS), who may scrape its port 9100, and where the cluster's resolver runs.
    cluster_cidrs: tuple[str, ...] = ()
    monitoring_namespace_selector: tuple[tuple[str, str], ...] = (("kubernetes.io/metadata.name", "monitoring"),)
    operator_namespace: str | None = None
    dns_namespace: str = "kube-system"
    dns_pod_selector: tuple[tuple[str, str], ...] = (("k8s-app", "kube-dns"),)
    # Images a TradingBot's spec.image may name besides `image` (tenancy.py); empty: `image` only.
    allowed_images: tuple[str, ...] = ()
    # URLs a spec may send a Secret's key to (llmBaseUrl, backup S3 endpoint), and the taint keys a
    # spec may tolerate (empty: any but the control plane's); tenancy.py.
    allowed_endpoints: tuple[str, ...] = DEFAULT_ALLOWED_ENDPOINTS
    allowed_toleration_keys: tuple[str, ...] = ()
    # HMAC key of the published Secret digests (secrets.secrets_hash): a Secret the chart creates
    # once and keeps across upgrades, so the digests (and the pods) do not change on a restart.
    hash_key: bytes = field(default=b"", repr=False)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            image=env.get("BOTFLEET_BOT_IMAGE") or cls.image,
            image_pull_policy=env.get("BOTFLEET_BOT_IMAGE_PULL_POLICY") or cls.image_pull_policy,
            sim_url=env.get("BOTFLEET_SIM_URL") or None,
            journal_size=env.get("BOTFLEET_JOURNAL_SIZE") or cls.journal_size,
            journal_storage_class=env.get("BOTFLEET_JOURNAL_STORAGE_CLASS") or None,
            image_pull_secrets=tuple(n.strip() for n in env.get("BOTFLEET_BOT_IMAGE_PULL_SECRETS", "").split(",")
                                     if n.strip()),
            cluster_cidrs=_cidrs(env.get("BOTFLEET_CLUSTER_CIDRS", ""), "BOTFLEET_CLUSTER_CIDRS"),
            monitoring_namespace_selector=_selector(env["BOTFLEET_MONITORING_NAMESPACE_SELECTOR"],
                                                    "BOTFLEET_MONITORING_NAMESPACE_SELECTOR")
            if env.get("BOTFLEET_MONITORING_NAMESPACE_SELECTOR") else cls.monitoring_namespace_selector,
            operator_namespace=env.get("POD_NAMESPACE") or None,
            dns_namespace=env.get("BOTFLEET_DNS_NAMESPACE") or cls.dns_namespace,
            dns_pod_selector=_selector(env["BOTFLEET_DNS_POD_SELECTOR"], "BOTFLEET_DNS_POD_SELECTOR")
            if env.get("BOTFLEET_DNS_POD_SELECTOR") else cls.dns_pod_selector,
            allowed_images=_list(env, "BOTFLEET_ALLOWED_IMAGES"),
            allowed_endpoints=_list(env, "BOTFLEET_ALLOWED_ENDPOINTS") or cls.allowed_endpoints,
            allowed_toleration_keys=_list(env, "BOTFLEET_ALLOWED_TOLERATION_KEYS"),
            hash_key=env.get("BOTFLEET_HASH_KEY", "").strip().encode(),
        )


def _list(env: dict[str, str], var: str) -> tuple[str, ...]:
    return tuple(i.strip() for i in env.get(var, "").split(",") if i.strip())


def _cidrs(text: str, var: str) -> tuple[str, ...]:
    out = []
    for item in (t.strip() for t in text.split(",")):
        if item:
            try:
                out.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ValueError(f"{var}: {item!r} is not a CIDR; give the cluster's pod and Service "
                                 "ranges comma-separated, e.g. 10.244.0.0/16,10.96.0.0/12") from None
    return tuple(out)


def _selector(text: str, var: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in (t.strip() for t in text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{var}: {item!r} is not key=value; give labels as k=v[,k2=v2], "
                             "e.g. kubernetes.io/metadata.name=monitoring")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


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


def owner_reference(bot: TradingBot) -> Obj:
    return {"apiVersion": api.API_VERSION, "kind": api.KIND, "name": bot.name, "uid": bot.uid,
            "controller": True, "blockOwnerDeletion": True}


def _meta(bot: TradingBot, name: str, component: str = "bot", *, owned: bool = True, **extra: Any) -> Obj:
    meta: Obj = {"name": name, "namespace": bot.namespace,
                 "labels": labels(bot.name, bot.spec.strategy.value, component), **extra}
    if owned:
        meta["ownerReferences"] = [owner_reference(bot)]
    return meta


def _retention(bot: TradingBot) -> api.Retention:
    return bot.spec.retention or api.Retention()


def bot_selector(name: str) -> dict[str, str]:
    """The bot's own pod and nothing else: backup and rotation Job pods carry the bot label too."""
    return {LABEL_BOT: name, LABEL_COMPONENT: COMPONENT_BOT}


def desired_hash(obj: Obj) -> str:
    """Hash of an object's desired state, without the annotation that carries it."""
    if ANN_DESIRED_HASH in (obj["metadata"].get("annotations") or {}):
        obj = {**obj, "metadata": {**obj["metadata"], "annotations": {
            k: v for k, v in obj["metadata"]["annotations"].items() if k != ANN_DESIRED_HASH}}}
    return short_hash(json.dumps(obj, sort_keys=True, separators=(",", ":")))


def with_desired_hash(obj: Obj) -> Obj:
    obj["metadata"].setdefault("annotations", {})[ANN_DESIRED_HASH] = desired_hash(obj)
    return obj


def _uses_sim(bot: TradingBot, settings: Settings) -> bool:
    return bot.spec.mode == "paper" and bool(settings.sim_url)


def bot_config(bot: TradingBot, settings: Settings) -> BotConfig:
    spec = bot.spec
    endpoints = Endpoints.for_sim(settings.sim_url) if _uses_sim(bot, settings) and settings.sim_url else Endpoints()
    return BotConfig(
        name=bot.name, namespace=bot.namespace, strategy=spec.strategy, mode=spec.mode,
        riskProfile=spec.riskProfile,
        # The preset is applied here: the bot reads concrete parameters.
        params=resolve_params(spec.strategy, spec.riskProfile, spec.params or {}).model_dump(mode="json"),
        limits=spec.limits or Limits(),
        markets=spec.markets or MarketSelector(), endpoints=endpoints, journal=JournalConfig(url=JOURNAL_URL),
        telemetry=TelemetryConfig(port=METRICS_PORT), paused=spec.paused,
        credentialsDir=CREDENTIALS_DIR,
        maxCredentialAgeDays=spec.keyRotation.maxAgeDays if spec.keyRotation else None,
    )


def config_json(bot: TradingBot, settings: Settings) -> str:
    return json.dumps(bot_config(bot, settings).model_dump(mode="json"), sort_keys=True, indent=2) + "\n"


def service_account(bot: TradingBot) -> Obj:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(bot, bot.name),
            "automountServiceAccountToken": False}


def config_map(bot: TradingBot, settings: Settings) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(bot, bot.name),
            "data": {"config.json": config_json(bot, settings)}}


def journal_pvc(bot: TradingBot, settings: Settings) -> Obj:
    spec: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": settings.journal_size}}}
    if settings.journal_storage_class:
        spec["storageClassName"] = settings.journal_storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": _meta(bot, bot.name, owned=_retention(bot).journal == "Delete"), "spec": spec}


def _backup(bot: TradingBot) -> Backup:
    return bot.spec.backup or Backup()


def _backup_pvc_storage(bot: TradingBot) -> PVCStorage | None:
    storage = _backup(bot).storage
    return storage.pvc if storage else None


def backup_pvc(bot: TradingBot) -> Obj | None:
    pvc = _backup_pvc_storage(bot)
    if pvc is None:
        return None
    spec: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": pvc.size}}}
    if pvc.storageClassName:
        spec["storageClassName"] = pvc.storageClassName
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": _meta(bot, f"{bot.name}-backups", "backup", owned=_retention(bot).backups == "Delete"),
            "spec": spec}


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


def _resources(bot: TradingBot) -> Obj:
    """The strategy's defaults, overridden per resource. A default request is capped at a limit you
    set (like Kubernetes defaults a missing request to the limit), so a partial `limits:` that is
    valid on its own never yields requests > limits; a request above the default limit is refused
    by the CRD (crd.resource_rules)."""
    res = bot.spec.resources
    default = default_resources(bot.spec.strategy)
    given_req = res.requests.model_dump(exclude_none=True) if res and res.requests else {}
    given_lim = res.limits.model_dump(exclude_none=True) if res and res.limits else {}
    limits = {**default["limits"], **{k: str(v) for k, v in given_lim.items()}}
    requests: dict[str, str] = {}
    for name, value in default["requests"].items():
        if name in given_req:
            continue
        if name in given_lim and parse_quantity(value) > parse_quantity(str(given_lim[name])):
            value = str(given_lim[name])
        requests[name] = value
    requests.update({k: str(v) for k, v in given_req.items()})
    return {"requests": dict(sorted(requests.items())), "limits": dict(sorted(limits.items()))}


def _placement(bot: TradingBot) -> Obj:
    spec = bot.spec
    out: Obj = {}
    if spec.nodeSelector:
        out["nodeSelector"] = dict(spec.nodeSelector)
    if spec.tolerations:
        out["tolerations"] = [t.model_dump(exclude_unset=True) for t in spec.tolerations]
    if spec.affinity:
        out["affinity"] = spec.affinity
    return out


def _config_volumes(bot: TradingBot) -> tuple[list[Obj], list[Obj]]:
    name = bot.name
    volumes: list[Obj] = [{"name": "config", "configMap": {"name": name}},
               {"name": "data", "persistentVolumeClaim": {"claimName": name}},
               {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    mounts: list[Obj] = [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
              {"name": "data", "mountPath": DATA_DIR},
              {"name": "tmp", "mountPath": "/tmp"}]
    return volumes, mounts


def _pull_secrets(bot: TradingBot, settings: Settings) -> Obj:
    names = list(dict.fromkeys([*settings.image_pull_secrets, *(r.name for r in bot.spec.imagePullSecrets or [])]))
    return {"imagePullSecrets": [{"name": n} for n in names]} if names else {}


def _journal_env(pod: PodSecrets) -> list[Obj]:
    """A PostgreSQL journal's URL carries a password: the pod reads it from the Secret, never the ConfigMap."""
    ref = pod.journal_url
    if ref is None:
        return []
    return [{"name": "BOTFLEET_JOURNAL_URL", "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}]


def _port_of(url: str) -> int:
    parsed = urlparse(url)
    return parsed.port or (443 if parsed.scheme in ("https", "wss") else 80)


def _endpoint_ports(bot: TradingBot, settings: Settings) -> set[int]:
    """Destination ports the bot's configuration names (besides HTTPS): the journal database, an
    OpenAI-compatible endpoint, the simulator, and the spec's extraEgress."""
    ports = {443}
    if _uses_sim(bot, settings) and settings.sim_url:
        ports.add(_port_of(settings.sim_url))
    j = bot.spec.journal
    if j is not None and j.backend == "postgres":
        ports.add(j.port)
    llm = (bot.spec.params or {}).get("llmBaseUrl")
    if isinstance(llm, str) and llm:
        ports.add(_port_of(llm))
    ports.update(r.port for r in bot.spec.extraEgress or [] if r.protocol == "TCP")
    return ports


def _udp_ports(bot: TradingBot) -> list[int]:
    return sorted({r.port for r in bot.spec.extraEgress or [] if r.protocol == "UDP"})


def _image(bot: TradingBot, settings: Settings) -> str:
    return bot.spec.image or settings.image


def deployment(bot: TradingBot, settings: Settings, secrets: dict[str, SecretView]) -> Obj:
    spec = bot.spec
    name = bot.name
    volumes, mounts = _config_volumes(bot)
    # Every Secret the pod reads comes from `pod`: the template's secrets-hash covers exactly these.
    pod = pod_secrets(spec)
    wallet, creds = pod.wallet, pod.credentials
    if wallet:  # live bots only: paper bots sign with a paper key of their own
        volumes.append(_secret_volume("wallet", wallet.name, wallet.keys, secrets.get(wallet.name)))
        mounts.append({"name": "wallet", "mountPath": f"{CREDENTIALS_DIR}/wallet", "readOnly": True})
    if creds:
        volumes.append(_secret_volume("credentials", creds.name, None, secrets.get(creds.name)))
        mounts.append({"name": "credentials", "mountPath": f"{CREDENTIALS_DIR}/credentials", "readOnly": True})
    env = [{"name": "BOTFLEET_CONFIG", "value": CONFIG_PATH},
           {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           *_journal_env(pod),
           *({"name": e.name, "value": e.value} for e in spec.env or [])]
    pod_labels = labels(name, spec.strategy.value)
    container = {
        "name": "bot",
        "image": _image(bot, settings),
        "imagePullPolicy": pull_policy(bot, settings.image, settings.image_pull_policy),
        "args": ["run", "--config", CONFIG_PATH],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "env": env,
        "resources": _resources(bot),
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
            "replicas": 0 if spec.paused else 1,
            # Recreate: the old pod is gone before the new one starts, two copies never trade one wallet.
            "strategy": {"type": "Recreate"},
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": {LABEL_BOT: name}},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {
                        ANN_CONFIG_HASH: short_hash(config_json(bot, settings)),
                        ANN_SECRETS_HASH: secrets_hash(spec, secrets, settings.hash_key, pod_only=True)[:16],
                        "kubectl.kubernetes.io/default-container": "bot",
                    },
                },
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,  # SIGTERM cancels open orders first
                    "securityContext": _pod_security_context(),
                    **_pull_secrets(bot, settings),
                    "containers": [container],
                    "volumes": volumes,
                    **_placement(bot),
                },
            },
        },
    }


# Never reachable from a bot: link-local holds the cloud metadata endpoints (169.254.169.254, and
# AWS's IPv6 one in fd00:ec2::/32), which hand out the node's cloud credentials.
BLOCKED_V4 = ("169.254.0.0/16",)
BLOCKED_V6 = ("fe80::/10", "fd00:ec2::/32")


def _internet(settings: Settings) -> list[Obj]:
    """`to` peers: any address except link-local and the cluster's own pod/Service ranges."""
    cluster = [ipaddress.ip_network(c) for c in settings.cluster_cidrs]
    v4 = [*BLOCKED_V4, *(str(c) for c in cluster if c.version == 4)]
    v6 = [*BLOCKED_V6, *(str(c) for c in cluster if c.version == 6)]
    return [{"ipBlock": {"cidr": "0.0.0.0/0", "except": v4}}, {"ipBlock": {"cidr": "::/0", "except": v6}}]


def _not_link_local() -> list[Obj]:
    return [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(BLOCKED_V4)}},
            {"ipBlock": {"cidr": "::/0", "except": list(BLOCKED_V6)}}]


def _dns_peer(settings: Settings) -> Obj:
    """The cluster resolver's pods: the only DNS server a bot or its Jobs may ask."""
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": settings.dns_namespace}},
            "podSelector": {"matchLabels": dict(settings.dns_pod_selector)}}


def network_policy(bot: TradingBot, settings: Settings) -> Obj:
    """Ingress: port 9100 from the monitoring namespace(s) and the operator's namespace only.
    Egress: DNS to the cluster resolver only; HTTPS to anything but link-local and the cluster's
    ranges; the other ports the bot's configuration names (journal database, LLM endpoint,
    simulator, spec.extraEgress) to anything but link-local, since those services may run in the
    cluster."""
    name = bot.name
    # journal database, LLM endpoint, simulator, spec.extraEgress: may be in-cluster services
    named = sorted(_endpoint_ports(bot, settings) - {443})
    udp = _udp_ports(bot)
    scrapers: list[Obj] = [{"namespaceSelector": {"matchLabels": dict(settings.monitoring_namespace_selector)}}]
    if settings.operator_namespace:
        scrapers.append({"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": settings.operator_namespace}}})
    dns = _dns_peer(settings)
    not_link_local = _not_link_local()
    egress: list[Obj] = [
        {"to": [dns], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        {"to": _internet(settings), "ports": [{"protocol": "TCP", "port": 443}]},
    ]
    if named:
        egress.append({"to": not_link_local, "ports": [{"protocol": "TCP", "port": p} for p in named]})
    if udp:
        egress.append({"to": not_link_local, "ports": [{"protocol": "UDP", "port": p} for p in udp]})
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta(bot, name),
        "spec": {
            "podSelector": {"matchLabels": bot_selector(name)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": scrapers, "ports": [{"protocol": "TCP", "port": METRICS_PORT}]}],
            "egress": egress,
        },
    }


def jobs_network_policy(bot: TradingBot, settings: Settings) -> Obj:
    """The backup and rotation Job pods: no ingress; DNS, HTTPS (CLOB, S3), the S3 endpoint's port
    and the API server (the rotation Job writes the credentials Secret)."""
    egress_ports = {*_endpoint_ports(bot, settings), *API_SERVER_PORTS}  # the backup reads a PostgreSQL journal
    s3 = _backup(bot).s3
    if s3:
        egress_ports.add(_port_of(s3.endpoint))
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": _meta(bot, f"{bot.name}-jobs", "jobs"),
        "spec": {
            "podSelector": {"matchLabels": {LABEL_BOT: bot.name},
                            "matchExpressions": [{"key": LABEL_COMPONENT, "operator": "In",
                                                  "values": ["backup", "rotation"]}]},
            "policyTypes": ["Ingress", "Egress"],
            # The Jobs run the bot's (maybe a tenant's) image, the rotation Job with an API token:
            # DNS through the cluster resolver only, and never link-local (an http:// S3 endpoint
            # opens port 80, the metadata endpoint's). The cluster's ranges stay reachable: the API
            # server and an in-cluster S3 live there.
            "egress": [
                {"to": [_dns_peer(settings)], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                {"to": _not_link_local(), "ports": [{"protocol": "TCP", "port": p} for p in sorted(egress_ports)]},
            ],
        },
    }


def _job_pod(bot: TradingBot, settings: Settings, component: str, args: list[str], mounts: list[Obj],
             volumes: list[Obj], env: list[Obj], service_account: str | None = None) -> Obj:
    pod: Obj = {
        "metadata": {"labels": labels(bot.name, bot.spec.strategy.value, component)},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": service_account is not None,
            "serviceAccountName": service_account or bot.name,
            "enableServiceLinks": False,
            "securityContext": _pod_security_context(),
            **_pull_secrets(bot, settings),
            "containers": [{
                "name": component, "image": _image(bot, settings),
                "imagePullPolicy": pull_policy(bot, settings.image, settings.image_pull_policy), "args": args, "env": env,
                "volumeMounts": mounts, "securityContext": _security_context(),
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi", "ephemeral-storage": "16Mi"},
                              "limits": {"memory": "256Mi", "ephemeral-storage": "128Mi"}},
            }],
            "volumes": volumes,
            **_placement(bot),
        },
    }
    return pod


def backup_cronjob(bot: TradingBot, settings: Settings) -> Obj:
    name = bot.name
    backup = _backup(bot)
    volumes, mounts = _config_volumes(bot)
    if _backup_pvc_storage(bot) is not None:
        volumes.append({"name": "backups", "persistentVolumeClaim": {"claimName": f"{name}-backups"}})
        mounts.append({"name": "backups", "mountPath": BACKUP_DIR})
    else:
        mounts.append({"name": "data", "mountPath": BACKUP_DIR, "subPath": "backups"})
    env: list[Obj] = [{"name": "BOTFLEET_CONFIG", "value": CONFIG_PATH}, *_journal_env(pod_secrets(bot.spec))]
    s3 = backup.s3
    if s3:
        env += [{"name": "BOTFLEET_BACKUP_S3_ENDPOINT", "value": s3.endpoint},
                {"name": "BOTFLEET_BACKUP_S3_BUCKET", "value": s3.bucket},
                {"name": "BOTFLEET_BACKUP_S3_PREFIX", "value": s3.prefix or f"{bot.namespace}/{name}/"},
                {"name": "BOTFLEET_BACKUP_S3_CREDENTIALS_DIR", "value": BACKUP_S3_DIR}]
        # Keys as files, not environment variables (those show in `kubectl describe`, /proc/*/environ
        # of every child process, crash dumps).
        volumes.append({"name": "s3-credentials", "secret": {
            "secretName": s3.secretRef.name, "defaultMode": 0o440,
            "items": [{"key": k, "path": k} for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")]}})
        mounts.append({"name": "s3-credentials", "mountPath": BACKUP_S3_DIR, "readOnly": True})
    if backup.encryption:
        volumes.append({"name": "backup-key", "secret": {
            "secretName": backup.encryption.secretRef.name, "defaultMode": 0o440,
            "items": [{"key": BACKUP_KEY_NAME, "path": BACKUP_KEY_NAME}]}})
        mounts.append({"name": "backup-key", "mountPath": BACKUP_KEY_DIR, "readOnly": True})
        env.append({"name": "BOTFLEET_BACKUP_ENCRYPTION_KEY_FILE", "value": f"{BACKUP_KEY_DIR}/{BACKUP_KEY_NAME}"})
    pod = _job_pod(bot, settings, "backup",
                   ["backup", "--to", BACKUP_DIR, "--retain", str(backup.retain), "--config", CONFIG_PATH],
                   mounts, volumes, env)
    # The journal volume is ReadWriteOnce: run next to the bot so both pods can mount it.
    pod["spec"]["affinity"] = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "labelSelector": {"matchLabels": bot_selector(name)},
        "topologyKey": "kubernetes.io/hostname"}]}}
    job_labels = labels(name, bot.spec.strategy.value, "backup")
    return {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": _meta(bot, f"{name}-backup", "backup"),
        "spec": {
            "schedule": backup.schedule,
            "suspend": backup.suspend or bot.spec.paused,
            "concurrencyPolicy": "Forbid",
            # A run missed by more than this (operator or controller down) is skipped, not counted
            # forever: without a deadline a CronJob stops scheduling after 100 missed runs.
            "startingDeadlineSeconds": STARTING_DEADLINE_S,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": job_labels},
                            "spec": {"backoffLimit": 2, "activeDeadlineSeconds": 1800, "template": pod}},
        },
    }


# The rotation Job revokes the old key only once the bot's Deployment rolled onto the new Secret
# (bot_runtime/rotation.py); it waits at most this long, and the Job's deadline leaves room for that
# wait plus scheduling, an image pull and the CLOB/API calls. A Job killed by the deadline mid-wait
# has revoked nothing: safe.
ROTATION_ROLLOUT_TIMEOUT_S = 600
ROTATION_DEADLINE_S = ROTATION_ROLLOUT_TIMEOUT_S + 600
# No retry (backoffLimit 0): a retried pod would read the Secret, which by then holds the NEW key
# as "old", create a third key and revoke the second - whatever the first attempt left undone (the
# first key, kept after a rollout timeout) would stay valid and unnamed. A failed rotation is
# reported instead (Degraded/RotationFailed) and rerun by a person or the next scheduled run.
ROTATION_BACKOFF_LIMIT = 0


def _rotation_job_spec(bot: TradingBot, settings: Settings) -> Obj:
    return {"backoffLimit": ROTATION_BACKOFF_LIMIT, "activeDeadlineSeconds": ROTATION_DEADLINE_S,
            "template": _rotation_pod(bot, settings)}


def rotator_name(bot: TradingBot) -> str:
    return f"{bot.name}-rotator"


def _rotation_secrets(bot: TradingBot) -> tuple[api.WalletSecretRef, api.CredentialsSecretRef]:
    wallet, creds = bot.spec.walletSecretRef, bot.spec.credentialsSecretRef
    if wallet is None or creds is None:  # callers check wants_rotation_rbac first
        raise ValueError(f"TradingBot {bot.namespace}/{bot.name}: rotation needs spec.walletSecretRef "
                         "and spec.credentialsSecretRef")
    return wallet, creds


def rotation_rbac(bot: TradingBot) -> list[Obj]:
    """ServiceAccount + Role (this bot's credentials Secret and a read of its Deployment, nothing
    else) + RoleBinding for rotation Jobs. The Deployment read lets the Job wait for the bot to
    roll onto the new key before revoking the old one; the operator holds `get` on Deployments
    itself, so it may grant it (RBAC escalation check)."""
    sa = rotator_name(bot)
    _, creds = _rotation_secrets(bot)
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(bot, sa, "rotation")},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(bot, sa, "rotation"),
         "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [creds.name],
                    "verbs": ["get", "update", "patch"]},
                   {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": [bot.name],
                    "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": _meta(bot, sa, "rotation"),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
         "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": bot.namespace}]},
    ]


def _rotation_pod(bot: TradingBot, settings: Settings) -> Obj:
    rotation = bot.spec.keyRotation or KeyRotation()
    wallet, creds = _rotation_secrets(bot)
    volumes: list[Obj] = [{"name": "config", "configMap": {"name": bot.name}},
               _secret_volume("wallet", wallet.name, wallet.keys, None),
               {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}]
    mounts: list[Obj] = [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
              {"name": "wallet", "mountPath": f"{CREDENTIALS_DIR}/wallet", "readOnly": True},
              {"name": "tmp", "mountPath": "/tmp"}]
    args = ["rotate-credentials", "--config", CONFIG_PATH, "--secret", creds.name, "--namespace", bot.namespace,
            "--deployment", bot.name, "--rollout-timeout", str(ROTATION_ROLLOUT_TIMEOUT_S)]
    if rotation.revokeOld:
        args.append("--revoke-old")
    return _job_pod(bot, settings, "rotation", args, mounts, volumes,
                    [{"name": "BOTFLEET_CONFIG", "value": CONFIG_PATH}], service_account=rotator_name(bot))


def rotation_cronjob(bot: TradingBot, settings: Settings) -> Obj | None:
    schedule = bot.spec.keyRotation.schedule if bot.spec.keyRotation else None
    if not schedule:
        return None
    name = bot.name
    return {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": _meta(bot, f"{name}-rotate", "rotation"),
        "spec": {"schedule": schedule, "concurrencyPolicy": "Forbid", "suspend": bot.spec.paused,
                 "startingDeadlineSeconds": STARTING_DEADLINE_S,
                 "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
                 "jobTemplate": {"metadata": {"labels": labels(name, bot.spec.strategy.value, "rotation")},
                                 "spec": _rotation_job_spec(bot, settings)}},
    }


def rotation_job(bot: TradingBot, settings: Settings, trigger: str) -> Obj:
    """A one-off rotation for the manual trigger annotation; its name is derived from the value,
    so re-applying it is idempotent and a new value makes a new Job."""
    job_meta = _meta(bot, f"{bot.name}-rotate-{short_hash(trigger)[:8]}", "rotation",
                     annotations={ANN_ROTATION_TRIGGER: trigger})
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": job_meta,
            "spec": {**_rotation_job_spec(bot, settings), "ttlSecondsAfterFinished": 86400}}


def wants_rotation_rbac(bot: TradingBot) -> bool:
    # live only: rotating signs with the wallet, and a paper bot's API credentials are derived from its paper key
    return bool(bot.spec.mode == "live" and bot.spec.walletSecretRef and bot.spec.credentialsSecretRef)


def desired_objects(bot: TradingBot, settings: Settings, secrets: dict[str, SecretView], *,
                    include_deployment: bool = True) -> list[Obj]:
    """Every object of the bot, in apply order (dependencies first).

    `include_deployment=False` when the Secrets are incomplete: the running pod (if any) is left
    alone rather than rolled onto a Secret it cannot use.
    """
    objs: list[Obj] = [service_account(bot), config_map(bot, settings), journal_pvc(bot, settings)]
    pvc = backup_pvc(bot)
    if pvc:
        objs.append(pvc)
    objs += [network_policy(bot, settings), jobs_network_policy(bot, settings)]
    if include_deployment:
        objs.append(deployment(bot, settings, secrets))
    objs.append(backup_cronjob(bot, settings))
    if wants_rotation_rbac(bot):
        objs += rotation_rbac(bot)
        cron = rotation_cronjob(bot, settings)
        if cron:
            objs.append(cron)
    inputs = _inputs(bot, settings, secrets, include_deployment)
    index = _memoised(bot, inputs)
    if index is None or len(index) != len(objs):
        index = tuple((o["kind"], o["metadata"]["name"], desired_hash(o)) for o in objs)
        _DESIRED_HASHES.put((bot.namespace, bot.name, bot.uid), (inputs, index))
    for obj, (_, _, digest) in zip(objs, index, strict=True):
        obj["metadata"].setdefault("annotations", {})[ANN_DESIRED_HASH] = digest
    return objs


def desired_index(bot: TradingBot, settings: Settings, secrets: dict[str, SecretView], *,
                  include_deployment: bool = True) -> tuple[tuple[str, str, str], ...] | None:
    """(kind, name, desired-state hash) of each object `desired_objects` gives for these inputs,
    if it has computed them before: enough to tell that the observed objects are up to date
    without building the objects again (~40 KB of short-lived dicts per bot and reconcile)."""
    return _memoised(bot, _inputs(bot, settings, secrets, include_deployment))


def _memoised(bot: TradingBot, inputs: Any) -> tuple[tuple[str, str, str], ...] | None:
    entry = _DESIRED_HASHES.get((bot.namespace, bot.name, bot.uid))
    return entry[1] if entry is not None and entry[0] == inputs else None


def _inputs(bot: TradingBot, settings: Settings, secrets: dict[str, SecretView], include_deployment: bool) -> Any:
    # A bot's objects are a pure function of these inputs: their hashes are computed once per change.
    # (The spec by its digest: its JSON is ~1.5 KB.)
    return (hashlib.sha256(bot.spec.model_dump_json().encode()).digest(), settings, frozenset(secrets.items()),
            include_deployment)


# One entry per bot, for its latest inputs (~1.5 KB): room for a large fleet's bots. (Per bot, not
# per inputs: after a shared Secret's rotation a fleet's old entries would double it.)
_DESIRED_HASHES: Memo[tuple[Any, tuple[tuple[str, str, str], ...]]] = Memo(20_000)


def prunable(bot: TradingBot, wanted: set[tuple[str, str]], observed: dict[tuple[str, str], Obj]) -> list[Obj]:
    """Observed objects of this bot that its desired state (`wanted`: kind, name) no longer
    contains: of a prunable kind and controlled by this very TradingBot (its uid), so a retained
    volume (no owner reference) or an object of a previous bot with the same name is never deleted."""
    out = []
    for (kind, name), obj in sorted(observed.items()):
        if kind not in PRUNABLE_KINDS or (kind, name) in wanted:
            continue
        refs = obj.get("metadata", {}).get("ownerReferences") or []
        if any(r.get("uid") == bot.uid and r.get("controller") for r in refs):
            out.append(obj)
    return out


EARLIER_BOT = "earlier TradingBot still being deleted:"


def foreign(bot: TradingBot, existing: Obj) -> str | None:
    """Why the existing object of a desired object's kind and name is not this bot's to write, or
    None. Server-side apply with force would take it over (and garbage collection delete it with the
    bot): a bot named after a namespace's NetworkPolicy, or whose `<bot>-rotator` is a privileged
    ServiceAccount, must not get it. Ours: controlled by this very TradingBot (uid), or a volume that
    `spec.retention` kept for a bot of this name (our labels, no other controller)."""
    meta = existing.get("metadata") or {}
    refs = meta.get("ownerReferences") or []
    controller = next((r for r in refs if r.get("controller")), None)
    if controller is not None and controller.get("uid") == bot.uid:
        return None
    ident = f"{existing.get('kind', '?')} {bot.namespace}/{meta.get('name', '?')}"
    labels_ = meta.get("labels") or {}
    ours = labels_.get(LABEL_BOT) == bot.name and labels_.get(LABEL_MANAGED_BY) == MANAGER
    if existing.get("kind") == "PersistentVolumeClaim" and controller is None and ours:
        return None
    if controller is not None and controller.get("kind") == api.KIND and controller.get("name") == bot.name:
        return f"{ident} belongs to an {EARLIER_BOT} {bot.name} (uid {controller.get('uid')}); it is retried"
    whose = f"controlled by {controller.get('kind')} {controller.get('name')}" if controller else "not created by this bot"
    return (f"{ident} already exists and is {whose}: botfleet does not adopt objects; rename the TradingBot, "
            "or delete that object if it is a leftover")


def key(obj: Obj) -> tuple[str, str, str]:
    """(kind, namespace, name): identity of an object for caches and logs."""
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
