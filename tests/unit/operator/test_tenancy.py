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
