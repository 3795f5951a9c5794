"""Pure: what went wrong between `botfleet fleet` and the cluster, as one line a person can act on.

Every subcommand goes through `explain` (cli.py's `api_errors`), so a bad selector, missing RBAC or an
unreachable API server reads the same everywhere, and no traceback (whose frames may hold a Secret's
data) is ever printed. The kubernetes client is recognised by duck typing, so this module imports
nothing of it."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

# Exit codes of `botfleet fleet …` (documented in docs/operations.md).
EXIT_FAILED = 1    # some bots failed (a check, a read or a write); every other bot was still handled
EXIT_NO_RUN = 2    # the command could not run: bad option or selector, no cluster, RBAC refused the list
EXIT_PARTIAL = 3   # `trades --allow-partial` wrote what it could read; the missing bots are on stderr


class FleetError(Exception):
    """A failure whose text is already the user's message (say what happened and what to do)."""


@dataclass(frozen=True)
class Where:
    """What the command was pointed at, for the message: none of it is secret."""

    selector: str = ""
    kubeconfig: str | None = None
    context: str = ""
    server: str = ""


@dataclass(frozen=True)
class BotProblem:
    """One bot the command could not read or change."""

    namespace: str
    name: str
    reason: str

    @property
    def line(self) -> str:
        return f"error: {self.namespace}/{self.name}: {self.reason}"


def _server_message(body: Any) -> str:
    """The `message` of a Kubernetes Status body (JSON), else the body's first line."""
    if not body:
        return ""
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    try:
        doc = json.loads(text)
    except ValueError:
        m = re.search(r'"message"\s*:\s*"((?:[^"\\]|\\.)*)"', text)
        return m.group(1).replace('\\"', '"') if m else text.strip().splitlines()[0][:300] if text.strip() else ""
    return str(doc.get("message", "")) if isinstance(doc, dict) else ""


def _handshake_body(reason: str) -> str:
    """The response body of a refused websocket upgrade: "Handshake status … -+-+- headers -+-+- b'body'"."""
    body = reason.rsplit("-+-+-", 1)[-1].strip()
    if body[:2] in ("b'", 'b"'):
        try:
            value = ast.literal_eval(body)
        except (ValueError, SyntaxError):
            return body
        return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return body


def _forbidden(message: str) -> str:
    # `User "alice" cannot list resource "tradingbots" in API group "botfleet.io" at the cluster scope`
    m = re.search(r'cannot (\w+) resource "([^"]+)"(?: in API group "([^"]*)")?', message)
    if not m:
        return f"forbidden (403): {message or 'no reason given'}"
    verb, resource, group = m.group(1), m.group(2), m.group(3) or ""
    what = f"{resource}.{group}" if group else resource
    scope = " in every namespace (or pass -n NAMESPACE)" if "cluster scope" in message else ""
    return (f"forbidden: your RBAC lacks `{verb}` on `{what}`{scope}; ask a cluster admin for a Role granting it "
            f"(server: {message})")


def _unreachable(detail: str, where: Where) -> str:
    cfg = where.kubeconfig or "~/.kube/config"
    ctx = f", context {where.context}" if where.context else ""
    server = f" at {where.server}" if where.server else ""
    return (f"cannot reach the Kubernetes API server{server} ({detail}); check the kubeconfig ({cfg}{ctx}): "
            "--kubeconfig or KUBECONFIG, and `kubectl cluster-info`")


def _short_connection_reason(text: str) -> str:
    for pattern in (r"\[Errno -?\d+\] [^'\")]+", r"Connection refused", r"timed out", r"CERTIFICATE_VERIFY_FAILED[^'\")]*",
                    r"Name or service not known"):
        m = re.search(pattern, text)
        if m:
            return m.group(0).strip()
    return text.strip().splitlines()[0][:200] if text.strip() else "no answer"


def _api_status(status: int, reason: str, message: str, where: Where) -> str:
    if status == 400 and ("selector" in message or "requirement" in message):
        return f"bad label selector -l {where.selector!r}: {message} (e.g. -l team=arb or -l 'team in (arb,ai)')"
    if status == 401:
        return (f"the API server refused your credentials (401 Unauthorized): log in again or refresh the "
                f"kubeconfig's token ({where.kubeconfig or '~/.kube/config'})")
    if status == 403:
        return _forbidden(message)
    if status == 409:
        return f"changed since it was listed (409 Conflict): run the command again ({message})"
    if status == 404 and "tradingbots" in message and "could not find the requested resource" in message:
        return "the TradingBot CRD is not installed on this cluster (install the chart or `kubectl apply -f crds/`)"
    return f"the API server answered {status} {reason}".rstrip() + (f": {message}" if message else "")


def explain(exc: BaseException, where: Where) -> str:
    """One line, no traceback, no response headers; names the option or setting to fix."""
    if isinstance(exc, FleetError):
        return str(exc)
    name = type(exc).__name__
    status = getattr(exc, "status", None)
    # The client raises subclasses per status (BadRequestException, ForbiddenException, …).
    if any(c.__name__ == "ApiException" for c in type(exc).__mro__) and isinstance(status, int):
        reason = str(getattr(exc, "reason", "") or "")
        if status == 0:
            # A websocket call (pods/exec) that failed before any stream: the client folds the
            # handshake's answer into `reason`, e.g. "Handshake status 404 Not Found -+-+- … -+-+- b'{…}'".
            m = re.search(r"Handshake status (\d+)", reason)
            if m:
                return _api_status(int(m.group(1)), "", _server_message(_handshake_body(reason)) or reason[:200], where)
            return _unreachable(_short_connection_reason(reason), where)
        return _api_status(status, reason, _server_message(getattr(exc, "body", None)), where)
    if name == "ConfigException":
        cfg = where.kubeconfig or "~/.kube/config"
        return f"no usable kubeconfig ({cfg}): {exc}; set --kubeconfig or KUBECONFIG, or fix its current context"
    if name in ("MaxRetryError", "NewConnectionError", "ProtocolError", "ReadTimeoutError", "ConnectTimeoutError",
                "SSLError") or isinstance(exc, (ConnectionError, TimeoutError)):
        return _unreachable(_short_connection_reason(str(getattr(exc, "reason", None) or exc)), where)
    if isinstance(exc, OSError):
        return _unreachable(f"{name}: {exc}", where)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{name}: {first}"  # one line: an exception's later lines are headers or dumps, not for people


# What `kubectl exec` prints when the remote command fails: the error channel's Status.
def exec_status(error_channel: str, stderr: str, pod: str, command: str) -> str | None:
    """None when the command in the pod exited 0, else why not. `error_channel` is the exec stream's
    channel 3: a Status, `Success` or `Failure` with the exit code in details.causes[ExitCode];
    empty when the stream ended without one (the connection dropped or timed out)."""
    tail = " | ".join(line for line in stderr.strip().splitlines()[-3:] if line.strip())
    said = f": {tail}" if tail else ""
    if not error_channel.strip():
        return f"`{command}` in pod {pod} gave no exit status (connection closed or timed out){said}"
    try:
        doc = json.loads(error_channel)
    except ValueError:
        return f"`{command}` in pod {pod} failed: {error_channel.strip()[:300]}"
    if doc.get("status") == "Success":
        return None
    for cause in (doc.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return f"`{command}` exited {cause.get('message')} in pod {pod}{said}"
    return f"`{command}` in pod {pod} failed: {doc.get('message') or doc.get('reason') or 'no reason given'}{said}"
