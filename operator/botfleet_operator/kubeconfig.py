"""Where the API server is and how the operator proves who it is: a kubeconfig, or its pod's
service account.

Not the `kubernetes` client's loader: that package costs the operator ~10 MB at idle (its generated
models), and kopf imports it too whenever it can be imported (docs/benchmarks.md). This module reads
what a kubeconfig can say to a controller, as kubectl reads it:

- several files in $KUBECONFIG merged (the first to set a name or `current-context` wins);
- the cluster's `server`, `certificate-authority(-data)`, `insecure-skip-tls-verify`;
- the user's `token`, `tokenFile` (re-read as it rotates), `client-certificate(-data)` and
  `client-key(-data)`, `username`/`password`, and `exec` credential plugins
  (client.authentication.k8s.io, renewed before they expire and after a 401);
- paths relative to the kubeconfig that names them.

Anything else the operator cannot honour (`auth-provider`, impersonation, a proxy, another TLS
server name) is refused with the field named, never ignored. In a pod without a kubeconfig: the
service account's token (re-read every minute: the kubelet rotates it), CA and namespace, and
KUBERNETES_SERVICE_HOST/PORT, as client-go does.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_FILE_SECONDS = 60.0  # a token file is re-read this often
EXEC_EARLY_SECONDS = 60.0  # an exec credential is renewed this long before it expires
EXEC_TIMEOUT_SECONDS = 60.0
# Fields a controller cannot honour: refused rather than silently dropped.
UNSUPPORTED = {
    "cluster": {"proxy-url": "unset it and use HTTPS_PROXY, or run the operator in the cluster",
                "tls-server-name": "use a server address the certificate names"},
    "user": {"auth-provider": "use an exec plugin (kubectl removed auth-provider in 1.26), "
                              "e.g. gke-gcloud-auth-plugin or kubelogin",
             "as": "impersonation is not supported: give the operator's own identity",
             "as-groups": "impersonation is not supported: give the operator's own identity",
             "as-uid": "impersonation is not supported: give the operator's own identity"},
}


class ConfigError(RuntimeError):
    """No usable kubeconfig or service account; the message names the file, the field and the fix."""


@dataclass
class Connection:
    """The API server's address, the TLS to reach it and the credentials to send, kept fresh."""

    server: str
    ca_pem: str | None = None          # None: the system's trust store
    insecure: bool = False
    cert_pem: str | None = None        # client certificate and key, PEM
    # Credentials never in a repr (a log line, a traceback's locals): repr=False.
    key_pem: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    token_file: str | None = None
    exec_spec: dict[str, Any] | None = field(default=None, repr=False)  # its env may hold a secret
    exec_dir: str = "."                # a relative exec command is found from the kubeconfig's folder
    namespace: str | None = None
    source: str = ""                   # "kubeconfig <path>" or "in-cluster": for messages
    _fresh_until: float = 0.0          # wall clock (time.time): the token file's or exec credential's
    _expires_at: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # credentials --------------------------------------------------------------------------
    def authorization(self) -> str | None:
        """The Authorization header's value now (renewing a token file's or exec plugin's first)."""
        if self.token_file or self.exec_spec:
            with self._lock:
                if time.time() >= self._fresh_until:
                    self._renew()
        if self.token:
            return f"Bearer {self.token}"
        if self.username is not None:
            pair = f"{self.username}:{self.password or ''}".encode()
            return "Basic " + base64.b64encode(pair).decode()
        return None

    def headers(self) -> dict[str, str]:
        value = self.authorization()
        return {"Authorization": value} if value else {}

    def expire(self) -> None:
        """The server said 401: renew the token on the next request (a rotated file, a new exec run)."""
        with self._lock:
            self._fresh_until = 0.0

    def expiration(self) -> datetime | None:
        """When the exec plugin's credential expires (kopf logs in again then), if it said."""
        return self._expires_at

    def _renew(self) -> None:
        if self.token_file:
            try:
                self.token = Path(self.token_file).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"{self.source}: cannot read tokenFile {self.token_file}: {exc.strerror}") from None
            self._fresh_until = time.time() + TOKEN_FILE_SECONDS
            return
        assert self.exec_spec is not None
        self._take(run_exec(self.exec_spec, self.exec_dir, self.source))

    def _take(self, status: Mapping[str, Any]) -> None:
        """An exec plugin's credential. A client certificate is taken at load only: the TLS context
        is built once, so a plugin handing out short-lived certificates needs a restart to renew."""
        if status.get("clientCertificateData") and status.get("clientKeyData") and not self.cert_pem:
            self.cert_pem, self.key_pem = str(status["clientCertificateData"]), str(status["clientKeyData"])
        if status.get("token"):
            self.token = str(status["token"])
        elif not self.cert_pem:
            raise ConfigError(f"{self.source}: the exec plugin returned neither a token nor a client certificate")
        expires = parse_time(status.get("expirationTimestamp"))
        self._expires_at = expires
        # No expiry given: the credential is good until the server says 401 (expire()).
        self._fresh_until = expires.timestamp() - EXEC_EARLY_SECONDS if expires else float("inf")

    # TLS ----------------------------------------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext:
        if self.insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx = ssl.create_default_context(cadata=self.ca_pem) if self.ca_pem else ssl.create_default_context()
        if self.cert_pem and self.key_pem:
            # load_cert_chain reads files only: a private folder, gone as soon as they are loaded.
            folder = tempfile.mkdtemp(prefix="botfleet-tls-")
            try:
                cert, key = Path(folder, "tls.crt"), Path(folder, "tls.key")
                cert.write_text(self.cert_pem)
                key.touch(mode=0o600)
                key.write_text(self.key_pem)
                ctx.load_cert_chain(str(cert), str(key))
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        return ctx


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def run_exec(spec: Mapping[str, Any], folder: str, source: str, cluster: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run an exec credential plugin as kubectl does; its ExecCredential's `status`."""
    command = str(spec.get("command") or "")
    if not command:
        raise ConfigError(f"{source}: users[].user.exec.command is empty: name the credential plugin to run")
    if os.sep in command and not os.path.isabs(command):
        command = os.path.join(folder, command)
    api_version = str(spec.get("apiVersion") or "client.authentication.k8s.io/v1")
    env = dict(os.environ)
    for item in spec.get("env") or []:
        env[str(item.get("name"))] = str(item.get("value", ""))
    info: dict[str, Any] = {"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
    if spec.get("provideClusterInfo") and cluster:
        info["spec"]["cluster"] = cluster
    env["KUBERNETES_EXEC_INFO"] = json.dumps(info)
    try:
        done = subprocess.run([command, *[str(a) for a in spec.get("args") or []]], env=env, capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=EXEC_TIMEOUT_SECONDS, check=False)
    except FileNotFoundError:
        hint = spec.get("installHint") or "install it, or put its folder on PATH"
        raise ConfigError(f"{source}: exec plugin {command!r} not found: {hint}") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{source}: exec plugin {command!r} gave no credential in {EXEC_TIMEOUT_SECONDS:.0f}s") from None
    if done.returncode != 0:
        # Its stderr may say why (not logged in...); never its stdout, which may hold a credential.
        why = done.stderr.decode(errors="replace").strip()[-300:]
        raise ConfigError(f"{source}: exec plugin {command!r} exited with {done.returncode}: {why}")
    try:
        status = json.loads(done.stdout)["status"]
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{source}: exec plugin {command!r} printed no ExecCredential with a status") from None
    return dict(status)


# Loading -----------------------------------------------------------------------------------
def load(kubeconfig: str | None = None, environ: Mapping[str, str] | None = None,
         service_account: Path = SERVICE_ACCOUNT) -> Connection:
    """`kubeconfig`, else $KUBECONFIG, else ~/.kube/config, else the pod's service account."""
    env = os.environ if environ is None else environ
    if kubeconfig:
        paths = [Path(kubeconfig).expanduser()]
        if not paths[0].is_file():
            raise ConfigError(f"kubeconfig {kubeconfig} does not exist")
    else:
        named = [Path(p).expanduser() for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
        default = Path(env.get("HOME") or "~").expanduser() / ".kube" / "config"
        paths = [p for p in named if p.is_file()] if named else [default] if default.is_file() else []
    if paths:
        return from_kubeconfig(paths)
    return in_cluster(env, service_account)


def in_cluster(environ: Mapping[str, str], folder: Path = SERVICE_ACCOUNT) -> Connection:
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    token = folder / "token"
    if not host or not port or not token.is_file():
        raise ConfigError("no kubeconfig ($KUBECONFIG, ~/.kube/config) and not in a pod with a service account "
                          "(KUBERNETES_SERVICE_HOST and its token): set KUBECONFIG or pass --kubeconfig")
    ca = folder / "ca.crt"
    namespace = folder / "namespace"
    conn = Connection(server=f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}",
                      ca_pem=ca.read_text() if ca.is_file() else None, token_file=str(token),
                      namespace=namespace.read_text().strip() if namespace.is_file() else None, source="in-cluster")
    conn.authorization()  # fail now, not at the first request
    return conn


def from_kubeconfig(paths: list[Path]) -> Connection:
    merged: dict[str, dict[str, Any]] = {"contexts": {}, "clusters": {}, "users": {}}
    where: dict[tuple[str, str], Path] = {}  # (section, name) -> the file that defined it
    current = None
    for path in paths:
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"kubeconfig {path}: not readable YAML: {exc}") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"kubeconfig {path}: not a kubeconfig (a mapping with clusters, users, contexts)")
        current = current or doc.get("current-context")
        for section, inner in (("contexts", "context"), ("clusters", "cluster"), ("users", "user")):
            for item in doc.get(section) or []:
                name = item.get("name") if isinstance(item, dict) else None
                if name is not None and name not in merged[section]:
                    merged[section][name] = item.get(inner) or {}
                    where[(section, name)] = path
    source = "kubeconfig " + os.pathsep.join(map(str, paths))
    if not current:
        raise ConfigError(f"{source}: current-context is not set: run `kubectl config use-context NAME`")
    context = merged["contexts"].get(current)
    if context is None:
        raise ConfigError(f"{source}: current-context {current!r} is not among its contexts")
    cluster, user = merged["clusters"].get(context.get("cluster")), merged["users"].get(context.get("user"), {})
    if cluster is None:
        raise ConfigError(f"{source}: context {current!r} names cluster {context.get('cluster')!r}, which is not defined")
    if not cluster.get("server"):
        raise ConfigError(f"{source}: cluster {context.get('cluster')!r} has no server")
    for section, fields in UNSUPPORTED.items():
        given = cluster if section == "cluster" else user
        for name, fix in fields.items():
            if given.get(name):
                raise ConfigError(f"{source}: {section} field {name!r} is not supported by the operator: {fix}")
    cluster_dir = where[("clusters", context["cluster"])].parent
    user_dir = where.get(("users", context.get("user")), paths[0]).parent

    def data(section: dict[str, Any], key: str, folder: Path) -> str | None:
        """The PEM of `key`-data (base64) or of the file `key` names, relative to its kubeconfig."""
        if section.get(f"{key}-data"):
            try:
                text = base64.b64decode("".join(str(section[f"{key}-data"]).split()), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                text = ""
            if "-----BEGIN" not in text:
                raise ConfigError(f"{source}: {key}-data is not base64 of a PEM file (base64 -w0 < file.pem)")
            return text[text.index("-----BEGIN"):]  # kopf reads PEM only from its first line
        if section.get(key):
            file = folder / Path(section[key]).expanduser()
            try:
                text = file.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{source}: {key} {file}: {getattr(exc, 'strerror', None) or exc}") from None
            if "-----BEGIN" not in text:
                raise ConfigError(f"{source}: {key} {file} is not a PEM file")
            return text[text.index("-----BEGIN"):]
        return None

    conn = Connection(
        server=str(cluster["server"]).rstrip("/"), ca_pem=data(cluster, "certificate-authority", cluster_dir),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        cert_pem=data(user, "client-certificate", user_dir), key_pem=data(user, "client-key", user_dir),
        username=user.get("username"), password=user.get("password"), token=user.get("token") or None,
        token_file=str(user_dir / user["tokenFile"]) if user.get("tokenFile") and not user.get("token") else None,
        exec_spec=user.get("exec") or None, exec_dir=str(user_dir),
        namespace=context.get("namespace"), source=source)
    if bool(conn.cert_pem) != bool(conn.key_pem):
        raise ConfigError(f"{source}: user {context.get('user')!r} has a client certificate without its key, or a key "
                          "without its certificate: give both")
    if conn.exec_spec or conn.token_file:
        conn.authorization()  # run the plugin, read the file: fail now, not at the first request
    return conn
