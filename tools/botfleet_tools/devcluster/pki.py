"""Certificates and kubeconfigs for the local control plane.

One self-signed CA signs the API server's serving certificate and every client certificate
(admin, controller manager, scheduler, kwok, and any test identity); the API server trusts it
via --client-ca-file, so a client certificate's CN is the user name and its O entries the groups.
ECDSA P-256 keys keep generation fast; the service-account signing key is RSA (the common case).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class CertPair:
    cert_pem: bytes
    key_pem: bytes


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def make_ca(common_name: str = "botfleet-local-ca") -> CertPair:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY * 10)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _issue(
    ca: CertPair,
    subject: x509.Name,
    usage: list[x509.ObjectIdentifier],
    sans: list[x509.GeneralName] | None = None,
) -> CertPair:
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TypeError("CA key must be an EC or RSA private key")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_encipherment=False, key_cert_sign=False, crl_sign=False,
                content_commitment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return CertPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue_server_cert(ca: CertPair, hosts: list[str]) -> CertPair:
    """A serving certificate valid for each DNS name or IP address in ``hosts``."""
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    return _issue(ca, _name(hosts[0]), [ExtendedKeyUsageOID.SERVER_AUTH], sans)


def issue_client_cert(ca: CertPair, user: str, groups: tuple[str, ...] = ()) -> CertPair:
    """A client certificate: Kubernetes reads CN as the user name and each O as a group."""
    if not user:
        raise ValueError("user: a client certificate needs a non-empty user name")
    return _issue(ca, _name(user, groups), [ExtendedKeyUsageOID.CLIENT_AUTH])


def make_service_account_key() -> tuple[bytes, bytes]:
    """(private PEM, public PEM) for --service-account-signing-key-file / --service-account-key-file."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _key_pem(key), public


def kubeconfig_yaml(
    server: str,
    ca_pem: bytes,
    user: str,
    *,
    client: CertPair | None = None,
    token: str | None = None,
    cluster_name: str = "botfleet-local",
) -> str:
    """A single-context kubeconfig with the credentials inlined (so the file moves as one)."""
    import base64

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    user_entry: dict[str, str] = {}
    if client is not None:
        user_entry = {"client-certificate-data": b64(client.cert_pem), "client-key-data": b64(client.key_pem)}
    elif token is not None:
        user_entry = {"token": token}
    else:
        raise ValueError("kubeconfig needs either a client certificate or a token")
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": cluster_name, "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}
        ],
        "users": [{"name": user, "user": user_entry}],
        "contexts": [{"name": f"{user}@{cluster_name}", "context": {"cluster": cluster_name, "user": user}}],
        "current-context": f"{user}@{cluster_name}",
    }
    return yaml.safe_dump(doc, sort_keys=False)


def write_private(path: Path, data: bytes | str) -> Path:
    """Write a key or kubeconfig readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(raw)
    return path
