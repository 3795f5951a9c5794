"""`botfleet fleet check` for one bot: the operator's own Secret requirements, then the exchange."""

from __future__ import annotations

from typing import Any

from bot_runtime.contract.config import WALLET_PRIVATE_KEY, BotConfig
from botfleet_operator import api
from botfleet_operator import secrets as req
from botfleet_tools.fleet.auth import auth_check
from botfleet_tools.fleet.rows import Check

Obj = dict[str, Any]


def preflight(kube: Any, bot: Obj) -> list[Check]:
    ns, name = bot["metadata"]["namespace"], bot["metadata"]["name"]
    who = f"{ns}/{name}"
    try:
        spec = api.TradingBot.parse(bot).spec
    except api.SpecError as e:
        return [Check(f"{who} spec", False, str(e))]
    data: dict[str, dict[str, str]] = {}
    views = {}
    for r in req.requirements(spec):
        found = kube.secret_data(ns, r.secret)
        if found is not None:
            d, labels = found
            data[r.ref] = d
            views[r.secret] = req.view_of({"metadata": {"name": r.secret, "labels": labels}, "stringData": d})
    result = req.check(spec, views, name)
    checks = [Check(f"{who} secrets", result.ok and result.backup_ok,
                    "; ".join(result.problems) or result.message)]
    if spec.mode != "live":
        checks.append(Check(f"{who} exchange auth", True, "paper mode: no exchange keys are used"))
        return checks
    if not result.ok:
        checks.append(Check(f"{who} exchange auth", False, "skipped: fix the Secrets first"))
        return checks
    text = kube.config_json(ns, name)
    if not text:
        checks.append(Check(f"{who} exchange auth", False, f"ConfigMap {name} has no config.json yet: "
                            "the operator has not rendered the bot (see its conditions)"))
        return checks
    endpoints = BotConfig.model_validate_json(text).endpoints
    wallet_ref = spec.walletSecretRef
    key_name = (wallet_ref.keys or {}).get(WALLET_PRIVATE_KEY, WALLET_PRIVATE_KEY) if wallet_ref else WALLET_PRIVATE_KEY
    wallet = {WALLET_PRIVATE_KEY: data.get("spec.walletSecretRef", {}).get(key_name, "")}
    ok, detail = auth_check(endpoints.clobUrl, endpoints.chainId, wallet, data.get("spec.credentialsSecretRef", {}))
    checks.append(Check(f"{who} exchange auth", ok, detail))
    return checks
