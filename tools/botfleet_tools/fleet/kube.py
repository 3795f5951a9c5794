"""The fleet CLI's reads and writes, through the `kubernetes` client with the user's kubeconfig (so a
person gets exactly their own RBAC: nothing here needs more than reading TradingBots, pods and, for
`check`, the bots' Secrets; `pause`/`resume` patch TradingBots; `restart` patches Deployments)."""

from __future__ import annotations

import builtins
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from botfleet_operator import api
from botfleet_tools.fleet.errors import FleetError, Where, exec_status, explain

Obj = dict[str, Any]
BOT_POD_SELECTOR = "app.kubernetes.io/component=bot"
METRICS_PORT = 9100


def current_context(kubeconfig: str | None) -> str:
    """The kubeconfig's current context, for error messages only."""
    from kubernetes import config

    try:
        return str(config.list_kube_config_contexts(kubeconfig)[1]["name"])
    except Exception:  # only a label in a message: never a reason to fail
        return ""


class FleetKube:
    def __init__(self, kubeconfig: str | None = None, context: str | None = None) -> None:
        from kubernetes import client, config

        try:
            config.load_kube_config(config_file=kubeconfig, context=context)
            self.context = context or current_context(kubeconfig)
        except config.ConfigException:
            # In a pod (a CronJob running `fleet health`), the ServiceAccount; elsewhere the
            # kubeconfig's own error is the one to show, not "service host/port is not set".
            if not os.environ.get("KUBERNETES_SERVICE_HOST"):
                raise
            config.load_incluster_config()
            self.context = "in-cluster"
        self.server = str(client.Configuration.get_default_copy().host or "")
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

    def metrics_text(self, namespace: str, pod: str, timeout_s: float = 3.0) -> tuple[str | None, str]:
        """The bot's /metrics through the API server's pod proxy: (text, "") or (None, why not)."""
        from kubernetes.client.rest import ApiException
        from urllib3.exceptions import HTTPError

        try:
            text = self.core.connect_get_namespaced_pod_proxy_with_path(
                f"{pod}:{METRICS_PORT}", namespace, "metrics", _request_timeout=timeout_s)
        except (ApiException, HTTPError, OSError) as e:
            return None, f"/metrics of pod {pod} could not be read: {explain(e, Where(server=self.server))}"
        return str(text), ""

    def metrics_many(self, targets: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str | None, str]]:
        if not targets:
            return {}
        with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
            return dict(zip(targets, pool.map(lambda t: self.metrics_text(*t), targets), strict=True))

    def patch(self, namespace: str, name: str, body: Obj) -> None:
        """A JSON merge patch of one TradingBot (what `kubectl patch --type merge` sends)."""
        self.custom.patch_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL, name, body)

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
        except ApiException as e:
            if e.status == 404:
                return None
            raise  # 403 and the like: the caller reports it for this bot, not as "not rendered yet"
        return (cm.data or {}).get("config.json")

    def exec_text(self, namespace: str, pod: str, command: list[str], timeout_s: float = 120.0) -> str:
        """The command's stdout, only when it exited 0 in the pod; FleetError saying why otherwise.
        The exit status is on the exec stream's error channel (3), which the client's preloaded
        `stream()` drops: a failed command would look like one that printed nothing."""
        from kubernetes.stream import stream
        from kubernetes.stream.ws_client import ERROR_CHANNEL, STDERR_CHANNEL, STDOUT_CHANNEL

        resp = stream(self.core.connect_get_namespaced_pod_exec, pod, namespace, container="bot",
                      command=command, stderr=True, stdin=False, stdout=True, tty=False,
                      _preload_content=False, _request_timeout=timeout_s)
        try:
            resp.run_forever(timeout=timeout_s)
            still_open = resp.is_open()
            out = resp.read_channel(STDOUT_CHANNEL)
            err = resp.read_channel(STDERR_CHANNEL)
            status = resp.read_channel(ERROR_CHANNEL)
        finally:
            resp.close()
        shown = " ".join(command)
        if still_open:
            raise FleetError(f"`{shown}` in pod {pod} did not finish within {timeout_s:.0f} s")
        problem = exec_status(str(status), str(err), pod, shown)
        if problem:
            raise FleetError(problem)
        return str(out)

    # botfleet_operator.fleet.Bots (last in the class: `list` would shadow the builtin in annotations)
    def list(self, namespace: str | None, selector: str) -> builtins.list[Obj]:
        return self.bots(namespace, selector)
