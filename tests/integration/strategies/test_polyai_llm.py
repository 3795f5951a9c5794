"""PolyAI's news path end to end on loopback: NewsAPI -> memory -> real `openai` client -> order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp

from bot_runtime.contract.config import BotConfig
from bot_runtime.marketdata.store import BookStore
from bot_runtime.strategies import get_strategy
from bot_runtime.strategies.base import StrategyContext
from bot_runtime.types import Opportunity, OrderIntent, OrderResult
from bot_runtime.venue.polymarket.gamma import market_from_gamma

CID = "0x" + "44" * 32


async def test_news_analysis_trades_a_confident_edge_and_remembers(fake_ai: Any, tmp_path: Path) -> None:
    fake_ai.articles = [{"title": "Senate leaders confirm the bill will pass", "source": {"name": "Wire"}}]
    info = market_from_gamma({"conditionId": CID, "question": "Will the infrastructure bill pass by June?",
                              "clobTokenIds": json.dumps(["71", "70"]), "orderMinSize": 5})
    store = BookStore()
    store.add_markets([info])
    for tok, bid, ask in (("71", "0.40", "0.42"), ("70", "0.58", "0.60")):
        store.apply_raw(json.dumps({"event_type": "book", "asset_id": tok, "market": CID, "timestamp": "1000",
                                    "bids": [{"price": bid, "size": "900"}], "asks": [{"price": ask, "size": "900"}]}),
                        1000)
    sent: list[OrderIntent] = []

    async def submit(intents: list[OrderIntent], opp: Opportunity) -> list[OrderResult]:
        sent.extend(intents)
        return [OrderResult("c", i, "matched", "o", i.size_e6, i.price_e6) for i in intents]

    cfg = BotConfig.model_validate({"name": "ai", "strategy": "polyai", "params": {
        "llmBaseUrl": fake_ai.base_url, "llmModel": "gpt-4o-mini", "minConfidence": 70, "minEdge": 0.03}})
    now = [1_000]
    async with aiohttp.ClientSession() as http:
        ctx = StrategyContext(config=cfg, params=cfg.strategy_params(), books=store, markets={CID: info},
                              submit=submit, clock=lambda: now[0], http=http, newsapi_url=fake_ai.url,
                              state_dir=str(tmp_path),
                              credentials={"OPENAI_API_KEY": "sk-test", "NEWSAPI_KEY": "news-key"})
        s: Any = get_strategy("polyai")(ctx)
        s.select_markets([info])
        await s.news_cycle()
        # LLM: p=0.80 at confidence 85 vs ask 0.42 -> buy YES
        assert [(i.token_id, i.side, i.price_e6) for i in sent] == [("71", "BUY", 420_000)]
        # 120 prompt tokens of the chat + 10 of the embedding, 30 completion tokens
        assert s.snapshot()["signals"] == {"news": 1}
        assert s.snapshot()["llm_tokens"] == {"prompt": 130, "completion": 30}
        # a second cycle retrieves the first analysis from memory and sends it as context
        fake_ai.chat_answer = {"probability": 0.45, "confidence": 90, "rationale": "priced in"}
        now[0] += 10 * 60_000
        await s.news_cycle()
        user = fake_ai.calls("/chat/completions")[-1].body["messages"][1]["content"]
        assert "past analyses" in user and "strong evidence" in user
        assert len(sent) == 1  # 0.45 vs 0.42: edge below minEdge, and the market is already held
        await s.stop()
    assert (tmp_path / "ai-polyai-memory.sqlite").exists()
    news_calls = fake_ai.calls("/v2/everything")
    assert len(news_calls) == 1  # the second cycle was answered from the NewsAPI cache
    assert len(fake_ai.calls("/embeddings")) == 1  # same text: the persistent embedding cache answered
