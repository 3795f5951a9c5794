"""The operator's writes to the API server: server-side apply, status patches, Events, the Lease.

Thin on purpose: every decision is made by pure functions elsewhere; this module only talks HTTP
(through the `kubernetes` client, so kubeconfig and in-cluster config both work).
"""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import UTC, datetime
from typing import Any, Protocol

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from botfleet_operator import api
from botfleet_operator.resources import MANAGER

Obj = dict[str, Any]

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


class KubeError(RuntimeError):
    """An API call failed; the message has the status and the server's reason, no request body."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


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


def _error(exc: ApiException, what: str) -> KubeError:
    reason = exc.reason or ""
    with contextlib.suppress(ValueError, AttributeError):
        reason = json.loads(exc.body or "{}").get("message", reason)
    return KubeError(f"{what}: HTTP {exc.status}: {reason}", exc.status or 0)


def load_config(kubeconfig: str | None = None) -> client.ApiClient:
    """kubeconfig ($KUBECONFIG, ~/.kube/config) or in-cluster config, whichever is there."""
    cfg = client.Configuration()
    try:
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    except (config.ConfigException, TypeError, FileNotFoundError):
        config.load_incluster_config(client_configuration=cfg)
    cfg.connection_pool_maxsize = 64  # workers share one pool
    if not cfg.verify_ssl:  # the kubeconfig asked for it: say so once, not on every request
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        logging.getLogger("botfleet.operator").warning("TLS verification is off (insecure-skip-tls-verify)")
    return client.ApiClient(cfg)


class ApiKube:
    """`Kube` over the kubernetes client's ApiClient."""

    def __init__(self, api_client: client.ApiClient, identity: str = MANAGER) -> None:
        self.api = api_client
        self.identity = identity

    def _call(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
              query: list[tuple[str, str]] | None = None, accept: str = "application/json") -> Obj:
        # JSON is valid YAML: apply patches (+yaml) are sent as JSON text, JSON bodies as dicts.
        payload = json.dumps(body) if content_type.endswith("yaml") and body is not None else body
        _, url, headers, data, _ = self.api.param_serialize(
            method=method, resource_path=path, query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": accept},
            body=payload, auth_settings=["BearerToken"])
        response = self.api.call_api(method, url, header_params=headers, body=data, _request_timeout=30)
        raw = response.read()
        if response.status >= 400:
            raise ApiException(status=response.status, reason=response.reason, http_resp=response)
        result = json.loads(raw or b"{}")
        return result if isinstance(result, dict) else {}

    def apply(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        path = object_path(obj["kind"], meta["namespace"], meta["name"])
        try:
            return self._call("PATCH", path, obj, "application/apply-patch+yaml",
                              [("fieldManager", MANAGER), ("force", "true")])
        except ApiException as exc:
            raise _error(exc, f"apply {obj['kind']} {meta['namespace']}/{meta['name']}") from None

    def secret_exists(self, namespace: str, name: str) -> bool:
        """Does the Secret exist? Its metadata only (PartialObjectMetadata): a Secret nobody opted in
        for bots is never read, only named in status."""
        try:
            self._call("GET", object_path("Secret", namespace, name),
                       accept="application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1")
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise _error(exc, f"get Secret {namespace}/{name}") from None
        return True

    def delete(self, kind: str, namespace: str, name: str, uid: str | None = None) -> None:
        """Delete one object (pruning); with `uid`, only that very object (a precondition), so a
        newer object of the same name is never hit. Already gone counts as done."""
        body: Obj = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self._call("DELETE", object_path(kind, namespace, name), body)
        except ApiException as exc:
            if exc.status == 404:
                return
            if exc.status == 409 and uid:  # the precondition failed: the object was replaced meanwhile
                return
            raise _error(exc, f"delete {kind} {namespace}/{name}") from None

    def patch_status(self, namespace: str, name: str, status: Obj, resource_version: str | None = None) -> Obj:
        """Write the status; returns the object as stored. With `resource_version` the write is
        conditional: HTTP 409 when the TradingBot changed since (the status was computed from an
        older version). HTTP 404 (the bot is gone) is an error like any other: never a success."""
        path = object_path(api.KIND, namespace, name) + "/status"
        body: Obj = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        try:
            return self._call("PATCH", path, body, "application/merge-patch+json")
        except ApiException as exc:
            raise _error(exc, f"patch status of {namespace}/{name}") from None

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        """A direct read (not from the watch cache); None when the object does not exist."""
        try:
            return self._call("GET", object_path(kind, namespace, name))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _error(exc, f"get {kind} {namespace}/{name}") from None

    def get_metadata(self, kind: str, namespace: str, name: str) -> Obj | None:
        """The object's metadata (PartialObjectMetadata) as the API server's watch cache has it
        (resourceVersion=0: no etcd read), None when it does not exist. For the check before an
        object is first created, which at fleet scale is one read per object of every new bot."""
        try:
            return self._call("GET", object_path(kind, namespace, name), query=[("resourceVersion", "0")],
                              accept="application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1")
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _error(exc, f"get {kind} {namespace}/{name}") from None

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
        try:
            self._call("POST", object_path("Event", meta["namespace"]), body)
        except ApiException as exc:
            raise _error(exc, f"post event for {meta['namespace']}/{meta['name']}") from None

    # Lease (leader election) ---------------------------------------------------------------
    def get_lease(self, namespace: str, name: str) -> Obj | None:
        try:
            return self._call("GET", object_path("Lease", namespace, name))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _error(exc, f"get lease {namespace}/{name}") from None

    def write_lease(self, lease: Obj, create: bool) -> Obj:
        meta = lease["metadata"]
        try:
            if create:
                return self._call("POST", object_path("Lease", meta["namespace"]), lease)
            return self._call("PUT", object_path("Lease", meta["namespace"], meta["name"]), lease)
        except ApiException as exc:
            raise _error(exc, f"write lease {meta['namespace']}/{meta['name']}") from None
