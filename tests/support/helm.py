"""Helm for the chart tests: the binary, rendering, and offline validation against Kubernetes' schemas.

- :func:`helm_binary`: ``BOTFLEET_HELM``, else the control plane's build (tools/controlplane/build.sh,
  which builds helm from its Go module), else ``.cache/tools/helm``, else ``helm`` on PATH.
- :class:`KubeSchemas`: the OpenAPI (swagger 2.0) definitions of the Kubernetes version the control
  plane is built from, read from the Go module cache (``k8s.io/kubernetes/api/openapi-spec``), as
  JSON schemas — strict like ``kubeconform -strict``: an unknown field is an error.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "botfleet"
# Offline rendering needs a Kubernetes version: helm built from source without its release
# ldflags assumes v1.20, below the chart's kubeVersion (>= 1.29, for the CRD's CEL quantity rules).
KUBE_VERSION = "1.36.3"
CONTROLPLANE = REPO / "tools" / "controlplane"
# The selector of the chart's bot PodMonitor (templates/servicemonitor.yaml; tests/chart checks the
# rendered one is this): the bot's own pod, never its backup or rotation Job pods.
BOT_PODMONITOR_SELECTOR = {"app.kubernetes.io/managed-by": "botfleet-operator", "app.kubernetes.io/component": "bot"}


def built_binary(name: str) -> str | None:
    """A binary tools/controlplane/build.sh builds (helm, kube-score, ...), else one on PATH."""
    env = os.environ.get(f"BOTFLEET_{name.upper().replace('-', '_')}")
    if env:
        return env if Path(env).is_file() else None
    candidates: list[Path] = []
    if shutil.which("go") and (CONTROLPLANE / "build.sh").exists():
        proc = subprocess.run(["bash", str(CONTROLPLANE / "build.sh"), "--print-dir"], capture_output=True,
                              text=True, check=False, timeout=60)
        if proc.returncode == 0 and proc.stdout.strip():
            candidates.append(Path(proc.stdout.strip().splitlines()[-1]) / name)
    cache = Path(os.environ.get("BOTFLEET_CACHE", REPO / ".cache"))
    candidates += [*sorted(cache.glob(f"controlplane/*/bin/{name}")), cache / "tools" / name]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    return shutil.which(name)


def helm_binary() -> str | None:
    return built_binary("helm")


class HelmError(Exception):
    pass


def helm(*args: str, binary: str | None = None, check: bool = True,
         env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    exe = binary or helm_binary()
    if exe is None:
        raise HelmError("no helm binary (tools/controlplane/build.sh builds one)")
    # A private HOME-like config so no user repositories or plugins take part.
    base = Path(os.environ.get("BOTFLEET_CACHE", REPO / ".cache")) / "helm-home"
    full_env = {**os.environ, "HELM_CONFIG_HOME": str(base / "config"), "HELM_CACHE_HOME": str(base / "cache"),
                "HELM_DATA_HOME": str(base / "data"), **(env or {})}
    proc = subprocess.run([exe, *args], capture_output=True, text=True, env=full_env, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise HelmError(f"helm {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def render(*args: str, chart: Path = CHART, release: str = "botfleet", namespace: str = "botfleet-system",
           values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """`helm template` -> the rendered objects (empty documents dropped)."""
    extra: list[str] = []
    if values is not None:
        extra += ["--values", "-"]
    cmd = ["template", release, str(chart), "--namespace", namespace, "--kube-version", KUBE_VERSION, *extra, *args]
    exe = helm_binary()
    if exe is None:
        raise HelmError("no helm binary (tools/controlplane/build.sh builds one)")
    proc = subprocess.run([exe, *cmd], input=json.dumps(values) if values is not None else None,
                          capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode != 0:
        raise HelmError(f"helm {' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def by_kind(objs: Sequence[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o.get("kind") == kind]


# ---- Kubernetes schemas ----

def kubernetes_module_dir() -> Path | None:
    """The k8s.io/kubernetes module source the control plane is built from (Go module cache)."""
    if not shutil.which("go"):
        return None
    proc = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/kubernetes"],
                          cwd=CONTROLPLANE / "kubernetes", capture_output=True, text=True, check=False,
                          timeout=120, env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"})
    d = Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None
    return d if d is not None and (d / "api" / "openapi-spec" / "swagger.json").exists() else None


def _strict(node: Any) -> Any:
    """kubeconform -strict: objects with declared properties reject undeclared ones."""
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


class KubeSchemas:
    """JSON-schema validation of built-in kinds, keyed by (apiVersion, kind)."""

    def __init__(self, swagger: dict[str, Any]) -> None:
        defs = copy.deepcopy(swagger["definitions"])
        # Types that are "string" on the wire but also accept numbers in manifests.
        defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["string", "integer"]}
        defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {"type": ["string", "number"]}
        self.definitions = _strict(defs)
        self.index: dict[tuple[str, str], str] = {}
        for name, d in swagger["definitions"].items():
            for gvk in d.get("x-kubernetes-group-version-kind", []):
                api = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
                self.index[(api, gvk["kind"])] = name

    @classmethod
    @functools.cache
    def load(cls) -> KubeSchemas | None:
        d = kubernetes_module_dir()
        return cls(json.loads((d / "api" / "openapi-spec" / "swagger.json").read_text())) if d else None

    def knows(self, obj: dict[str, Any]) -> bool:
        return (obj.get("apiVersion", ""), obj.get("kind", "")) in self.index

    def errors(self, obj: dict[str, Any]) -> Iterator[str]:
        import jsonschema

        name = self.index[(obj["apiVersion"], obj["kind"])]
        schema = {"definitions": self.definitions, "$ref": f"#/definitions/{name}"}
        validator = jsonschema.Draft4Validator(schema)
        for err in validator.iter_errors(obj):
            path = ".".join(str(p) for p in err.absolute_path)
            yield f"{obj['kind']}/{obj.get('metadata', {}).get('name')}: {path}: {err.message}"


def crd_schema(crd_path: Path, version: str = "v1alpha1") -> dict[str, Any]:
    crd = yaml.safe_load(crd_path.read_text())
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            return dict(v["schema"]["openAPIV3Schema"])
    raise KeyError(f"{crd_path}: no version {version}")
