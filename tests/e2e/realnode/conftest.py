"""Tests on a real node (`-m realnode`): pods run as containers; see tests/support/realnode.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.realnode import RealCluster, prebuild_images, real_cluster

__all__ = ["real_cluster"]


def pytest_collection_finish(session: pytest.Session) -> None:
    if any("tests/e2e/realnode/" in str(item.fspath).replace("\\", "/") for item in session.items):
        prebuild_images(session)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/realnode/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.realnode)
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def real_ns(real_cluster: RealCluster) -> Iterator[str]:
    """A fresh namespace on the real cluster, deleted afterwards (its pods' containers with it)."""
    name = f"rn-{uuid.uuid4().hex[:8]}"
    real_cluster.cluster.kubectl("create", "namespace", name)
    yield name
    real_cluster.cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
