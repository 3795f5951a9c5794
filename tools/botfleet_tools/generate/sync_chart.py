#!/usr/bin/env python3
"""Copies what the Helm chart must share with the rest of the repository into helm/botfleet/:

- crds/*.yaml              -> helm/botfleet/files/crds/  (the CRDs, byte for byte; templates/crds.yaml
                              renders them so `helm upgrade` upgrades them)
- deploy/rbac/ ClusterRole -> helm/botfleet/files/rbac/clusterrole.yaml (the operator's rules)
- deploy/rbac/ Role        -> helm/botfleet/files/rbac/role.yaml        (the leader-election Lease)

    python -m botfleet_tools.generate.sync_chart           # copy
    python -m botfleet_tools.generate.sync_chart --check   # exit 1 and name what differs (tests/chart runs this)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "helm" / "botfleet"
HEADER = "# Copied from deploy/rbac/ by botfleet_tools.generate.sync_chart: edit deploy/rbac/, then run `make generate`.\n"


def rbac_objects(rbac_dir: Path) -> dict[str, dict]:
    """kind -> the first ClusterRole / Role found in deploy/rbac/*.yaml (multi-document files allowed)."""
    found: dict[str, dict] = {}
    for path in sorted(rbac_dir.glob("*.y*ml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") in ("ClusterRole", "Role"):
                found.setdefault(doc["kind"], doc)
    return found


def expected_files() -> dict[Path, str]:
    """Chart path -> the content it must have."""
    out: dict[Path, str] = {}
    for crd in sorted((REPO / "crds").glob("*.yaml")):
        out[CHART / "files" / "crds" / crd.name] = crd.read_text()
    rbac_dir = REPO / "deploy" / "rbac"
    if rbac_dir.is_dir():
        objs = rbac_objects(rbac_dir)
        for kind, name in (("ClusterRole", "clusterrole.yaml"), ("Role", "role.yaml")):
            if kind in objs:
                out[CHART / "files" / "rbac" / name] = HEADER + yaml.safe_dump(objs[kind], sort_keys=False)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Copy crds/ and deploy/rbac/ into the Helm chart.")
    parser.add_argument("--check", action="store_true", help="Do not write; exit 1 when something differs.")
    args = parser.parse_args(argv)
    files = expected_files()
    if not any(p.parent == CHART / "files" / "crds" for p in files):
        print("crds/ has no CRD yet (botfleet crd -o crds/tradingbots.botfleet.io.yaml)", file=sys.stderr)
    stale = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
    extra = [p for p in sorted((CHART / "files" / "crds").glob("*.yaml")) if p not in files]
    if args.check:
        for p in stale:
            print(f"{p.relative_to(REPO)}: differs from its source; run `make generate`", file=sys.stderr)
        for p in extra:
            print(f"{p.relative_to(REPO)}: no such CRD in crds/; run `make generate`", file=sys.stderr)
        return 1 if stale or extra else 0
    for p in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(files[p])
        print(f"wrote {p.relative_to(REPO)}")
    for p in extra:
        p.unlink()
        print(f"removed {p.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
