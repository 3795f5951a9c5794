"""What a TradingBot author may pick for the pod (operator/botfleet_operator/tenancy.py): each case
is a tenant's attempt; the refused ones must apply nothing and say why in status."""

from __future__ import annotations

import pytest

from botfleet_operator import resources, tenancy
from botfleet_operator.api import TradingBot
from botfleet_operator.conditions import condition
from botfleet_operator.reconcile import Snapshot, reconcile
from botfleet_operator.resources import Settings
from tests.unit.operator.tb_fixtures import bot, tb
from tests.unit.operator.test_operator_reconcile import NOW, FakeKube

DEFAULT = "registry.example.com/botfleet/botfleet:0.1.0"
POLICY = Settings.from_env({
    "BOTFLEET_BOT_IMAGE": DEFAULT,
    "BOTFLEET_ALLOWED_IMAGES": "registry.example.com/team-a/, ghcr.io/acme/bot, "
                               "docker.io/library/python@sha256:" + "a" * 64,
})

# (attempt, spec.image)
REFUSED = [
    ("another registry", "evil.example.net/miner:1"),
    ("Docker Hub image by short name", "busybox:1.36"),
    ("a sibling path sharing the prefix", "registry.example.com/team-ab/bot:1"),
    ("a path above the allowed one", "registry.example.com/other/bot:1"),
    ("dot-dot in the path", "registry.example.com/team-a/../team-b/bot:1"),
    ("a repository sharing the allowed one's prefix", "ghcr.io/acme/bot-evil:1"),
    ("a sub-repository of an exact repository", "ghcr.io/acme/bot/evil:1"),
    ("another digest of the pinned image", "docker.io/library/python@sha256:" + "b" * 64),
    ("a tag of the pinned image", "docker.io/library/python:3.11"),
    ("the default image's repository, another tag", "registry.example.com/botfleet/botfleet:latest"),
    ("whitespace smuggling", "registry.example.com/team-a/bot:1 evil"),
    ("uppercase path (not a valid reference)", "registry.example.com/team-a/BOT:1"),
]
ALLOWED = [
    ("the operator's image", DEFAULT),
    ("under an allowed path", "registry.example.com/team-a/bot:2.0"),
    ("under an allowed path, by digest", "registry.example.com/team-a/x/bot@sha256:" + "c" * 64),
    ("an allowed repository, any tag", "ghcr.io/acme/bot:1.2"),
    ("the pinned digest", "docker.io/library/python@sha256:" + "a" * 64),
]


