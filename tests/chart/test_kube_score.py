"""kube-score (a maintained linter of Kubernetes objects, built from its Go module by
tools/controlplane/build.sh) on everything the chart renders. Each deliberate exception is listed
here with its reason, and in docs/installation.md; anything else it flags fails the test."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import yaml

from tests.support.helm import REPO, built_binary, helm_binary, render

KUBE_SCORE = built_binary("kube-score")
pytestmark = pytest.mark.skipif(KUBE_SCORE is None or helm_binary() is None,
                                reason="kube-score or helm missing: tools/controlplane/build.sh builds them")

# kube-score check id -> why botfleet does otherwise on purpose.
EXCEPTIONS = {
    "container-image-pull-policy": "images are pinned by tag or digest (image.digest); `Always` makes every pod "
                                   "start depend on the registry. Set image.pullPolicy=Always for a mutable tag.",
}
# Flags with the same standing: CPU limits throttle (CFS quota) a latency-critical process on a busy
# node; the CPU request reserves what it needs, the memory limit bounds what it may take.
FLAGS = ["--ignore-container-cpu-limit"]


def kube_score(objects: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(object, check id, comment) of every failed check that is not an exception."""
    proc = subprocess.run([str(KUBE_SCORE), "score", "-", "--output-format", "json", *FLAGS],
                          input=yaml.safe_dump_all(objects), capture_output=True, text=True, check=False,
                          timeout=120)
    assert proc.stdout, proc.stderr
    failed = []
    for obj in json.loads(proc.stdout):
        for c in obj["checks"]:
            if c["skipped"] or c["grade"] >= 10 or c["check"]["id"] in EXCEPTIONS:
                continue
            for comment in c["comments"] or [{"summary": c["check"]["name"]}]:
                failed.append((obj["object_name"], c["check"]["id"], comment["summary"]))
    return failed


@pytest.mark.parametrize("values", [None, {"monitoring": {"serviceMonitor": {"force": True},
                                                         "prometheusRule": {"force": True}}},
                                    {"operator": {"replicas": 3, "topologySpreadConstraints": [
                                        {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                         "whenUnsatisfiable": "ScheduleAnyway"}]}}],
                         ids=["defaults", "monitoring", "spread"])
def test_the_rendered_chart_passes_kube_score(values: dict[str, Any] | None) -> None:
    objects = [o for o in render(values=values) if o["kind"] != "CustomResourceDefinition"]
    assert kube_score(objects) == []


def test_kube_score_would_catch_a_regression() -> None:
    objects = render()
    for o in objects:
        if o["kind"] == "Deployment":
            del o["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    assert ("container-resources" in {check for _, check, _ in kube_score(objects)})


# On the objects the operator renders for a bot, the same linter and these exceptions besides:
BOT_EXCEPTIONS = {
    "deployment-replicas": "one bot is one pod: two replicas would trade one wallet twice",
    "deployment-strategy": "Recreate: the old pod has stopped (and cancelled its orders) before the new one "
                           "starts, never two at once",
    "deployment-has-poddisruptionbudget": "a PodDisruptionBudget on a single replica would block every node "
                                          "drain; a drained bot cancels its orders on SIGTERM and restarts",
    "deployment-has-host-podantiaffinity": "a single replica has no sibling to keep apart",
}


@pytest.mark.parametrize("example", ["arbhunter", "polyai", "elitemimic"])
def test_the_operator_s_objects_for_each_example_pass_kube_score(example: str) -> None:
    from botfleet_operator.api import TradingBot
    from botfleet_operator.resources import Settings, desired_objects
    from botfleet_operator.secrets import view_of

    doc = yaml.safe_load((REPO / "examples" / f"{example}.yaml").read_text())
    doc["metadata"] |= {"namespace": "trading", "uid": "uid-1"}
    bot = TradingBot.parse(doc)
    secret_docs = list(yaml.safe_load_all((REPO / "examples" / f"{example}-secret.yaml").read_text()))
    views = {s["metadata"]["name"]: view_of(s) for s in secret_docs}
    objects = desired_objects(bot, Settings(image="registry.example.com/botfleet/botfleet:0.1.0"), views)
    failed = [f for f in kube_score(objects) if f[1] not in BOT_EXCEPTIONS]
    assert failed == []
