"""Blocking HTTP to the API server for the operator's writes, its Lease and the fleet commands: one
urllib3 pool over the TLS and credentials of a `kubeconfig.Connection`.

The watches are asyncio (aiohttp, watch.py) over the same Connection. On a 401 the credentials are
renewed (a rotated token file, a new exec run) and the request is sent once more.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any
from urllib.parse import urlencode

import urllib3

from botfleet_operator import decode
from botfleet_operator.kubeconfig import Connection

log = logging.getLogger("botfleet.operator")
Obj = dict[str, Any]


class KubeError(RuntimeError):
    """An API call failed; the message has the status and the server's reason, never the request's body."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class ApiClient:
    def __init__(self, conn: Connection, maxsize: int = 64, retries: urllib3.Retry | bool | None = None) -> None:
        self.conn = conn
        self.server = conn.server
        if conn.insecure:  # the kubeconfig asked for it: said once here, not on every request
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            log.warning("TLS verification is off (insecure-skip-tls-verify in %s)", conn.source)
        self.pool = urllib3.PoolManager(
            num_pools=2, maxsize=maxsize, block=False, ssl_context=conn.ssl_context(),
            cert_reqs="CERT_NONE" if conn.insecure else "CERT_REQUIRED", assert_hostname=False if conn.insecure else None,
            retries=urllib3.Retry(3, redirect=0) if retries is None else retries)

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                query: list[tuple[str, str]] | None = None, accept: str = "application/json",
                timeout: float | urllib3.Timeout = 30.0) -> tuple[int, bytes]:
        """(status, body) of one request; `body` is sent as JSON (JSON is valid YAML too: apply patches)."""
        url = f"{self.server}{path}" + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        for attempt in (1, 2):
            headers = {"Accept": accept, **self.conn.headers()}
            if data is not None:
                headers["Content-Type"] = content_type
            response = self.pool.request(method, url, body=data, headers=headers, timeout=timeout)
            if response.status == 401 and attempt == 1:
                self.conn.expire()
                continue
            return response.status, response.data
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, body: Any = None, what: str = "", missing_ok: bool = False,
             **kwargs: Any) -> Obj | None:
        """The decoded answer; None for a 404 when `missing_ok`; KubeError with the server's message
        for any other error, named by `what`."""
        status, raw = self.request(method, path, body, **kwargs)
        if status == 404 and missing_ok:
            return None
        if status >= 400:
            raise KubeError(f"{what or f'{method} {path}'}: HTTP {status}: {error_message(raw)}", status)
        result = decode.loads(raw or b"{}")
        return result if isinstance(result, dict) else {}


def error_message(raw: bytes) -> str:
    """The server's reason from an error response (a Status object), short."""
    with contextlib.suppress(ValueError, AttributeError):
        return str(json.loads(raw).get("message", ""))[:500]
    return raw[:200].decode(errors="replace")