@pytest.mark.parametrize(("what", "image"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_images(what: str, image: str) -> None:
    assert not tenancy.image_allowed(image, POLICY.image, POLICY.allowed_images), what


@pytest.mark.parametrize(("what", "image"), ALLOWED, ids=[a[0] for a in ALLOWED])
def test_allowed_images(what: str, image: str) -> None:
    assert tenancy.image_allowed(image, POLICY.image, POLICY.allowed_images), what


def test_default_policy_allows_the_operators_image_only() -> None:
    s = Settings.from_env({"BOTFLEET_BOT_IMAGE": DEFAULT})
    assert s.allowed_images == ()
    assert tenancy.image_allowed(DEFAULT, s.image, s.allowed_images)
    assert not tenancy.image_allowed("registry.example.com/botfleet/botfleet:0.2.0", s.image, s.allowed_images)


def test_a_refused_image_applies_nothing_and_is_reported() -> None:
    body = bot(image="evil.example.net/miner:1")
    kube = FakeKube()
    result = reconcile(Snapshot(bot=body), kube, POLICY, NOW)
    assert kube.applied == [] and result.applied == []
    degraded = condition(result.status or {}, "Degraded")
    assert degraded and degraded["status"] == "True" and degraded["reason"] == "NotAllowed"
    assert "spec.image 'evil.example.net/miner:1' is not allowed" in degraded["message"]
    assert "operator.allowedImages" in degraded["message"]
    ready = condition(result.status or {}, "Ready")
    assert ready and ready["status"] != "True"


def test_an_env_name_outside_the_allowlist_applies_nothing() -> None:
    """Objects created before the CRD had its allowlist rule are refused by the operator too."""
    body = bot(env=[{"name": "TZ", "value": "UTC"}, {"name": "OPENAI_BASE_URL", "value": "https://evil/"}])
    kube = FakeKube()
    result = reconcile(Snapshot(bot=body), kube, POLICY, NOW)
    assert kube.applied == []
    degraded = condition(result.status or {}, "Degraded")
    assert degraded and degraded["reason"] == "NotAllowed"
    assert "spec.env: OPENAI_BASE_URL may not be set" in degraded["message"]


def test_an_allowed_image_is_always_pulled() -> None:
    """imagePullPolicy Always: the kubelet checks this tenant's pull credentials instead of starting
    a copy of a private image another tenant pulled onto the node."""
    custom = TradingBot.parse(bot(image="registry.example.com/team-a/bot:2.0"))
    dep = resources.deployment(custom, POLICY, {})
    assert dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    for obj in resources.desired_objects(custom, POLICY, {}):
        for pod in _pod_specs(obj):
            assert all(c["imagePullPolicy"] == "Always" for c in pod["containers"]), obj["kind"]
    plain = resources.deployment(tb(), POLICY, {})
    assert plain["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == POLICY.image_pull_policy


def _pod_specs(obj: dict) -> list[dict]:  # type: ignore[type-arg]
    spec = obj.get("spec", {})
    if obj["kind"] == "Deployment":
        return [spec["template"]["spec"]]
    if obj["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    return []


DEFAULT_ENDPOINTS = tenancy.DEFAULT_ALLOWED_ENDPOINTS


@pytest.mark.parametrize("url", [
    "https://api.openai.com/v1", "https://api.openai.com", "https://api.openai.com:443/v1",
    "https://s3.amazonaws.com", "https://s3.eu-west-1.amazonaws.com", "https://S3.EU-WEST-1.amazonaws.com/",
])
def test_endpoints_allowed_by_default(url: str) -> None:
    assert tenancy.endpoint_allowed(url, DEFAULT_ENDPOINTS)


@pytest.mark.parametrize(("what", "url"), [
    ("attacker host", "https://llm.attacker.example/v1"),
    ("plain http to an allowed host", "http://api.openai.com/v1"),
    ("another port", "https://api.openai.com:8443/v1"),
    ("suffix trick", "https://api.openai.com.attacker.example/v1"),
    ("userinfo trick", "https://api.openai.com@attacker.example/v1"),
    ("customer-hosted AWS service", "https://abc123.execute-api.us-east-1.amazonaws.com"),
    ("two labels for one *", "https://s3.x.eu-west-1.amazonaws.com"),
    ("bucket-style host", "https://evil.s3.amazonaws.com.attacker.example"),
    ("metadata endpoint", "http://169.254.169.254/latest"),
    ("not a URL", "api.openai.com"),
])
def test_endpoints_refused_by_default(what: str, url: str) -> None:
    assert not tenancy.endpoint_allowed(url, DEFAULT_ENDPOINTS), what


def test_admin_endpoint_entries_match_scheme_host_port_and_path_prefix() -> None:
    allowed = ("http://llm.internal:8000/v1", "https://minio.backup.svc:9000/")
    assert tenancy.endpoint_allowed("http://llm.internal:8000/v1", allowed)
    assert tenancy.endpoint_allowed("http://llm.internal:8000/v1/", allowed)
    assert not tenancy.endpoint_allowed("http://llm.internal:8000/v10", allowed)
    assert not tenancy.endpoint_allowed("http://llm.internal:8001/v1", allowed)
    assert tenancy.endpoint_allowed("https://minio.backup.svc:9000", allowed)


def test_a_tenant_chosen_llm_endpoint_gets_no_key() -> None:
    """params.llmBaseUrl would receive OPENAI_API_KEY from the namespace's credentials Secret."""
    body = bot(strategy="polyai", params={"llmBaseUrl": "https://llm.attacker.example/v1"})
    kube = FakeKube()
    result = reconcile(Snapshot(bot=body), kube, POLICY, NOW)
    assert kube.applied == []
    degraded = condition(result.status or {}, "Degraded")
    assert degraded and degraded["reason"] == "NotAllowed"
    assert "spec.params.llmBaseUrl 'https://llm.attacker.example/v1' is not an allowed endpoint" in degraded["message"]
    assert "operator.allowedEndpoints" in degraded["message"]
    widened = Settings(image=POLICY.image, allowed_endpoints=("https://llm.attacker.example/",))
    assert tenancy.problem(TradingBot.parse(body), widened.image, (), widened.allowed_endpoints) is None


def test_a_tenant_chosen_s3_endpoint_gets_no_key() -> None:
    s3 = {"endpoint": "https://collector.attacker.example", "bucket": "bkt", "secretRef": {"name": "s3"}}
    backup = {"s3": s3, "encryption": {"secretRef": {"name": "backup-key"}}}
    problem = tenancy.problem(tb(backup=backup), POLICY.image, ())
    assert problem and "spec.backup.s3.endpoint" in problem


@pytest.mark.parametrize(("spec", "text"), [
    ({"tolerations": [{"operator": "Exists"}]}, "spec.tolerations[0] has no key: it would tolerate every taint"),
    ({"tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                       "effect": "NoSchedule"}]}, "control-plane"),
    ({"tolerations": [{"key": "node-role.kubernetes.io/master", "operator": "Exists"}]}, "control-plane"),
    ({"nodeSelector": {"node-role.kubernetes.io/control-plane": ""}}, "spec.nodeSelector"),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]}]}}}},
     "spec.affinity names node-role.kubernetes.io/control-plane"),
])
def test_scheduling_that_escapes_the_bot_pools_is_refused(spec: dict[str, object], text: str) -> None:
    problem = tenancy.problem(tb(**spec), POLICY.image, ())
    assert problem and text in problem


def test_toleration_keys_follow_the_admins_list() -> None:
    dedicated = {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "bots", "effect": "NoSchedule"}]}
    assert tenancy.problem(tb(**dedicated), POLICY.image, ()) is None  # no list: any key
    assert tenancy.problem(tb(**dedicated), POLICY.image, (), toleration_keys=("dedicated",)) is None
    problem = tenancy.problem(tb(**dedicated), POLICY.image, (), toleration_keys=("gpu",))
    assert problem and "operator.scheduling.allowedTolerationKeys" in problem


def test_settings_read_the_admins_lists() -> None:
    s = Settings.from_env({"BOTFLEET_ALLOWED_ENDPOINTS": "https://llm.internal/, https://minio:9000/",
                           "BOTFLEET_ALLOWED_TOLERATION_KEYS": "dedicated"})
    assert s.allowed_endpoints == ("https://llm.internal/", "https://minio:9000/")
    assert s.allowed_toleration_keys == ("dedicated",)
    assert Settings.from_env({}).allowed_endpoints == DEFAULT_ENDPOINTS
