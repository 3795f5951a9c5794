"""Where the operator's credentials come from (kubeconfig.py): every kubeconfig form a controller
meets, the pod's service account, renewal of rotating tokens and exec credentials, and errors that
name the field and the fix without showing a credential. The TLS round trip against a real server
is tests/integration/operator/test_operator_apiclient.py; every e2e test runs the operator on it."""

from __future__ import annotations

import base64
import json
import ssl
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from botfleet_operator import kubeconfig
from botfleet_operator.kubeconfig import ConfigError, Connection
from botfleet_tools.devcluster import pki


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


def config(user: dict[str, Any], cluster: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "ctx",
            "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": "team-a"}}],
            "clusters": [{"name": "c", "cluster": cluster or {"server": "https://10.0.0.1:6443/"}}],
            "users": [{"name": "u", "user": user}], **extra}


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def test_a_token_kubeconfig_sends_a_bearer_token_to_its_server(tmp_path: Path) -> None:
    conn = kubeconfig.load(str(write(tmp_path / "config", config({"token": "t0k"}))))
    assert conn.server == "https://10.0.0.1:6443"  # no trailing slash: paths are appended
    assert conn.headers() == {"Authorization": "Bearer t0k"}
    assert conn.namespace == "team-a"


def test_kubeconfig_env_files_merge_and_relative_paths_follow_the_file_that_names_them(tmp_path: Path) -> None:
    ca = pki.make_ca()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "token").write_text("from-b\n")
    (tmp_path / "a" / "ca.crt").write_bytes(ca.cert_pem)
    first = write(tmp_path / "a" / "config", {
        "current-context": "ctx", "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "clusters": [{"name": "c", "cluster": {"server": "https://a:6443", "certificate-authority": "ca.crt"}}]})
    second = write(tmp_path / "b" / "config", {
        "current-context": "other", "users": [{"name": "u", "user": {"tokenFile": "token"}}],
        "clusters": [{"name": "c", "cluster": {"server": "https://ignored:6443"}}]})  # the first file's c wins
    conn = kubeconfig.load(environ={"KUBECONFIG": f"{first}:{tmp_path / 'missing'}:{second}"})
    assert conn.server == "https://a:6443"
    assert conn.ca_pem == ca.cert_pem.decode()
    assert conn.headers() == {"Authorization": "Bearer from-b"}


def test_home_kubeconfig_is_used_when_kubeconfig_is_unset(tmp_path: Path) -> None:
    (tmp_path / ".kube").mkdir()
    write(tmp_path / ".kube" / "config", config({"token": "home"}))
    conn = kubeconfig.load(environ={"HOME": str(tmp_path)}, service_account=tmp_path / "none")
    assert conn.headers() == {"Authorization": "Bearer home"}


def test_a_rotated_token_file_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "token"
    token.write_text("one")
    conn = kubeconfig.load(str(write(tmp_path / "config", config({"tokenFile": str(token)}))))
    assert conn.authorization() == "Bearer one"
    token.write_text("two")
    assert conn.authorization() == "Bearer one"  # cached between reads...
    conn.expire()  # ...until the server says 401
    assert conn.authorization() == "Bearer two"
    token.write_text("three")
    clock = kubeconfig.time.time()
    monkeypatch.setattr(kubeconfig.time, "time", lambda: clock + kubeconfig.TOKEN_FILE_SECONDS + 1)
    assert conn.authorization() == "Bearer three"  # ...or a minute passed


def test_client_certificates_inline_or_as_files_make_a_tls_context(tmp_path: Path) -> None:
    ca = pki.make_ca()
    client = pki.issue_client_cert(ca, "botfleet-operator")
    inline = kubeconfig.load(str(write(tmp_path / "inline", config(
        {"client-certificate-data": b64(client.cert_pem), "client-key-data": b64(client.key_pem)},
        {"server": "https://k:6443", "certificate-authority-data": b64(ca.cert_pem)}))))
    (tmp_path / "tls.crt").write_bytes(client.cert_pem)
    (tmp_path / "tls.key").write_bytes(client.key_pem)
    files = kubeconfig.load(str(write(tmp_path / "files", config(
        {"client-certificate": "tls.crt", "client-key": "tls.key"}, {"server": "https://k:6443"}))))
    for conn in (inline, files):
        assert conn.headers() == {}  # the certificate is the identity
        assert conn.cert_pem == client.cert_pem.decode()
        ctx = conn.ssl_context()
        assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert [c["subject"] for c in inline.ssl_context().get_ca_certs()] != []  # the kubeconfig's CA is trusted
    assert not list(Path(kubeconfig.tempfile.gettempdir()).glob("botfleet-tls-*"))  # key files gone at once


def test_insecure_skip_tls_verify_turns_verification_off(tmp_path: Path) -> None:
    conn = kubeconfig.load(str(write(tmp_path / "c", config(
        {"token": "x"}, {"server": "https://k:6443", "insecure-skip-tls-verify": True}))))
    ctx = conn.ssl_context()
    assert ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname


def test_basic_auth(tmp_path: Path) -> None:
    conn = kubeconfig.load(str(write(tmp_path / "c", config({"username": "admin", "password": "pw"}))))
    assert conn.headers() == {"Authorization": "Basic " + b64("admin:pw")}


def test_no_credential_shows_in_a_repr(tmp_path: Path) -> None:
    # A Connection in a log line or a traceback's locals must not carry what it authenticates with.
    client = pki.issue_client_cert(pki.make_ca(), "op")
    conn = Connection(server="https://k", token="tok-SECRET", password="pw-SECRET",
                      key_pem=client.key_pem.decode(), exec_spec={"env": [{"name": "K", "value": "env-SECRET"}]})
    text = repr(conn)
    assert "SECRET" not in text and "PRIVATE KEY" not in text and "https://k" in text


def _plugin(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "plugin.py"
    script.write_text(f"import json, os, sys\n{body}\n")
    return script


def test_an_exec_plugin_is_run_once_then_again_after_a_401_or_before_it_expires(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "runs"
    script = _plugin(tmp_path, f"""
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
assert info["kind"] == "ExecCredential" and info["spec"]["interactive"] is False
with open({str(runs)!r}, "a") as f: f.write(os.environ["GREETING"] + "\\n")
n = len(open({str(runs)!r}).read().splitlines())
print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {{"token": f"exec-{{n}}", "expirationTimestamp": "2099-01-01T00:00:00Z"}}}}))""")
    conn = kubeconfig.load(str(write(tmp_path / "c", config({"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable, "args": [str(script)],
        "env": [{"name": "GREETING", "value": "hi"}]}}))))
    assert conn.headers() == {"Authorization": "Bearer exec-1"}
    assert conn.headers() == {"Authorization": "Bearer exec-1"}  # not run per request
    assert conn.expiration() is not None and conn.expiration().year == 2099  # type: ignore[union-attr]
    conn.expire()
    assert conn.headers() == {"Authorization": "Bearer exec-2"}
    expiry = conn.expiration().timestamp()  # type: ignore[union-attr]
    monkeypatch.setattr(kubeconfig.time, "time", lambda: expiry - kubeconfig.EXEC_EARLY_SECONDS + 1)
    assert conn.headers() == {"Authorization": "Bearer exec-3"}  # renewed a minute before it expires
    assert runs.read_text().splitlines() == ["hi", "hi", "hi"]


def test_an_exec_plugin_that_fails_is_reported_with_its_stderr_never_its_stdout(tmp_path: Path) -> None:
    script = _plugin(tmp_path, """
print(json.dumps({"status": {"token": "leaked-secret"}}))
print("not logged in: run `cloud auth login`", file=sys.stderr)
sys.exit(3)""")
    with pytest.raises(ConfigError) as err:
        kubeconfig.load(str(write(tmp_path / "c", config({"exec": {"command": sys.executable,
                                                                     "args": [str(script)]}}))))
    assert "exited with 3" in str(err.value) and "cloud auth login" in str(err.value)
    assert "leaked-secret" not in str(err.value)


def test_a_missing_exec_plugin_names_its_install_hint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found: brew install the-plugin"):
        kubeconfig.load(str(write(tmp_path / "c", config({"exec": {
            "command": "no-such-credential-plugin-xyz", "installHint": "brew install the-plugin"}}))))


@pytest.mark.parametrize(("doc", "message"), [
    (config({"auth-provider": {"name": "gcp"}}), "'auth-provider' is not supported by the operator: use an exec plugin"),
    (config({"token": "x", "as": "admin"}), "'as' is not supported by the operator: impersonation"),
    (config({"token": "x"}, {"server": "https://k", "proxy-url": "http://p"}), "'proxy-url' is not supported"),
    ({**config({"token": "x"}), "current-context": None}, "current-context is not set: run `kubectl config use-context"),
    ({**config({"token": "x"}), "current-context": "nope"}, "current-context 'nope' is not among its contexts"),
    (config({"token": "x"}, {"certificate-authority-data": "eA=="}), "cluster 'c' has no server"),
    (config({"client-certificate-data": b64("-----BEGIN CERTIFICATE-----")}), "client certificate without its key"),
    (config({"client-certificate": "/etc/hostname", "client-key": "/etc/hostname"}), "/etc/hostname is not a PEM file"),
    (config({"client-certificate-data": "%%%", "client-key-data": "%%%"}), "client-certificate-data is not base64"),
    (config({"tokenFile": "/no/such/token"}), "cannot read tokenFile /no/such/token"),
])
def test_a_kubeconfig_the_operator_cannot_honour_is_refused_with_the_field_and_the_fix(
        tmp_path: Path, doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("`", ".")):
        kubeconfig.load(str(write(tmp_path / "config", doc)))


def test_in_cluster_reads_the_service_account_and_the_service_address(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "namespace").write_text("botfleet-system")
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443", "HOME": str(tmp_path / "h")}
    conn = kubeconfig.load(environ=env, service_account=tmp_path)
    assert (conn.server, conn.namespace, conn.headers()) == (
        "https://10.96.0.1:443", "botfleet-system", {"Authorization": "Bearer sa-token"})
    (tmp_path / "token").write_text("rotated")  # the kubelet rotates the projected token
    conn.expire()
    assert conn.headers() == {"Authorization": "Bearer rotated"}
    v6 = kubeconfig.load(environ={**env, "KUBERNETES_SERVICE_HOST": "fd00::1"}, service_account=tmp_path)
    assert v6.server == "https://[fd00::1]:443"


def test_neither_kubeconfig_nor_service_account_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="set KUBECONFIG"):
        kubeconfig.load(environ={"HOME": str(tmp_path)}, service_account=tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        kubeconfig.load(str(tmp_path / "nope"))


def test_kopf_logs_in_with_the_same_identity() -> None:
    from botfleet_operator.runner import connection_info

    info = connection_info(Connection(server="https://k:6443", token="t", namespace="ns"))
    assert (info.server, info.scheme, info.token, info.default_namespace) == ("https://k:6443", "Bearer", "t", "ns")
    basic = connection_info(Connection(server="https://k", username="u", password="p"))
    assert (basic.scheme, basic.token, basic.username, basic.password) == (None, None, "u", "p")


def test_the_operator_process_never_imports_the_kubernetes_client(tmp_path: Path) -> None:
    # kopf imports the client's models whenever it can; the operator command refuses it (cli.py).
    import subprocess

    probe = ("import sys, botfleet_operator.cli as c\n"
             "sys.modules.pop('kubernetes', None)\n"
             "try:\n"
             "    c.operator_command(namespace=[], all_namespaces=True, dev=False, metrics_port=0, health_port=0,"
             " leader_election=False, lease_namespace='x', lease_name='x', lease_duration=15.0,"
             " lease_renew_deadline=10.0, lease_retry=2.0, identity='t', workers=1, bot_status_seconds=0.0,"
             " verbose=False, kubeconfig=None)\n"
             "except Exception as exc:\n"  # typer.Exit(2) after the ConfigError
             "    assert type(exc).__name__ == 'Exit', exc\n"
             "    pass\n"
             "import kopf\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes' and sys.modules[m])))\n")
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", "import json\n" + probe], capture_output=True, text=True,
                          env=env, check=False, timeout=120)
    assert "set KUBECONFIG" in done.stderr, done.stderr[-2000:]  # it got as far as loading credentials
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
