"""LLM analysis through the `openai` client (any OpenAI-compatible server: base URL + model).

The model answers in structured JSON (probability 0-1, confidence 0-100, rationale); anything else is
an `AnalysisError`, never a trade. Tokens and an estimated cost are counted per call; embeddings are
cached (the operations guide calls repeated embeddings out as a cost problem).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any

import structlog

from bot_runtime.ai.types import Analysis, AnalysisError, AnalysisRequest

# USD per 1M tokens (input, output): OpenAI's public list prices (standard tier). A model missing
# here is "unpriced": its calls are counted by `botfleet_llm_unpriced_calls_total` and logged once,
# never silently costed at $0.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o1": (15.00, 60.00),
    "o1-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
}

# Reasoning models (o-series, gpt-5) refuse `temperature` other than the default and `max_tokens`;
# they take `max_completion_tokens`, which also bounds the hidden reasoning tokens, hence the larger cap.
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
ANSWER_TOKENS = 400
REASONING_TOKENS = 4000


def _base_name(model: str) -> str:
    """`openai/o3-mini-2025-01-31` -> `o3-mini-2025-01-31`: routers prefix a provider."""
    return model.rsplit("/", 1)[-1].lower()


def is_reasoning_model(model: str) -> bool:
    name = _base_name(model)
    return any(name == p or name.startswith(p + "-") for p in REASONING_PREFIXES)


def completion_params(model: str) -> dict[str, Any]:
    """The sampling parameters this model family accepts."""
    if is_reasoning_model(model):
        return {"max_completion_tokens": REASONING_TOKENS}
    return {"temperature": 0.2, "max_tokens": ANSWER_TOKENS}


def price_of(model: str) -> tuple[float, float] | None:
    """List price of a model, also for dated snapshots (`gpt-4o-2024-08-06` is priced as `gpt-4o`)."""
    name = _base_name(model)
    while name:
        if name in PRICES:
            return PRICES[name]
        head, sep, _ = name.rpartition("-")
        if not sep:
            return None
        name = head
    return None


log = structlog.get_logger("botfleet.ai")

SYSTEM_PROMPT = (
    "You are a careful forecaster for prediction markets. Given a market question, its current YES price, "
    "recent headlines and notes from your past analyses, estimate the probability that the question resolves "
    "YES. Be calibrated: stay near the market price unless the evidence is strong. Answer only with JSON."
)

RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "forecast",
        "strict": True,
        "schema": {
            "type": "object",
            "additionalProperties": False,
            "required": ["probability", "confidence", "rationale"],
            "properties": {
                "probability": {"type": "number", "description": "P(YES), 0 to 1"},
                "confidence": {"type": "integer", "description": "0 to 100"},
                "rationale": {"type": "string"},
            },
        },
    },
}


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Estimated cost in USD, or None for a model without a known price."""
    price = price_of(model)
    if price is None:
        return None
    p_in, p_out = price
    return (prompt_tokens * p_in + completion_tokens * p_out) / 1_000_000


def build_messages(req: AnalysisRequest) -> list[dict[str, str]]:
    lines = [f"Question: {req.question}", f"Current YES price: {req.yes_price:.3f}"]
    if req.kind == "copy":
        lines.append("A large, historically successful wallet just traded this market: "
                     + json.dumps(req.facts, sort_keys=True)
                     + ". Should we copy it? Give the probability of YES and your confidence that copying "
                       "the trade is right.")
    if req.headlines:
        lines.append("Headlines:")
        lines += [f"- {h.title}" + (f" ({h.source}, {h.published_at})" if h.source else "") for h in req.headlines[:15]]
    if req.memories:
        lines.append("Your related past analyses:")
        lines += [f"- {m}" for m in req.memories[:3]]
    lines.append('Reply as {"probability": <0-1>, "confidence": <0-100>, "rationale": "<one paragraph>"}.')
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(lines)}]


def parse_answer(content: str | None) -> tuple[float, int, str]:
    """Validate the model's JSON; raises AnalysisError naming what is wrong."""
    if not content:
        raise AnalysisError("LLM returned an empty answer")
    text = content.strip()
    if text.startswith("```"):  # some servers wrap JSON in a fence despite the response format
        text = text.strip("`").removeprefix("json").strip()
    try:
        d = json.loads(text)
    except ValueError:
        raise AnalysisError(f"LLM answer is not JSON: {content[:120]!r}") from None
    if not isinstance(d, dict):
        raise AnalysisError("LLM answer must be a JSON object")
    p, c, r = d.get("probability"), d.get("confidence"), d.get("rationale", "")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise AnalysisError(f"LLM 'probability' must be a number in [0, 1], got {p!r}")
    if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 <= c <= 100:
        raise AnalysisError(f"LLM 'confidence' must be a number in [0, 100], got {c!r}")
    return float(p), round(c), str(r)[:2000]


