"""The TradingBot CustomResourceDefinition, generated from the pydantic models plus CEL rules.

`botfleet crd` prints `crd_yaml()`; crds/tradingbots.botfleet.io.yaml is that output (a unit test
fails when they drift). CEL rules carry messages naming the field and the fix; each one is unit-tested
with cel-python (tests/unit/operator/test_operator_cel.py) and end-to-end against a real API server.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import yaml

from bot_runtime.contract import formats
from bot_runtime.contract.config import ALL_SECRET_KEYS, WALLET_KEYS
from bot_runtime.contract.params import PARAM_MODELS, Strategy
from botfleet_operator import api
from botfleet_operator.presets import DEFAULT_RESOURCES
from botfleet_operator.schema import JSON, model_schema, strip_defaults
from botfleet_operator.tenancy import (
    CONTROL_PLANE_KEYS,
    ENV_ALLOWED_NAMES,
    ENV_ALLOWED_PATTERN,
    ENV_ALLOWED_TEXT,
)

# Below this no bot starts (the Python runtime alone needs more); catches "512" (bytes) and "512m".
MIN_MEMORY = "16Mi"


@dataclass(frozen=True)
class Rule:
    """One `x-kubernetes-validations` entry at `path` (property names from the resource root)."""

    path: tuple[str, ...]
    rule: str
    message: str
    message_expression: str | None = None
    field_path: str | None = None
    reason: str | None = None

    def as_dict(self) -> JSON:
        out: JSON = {"rule": self.rule, "message": self.message}
        if self.message_expression:
            out["messageExpression"] = self.message_expression
        if self.field_path:
            out["fieldPath"] = self.field_path
        if self.reason:
            out["reason"] = self.reason
        return out

    @property
    def is_transition(self) -> bool:
        return "oldSelf" in self.rule


def _cel_list(values: list[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def param_owner_rules() -> list[Rule]:
    """One rule per parameter name: it may only appear in `params` of the strategies that own it."""
    owners: dict[str, list[str]] = {}
    for strategy, model in PARAM_MODELS.items():
        for name in model.model_fields:
            owners.setdefault(name, []).append(strategy.value)
    rules = []
    for name, strategies in sorted(owners.items()):
        if len(strategies) == len(Strategy):
            continue
        allowed = _cel_list(strategies)
        rules.append(Rule(
            path=("spec",),
            rule=f"!has(self.params) || !has(self.params.{name}) || self.strategy in {allowed}",
            message=f"spec.params.{name} is a parameter of {' / '.join(strategies)} only; remove it from spec.params",
            message_expression=(
                f"'spec.params.{name} is a parameter of {' / '.join(strategies)}, not ' + self.strategy"
                f" + '; remove it from spec.params'"),
            field_path=f".params.{name}",
            reason="FieldValueForbidden",
        ))
    return rules


def cron_rules(path: tuple[str, ...], example: str) -> list[Rule]:
    """The shape, then one rule per field, so the message names the field that is wrong.

    What the CronJob controller accepts, checked when the TradingBot is applied, not when the
    operator's CronJob later fails to be created (bot_runtime/contract/formats.py has the same checks and is the source of these regexes)."""
    where = ".".join(path)
    shape = f"self.matches(r'{formats.CRON_SHAPE_REGEX}')"
    out = [Rule(path, shape, f"{where} {formats.CRON_SHAPE_MESSAGE}", reason="FieldValueInvalid")]
    for i in range(5):
        out.append(Rule(
            path, f"self.startsWith('@') || !{shape} || self.matches(r'{formats.cron_field_regex(i)}')",
            f"{where}: {formats.cron_field_message(i)}, e.g. '{example}'", reason="FieldValueInvalid"))
    return out


