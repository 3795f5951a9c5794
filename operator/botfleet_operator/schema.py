"""pydantic JSON schema -> Kubernetes structural OpenAPI v3 schema.

Structural means: every node has a type, no $ref, no anyOf/oneOf except the int-or-string shape,
no `additionalProperties: false`. Optional fields lose their `null` branch instead of becoming
`nullable`: the API server then prunes an explicit null, so CEL's `has()` stays reliable (a nullable
field would be present-but-null and every rule would need to test for it).
"""

from __future__ import annotations

import copy
from typing import Any

from bot_runtime.contract.formats import FORMAT_KEY

JSON = dict[str, Any]

_DROP = {"title", "additionalProperties", "$defs", "discriminator"}


def inline_refs(schema: JSON) -> JSON:
    """Replace every `$ref: #/$defs/X` by a copy of the definition (our models are not recursive)."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                name = node["$ref"].rsplit("/", 1)[-1]
                merged = {**copy.deepcopy(defs[name]), **{k: v for k, v in node.items() if k != "$ref"}}
                return walk(merged)
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)  # type: ignore[no-any-return]


def _is_null(node: JSON) -> bool:
    return node.get("type") == "null"


def to_structural(node: JSON) -> JSON:
    """Convert one inlined pydantic schema node (recursively)."""
    node = dict(node)
    for key in ("anyOf", "oneOf"):
        if key in node:
            branches = [b for b in node.pop(key) if not _is_null(b)]
            types = sorted(b.get("type", "") for b in branches)
            if types == ["integer", "string"]:
                extra = {k: v for b in branches for k, v in b.items() if k not in ("type",)}
                node.update(extra)
                node["x-kubernetes-int-or-string"] = True
                node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
            elif len(branches) == 1:
                outer = {k: v for k, v in node.items() if k in ("description", "default", FORMAT_KEY)}
                if outer.get("default", 0) is None:
                    outer.pop("default")
                return to_structural({**branches[0], **outer})
            else:
                raise ValueError(f"cannot express {key} {branches} as a structural schema")
            if node.get("default", 0) is None:
                node.pop("default")
    if node.get("default", 0) is None:
        node.pop("default")

    out: JSON = {}
    fmt = node.pop(FORMAT_KEY, None)
    if fmt:
        # A CEL rule instead of `pattern`: its message says what to write, not just the regex.
        node.pop("pattern", None)
        subject = "string(self)" if node.get("x-kubernetes-int-or-string") else "self"
        out["x-kubernetes-validations"] = [{
            "rule": f"{subject}.matches(r'{fmt['regex']}')", "message": fmt["message"], "reason": "FieldValueInvalid"}]
    if "enum" in node and "type" not in node:
        out["type"] = "string"
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "exclusiveMinimum":
            out["minimum"] = value
            out["exclusiveMinimum"] = True
        elif key == "exclusiveMaximum":
            out["maximum"] = value
            out["exclusiveMaximum"] = True
        elif key == "properties":
            out["properties"] = {name: to_structural(sub) for name, sub in value.items()}
        elif key == "items":
            out["items"] = to_structural(value)
        elif key == "const":
            out["enum"] = [value]
        else:
            out[key] = value
    addl = node.get("additionalProperties")
    if out.get("type") == "object" and "properties" not in out:
        if isinstance(addl, dict) and addl:
            out["additionalProperties"] = to_structural(addl)
        else:
            # A free-form object (e.g. affinity): keep what the user wrote instead of pruning it.
            out["x-kubernetes-preserve-unknown-fields"] = True
    if "type" not in out and not out.get("x-kubernetes-int-or-string") \
            and not out.get("x-kubernetes-preserve-unknown-fields"):
        raise ValueError(f"schema node without a type: {node}")
    return out


def strip_defaults(node: JSON) -> JSON:
    """Remove `default` everywhere (the union of strategy params must not default foreign keys)."""
    out = {k: v for k, v in node.items() if k != "default"}
    if "properties" in out:
        out["properties"] = {k: strip_defaults(v) for k, v in out["properties"].items()}
    if "items" in out:
        out["items"] = strip_defaults(out["items"])
    return out


def model_schema(model: Any) -> JSON:
    return to_structural(inline_refs(model.model_json_schema(mode="validation")))
