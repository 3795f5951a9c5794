"""The dev cluster's volume provisioner: a PersistentVolume (a host directory) for every pending
claim of the default StorageClass, and the directory removed once the volume is released.

Why not rancher/local-path-provisioner: it needs a helper-pod image and a Go build on top of the
control plane's; this loop is ~100 lines, binds claims on the real node and on kwok's fake node
alike, and makes no network call except to the API server. It is a development tool: one host, no
capacity accounting, directories world-writable (a hostPath volume ignores the pod's fsGroup and the
bot runs as a non-root user).

Run by the local control plane (plane.py) as ``python -m botfleet_tools.devcluster.provisioner``.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

PROVISIONER_NAME = "botfleet.io/devcluster-hostpath"
STORAGE_CLASS = "botfleet-local"
log = logging.getLogger("botfleet.provisioner")


def storage_class() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS,
                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": PROVISIONER_NAME,
        "reclaimPolicy": "Delete",
        # As kind's and the clouds' default classes: a claim waits for its pod to be scheduled, then
        # gets a volume on the node chosen (an Immediate class would make every new pod fail
        # scheduling until its claim binds, a storm of retries and Events no real cluster has).
        "volumeBindingMode": "WaitForFirstConsumer",
    }


def pv_name(claim: dict[str, Any]) -> str:
    """Deterministic, so a restart never makes a second volume for one claim."""
    return f"pvc-{claim['metadata']['uid']}"


# Set on a claim by the control plane's PV controller once it found no existing volume to bind and
# the claim's class names an external provisioner: the provisioner's cue, as for every CSI one.
ANN_PROVISIONER = ("volume.kubernetes.io/storage-provisioner", "volume.beta.kubernetes.io/storage-provisioner")
# Set by the scheduler on a claim of a WaitForFirstConsumer class: the node its first pod goes to.
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"


def volume_for(claim: dict[str, Any], base: Path, storage_class: str) -> dict[str, Any] | None:
    """The PersistentVolume for a pending claim of ``storage_class`` that the PV controller handed
    to this provisioner, or None when not ours (yet). Pure.

    Only on the PV controller's cue, like a real provisioner: a claim that an existing volume
    (pre-bound, or matching) can take is bound to it, never given a second one."""
    spec, meta = claim.get("spec", {}), claim["metadata"]
    if claim.get("status", {}).get("phase") != "Pending" or spec.get("volumeName"):
        return None
    if spec.get("storageClassName") != storage_class:
        return None
    annotations = meta.get("annotations") or {}
    if PROVISIONER_NAME not in (annotations.get(a) for a in ANN_PROVISIONER):
        return None
    size = spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")
    name = pv_name(claim)
    node = annotations.get(ANN_SELECTED_NODE)
    # A host directory exists on one node only: the volume says which, as local-path's do.
    affinity = {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": [node]}]}]}}} if node else {}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {"botfleet.io/provisioned-by": "devcluster"},
                     "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER_NAME}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": storage_class,
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "hostPath": {"path": str(base / name), "type": "DirectoryOrCreate"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": meta["namespace"],
                         "name": meta["name"], "uid": meta["uid"]},
            **affinity,
        },
    }


def volumes_to_make(claims: list[dict[str, Any]], existing: set[str], base: Path,
                    storage_class: str) -> list[dict[str, Any]]:
    """The volumes to create for these claims: one per claim handed to this provisioner whose volume
    (by its deterministic name) does not exist yet. A volume made on an earlier pass stays
    unbound until the PV controller's single claim worker gets to it, which under a fleet's
    creation takes tens of seconds: creating it again each second was a refused POST each time
    (1.3 per claim at 1,000 bots). Pure."""
    out = []
    for claim in claims:
        volume = volume_for(claim, base, storage_class)
        if volume is not None and volume["metadata"]["name"] not in existing:
            out.append(volume)
    return out


_SAFE = re.compile(r"^pvc-[0-9a-f-]{36}$")


class Provisioner:
    def __init__(self, kubeconfig: str, base: Path, storage_class: str = STORAGE_CLASS) -> None:
        from kubernetes import client, config

        self.base = base
        self.storage_class = storage_class
        api = config.new_client_from_config(config_file=kubeconfig)
        self.core = client.CoreV1Api(api)

    def sync(self) -> None:
        from kubernetes.client.exceptions import ApiException

        # Raw JSON, not the client's models: polled every second, and at 1,000 claims the models'
        # (de)serialisation took more CPU than the rest of this loop together (bench_operator_scale).
        volumes = json.loads(self.core.list_persistent_volume(
            label_selector="botfleet.io/provisioned-by=devcluster",
            _preload_content=False).data)["items"]  # type: ignore[attr-defined]  # the raw response
        claims = json.loads(self.core.list_persistent_volume_claim_for_all_namespaces(
            _preload_content=False).data)["items"]  # type: ignore[attr-defined]
        for volume in volumes_to_make(claims, {v["metadata"]["name"] for v in volumes}, self.base,
                                      self.storage_class):
            path = Path(volume["spec"]["hostPath"]["path"])
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o777)  # see the module docstring
            try:
                self.core.create_persistent_volume(volume)  # type: ignore[arg-type]  # a dict serializes as is
                log.info("provisioned %s for %s", volume["metadata"]["name"],
                         "/".join((volume["spec"]["claimRef"]["namespace"], volume["spec"]["claimRef"]["name"])))
            except ApiException as exc:
                if exc.status != 409:  # 409: made since the list above (another provisioner's pass)
                    raise
        for volume in volumes:
            name = volume["metadata"]["name"]
            if volume.get("status", {}).get("phase") in ("Released", "Failed") and _SAFE.match(name):
                shutil.rmtree(self.base / name, ignore_errors=True)
                try:
                    self.core.delete_persistent_volume(name)
                except ApiException as exc:
                    if exc.status != 404:
                        raise
                log.info("deleted released volume %s", name)

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                self.sync()
            except Exception as exc:  # the API server restarting, a transient error: retry
                log.warning("sync failed: %s", exc)
            stop.wait(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--dir", required=True, type=Path, help="where volume directories are made")
    parser.add_argument("--storage-class", default=STORAGE_CLASS)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    args.dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    Provisioner(args.kubeconfig, args.dir, args.storage_class).run(stop, args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
