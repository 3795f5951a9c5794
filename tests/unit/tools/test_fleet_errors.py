"""`botfleet fleet`: every API or exec failure becomes one line that names what to fix (pure parts)."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import BadRequestException, ForbiddenException
from kubernetes.client.rest import ApiException
from kubernetes.config import ConfigException
from urllib3.exceptions import MaxRetryError, NewConnectionError

from botfleet_tools.fleet.errors import FleetError, Where, exec_status, explain

WHERE = Where(selector="team in (arb", kubeconfig="/home/me/.kube/prod", context="prod", server="https://10.0.0.1:6443")


def api_error(status: int, reason: str, message: str) -> ApiException:
    # The client raises a subclass per status, as the real API calls do.
    cls = {400: BadRequestException, 403: ForbiddenException}.get(status, ApiException)
    e = cls(status=status, reason=reason)
    e.body = json.dumps({"kind": "Status", "status": "Failure", "message": message, "code": status})
    return e


def test_a_bad_selector_names_the_option_and_the_server_s_reason() -> None:
    msg = explain(api_error(400, "Bad Request", "unable to parse requirement: found '(', expected: ')'"), WHERE)
    assert "-l 'team in (arb'" in msg and "unable to parse requirement" in msg and "\n" not in msg


def test_forbidden_says_which_verb_and_resource_the_rbac_lacks() -> None:
    e = api_error(403, "Forbidden", 'tradingbots.botfleet.io is forbidden: User "alice" cannot list resource '
                  '"tradingbots" in API group "botfleet.io" at the cluster scope')
    msg = explain(e, WHERE)
    assert "`list` on `tradingbots.botfleet.io`" in msg and "-n NAMESPACE" in msg
    secret = explain(api_error(403, "Forbidden", 'secrets "w" is forbidden: User "bob" cannot get resource '
                               '"secrets" in API group "" in the namespace "arb"'), WHERE)
    assert "`get` on `secrets`" in secret and "-n NAMESPACE" not in secret
    # A 403 that is not RBAC's (the API server's proxy policy) is not blamed on RBAC.
    assert explain(api_error(403, "Forbidden", "resolve_deny: denied destination"), WHERE) == \
        "forbidden (403): resolve_deny: denied destination"


def test_other_statuses_are_one_line_without_headers() -> None:
    assert "log in again" in explain(api_error(401, "Unauthorized", "Unauthorized"), WHERE)
    crd = api_error(404, "Not Found", "the server could not find the requested resource (get tradingbots.botfleet.io)")
    assert "CRD is not installed" in explain(crd, WHERE)
    assert "run the command again" in explain(api_error(409, "Conflict", "the object has been modified"), WHERE)
    e = api_error(500, "Internal Server Error", "etcd timeout")
    e.headers = {"Audit-Id": "x"}
    assert explain(e, WHERE) == "the API server answered 500 Internal Server Error: etcd timeout"


def test_an_exec_refused_at_the_handshake_gives_the_server_s_message() -> None:
    # What kubernetes.stream folds a failed websocket upgrade into (a pod gone between list and exec).
    reason = ('Handshake status 404 Not Found -+-+- {"content-type": "application/json"} -+-+- '
              'b\'{"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods \\\\"arb-1\\\\" not found",'
              '"reason":"NotFound","code":404}\'')
    msg = explain(ApiException(status=0, reason=reason), WHERE)
    assert msg.startswith("the API server answered 404") and "arb-1" in msg and "not found" in msg


def test_an_unreachable_server_names_the_kubeconfig_and_context() -> None:
    cause = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")  # type: ignore[arg-type]
    msg = explain(MaxRetryError(None, "/apis/botfleet.io/v1alpha1/tradingbots", cause), WHERE)  # type: ignore[arg-type]
    assert msg.startswith("cannot reach the Kubernetes API server at https://10.0.0.1:6443 ([Errno 111] Connection refused)")
    assert "/home/me/.kube/prod, context prod" in msg and "KUBECONFIG" in msg
    assert "--kubeconfig" in explain(ConfigException("Invalid kube-config file. No configuration found."), Where())
    assert explain(FleetError("as said"), WHERE) == "as said"
    assert explain(ValueError("first\nsecond"), WHERE) == "ValueError: first"


@pytest.mark.parametrize(("channel", "stderr", "expected"), [
    ('{"metadata":{},"status":"Success"}', "", None),
    ('{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 2",'
     '"reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"2"}]}}',
     "Traceback ...\nsqlite3.OperationalError: unable to open database file\n",
     "`botfleet trades` exited 2 in pod arb-1: Traceback ... | sqlite3.OperationalError: unable to open database file"),
    ('{"status":"Failure","message":"container not found (\\"bot\\")"}', "",
     "`botfleet trades` in pod arb-1 failed: container not found (\"bot\")"),
    ("", "", "`botfleet trades` in pod arb-1 gave no exit status (connection closed or timed out)"),
])
def test_exec_status_reads_the_error_channel(channel: str, stderr: str, expected: str | None) -> None:
    assert exec_status(channel, stderr, "arb-1", "botfleet trades") == expected
