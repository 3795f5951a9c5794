"""Installs the CRDs (every YAML under a directory) and waits until the API serves them."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def manifest_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def crd_names(files: list[Path]) -> list[str]:
    names: list[str] = []
    for f in files:
        for doc in yaml.safe_load_all(f.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                names.append(str(doc["metadata"]["name"]))
    return names


def install_crds(kubectl: Kubectl, directory: Path, timeout_s: int = 60) -> list[str]:
    """Server-side apply every manifest in ``directory``; returns the CRD names now Established."""
    files = manifest_files(directory)
    for f in files:
        kubectl("apply", "--server-side", "--force-conflicts", "-f", str(f))
    names = crd_names(files)
    for name in names:
        kubectl("wait", "--for=condition=Established", f"--timeout={timeout_s}s", f"crd/{name}")
    return names
