"""End-to-end tests run against a real Kubernetes API (see tests/support/controlplane.py)."""

from __future__ import annotations

import importlib.util
import sys
import types
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]


def _use_repo_tests_package() -> None:
    """Make `tests.support` resolve to this repo even though a dependency (py_order_utils) installs
    a top-level `tests` package into site-packages, which beats our namespace package."""
    if str(_REPO) not in sys.path:
        sys.path.insert(0, str(_REPO))
    ours = str(_REPO / "tests")
    spec = importlib.util.find_spec("tests")
    if spec is None or ours not in list(spec.submodule_search_locations or []):
        pkg = types.ModuleType("tests")
        pkg.__path__ = [ours]
        sys.modules["tests"] = pkg


_use_repo_tests_package()

from tests.support.controlplane import Cluster, cluster, prebuild  # noqa: E402

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
