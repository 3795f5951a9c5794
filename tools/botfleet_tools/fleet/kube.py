"""The fleet CLI's reads and writes, through the `kubernetes` client with the user's kubeconfig (so a
person gets exactly their own RBAC: nothing here needs more than reading TradingBots, pods and, for
`check`, the bots' Secrets; `pause`/`resume` patch TradingBots; `restart` patches Deployments)."""

from __future__ import annotations

import builtins
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from botfleet_operator import api

Obj = dict[str, Any]
BOT_POD_SELECTOR = "app.kubernetes.io/component=bot"
METRICS_PORT = 9100


class FleetKube:
    def __init__(self, kubeconfig: str | None = None, context: str | None = None) -> None:
        from kubernetes import client, config

        try:
            config.load_kube_config(config_file=kubeconfig, context=context)
        except config.ConfigException:
            config.load_incluster_config()
        self._client = client
        self.api = client.ApiClient()
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.apps = client.AppsV1Api(self.api)

    def _plain(self, obj: Any) -> Obj:
        return dict(self.api.sanitize_for_serialization(obj))

    def bots(self, namespace: str | None, selector: str = "") -> list[Obj]:
        res: Any
        if namespace:
            res = self.custom.list_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL,
                                                            label_selector=selector)
        else:
            res = self.custom.list_cluster_custom_object(api.GROUP, api.VERSION, api.PLURAL, label_selector=selector)
        items: list[Obj] = res.get("items", [])
        return sorted(items, key=lambda b: (b["metadata"].get("namespace", ""), b["metadata"]["name"]))

    def bot_pods(self, namespace: str | None) -> list[Obj]:
        if namespace:
            res = self.core.list_namespaced_pod(namespace, label_selector=BOT_POD_SELECTOR)
        else:
            res = self.core.list_pod_for_all_namespaces(label_selector=BOT_POD_SELECTOR)
        return [self._plain(p) for p in res.items]

    def metrics_text(self, namespace: str, pod: str, timeout_s: float = 3.0) -> str | None:
        """The bot's /metrics through the API server's pod proxy; None when it cannot be read."""
        from kubernetes.client.rest import ApiException
        from urllib3.exceptions import HTTPError

        try:
            text = self.core.connect_get_namespaced_pod_proxy_with_path(
                f"{pod}:{METRICS_PORT}", namespace, "metrics", _request_timeout=timeout_s)
        except (ApiException, HTTPError, OSError):
            return None
        return str(text)

    def metrics_many(self, targets: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        if not targets:
            return {}
        with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
            return dict(zip(targets, pool.map(lambda t: self.metrics_text(*t), targets), strict=True))

    def set_paused(self, namespace: str, name: str, paused: bool) -> None:
        self.custom.patch_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL, name,
                                                   {"spec": {"paused": paused}})

    def restart(self, namespace: str, name: str) -> None:
        """What `kubectl rollout restart` does: a new pod-template annotation. The operator's
        server-side apply does not own it, so it stays; the Deployment (Recreate) replaces the pod."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        self.apps.patch_namespaced_deployment(
            name, namespace, {"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": now}}}}})

    def secret_data(self, namespace: str, name: str) -> tuple[dict[str, str], dict[str, str]] | None:
        """(decoded data, labels) of a Secret, None when it does not exist."""
        import base64

        from kubernetes.client.rest import ApiException

        try:
            s = self.core.read_namespaced_secret(name, namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        return ({k: base64.b64decode(v).decode(errors="replace") for k, v in (s.data or {}).items()},
                dict((s.metadata.labels if s.metadata else None) or {}))

    def config_json(self, namespace: str, name: str) -> str | None:
        from kubernetes.client.rest import ApiException

        try:
            cm = self.core.read_namespaced_config_map(name, namespace)
        except ApiException:
            return None
        return (cm.data or {}).get("config.json")

    def exec_text(self, namespace: str, pod: str, command: list[str], timeout_s: float = 60.0) -> str:
        from kubernetes.stream import stream

        return str(stream(self.core.connect_get_namespaced_pod_exec, pod, namespace, container="bot",
                          command=command, stderr=False, stdin=False, stdout=True, tty=False,
                          _request_timeout=timeout_s))

    # botfleet_operator.fleet.Bots (last in the class: `list` would shadow the builtin in annotations)
    def list(self, namespace: str | None, selector: str) -> builtins.list[Obj]:
        return self.bots(namespace, selector)
