"""A small stand-in for the API server's validation of a custom resource, for unit tests.

It applies schema defaults, checks types, enums, bounds, patterns, lengths, required and unknown
fields (strict field validation, as `kubectl apply` requests), then evaluates every CEL
`x-kubernetes-validations` rule with cel-python, with numbers typed as the schema says (CEL sees a
`number` field as a double even when YAML wrote an integer). The Kubernetes CEL quantity library
(`quantity()`, `isQuantity()`, `compareTo()`) is provided with the client's own quantity parser.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes
from kubernetes.utils.quantity import parse_quantity

from bot_runtime.contract.formats import QUANTITY

JSON = dict[str, Any]
_ENV = celpy.Environment()
_MISSING = object()


class _Quantity(celtypes.StringType):
    """A parsed quantity (the Kubernetes CEL library's type); kept as its canonical text."""


def _quantity(value: Any) -> Any:
    if not re.fullmatch(QUANTITY.regex, str(value)):
        return celpy.CELEvalError(f"quantities must match the regular expression: {value}")
    return _Quantity(str(value))


def _is_quantity(value: Any) -> Any:
    return celtypes.BoolType(bool(re.fullmatch(QUANTITY.regex, str(value))))


def _compare_to(a: Any, b: Any) -> Any:
    qa, qb = parse_quantity(str(a)), parse_quantity(str(b))
    return celtypes.IntType((qa > qb) - (qa < qb))


# Functions of the API server's CEL environment that cel-python lacks.
K8S_FUNCTIONS: dict[str, Any] = {"quantity": _quantity, "isQuantity": _is_quantity, "compareTo": _compare_to}


@dataclass
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def default(schema: JSON, value: Any) -> Any:
    """Apply `default`s below `value` (the API server defaults nested fields of present objects)."""
    if isinstance(value, dict) and "properties" in schema:
        out = dict(value)
        for name, sub in schema["properties"].items():
            if name not in out and "default" in sub:
                out[name] = copy.deepcopy(sub["default"])
            if name in out:
                out[name] = default(sub, out[name])
        return out
    if isinstance(value, list) and "items" in schema:
        return [default(schema["items"], v) for v in value]
    return value


def _typed(schema: JSON, value: Any) -> Any:
    if schema.get("type") == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict):
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        return {k: _typed(props.get(k, {}) if props else (addl or {}), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(schema.get("items", {}), v) for v in value]
    return value


def _check_type(schema: JSON, value: Any) -> str | None:
    if schema.get("x-kubernetes-int-or-string"):
        return None if isinstance(value, (int, str)) and not isinstance(value, bool) else "must be int or string"
    expected = schema.get("type")
    ok = {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
    }.get(expected or "", True)
    return None if ok else f"must be of type {expected}"


def structural(schema: JSON, value: Any, path: str) -> list[Problem]:
    problems: list[Problem] = []
    err = _check_type(schema, value)
    if err:
        return [Problem(path, err)]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(Problem(path, f"Unsupported value: {value!r}: supported values: {schema['enum']}"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema:
            low = schema["minimum"]
            if value < low or (schema.get("exclusiveMinimum") and value == low):
                problems.append(Problem(path, f"should be greater than {'' if schema.get('exclusiveMinimum') else 'or equal to '}{low}"))
        if "maximum" in schema:
            high = schema["maximum"]
            if value > high or (schema.get("exclusiveMaximum") and value == high):
                problems.append(Problem(path, f"should be less than {'' if schema.get('exclusiveMaximum') else 'or equal to '}{high}"))
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(Problem(path, "Too long"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            problems.append(Problem(path, "Too short"))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(Problem(path, f"should match '{schema['pattern']}'"))
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(Problem(path, "Too many items"))
        for i, item in enumerate(value):
            problems += structural(schema.get("items", {}), item, f"{path}[{i}]")
    if isinstance(value, dict) and not schema.get("x-kubernetes-preserve-unknown-fields"):
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            problems.append(Problem(path, "Too many properties"))
        for name in schema.get("required", []):
            if name not in value:
                problems.append(Problem(f"{path}.{name}", "Required value"))
        props = schema.get("properties")
        for name, item in value.items():
            if props is not None:
                if name not in props:
                    problems.append(Problem(f"{path}.{name}", "unknown field"))
                else:
                    problems += structural(props[name], item, f"{path}.{name}")
            elif "additionalProperties" in schema:
                problems += structural(schema["additionalProperties"], item, f"{path}.{name}")
    return problems


def cel(schema: JSON, value: Any, old: Any, path: str) -> list[Problem]:
    problems: list[Problem] = []
    for rule in schema.get("x-kubernetes-validations", []):
        is_transition = "oldSelf" in rule["rule"]
        if is_transition and old is _MISSING:
            continue
        act: JSON = {"self": celpy.json_to_cel(_typed(schema, value))}
        if is_transition:
            act["oldSelf"] = celpy.json_to_cel(_typed(schema, old))
        result = _ENV.program(_ENV.compile(rule["rule"]), functions=K8S_FUNCTIONS).evaluate(act)
        if isinstance(result, celpy.CELEvalError):
            raise AssertionError(f"rule {rule['rule']!r} failed to evaluate at {path}: {result}")
        if not result:
            message = rule["message"]
            if "messageExpression" in rule:
                message = str(_ENV.program(_ENV.compile(rule["messageExpression"]), functions=K8S_FUNCTIONS)
                              .evaluate(act))
            problems.append(Problem(path + rule.get("fieldPath", ""), message))
    if isinstance(value, dict) and "properties" in schema:
        for name, sub in schema["properties"].items():
            if name in value:
                old_sub = old.get(name, _MISSING) if isinstance(old, dict) else _MISSING
                problems += cel(sub, value[name], old_sub, f"{path}.{name}")
    if isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for name, item in value.items():
            problems += cel(schema["additionalProperties"], item, _MISSING, f"{path}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += cel(schema["items"], item, _MISSING, f"{path}[{i}]")
    return problems


def validate(schema: JSON, obj: JSON, old: JSON | None = None) -> list[Problem]:
    """Problems the API server would report for creating `obj` (or updating `old` to `obj`)."""
    obj = default(schema, obj)
    problems = structural(schema, obj, "")
    if problems:
        return problems
    old_value: Any = _MISSING if old is None else default(schema, old)
    return cel(schema, obj, old_value, "")