def resource_rules() -> list[Rule]:
    """requests <= limits for each resource, after merging with the strategy's default limits."""
    out = []
    for res in ("cpu", "memory"):
        defaults = "{" + ", ".join(f"'{s.value}': '{DEFAULT_RESOURCES[s]['limits'][res]}'" for s in Strategy) + "}"
        request = f"string(self.resources.requests.{res})"
        limit = (f"(has(self.resources.limits) && has(self.resources.limits.{res}) ? "
                 f"string(self.resources.limits.{res}) : {defaults}[self.strategy])")
        shown = ", ".join(f"{s.value} {DEFAULT_RESOURCES[s]['limits'][res]}" for s in Strategy)
        out.append(Rule(
            ("spec",),
            f"!has(self.resources) || !has(self.resources.requests) || !has(self.resources.requests.{res}) || "
            f"!isQuantity({request}) || !isQuantity({limit}) || "
            f"quantity({request}).compareTo(quantity({limit})) <= 0",
            f"spec.resources.requests.{res} must not exceed the {res} limit (spec.resources.limits.{res}, "
            f"default {shown}); raise spec.resources.limits.{res} or lower the request",
            message_expression=(
                f"'spec.resources.requests.{res} (' + {request} + ') must not exceed the {res} limit (' + {limit} + "
                f"'); raise spec.resources.limits.{res} or lower the request'"),
            field_path=f".resources.requests.{res}", reason="FieldValueInvalid"))
    return out


def quantity_rules() -> list[Rule]:
    """Quantities of the right shape whose value no pod or volume can use (bytes for memory, a size of 0)."""
    out = [Rule(
        ("spec", "backup", "storage", "pvc", "size"),
        "!isQuantity(self) || quantity(self).compareTo(quantity('0')) > 0",
        "spec.backup.storage.pvc.size must be greater than 0, e.g. 10Gi",
        message_expression="'spec.backup.storage.pvc.size (' + self + ') must be greater than 0, e.g. 10Gi'",
        reason="FieldValueInvalid")]
    for kind in ("requests", "limits"):
        where = f"spec.resources.{kind}"
        out.append(Rule(
            ("spec", "resources", kind, "memory"),
            f"!isQuantity(string(self)) || quantity(string(self)).compareTo(quantity('{MIN_MEMORY}')) >= 0",
            f"{where}.memory must be at least {MIN_MEMORY}: a bare number is bytes and a trailing m is "
            "thousandths of a byte; write it in Mi or Gi, e.g. 512Mi",
            message_expression=(
                f"'{where}.memory (' + string(self) + ') must be at least {MIN_MEMORY}: a bare number is bytes "
                "and a trailing m is thousandths of a byte; write it in Mi or Gi, e.g. 512Mi'"),
            reason="FieldValueInvalid"))
        out.append(Rule(
            ("spec", "resources", kind, "cpu"),
            "!isQuantity(string(self)) || quantity(string(self)).compareTo(quantity('0')) > 0",
            f"{where}.cpu must be greater than 0, e.g. 250m (a quarter of a core) or 1",
            reason="FieldValueInvalid"))
    return out


