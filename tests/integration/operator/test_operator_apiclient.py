"""The operator's API client (apiclient.py over kubeconfig.py) against a real HTTPS server on
loopback, as an API server treats it: TLS verified against the kubeconfig's CA, a client certificate
presented when the server asks for one, and a 401 after a token rotated answered by reading the new
token and sending the request once more. The same client runs the whole e2e suite."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml

from botfleet_operator import kubeconfig
from botfleet_operator.apiclient import ApiClient, KubeError
from botfleet_tools.devcluster import pki


class Server:
    """HTTPS on 127.0.0.1: answers 200 with what it saw to the current token or client certificate."""

    def __init__(self, tmp: Path, require_client_cert: bool) -> None:
        self.ca = pki.make_ca()
        serving = pki.issue_server_cert(self.ca, ["127.0.0.1"])
        (tmp / "srv.crt").write_bytes(serving.cert_pem)
        (tmp / "srv.key").write_bytes(serving.key_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tmp / "srv.crt", tmp / "srv.key")
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cadata=self.ca.cert_pem.decode())
        self.token = "new"
        self.seen: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                auth = self.headers.get("Authorization", "")
                peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
                subject: Any = peer["subject"] if peer else ()
                names = {pair[0]: pair[1] for rdn in subject for pair in rdn}
                who = str(names.get("commonName", "")) if peer else auth
                server.seen.append(who)
                ok = bool(peer) or auth == f"Bearer {server.token}"
                body = json.dumps({"who": who} if ok else {"kind": "Status", "message": "Unauthorized"}).encode()
                self.send_response(200 if ok else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def kubeconfig(self, path: Path, user: dict[str, Any], ca_pem: bytes | None = None) -> str:
        ca = base64.b64encode(ca_pem or self.ca.cert_pem).decode()
        path.write_text(yaml.safe_dump({
            "current-context": "ctx", "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
            "clusters": [{"name": "c", "cluster": {"server": self.url, "certificate-authority-data": ca}}],
            "users": [{"name": "u", "user": user}]}))
        return str(path)


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path, require_client_cert=False)
    yield server
    server.httpd.shutdown()


@pytest.fixture
def cert_server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path, require_client_cert=True)
    yield server
    server.httpd.shutdown()


def test_a_rotated_token_is_read_again_after_a_401_and_the_request_sent_once_more(
        token_server: Server, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("old")
    api = ApiClient(kubeconfig.load(token_server.kubeconfig(tmp_path / "config", {"tokenFile": str(token)})))
    token.write_text("new")  # rotated after the client read it, as the kubelet does
    assert api.call("GET", "/version") == {"who": "Bearer new"}
    assert token_server.seen == ["Bearer old", "Bearer new"]
    token_server.token = "newer"  # revoked, and nothing new on disk: one retry, then the 401 is the answer
    with pytest.raises(KubeError) as err:
        api.call("GET", "/version", what="read the version")
    assert err.value.status == 401 and str(err.value) == "read the version: HTTP 401: Unauthorized"
    assert token_server.seen[2:] == ["Bearer new", "Bearer new"]


def test_a_client_certificate_is_presented_and_the_server_verified(cert_server: Server, tmp_path: Path) -> None:
    client = pki.issue_client_cert(cert_server.ca, "botfleet-operator")
    user = {"client-certificate-data": base64.b64encode(client.cert_pem).decode(),
            "client-key-data": base64.b64encode(client.key_pem).decode()}
    api = ApiClient(kubeconfig.load(cert_server.kubeconfig(tmp_path / "config", user)))
    assert api.call("GET", "/version") == {"who": "botfleet-operator"}
    # The same server under a CA the kubeconfig does not name: refused, never silently trusted.
    stranger = ApiClient(kubeconfig.load(cert_server.kubeconfig(tmp_path / "other", user, pki.make_ca().cert_pem)),
                         retries=False)
    with pytest.raises(urllib3.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        stranger.call("GET", "/version")


async def test_the_watches_use_the_same_tls_and_credentials(token_server: Server, tmp_path: Path) -> None:
    import aiohttp

    conn = kubeconfig.load(token_server.kubeconfig(tmp_path / "config", {"token": "new"}))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=conn.ssl_context())) as session, \
            session.get(f"{conn.server}/version", headers=conn.headers()) as response:
        assert (response.status, await response.json()) == (200, {"who": "Bearer new"})
