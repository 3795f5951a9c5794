"""Shared builders for the operator's unit tests."""

from __future__ import annotations

import base64
from typing import Any

from botfleet_operator.api import TradingBot, TradingBotSpec
from botfleet_operator.secrets import SecretView, view_of
from botfleet_operator.tenancy import LABEL_SECRET_BOTS

FAKE_KEY = "0x" + "ab" * 32  # test-only value, scanned for in every output


def bot(name: str = "b1", namespace: str = "ns", generation: int = 1, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "generation": generation,
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"strategy": "arbhunter", "mode": "paper", "riskProfile": "balanced", **spec}}


def tb(name: str = "b1", namespace: str = "ns", generation: int = 1, **spec: Any) -> TradingBot:
    """`bot(...)` parsed the way the operator parses it (once, at the start of a reconcile)."""
    return TradingBot.parse(bot(name, namespace, generation, **spec))


def spec_of(**spec: Any) -> TradingBotSpec:
    return TradingBotSpec.model_validate(spec)


def secret(name: str, namespace: str = "ns", bots: str | None = "all", **data: str) -> dict[str, Any]:
    """A Secret opted in for `bots` (the owner's label; None: not opted in)."""
    labels = {LABEL_SECRET_BOTS: bots} if bots is not None else {}
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": labels},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def views(*secrets: dict[str, Any]) -> dict[str, SecretView]:
    return {s["metadata"]["name"]: view_of(s) for s in secrets}