def rules() -> list[Rule]:
    reserved = sorted(ALL_SECRET_KEYS)
    cp_keys = _cel_list(list(CONTROL_PLANE_KEYS))
    cp_text = " / ".join(CONTROL_PLANE_KEYS)
    return [
        # Owned objects are named <bot>, <bot>-backup, <bot>-rotate-<hash>...: a CronJob name is at most
        # 52 characters. A DNS-1035 label (a letter first), as a Service name must be: the metrics
        # Service bots had until 2026-12-06 was one, and a name valid then stays valid.
        Rule((), "self.metadata.name.size() <= 45 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
             "metadata.name must start with a letter, contain only lowercase letters, digits and '-', and be at "
             "most 45 characters (the bot's objects are named after it, and a CronJob's name is at most 52); "
             "choose another name",
             reason="FieldValueInvalid"),
        Rule(("spec", "strategy"), "self == oldSelf",
             "spec.strategy is immutable; delete the TradingBot and create a new one to change strategy",
             reason="FieldValueInvalid"),
        Rule(("spec",), "self.mode != 'live' || has(self.walletSecretRef)",
             "spec.walletSecretRef is required when spec.mode is live; add walletSecretRef.name "
             "(a Secret with PRIVATE_KEY) or set mode: paper",
             field_path=".walletSecretRef", reason="FieldValueRequired"),
        Rule(("spec",),
             "!has(self.keyRotation) || !has(self.keyRotation.schedule) || "
             "(has(self.walletSecretRef) && has(self.credentialsSecretRef))",
             "spec.keyRotation.schedule needs spec.walletSecretRef (to sign the key request) and "
             "spec.credentialsSecretRef (where the new keys are written); add both or remove the schedule",
             field_path=".keyRotation.schedule", reason="FieldValueRequired"),
        Rule(("spec", "journal"), "!has(self.backend) || self.backend != 'postgres' || has(self.urlSecretRef)",
             "spec.journal.urlSecretRef is required when spec.journal.backend is postgres; name the Secret and key "
             "holding the postgresql:// URL, or use backend: sqlite",
             field_path=".urlSecretRef", reason="FieldValueRequired"),
        *param_owner_rules(),
        Rule(("spec", "limits"),
             "!has(self.maxOrderUsd) || !has(self.maxPositionPerMarketUsd) || "
             "self.maxOrderUsd <= self.maxPositionPerMarketUsd",
             "spec.limits.maxOrderUsd must not exceed spec.limits.maxPositionPerMarketUsd; lower maxOrderUsd",
             field_path=".maxOrderUsd"),
        Rule(("spec", "limits"),
             "!has(self.maxPositionPerMarketUsd) || !has(self.maxTotalExposureUsd) || "
             "self.maxPositionPerMarketUsd <= self.maxTotalExposureUsd",
             "spec.limits.maxPositionPerMarketUsd must not exceed spec.limits.maxTotalExposureUsd; "
             "lower it or raise maxTotalExposureUsd",
             field_path=".maxPositionPerMarketUsd"),
        Rule(("spec", "limits"),
             "has(self.maxPositionPerMarketUsd) || !has(self.maxOrderUsd) || !has(self.maxTotalExposureUsd) || "
             "self.maxOrderUsd <= self.maxTotalExposureUsd",
             "spec.limits.maxOrderUsd must not exceed spec.limits.maxTotalExposureUsd; lower maxOrderUsd",
             field_path=".maxOrderUsd"),
        Rule(("spec", "backup"), "!has(self.s3) || has(self.encryption)",
             "spec.backup.s3 requires spec.backup.encryption: backups copied off the cluster hold every "
             "signed order; name a Secret with BACKUP_ENCRYPTION_KEY in spec.backup.encryption.secretRef",
             field_path=".encryption", reason="FieldValueRequired"),
        *cron_rules(("spec", "backup", "schedule"), "0 */6 * * *"),
        *cron_rules(("spec", "keyRotation", "schedule"), "0 3 * * 0"),
        *resource_rules(),
        *quantity_rules(),
        Rule(("spec", "nodeSelector"), f"self.all(k, k.size() <= 317 && k.matches(r'{formats.LABEL_KEY.regex}'))",
             f"spec.nodeSelector: every key {formats.LABEL_KEY.message}", reason="FieldValueInvalid"),
        Rule(("spec", "tolerations"), "self.all(t, !has(t.operator) || t.operator != 'Exists' || !has(t.value) "
             "|| t.value == '')",
             "spec.tolerations: a toleration with operator Exists must not have a value; remove the value or "
             "use operator Equal", reason="FieldValueInvalid"),
        # Fixed placement rules of the operator (tenancy.py), whatever the cluster's scheduling settings.
        Rule(("spec", "tolerations"), "self.all(t, has(t.key) && t.key != '')",
             "spec.tolerations: every toleration needs a key: without one it tolerates every taint (dedicated "
             "and control-plane nodes too); set key to the taint's key, e.g. example.com/dedicated",
             reason="FieldValueRequired"),
        Rule(("spec", "tolerations"), f"self.all(t, !has(t.key) || !(t.key in {cp_keys}))",
             f"spec.tolerations: bots may not run on control-plane nodes; remove the toleration of {cp_text}",
             reason="FieldValueForbidden"),
        Rule(("spec", "nodeSelector"), f"self.all(k, !(k in {cp_keys}))",
             f"spec.nodeSelector: bots may not run on control-plane nodes; remove {cp_text}",
             reason="FieldValueForbidden"),
        Rule(("spec", "affinity"), f"self.all(k, k in {_cel_list(list(api.AFFINITY_KEYS))})",
             f"spec.affinity: only {', '.join(api.AFFINITY_KEYS)} may be set (core/v1 Affinity); check the "
             "spelling of the other keys", reason="FieldValueInvalid"),
        Rule(("spec", "tolerations"), "self.all(t, !has(t.tolerationSeconds) || "
             "(has(t.effect) && t.effect == 'NoExecute'))",
             "spec.tolerations: tolerationSeconds only applies to effect NoExecute; set effect: NoExecute or "
             "remove tolerationSeconds", reason="FieldValueInvalid"),
        Rule(("spec", "env"), f"self.all(e, !(e.name in {_cel_list(reserved)}))",
             "spec.env must not set Secret key names (" + ", ".join(reserved) + "); put them in the "
             "Secret referenced by walletSecretRef or credentialsSecretRef",
             reason="FieldValueForbidden"),
        Rule(("spec", "env"), "self.all(e, !e.name.startsWith('BOTFLEET_'))",
             "spec.env: names starting with BOTFLEET_ are set by the operator from the spec; set the "
             "matching spec field instead", reason="FieldValueForbidden"),
        Rule(("spec", "env"),
             # names the two rules above refuse are theirs to explain (one message per mistake)
             f"self.all(e, e.name in {_cel_list(list(ENV_ALLOWED_NAMES))} || e.name.matches('{ENV_ALLOWED_PATTERN}')"
             f" || e.name in {_cel_list(reserved)} || e.name.startsWith('BOTFLEET_'))",
             f"spec.env: only {ENV_ALLOWED_TEXT} may be set; other variables (OPENAI_BASE_URL, proxies, "
             "PYTHON*, LD_* ...) could send the bot's keys elsewhere or load other code: remove them",
             reason="FieldValueForbidden"),
        Rule(("spec", "walletSecretRef", "keys"), f"self.all(k, k in {_cel_list(list(WALLET_KEYS))})",
             "spec.walletSecretRef.keys: only " + ", ".join(WALLET_KEYS) + " can be mapped to other "
             "key names; remove the other entries", reason="FieldValueInvalid"),
    ]


