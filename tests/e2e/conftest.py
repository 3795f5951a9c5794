"""End-to-end tests run against a real Kubernetes API (see tests/support/controlplane.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.controlplane import Cluster, cluster, prebuild

_REPO = Path(__file__).resolve().parents[2]

__all__ = ["cluster"]


def pytest_collection_finish(session: pytest.Session) -> None:
    if any("tests/e2e/" in str(item.fspath).replace("\\", "/") for item in session.items):
        prebuild(session)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (without waiting for finalization)."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
