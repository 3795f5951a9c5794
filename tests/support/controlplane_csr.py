"""Client-certificate kubeconfigs on a cluster whose CA key we do not hold (kind, an existing
cluster): the certificates.k8s.io API signs a CSR with the kube-apiserver-client signer."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from botfleet_tools.devcluster import pki

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def _server_and_ca(admin_kubeconfig: Path) -> tuple[str, bytes]:
    cfg = yaml.safe_load(admin_kubeconfig.read_text())
    current = cfg.get("current-context")
    ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == current)
    cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
    if "certificate-authority-data" in cluster:
        ca = base64.b64decode(cluster["certificate-authority-data"])
    elif "certificate-authority" in cluster:
        ca = Path(cluster["certificate-authority"]).read_bytes()
    else:
        raise RuntimeError(f"{admin_kubeconfig}: cluster {ctx['cluster']} has no CA to trust")
    return str(cluster["server"]), ca


def kubeconfig_via_csr(
    kubectl: Kubectl, admin_kubeconfig: Path, out: Path, user: str, groups: Sequence[str] = ()
) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs)).sign(key, hashes.SHA256())
    name = "botfleet-e2e-" + re.sub(r"[^a-z0-9-]", "-", user.lower())[:40] + f"-{int(time.time())}"
    obj = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode(),
            "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"],
            "expirationSeconds": 86400,
        },
    }
    kubectl("apply", "-f", "-", input=json.dumps(obj))
    kubectl("certificate", "approve", name)
    deadline = time.monotonic() + 60
    cert_b64 = ""
    while time.monotonic() < deadline and not cert_b64:
        cert_b64 = kubectl("get", "csr", name, "-o", "jsonpath={.status.certificate}").stdout.strip()
        if not cert_b64:
            time.sleep(0.5)
    kubectl("delete", "csr", name, "--ignore-not-found")
    if not cert_b64:
        raise RuntimeError(f"CSR {name} was approved but not signed within 60s (is the signer enabled?)")
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    server, ca = _server_and_ca(admin_kubeconfig)
    pair = pki.CertPair(base64.b64decode(cert_b64), key_pem)
    return pki.write_private(out, pki.kubeconfig_yaml(server, ca, user, client=pair))