def _node(schema: JSON, path: tuple[str, ...]) -> JSON:  # () is the root
    node = schema
    for name in path:
        node = node["properties"][name]
    return node


def spec_schema() -> JSON:
    spec = model_schema(api.TradingBotSpec)
    spec["required"] = ["strategy"]
    spec["properties"]["params"] = params_schema()
    return spec


def params_schema() -> JSON:
    """Typed union of every strategy's parameters (bounds included); CEL refuses foreign keys."""
    params = strip_defaults(model_schema(api.PARAMS_MODEL))
    params.pop("required", None)
    params["description"] = api.TradingBotSpec.model_fields["params"].description
    for name, _sub in params["properties"].items():
        per_strategy = [
            strip_defaults(model_schema(model))["properties"][name]
            for model in PARAM_MODELS.values() if name in model.model_fields
        ]
        bare = [{k: v for k, v in s.items() if k != "description"} for s in per_strategy]
        if any(b != bare[0] for b in bare):
            # Two strategies give one name different bounds: refuse to generate an ambiguous schema.
            raise ValueError(f"parameter {name} has different schemas in different strategies: {per_strategy}")
        descriptions = dict.fromkeys(s.get("description", "") for s in per_strategy)
        params["properties"][name] = bare[0] | {"description": " / ".join(d for d in descriptions if d)}
    return params


def status_schema() -> JSON:
    status = model_schema(api.TradingBotStatus)
    conditions = status["properties"]["conditions"]
    conditions["maxItems"] = 16
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    return status


def openapi_schema() -> JSON:
    root: JSON = {
        "type": "object",
        "description": "A Polymarket trading bot run by the botfleet operator.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema(),
            "status": status_schema(),
        },
    }
    for r in rules():
        node = _node(root, r.path)
        node.setdefault("x-kubernetes-validations", []).append(r.as_dict())
    return root


PRINTER_COLUMNS = [
    {"name": "Strategy", "type": "string", "jsonPath": ".spec.strategy"},
    {"name": "Mode", "type": "string", "jsonPath": ".spec.mode"},
    {"name": "Risk", "type": "string", "jsonPath": ".spec.riskProfile"},
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Reason", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].reason'},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def crd() -> JSON:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{api.PLURAL}.{api.GROUP}",
            "labels": {"app.kubernetes.io/name": "botfleet", "app.kubernetes.io/component": "crd"},
        },
        "spec": {
            "group": api.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": api.KIND, "plural": api.PLURAL, "singular": api.SINGULAR,
                "shortNames": api.SHORT_NAMES, "listKind": f"{api.KIND}List", "categories": ["botfleet"],
            },
            "versions": [{
                "name": api.VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": copy.deepcopy(PRINTER_COLUMNS),
                "schema": {"openAPIV3Schema": openapi_schema()},
            }],
        },
    }


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> Any:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def crd_yaml() -> str:
    header = "# Generated by `botfleet crd` from operator/botfleet_operator/api.py; do not edit.\n"
    return header + yaml.dump(crd(), Dumper=_Dumper, sort_keys=False, width=100_000)