class LLMAnalyzer:
    def __init__(
        self,
        api_key: str,
        model: str = "gpt-4o-mini",
        base_url: str | None = None,
        embedding_model: str = "text-embedding-3-small",
        *,
        timeout_s: float = 30.0,
        max_retries: int = 2,
        metrics: Any = None,
        labels: tuple[str, str] = ("", ""),
        embed_cache_size: int = 4096,
    ) -> None:
        from openai import AsyncOpenAI

        self.model = model
        self.embedding_model = embedding_model
        self.client = AsyncOpenAI(api_key=api_key, base_url=base_url or None, timeout=timeout_s,
                                  max_retries=max_retries)
        self.metrics = metrics
        self.labels = labels
        self._embeds: OrderedDict[str, list[float]] = OrderedDict()
        self._embed_cap = embed_cache_size
        self.tokens = {"prompt": 0, "completion": 0}
        self.cost = 0.0
        self.calls = {"ok": 0, "error": 0}
        self.unpriced: set[str] = set()

    def _count(self, model: str, result: str, pt: int = 0, ct: int = 0) -> float:
        priced = cost_usd(model, pt, ct)
        c = priced or 0.0
        if priced is None and model not in self.unpriced:
            self.unpriced.add(model)
            log.warning("llm_model_unpriced", model=model,
                        fix="its cost is not estimated: add the model's price to bot_runtime/ai/llm.py PRICES")
        self.tokens["prompt"] += pt
        self.tokens["completion"] += ct
        self.cost += c
        m = self.metrics
        if m is not None:
            b, s = self.labels
            m.llm_requests.labels(b, s, model, result).inc()
            if pt:
                m.llm_tokens.labels(b, s, model, "prompt").inc(pt)
            if ct:
                m.llm_tokens.labels(b, s, model, "completion").inc(ct)
            if c:
                m.llm_cost.labels(b, s, model).inc(c)
            if priced is None:
                m.llm_unpriced.labels(b, s, model).inc()
        return c

    async def analyze(self, req: AnalysisRequest) -> Analysis:
        from openai import OpenAIError

        try:
            resp = await self.client.chat.completions.create(  # type: ignore[call-overload]
                model=self.model, messages=build_messages(req), response_format=RESPONSE_FORMAT,
                **completion_params(self.model))
        except OpenAIError as e:
            self.calls["error"] += 1
            self._count(self.model, "error")
            raise AnalysisError(f"LLM request failed: {type(e).__name__}") from None
        usage = resp.usage
        pt = usage.prompt_tokens if usage else 0
        ct = usage.completion_tokens if usage else 0
        try:
            prob, conf, why = parse_answer(resp.choices[0].message.content if resp.choices else None)
        except AnalysisError:
            self.calls["error"] += 1
            self._count(self.model, "invalid", pt, ct)
            raise
        self.calls["ok"] += 1
        c = self._count(self.model, "ok", pt, ct)
        return Analysis(prob, conf, why, self.model, pt, ct, c)

    async def embed(self, text: str) -> list[float]:
        key = hashlib.sha256(f"{self.embedding_model}\0{text}".encode()).hexdigest()
        hit = self._embeds.get(key)
        m = self.metrics
        if hit is not None:
            self._embeds.move_to_end(key)
            if m is not None:
                m.embedding_cache.labels(*self.labels, "hit").inc()
            return hit
        if m is not None:
            m.embedding_cache.labels(*self.labels, "miss").inc()
        from openai import OpenAIError

        try:
            resp = await self.client.embeddings.create(model=self.embedding_model, input=text)
        except OpenAIError as e:
            self._count(self.embedding_model, "error")
            raise AnalysisError(f"embedding request failed: {type(e).__name__}") from None
        vec = [float(x) for x in resp.data[0].embedding]
        self._count(self.embedding_model, "ok", resp.usage.prompt_tokens if resp.usage else 0, 0)
        self._embeds[key] = vec
        if len(self._embeds) > self._embed_cap:
            self._embeds.popitem(last=False)
        return vec

    async def close(self) -> None:
        await self.client.close()
