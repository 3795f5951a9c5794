"""Which outcome won: read from Gamma for markets whose `market_resolved` event was missed
(the bot was down, or the market is not subscribed). Scores AI predictions and copy outcomes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any


def winner_from_gamma(raw: Mapping[str, Any]) -> str | None:
    """The winning token id of a closed Gamma market (outcomePrices "1"/"0"), else None."""
    if not raw.get("closed"):
        return None
    try:
        prices = raw.get("outcomePrices")
        tokens = raw.get("clobTokenIds")
        prices = json.loads(prices) if isinstance(prices, str) else prices
        tokens = json.loads(tokens) if isinstance(tokens, str) else tokens
        if not isinstance(prices, list) or not isinstance(tokens, list) or len(prices) != len(tokens):
            return None
        values = [float(p) for p in prices]
    except (TypeError, ValueError):
        return None
    winners = [str(t) for t, v in zip(tokens, values, strict=True) if v >= 0.99]
    return winners[0] if len(winners) == 1 else None


async def fetch_resolutions(http: Any, gamma_url: str, condition_ids: Iterable[str],
                            batch: int = 50) -> dict[str, str]:
    """condition id -> winning token for those of `condition_ids` that Gamma reports closed."""
    ids = sorted(set(condition_ids))
    out: dict[str, str] = {}
    for i in range(0, len(ids), batch):
        params = [("condition_ids", c) for c in ids[i:i + batch]] + [("closed", "true")]
        async with http.get(f"{gamma_url.rstrip('/')}/markets", params=params) as r:
            if r.status != 200:
                raise RuntimeError(f"Gamma /markets answered {r.status}")
            data = await r.json(content_type=None)
        for m in data if isinstance(data, list) else []:
            if isinstance(m, dict):
                w = winner_from_gamma(m)
                cid = m.get("conditionId")
                if w is not None and isinstance(cid, str):
                    out[cid] = w
    return out
