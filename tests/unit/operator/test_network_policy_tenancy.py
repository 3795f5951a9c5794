"""The bot's NetworkPolicy against a compromised bot and a nosy tenant: each attempt is evaluated
the way a NetworkPolicy-enforcing CNI decides it (peers are ORed, ports are ANDed with peers, an
ipBlock's `except` carves holes), on the rendered policy."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import pytest

from botfleet_operator import resources
from botfleet_operator.resources import Settings
from tests.unit.operator.tb_fixtures import tb

CLUSTER = "10.244.0.0/16,10.96.0.0/12,fd00:10:244::/56"
SETTINGS = Settings.from_env({
    "BOTFLEET_CLUSTER_CIDRS": CLUSTER,
    "BOTFLEET_MONITORING_NAMESPACE_SELECTOR": "kubernetes.io/metadata.name=monitoring",
    "POD_NAMESPACE": "botfleet-system",
    "BOTFLEET_SIM_URL": "http://sim.botfleet-system.svc:8000",
})


@dataclass(frozen=True)
class Peer:
    ip: str
    namespace: dict[str, str] = field(default_factory=dict)  # the peer pod's namespace labels
    pod: dict[str, str] = field(default_factory=dict)        # the peer pod's labels (none: not a pod)


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_ok(rule_peer: dict[str, Any], peer: Peer) -> bool:
    if "ipBlock" in rule_peer:
        ip = ipaddress.ip_address(peer.ip)
        block = rule_peer["ipBlock"]
        cidr = ipaddress.ip_network(block["cidr"])
        return ip.version == cidr.version and ip in cidr and not any(
            ip in ipaddress.ip_network(e) for e in block.get("except", []) if ipaddress.ip_network(e).version == ip.version)
    if not peer.pod:  # selectors match pods only
        return False
    ns_ok = _matches(rule_peer["namespaceSelector"], peer.namespace) if "namespaceSelector" in rule_peer else False
    pod_ok = _matches(rule_peer["podSelector"], peer.pod) if "podSelector" in rule_peer else True
    return ns_ok and pod_ok


def allowed(policy: dict[str, Any], direction: str, peer: Peer, proto: str, port: int) -> bool:
    key = "to" if direction == "egress" else "from"
    for rule in policy["spec"][direction]:
        peers = rule.get(key)
        if peers is not None and not any(_peer_ok(p, peer) for p in peers):
            continue
        if any(p["protocol"] == proto and p["port"] == port for p in rule.get("ports", [])):
            return True
    return False


KUBE_DNS = Peer("10.96.0.10", {"kubernetes.io/metadata.name": "kube-system"}, {"k8s-app": "kube-dns"})
PROMETHEUS = Peer("10.244.3.7", {"kubernetes.io/metadata.name": "monitoring"}, {"app": "prometheus"})
OPERATOR = Peer("10.244.1.2", {"kubernetes.io/metadata.name": "botfleet-system"}, {"app": "botfleet"})

# (what a compromised bot tries, peer, protocol, port)
EGRESS_ATTACKS = [
    ("cloud metadata endpoint", Peer("169.254.169.254"), "TCP", 443),
    ("metadata endpoint on 80", Peer("169.254.169.254"), "TCP", 80),
    ("AWS IPv6 metadata", Peer("fd00:ec2::254"), "TCP", 443),
    ("IPv6 link-local", Peer("fe80::1"), "TCP", 443),
    ("another tenant's bot pod", Peer("10.244.7.9", {"kubernetes.io/metadata.name": "tenant-b"}, {"botfleet.io/bot": "x"}), "TCP", 443),
    ("another bot's metrics/status", Peer("10.244.7.9", {"kubernetes.io/metadata.name": "tenant-b"}, {"botfleet.io/bot": "x"}), "TCP", 9100),
    ("the API server's Service IP", Peer("10.96.0.1"), "TCP", 443),
    ("a pod on IPv6", Peer("fd00:10:244::5"), "TCP", 443),
    ("DNS exfiltration via an outside resolver", Peer("8.8.8.8"), "UDP", 53),
    ("DNS over TCP to an outside resolver", Peer("1.1.1.1"), "TCP", 53),
    ("a tenant pod posing as DNS", Peer("10.244.7.10", {"kubernetes.io/metadata.name": "tenant-b"}, {"k8s-app": "kube-dns"}), "UDP", 53),
    ("SSH out", Peer("203.0.113.5"), "TCP", 22),
    ("metadata endpoint through the simulator's port", Peer("169.254.169.254"), "TCP", 8000),
]
INGRESS_ATTACKS = [
    ("a pod of another tenant scraping /status", Peer("10.244.7.9", {"kubernetes.io/metadata.name": "tenant-b"}, {"app": "x"})),
    ("a pod of the bot's own namespace", Peer("10.244.2.9", {"kubernetes.io/metadata.name": "trading"}, {"app": "y"})),
    ("an outside address", Peer("203.0.113.5")),
]


@pytest.mark.parametrize(("what", "peer", "proto", "port"), EGRESS_ATTACKS, ids=[a[0] for a in EGRESS_ATTACKS])
def test_a_compromised_bot_cannot_reach(what: str, peer: Peer, proto: str, port: int) -> None:
    policy = resources.network_policy(tb(), SETTINGS)  # paper bot: the simulator's port is open too
    assert not allowed(policy, "egress", peer, proto, port), what


@pytest.mark.parametrize(("what", "peer"), INGRESS_ATTACKS, ids=[a[0] for a in INGRESS_ATTACKS])
def test_only_monitoring_and_the_operator_reach_port_9100(what: str, peer: Peer) -> None:
    policy = resources.network_policy(tb(), SETTINGS)
    assert not allowed(policy, "ingress", peer, "TCP", 9100), what


def test_what_a_bot_needs_still_works() -> None:
    policy = resources.network_policy(tb(mode="live", walletSecretRef={"name": "w"}), SETTINGS)
    assert allowed(policy, "egress", KUBE_DNS, "UDP", 53) and allowed(policy, "egress", KUBE_DNS, "TCP", 53)
    assert allowed(policy, "egress", Peer("104.18.2.3"), "TCP", 443)        # the CLOB, an RPC provider
    assert allowed(policy, "egress", Peer("2606:4700::6810:1"), "TCP", 443)
    assert allowed(policy, "ingress", PROMETHEUS, "TCP", 9100)
    assert allowed(policy, "ingress", OPERATOR, "TCP", 9100)
    assert not allowed(policy, "egress", Peer("10.96.5.5"), "TCP", 8000), "live bots have no simulator port"
    paper = resources.network_policy(tb(), SETTINGS)
    assert allowed(paper, "egress", Peer("10.96.5.5"), "TCP", 8000), "the in-cluster simulator"


def test_every_except_lies_inside_its_cidr() -> None:
    """The API server rejects an ipBlock whose `except` is outside its `cidr`."""
    for rule in resources.network_policy(tb(), SETTINGS)["spec"]["egress"]:
        for peer in rule["to"]:
            if "ipBlock" in peer:
                cidr = ipaddress.ip_network(peer["ipBlock"]["cidr"])
                for e in peer["ipBlock"]["except"]:
                    net = ipaddress.ip_network(e)
                    assert net.version == cidr.version and net.subnet_of(cidr) and net != cidr  # type: ignore[arg-type]


def test_without_cluster_cidrs_link_local_is_still_blocked() -> None:
    policy = resources.network_policy(tb(), Settings())
    assert not allowed(policy, "egress", Peer("169.254.169.254"), "TCP", 443)
    assert allowed(policy, "egress", Peer("10.244.7.9"), "TCP", 443), "cluster ranges: opt-in setting"


@pytest.mark.parametrize(("env", "field_name"), [
    ({"BOTFLEET_CLUSTER_CIDRS": "10.0.0.0/33"}, "BOTFLEET_CLUSTER_CIDRS"),
    ({"BOTFLEET_MONITORING_NAMESPACE_SELECTOR": "monitoring"}, "BOTFLEET_MONITORING_NAMESPACE_SELECTOR"),
    ({"BOTFLEET_DNS_POD_SELECTOR": "=x"}, "BOTFLEET_DNS_POD_SELECTOR"),
])
def test_bad_settings_name_the_variable(env: dict[str, str], field_name: str) -> None:
    with pytest.raises(ValueError, match=field_name):
        Settings.from_env(env)


JOB_ATTACKS = [
    ("metadata endpoint on the S3 port (9000)", Peer("169.254.169.254"), "TCP", 9000),
    ("metadata endpoint on 80", Peer("169.254.169.254"), "TCP", 80),
    ("metadata endpoint on 443", Peer("169.254.169.254"), "TCP", 443),
    ("AWS IPv6 metadata", Peer("fd00:ec2::254"), "TCP", 80),
    ("DNS via an outside resolver", Peer("8.8.8.8"), "UDP", 53),
]


@pytest.mark.parametrize(("what", "peer", "proto", "port"), JOB_ATTACKS, ids=[a[0] for a in JOB_ATTACKS])
def test_the_backup_and_rotation_jobs_cannot_reach(what: str, peer: Peer, proto: str, port: int) -> None:
    """The Jobs run the bot's image too (the rotation Job with an API token); the S3 endpoint's port
    (https only: an http:// one, on the metadata endpoint's port 80, is refused at admission) is open,
    but never to link-local addresses."""
    b = tb(backup={"s3": {"endpoint": "https://minio.storage.svc:9000", "bucket": "bots", "secretRef": {"name": "s"}},
                   "encryption": {"secretRef": {"name": "k"}}})
    policy = resources.jobs_network_policy(b, SETTINGS)
    assert not allowed(policy, "egress", peer, proto, port), what


def test_the_jobs_still_reach_the_api_server_s3_and_dns() -> None:
    b = tb(backup={"s3": {"endpoint": "https://minio.storage.svc:9000", "bucket": "bots", "secretRef": {"name": "s"}},
                   "encryption": {"secretRef": {"name": "k"}}})
    policy = resources.jobs_network_policy(b, SETTINGS)
    assert allowed(policy, "egress", Peer("10.96.0.1"), "TCP", 443)      # the API server's Service IP
    assert allowed(policy, "egress", Peer("172.20.0.5"), "TCP", 6443)    # the API server itself
    assert allowed(policy, "egress", Peer("10.96.40.2"), "TCP", 9000)    # in-cluster S3 (MinIO, TLS)
    assert allowed(policy, "egress", KUBE_DNS, "UDP", 53)


def test_ports_the_spec_names_reach_in_cluster_services_but_never_link_local() -> None:
    """A PostgreSQL journal or an LLM endpoint may run in the cluster: their ports stay open to the
    cluster's ranges; HTTPS stays outside them; link-local is closed on every port."""
    b = tb(extraEgress=[{"port": 5432}])
    policy = resources.network_policy(b, SETTINGS)
    assert allowed(policy, "egress", Peer("10.96.7.7"), "TCP", 5432)
    assert not allowed(policy, "egress", Peer("169.254.169.254"), "TCP", 5432)
    assert not allowed(policy, "egress", Peer("10.96.7.7"), "TCP", 443)
