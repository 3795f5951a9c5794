"""The operator's writes to the API server: server-side apply, status patches, Events, the Lease.

Thin on purpose: every decision is made by pure functions elsewhere; this module only talks HTTP
(apiclient.py: a kubeconfig or the pod's service account, kubeconfig.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from botfleet_operator import api
from botfleet_operator.apiclient import ApiClient, KubeError
from botfleet_operator.resources import MANAGER

Obj = dict[str, Any]
PARTIAL_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"

# kind -> (API path prefix, plural)
PATHS: dict[str, tuple[str, str]] = {
    "ServiceAccount": ("/api/v1", "serviceaccounts"),
    "ConfigMap": ("/api/v1", "configmaps"),
    "Service": ("/api/v1", "services"),
    "PersistentVolumeClaim": ("/api/v1", "persistentvolumeclaims"),
    "Secret": ("/api/v1", "secrets"),
    "Event": ("/api/v1", "events"),
    "Pod": ("/api/v1", "pods"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies"),
    "CronJob": ("/apis/batch/v1", "cronjobs"),
    "Job": ("/apis/batch/v1", "jobs"),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings"),
    "Lease": ("/apis/coordination.k8s.io/v1", "leases"),
    api.KIND: (f"/apis/{api.GROUP}/{api.VERSION}", api.PLURAL),
}


class Kube(Protocol):
    def apply(self, obj: Obj) -> Obj: ...
    def delete(self, kind: str, namespace: str, name: str, uid: str | None = None) -> None: ...
    def secret_exists(self, namespace: str, name: str) -> bool: ...
    def patch_status(self, namespace: str, name: str, status: Obj, resource_version: str | None = None) -> Obj: ...
    def get(self, kind: str, namespace: str, name: str) -> Obj | None: ...
    def get_metadata(self, kind: str, namespace: str, name: str) -> Obj | None: ...
    def event(self, bot: Obj, type_: str, reason: str, message: str) -> None: ...


def object_path(kind: str, namespace: str, name: str | None = None) -> str:
    prefix, plural = PATHS[kind]
    path = f"{prefix}/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


class ApiKube:
    """`Kube` over the operator's API client (apiclient.py)."""

    def __init__(self, api_client: ApiClient, identity: str = MANAGER) -> None:
        self.api = api_client
        self.identity = identity

    def _call(self, what: str, method: str, path: str, body: Any = None, content_type: str = "application/json",
              query: list[tuple[str, str]] | None = None, accept: str = "application/json",
              missing_ok: bool = False) -> Obj | None:
        return self.api.call(method, path, body, what, missing_ok, content_type=content_type, query=query,
                             accept=accept)

    def apply(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        return self._call(f"apply {obj['kind']} {meta['namespace']}/{meta['name']}", "PATCH",
                          object_path(obj["kind"], meta["namespace"], meta["name"]), obj,
                          "application/apply-patch+yaml", [("fieldManager", MANAGER), ("force", "true")]) or {}

    def create(self, obj: Obj) -> Obj:
        """POST: fails (409) when the object exists, where an apply would take it over."""
        meta = obj["metadata"]
        return self._call(f"create {obj['kind']} {meta['namespace']}/{meta['name']}", "POST",
                          object_path(obj["kind"], meta["namespace"]), obj) or {}

    def secret_exists(self, namespace: str, name: str) -> bool:
        """Does the Secret exist? Its metadata only (PartialObjectMetadata): a Secret nobody opted in
        for bots is never read, only named in status."""
        return self._call(f"get Secret {namespace}/{name}", "GET", object_path("Secret", namespace, name),
                          accept=PARTIAL_METADATA, missing_ok=True) is not None

    def delete(self, kind: str, namespace: str, name: str, uid: str | None = None) -> None:
        """Delete one object (pruning); with `uid`, only that very object (a precondition), so a
        newer object of the same name is never hit. Already gone counts as done."""
        body: Obj = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self._call(f"delete {kind} {namespace}/{name}", "DELETE", object_path(kind, namespace, name), body,
                       missing_ok=True)
        except KubeError as exc:
            if exc.status == 409 and uid:  # the precondition failed: the object was replaced meanwhile
                return
            raise

    def patch_status(self, namespace: str, name: str, status: Obj, resource_version: str | None = None) -> Obj:
        """Write the status; returns the object as stored. With `resource_version` the write is
        conditional: HTTP 409 when the TradingBot changed since (the status was computed from an
        older version). HTTP 404 (the bot is gone) is an error like any other: never a success."""
        body: Obj = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        return self._call(f"patch status of {namespace}/{name}", "PATCH",
                          object_path(api.KIND, namespace, name) + "/status", body,
                          "application/merge-patch+json") or {}

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        """A direct read (not from the watch cache); None when the object does not exist."""
        return self._call(f"get {kind} {namespace}/{name}", "GET", object_path(kind, namespace, name),
                          missing_ok=True)

    def get_metadata(self, kind: str, namespace: str, name: str) -> Obj | None:
        """The object's metadata (PartialObjectMetadata) as the API server's watch cache has it
        (resourceVersion=0: no etcd read), None when it does not exist. For the check before an
        object is first created, which at fleet scale is one read per object of every new bot."""
        return self._call(f"get {kind} {namespace}/{name}", "GET", object_path(kind, namespace, name),
                          query=[("resourceVersion", "0")], accept=PARTIAL_METADATA, missing_ok=True)

    def event(self, bot: Obj, type_: str, reason: str, message: str) -> None:
        meta = bot["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {"apiVersion": api.API_VERSION, "kind": api.KIND, "name": meta["name"],
                               "namespace": meta["namespace"], "uid": meta.get("uid")},
            "type": type_, "reason": reason, "message": message[:1024],
            "source": {"component": MANAGER}, "reportingComponent": MANAGER,
            "reportingInstance": self.identity[:128],
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        self._call(f"post event for {meta['namespace']}/{meta['name']}", "POST",
                   object_path("Event", meta["namespace"]), body)
