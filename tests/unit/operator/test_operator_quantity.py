"""Resource quantities as the operator compares them (requests never above limits): the same values
as the kubernetes client's parser, which the operator no longer imports (kubeconfig.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from kubernetes.utils.quantity import parse_quantity as reference

from botfleet_operator.quantity import parse_quantity


@pytest.mark.parametrize("text", ["100m", "1", "0.5", "1Gi", "512Mi", "2k", "1e3", "1E3", "1E", "3M", "250u", "7n",
                                  "1.5Ti", "12345", "1Ki", "2P", "1Ei", "5e-1", "+1", "-2Mi", ".5"])
def test_quantities_parse_as_kubernetes_parses_them(text: str) -> None:
    assert parse_quantity(text) == reference(text)


def test_a_request_compares_with_a_limit_exactly() -> None:
    assert parse_quantity("1000m") == parse_quantity("1") == Decimal(1)
    assert parse_quantity("1025Mi") > parse_quantity("1Gi")
    assert parse_quantity(2) == Decimal(2)


@pytest.mark.parametrize("text", ["abc", "1x", "", "Gi", "nan", "inf", "1.2.3"])
def test_a_malformed_quantity_is_refused_with_examples(text: str) -> None:
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse_quantity(text)
