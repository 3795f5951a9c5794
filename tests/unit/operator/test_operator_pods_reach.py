"""What a bot's pods may pull and reach: registry credentials, a PostgreSQL journal from a Secret,
egress that follows the configured endpoints, and CronJobs that keep scheduling (pure rendering)."""

from __future__ import annotations

from typing import Any

from botfleet_operator import resources, secrets
from botfleet_operator.resources import Settings, desired_objects
from tests.unit.operator.tb_fixtures import FAKE_KEY, secret, tb, views

SETTINGS = Settings(image="img:1", image_pull_secrets=("regcred",))


def objs(**spec: Any) -> dict[str, dict[str, Any]]:
    b = tb(mode="live", walletSecretRef={"name": "w"}, credentialsSecretRef={"name": "c"},
           keyRotation={"schedule": "0 3 * * 0"}, **spec)
    views_ = views(secret("w", PRIVATE_KEY=FAKE_KEY), secret("c", OPENAI_API_KEY="sk"),
                   secret("db", JOURNAL_URL="postgresql://u:p@db:6543/x"))
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in desired_objects(b, SETTINGS, views_)}


def _pods(o: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [o["Deployment/b1"]["spec"]["template"]["spec"],
            o["CronJob/b1-backup"]["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            o["CronJob/b1-rotate"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]]


def _egress_ports(policy: dict[str, Any]) -> set[tuple[str, int]]:
    return {(p["protocol"], p["port"]) for rule in policy["spec"]["egress"] for p in rule["ports"]}


def test_every_pod_gets_the_operator_s_and_the_bot_s_registry_credentials() -> None:
    for pod in _pods(objs(imagePullSecrets=[{"name": "team-reg"}, {"name": "regcred"}])):
        assert pod["imagePullSecrets"] == [{"name": "regcred"}, {"name": "team-reg"}]
    plain = desired_objects(tb(), Settings(image="img:1"), {})
    assert all("imagePullSecrets" not in (o.get("spec") or {}).get("template", {}).get("spec", {}) for o in plain)


def test_a_postgres_journal_url_comes_from_its_secret_and_its_port_is_open() -> None:
    o = objs(journal={"backend": "postgres", "urlSecretRef": {"name": "db"}, "port": 6543})
    env = {e["name"]: e for e in _pods(o)[0]["containers"][0]["env"]}
    assert env["BOTFLEET_JOURNAL_URL"]["valueFrom"] == {"secretKeyRef": {"name": "db", "key": "JOURNAL_URL"}}
    backup_env = {e["name"] for e in _pods(o)[1]["containers"][0]["env"]}
    assert "BOTFLEET_JOURNAL_URL" in backup_env  # the backup Job reads the same database
    assert "postgresql://" not in o["ConfigMap/b1"]["data"]["config.json"]
    assert ("TCP", 6543) in _egress_ports(o["NetworkPolicy/b1"]) and ("TCP", 6543) in _egress_ports(o["NetworkPolicy/b1-jobs"])
    spec = tb(journal={"backend": "postgres", "urlSecretRef": {"name": "db", "key": "URL"}}).spec
    assert ("db", "spec.journal.urlSecretRef", ("URL",)) in [(r.secret, r.ref, r.keys) for r in secrets.requirements(spec)]
    missing = secrets.check(spec, views(secret("db", OTHER="x")), "b1")
    assert not missing.ok and "has no key URL" in missing.message


def test_egress_follows_the_llm_endpoint_and_extra_egress() -> None:
    o = objs(strategy="polyai", params={"llmBaseUrl": "http://llm.internal:8000/v1"},
             extraEgress=[{"port": 8545}, {"port": 4500, "protocol": "UDP"}])
    ports = _egress_ports(o["NetworkPolicy/b1"])
    assert {("TCP", 443), ("TCP", 8000), ("TCP", 8545), ("UDP", 4500)} <= ports
    assert ("TCP", 8000) not in _egress_ports(objs()["NetworkPolicy/b1"])


def test_cronjobs_have_a_starting_deadline_and_containers_ephemeral_storage() -> None:
    o = objs()
    for name in ("CronJob/b1-backup", "CronJob/b1-rotate"):
        assert o[name]["spec"]["startingDeadlineSeconds"] == resources.STARTING_DEADLINE_S
    for pod in _pods(o):
        res = pod["containers"][0]["resources"]
        assert res["requests"]["ephemeral-storage"] and res["limits"]["ephemeral-storage"]
