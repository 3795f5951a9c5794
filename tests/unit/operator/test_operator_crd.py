"""The CRD is generated from the models, structural, and the file in crds/ is current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from botfleet_operator import crd
from botfleet_operator.api import TradingBotSpec
from botfleet_operator.cli import crd_command

ROOT = Path(__file__).resolve().parents[3]


def _nodes(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(node, dict):
        if "type" in node or "properties" in node or "x-kubernetes-int-or-string" in node:
            out.append((path, node))
        for key, value in node.items():
            if key in ("properties",):
                for name, sub in value.items():
                    out += _nodes(sub, f"{path}.{name}")
            elif key in ("items", "additionalProperties") and isinstance(value, dict):
                out += _nodes(value, f"{path}[]")
    return out


def test_crds_file_matches_generator() -> None:
    on_disk = (ROOT / "crds" / "tradingbots.botfleet.io.yaml").read_text()
    assert on_disk == crd.crd_yaml(), "crds/ is stale: run `botfleet crd -o crds/tradingbots.botfleet.io.yaml`"


def test_crd_command_prints_the_same_yaml() -> None:
    import typer

    app = typer.Typer()
    app.command()(crd_command)
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.output) == crd.crd()


def test_schema_is_structural() -> None:
    schema = crd.openapi_schema()
    text = yaml.safe_dump(schema)
    assert "$ref" not in text and "nullable" not in text and "title" not in schema
    for path, node in _nodes(schema):
        assert "type" in node or node.get("x-kubernetes-int-or-string") or \
            node.get("x-kubernetes-preserve-unknown-fields"), path
        if "anyOf" in node:
            assert node.get("x-kubernetes-int-or-string"), f"{path}: anyOf outside int-or-string"
        assert node.get("additionalProperties") is not False, path
        assert not ("properties" in node and "additionalProperties" in node), path


def test_preserve_unknown_fields_only_below_affinity_keys() -> None:
    # spec.affinity is a map (CEL names its allowed keys); only the content of each key is free-form.
    preserved = [p for p, n in _nodes(crd.openapi_schema()) if n.get("x-kubernetes-preserve-unknown-fields")]
    assert preserved == [".spec.affinity[]"]


def test_every_spec_field_is_in_the_schema_and_documented() -> None:
    spec = crd.openapi_schema()["properties"]["spec"]
    assert set(spec["properties"]) == set(TradingBotSpec.model_fields)
    for name, node in spec["properties"].items():
        assert node.get("description"), f"spec.{name} has no description"
    assert spec["required"] == ["strategy"]


def test_params_union_has_no_defaults() -> None:
    # A default under params would inject a key of another strategy into every bot.
    params = crd.openapi_schema()["properties"]["spec"]["properties"]["params"]
    assert all("default" not in p for p in params["properties"].values())


def test_names_printer_columns_and_status_subresource() -> None:
    doc = crd.crd()
    names = doc["spec"]["names"]
    assert (names["kind"], names["plural"], names["shortNames"]) == ("TradingBot", "tradingbots", ["tb"])
    assert doc["spec"]["scope"] == "Namespaced"
    version = doc["spec"]["versions"][0]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Strategy", "Mode", "Risk", "Ready", "Reason", "Age"]


def test_strings_and_lists_used_by_cel_rules_are_bounded() -> None:
    # The API server estimates rule cost from maxLength/maxItems; unbounded inputs blow the budget.
    spec = crd.openapi_schema()["properties"]["spec"]["properties"]
    assert spec["backup"]["properties"]["schedule"]["maxLength"] <= 100
    assert spec["keyRotation"]["properties"]["schedule"]["maxLength"] <= 100
    assert spec["env"]["maxItems"] <= 64
    assert spec["env"]["items"]["properties"]["name"]["maxLength"] <= 253
    assert spec["walletSecretRef"]["properties"]["keys"]["maxProperties"] == 3
    assert spec["affinity"]["maxProperties"] == 3
    assert spec["tolerations"]["maxItems"] <= 32 and spec["nodeSelector"]["maxProperties"] <= 32


def test_every_rule_names_a_spec_field_in_its_message() -> None:
    for rule in crd.rules():
        assert "spec." in rule.message or "metadata.name" in rule.message, rule


def test_api_reference_is_current() -> None:
    from botfleet_operator.apidocs import api_reference_markdown

    on_disk = (ROOT / "docs" / "api-reference.md").read_text()
    assert on_disk == api_reference_markdown(), \
        "docs/api-reference.md is stale: run `python -m botfleet_operator.apidocs > docs/api-reference.md`"


# CEL libraries the rules use -> the Kubernetes version that has them (kubernetes.io/docs/reference/using-api/cel).
CEL_LIBRARY_SINCE = {"quantity(": (1, 29), "isQuantity(": (1, 29)}


def test_minimum_kubernetes_version_covers_the_cel_libraries_the_crd_uses() -> None:
    import re

    rules = [r.rule for r in crd.rules()]
    needed = max([(1, 25)] + [v for f, v in CEL_LIBRARY_SINCE.items() if any(f in r for r in rules)])
    chart = yaml.safe_load((ROOT / "helm" / "botfleet" / "Chart.yaml").read_text())
    found = re.fullmatch(r">=(\d+)\.(\d+)\.0-0", chart["kubeVersion"])
    assert found and (int(found[1]), int(found[2])) == needed, chart["kubeVersion"]
    assert f"Kubernetes ≥ {needed[0]}.{needed[1]} " in (ROOT / "docs" / "installation.md").read_text()
