"""The AI layer over real HTTP on loopback: the `openai` client against a local OpenAI-compatible
server, NewsAPI budget/cache, and the Supabase store's PostgREST requests.

Here the Supabase store is tested for the requests it sends (table insert, RPC vector match) and how
it reads the answers; test_supabase_sql.py runs the same calls against its shipped SQL on a real
PostgreSQL with pgvector.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from bot_runtime.ai.llm import RESPONSE_FORMAT, LLMAnalyzer, cost_usd
from bot_runtime.ai.memory import MemoryRecord, SQLiteMemory, SupabaseMemory
from bot_runtime.ai.news import NewsBudgetExceeded, NewsClient
from bot_runtime.ai.types import AnalysisError, AnalysisRequest, Headline
from bot_runtime.telemetry.metrics import BotMetrics

REQ = AnalysisRequest("0xm", "Will the bill pass by June?", 0.42, "news",
                      (Headline("Senate passes the bill", source="Wire"),), ("earlier: p=0.40",))


def _value(m: BotMetrics, name: str, **labels: str) -> float:
    v = m.registry.get_sample_value(name, labels)
    return v or 0.0


async def test_llm_structured_answer_tokens_and_cost(fake_ai: Any) -> None:
    metrics = BotMetrics(CollectorRegistry())
    a = LLMAnalyzer("sk-test-not-real", "gpt-4o-mini", fake_ai.base_url, metrics=metrics, labels=("b", "polyai"),
                    max_retries=0)
    res = await a.analyze(REQ)
    assert (res.probability, res.confidence, res.rationale) == (0.8, 85, "strong evidence")
    assert (res.prompt_tokens, res.completion_tokens) == (120, 30)
    assert res.cost_usd == pytest.approx(cost_usd("gpt-4o-mini", 120, 30)) and res.cost_usd > 0
    [call] = fake_ai.calls("/chat/completions")
    assert call.body["model"] == "gpt-4o-mini" and call.body["response_format"] == RESPONSE_FORMAT
    assert call.headers["authorization"] == "Bearer sk-test-not-real"
    user = call.body["messages"][1]["content"]
    assert "Will the bill pass by June?" in user and "Senate passes the bill" in user and "earlier: p=0.40" in user
    assert _value(metrics, "botfleet_llm_tokens_total", bot="b", strategy="polyai", model="gpt-4o-mini",
                  kind="prompt") == 120
    assert _value(metrics, "botfleet_llm_requests_total", bot="b", strategy="polyai", model="gpt-4o-mini",
                  result="ok") == 1
    assert _value(metrics, "botfleet_llm_cost_usd_total", bot="b", strategy="polyai",
                  model="gpt-4o-mini") == pytest.approx(res.cost_usd)
    await a.close()


@pytest.mark.parametrize("model", ["o4-mini", "gpt-5-mini", "openai/o3-2025-04-16"])
async def test_llm_reasoning_models_get_the_parameters_they_accept(fake_ai: Any, model: str) -> None:
    # The local server refuses max_tokens/temperature for reasoning models, as OpenAI does.
    a = LLMAnalyzer("sk-test-not-real", model, fake_ai.base_url, max_retries=0)
    res = await a.analyze(REQ)
    assert res.probability == 0.8
    [call] = fake_ai.calls("/chat/completions")
    assert "max_tokens" not in call.body and "temperature" not in call.body
    assert call.body["max_completion_tokens"] >= 1000  # room for hidden reasoning tokens
    assert res.cost_usd > 0  # priced, dated snapshot included
    await a.close()


async def test_llm_unknown_model_is_marked_unpriced_not_free(fake_ai: Any) -> None:
    metrics = BotMetrics(CollectorRegistry())
    a = LLMAnalyzer("sk-test-not-real", "local-llama-70b", fake_ai.base_url, metrics=metrics,
                    labels=("b", "polyai"), max_retries=0)
    res = await a.analyze(REQ)
    await a.analyze(REQ)
    [first, _] = fake_ai.calls("/chat/completions")
    assert first.body["max_tokens"] == 400 and first.body["temperature"] == 0.2
    assert res.cost_usd == 0 and a.unpriced == {"local-llama-70b"}
    assert _value(metrics, "botfleet_llm_unpriced_calls_total", bot="b", strategy="polyai",
                  model="local-llama-70b") == 2
    assert _value(metrics, "botfleet_llm_cost_usd_total", bot="b", strategy="polyai", model="local-llama-70b") == 0
    await a.close()


@pytest.mark.parametrize("answer,match", [
    ("not json at all", "not JSON"),
    ({"probability": 1.5, "confidence": 50, "rationale": "x"}, "probability"),
    ({"probability": 0.5, "confidence": "high", "rationale": "x"}, "confidence"),
])
async def test_llm_bad_answers_are_errors_not_trades(fake_ai: Any, answer: Any, match: str) -> None:
    fake_ai.chat_answer = answer
    a = LLMAnalyzer("sk-test", "gpt-4o-mini", fake_ai.base_url, max_retries=0)
    with pytest.raises(AnalysisError, match=match):
        await a.analyze(REQ)
    await a.close()


async def test_llm_server_error_names_no_secret(fake_ai: Any) -> None:
    fake_ai.chat_status = 500
    a = LLMAnalyzer("sk-secret-value-123", "gpt-4o-mini", fake_ai.base_url, max_retries=0)
    with pytest.raises(AnalysisError) as ei:
        await a.analyze(REQ)
    assert "sk-secret" not in str(ei.value)
    await a.close()


async def test_embeddings_are_cached(fake_ai: Any) -> None:
    metrics = BotMetrics(CollectorRegistry())
    a = LLMAnalyzer("sk-test", base_url=fake_ai.base_url, metrics=metrics, labels=("b", "polyai"), max_retries=0)
    v1 = await a.embed("same text")
    v2 = await a.embed("same text")
    await a.embed("other text")
    assert v1 == v2 and len(fake_ai.calls("/embeddings")) == 2
    assert _value(metrics, "botfleet_embedding_cache_total", bot="b", strategy="polyai", result="hit") == 1
    assert _value(metrics, "botfleet_embedding_cache_total", bot="b", strategy="polyai", result="miss") == 2
    await a.close()


async def test_newsapi_budget_and_cache(fake_ai: Any) -> None:
    fake_ai.articles = [{"title": "Bill passes", "description": "d", "source": {"name": "Wire"},
                         "url": "u", "publishedAt": "2026-11-25T10:00:00Z"}]
    now = [1_764_000_000_000]
    async with aiohttp.ClientSession() as http:
        news = NewsClient(http, "news-key", lambda: now[0], base_url=fake_ai.url, daily_limit=2,
                          cache_ttl_ms=60_000)
        hs = await news.headlines("bill pass")
        assert [h.title for h in hs] == ["Bill passes"] and hs[0].source == "Wire"
        await news.headlines("bill pass")  # cached
        assert news.requests == 1 and news.cache_hits == 1
        await news.headlines("other")
        with pytest.raises(NewsBudgetExceeded):
            await news.headlines("third")
        now[0] += 86_400_000  # next UTC day: budget restored
        await news.headlines("fourth")
    calls = fake_ai.calls("/v2/everything")
    assert len(calls) == 3 and calls[0].query["q"] == "bill pass"
    assert all(c.headers["x-api-key"] == "news-key" and "apiKey" not in c.query for c in calls)


def _rec(q: str, emb: tuple[float, ...]) -> MemoryRecord:
    return MemoryRecord("0xm", q, f"summary of {q}", 0.6, 70, 0.5, 1, emb)


async def test_sqlite_memory_top_k_by_cosine(tmp_path: Any) -> None:
    path = tmp_path / "mem.sqlite"
    m = SQLiteMemory(path)
    await m.add(_rec("a", (1.0, 0.0, 0.0)))
    await m.add(_rec("b", (0.7, 0.7, 0.0)))
    await m.add(_rec("c", (0.0, 0.0, 1.0)))
    await m.add(_rec("d", (-1.0, 0.0, 0.0)))
    got = await m.search([1.0, 0.1, 0.0], k=3)
    assert [r.question for r in got] == ["a", "b", "c"] and got[0].similarity > got[1].similarity
    m.put_embedding("k", [0.5, 0.25])
    await m.close()
    again = SQLiteMemory(path)  # persisted: vectors and the embedding cache survive a restart
    assert len(again) == 4 and again.get_embedding("k") == [0.5, 0.25]
    assert [r.question for r in await again.search([0.0, 0.0, 1.0], k=1)] == ["c"]
    await again.close()


async def test_supabase_memory_sends_postgrest_insert_and_rpc(fake_ai: Any) -> None:
    fake_ai.rpc_rows = [{"market": "0xm", "question": "a", "summary": "s", "probability": 0.6, "confidence": 70,
                         "yes_price": 0.5, "created_ms": 1, "similarity": 0.93}]
    m = SupabaseMemory(fake_ai.url, "service-role-key")
    await m.add(_rec("a", (0.1, 0.2)))
    got = await m.search([0.1, 0.2], k=3)
    assert [(r.question, r.similarity) for r in got] == [("a", 0.93)]
    ins, rpc = fake_ai.calls("/rest/v1/")
    assert (ins.method, ins.path) == ("POST", "/rest/v1/polyai_memory")
    assert ins.body["embedding"] == [0.1, 0.2] and ins.body["question"] == "a"
    assert (rpc.method, rpc.path) == ("POST", "/rest/v1/rpc/match_polyai_memory")
    assert rpc.body == {"query_embedding": [0.1, 0.2], "match_count": 3}
    assert ins.headers["apikey"] == "service-role-key"
    json.dumps(ins.body)  # plain JSON, no numpy or tuples on the wire
