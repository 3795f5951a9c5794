"""Pure parts of the local control plane: certificates, kubeconfigs, mode choice, CRD discovery."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from botfleet_tools.devcluster import pki
from botfleet_tools.devcluster.manifests import crd_names, manifest_files
from botfleet_tools.devcluster.modes import choose_mode


def test_client_cert_carries_user_and_groups_and_chains_to_the_ca() -> None:
    ca = pki.make_ca()
    pair = pki.issue_client_cert(ca, "system:serviceaccount:ns:op", ("g1", "g2"))
    cert = x509.load_pem_x509_certificate(pair.cert_pem)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    cert.verify_directly_issued_by(ca_cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:serviceaccount:ns:op"
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["g1", "g2"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_server_cert_lists_dns_names_and_ips() -> None:
    ca = pki.make_ca()
    cert = x509.load_pem_x509_certificate(pki.issue_server_cert(ca, ["kubernetes", "127.0.0.1"]).cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["kubernetes"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_empty_user_is_refused() -> None:
    with pytest.raises(ValueError, match="user"):
        pki.issue_client_cert(pki.make_ca(), "")


def test_kubeconfig_inlines_credentials_and_is_private(tmp_path: Path) -> None:
    ca = pki.make_ca()
    client = pki.issue_client_cert(ca, "alice")
    path = pki.write_private(tmp_path / "k", pki.kubeconfig_yaml("https://127.0.0.1:1", ca.cert_pem,
                                                                 "alice", client=client))
    cfg = yaml.safe_load(path.read_text())
    assert cfg["current-context"] == "alice@botfleet-local"
    assert base64.b64decode(cfg["users"][0]["user"]["client-key-data"]) == client.key_pem
    assert base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"]) == ca.cert_pem
    assert path.stat().st_mode & 0o777 == 0o600


def test_kubeconfig_needs_a_credential() -> None:
    with pytest.raises(ValueError, match="certificate or a token"):
        pki.kubeconfig_yaml("https://x", b"", "bob")


@pytest.mark.parametrize(
    ("env", "kind_ok", "expected"),
    [
        ({"BOTFLEET_KUBECONFIG": "/k"}, True, "existing"),
        ({"BOTFLEET_KUBECONFIG": "/k", "BOTFLEET_E2E_CLUSTER": "local"}, True, "existing"),
        ({"BOTFLEET_E2E_CLUSTER": "local"}, True, "local"),
        ({"BOTFLEET_E2E_CLUSTER": "KIND"}, False, "kind"),
        ({}, True, "kind"),
        ({}, False, "local"),
    ],
)
def test_choose_mode(env: dict[str, str], kind_ok: bool, expected: str) -> None:
    assert choose_mode(env, lambda: kind_ok) == expected


def test_choose_mode_rejects_unknown_value() -> None:
    with pytest.raises(ValueError, match="BOTFLEET_E2E_CLUSTER"):
        choose_mode({"BOTFLEET_E2E_CLUSTER": "minikube"}, lambda: False)


def test_crd_names_reads_multi_document_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n"
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: bots.b.io}\n"
    )
    (tmp_path / "notes.txt").write_text("ignored")
    files = manifest_files(tmp_path)
    assert [f.name for f in files] == ["a.yaml"]
    assert crd_names(files) == ["bots.b.io"]
    assert manifest_files(tmp_path / "absent") == []


def test_dev_cluster_builds_from_tools_and_never_reads_tests() -> None:
    """The Go modules of the control plane live in tools/controlplane/; nothing of the dev cluster
    names a path under tests/ (imports are checked by lint-imports; this covers file paths)."""
    import ast

    import botfleet_tools.devcluster as devcluster
    from botfleet_tools.devcluster.binaries import build_script, controlplane_dir, repo_root

    root = repo_root()
    assert root is not None and controlplane_dir() == root / "tools" / "controlplane"
    assert build_script() == root / "tools" / "controlplane" / "build.sh"
    for source in Path(devcluster.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value != "tests" and "tests/" not in node.value, f"{source.name}: {node.value!r}"


def test_a_work_dir_is_removed_only_when_nothing_is_mounted_below_it(tmp_path: Path) -> None:
    from botfleet_tools.devcluster.mounts import mounts_under, remove_workdir

    work = tmp_path / "botfleet-cp-x"
    (work / "etcd-data").mkdir(parents=True)
    inside = f"{work.resolve()}/node/kubelet"
    mounts = (f"/dev/vda / ext4 rw 0 0\n/dev/vda {inside} ext4 rw 0 0\n"
              f"tmpfs {work.resolve()}/node/my\\040pods tmpfs rw 0 0\n"
              f"tmpfs {work.resolve()}-other/x tmpfs rw 0 0\n")  # a sibling's, not below it
    assert mounts_under(work, mounts) == [inside, f"{work.resolve()}/node/my pods"]
    # A leftover kubelet mount: deleting through it would reach what is mounted there.
    assert remove_workdir(work, mounts) == [inside, f"{work.resolve()}/node/my pods"]
    assert (work / "etcd-data").is_dir()
    assert remove_workdir(work, "/dev/vda / ext4 rw 0 0\n") == []
    assert not work.exists()
