"""Which parameters and prices each model family gets (pure)."""

from __future__ import annotations

import pytest

from bot_runtime.ai.llm import completion_params, cost_usd, is_reasoning_model, price_of


@pytest.mark.parametrize("model", ["o1", "o3-mini", "o4-mini-2025-04-16", "gpt-5", "gpt-5-nano", "openai/o3"])
def test_reasoning_models_never_get_temperature_or_max_tokens(model: str) -> None:
    assert is_reasoning_model(model)
    params = completion_params(model)
    assert set(params) == {"max_completion_tokens"}


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4.1", "llama3.1:70b", "o1x", "gpt-50"])
def test_chat_models_keep_their_sampling_parameters(model: str) -> None:
    assert not is_reasoning_model(model)
    assert completion_params(model) == {"temperature": 0.2, "max_tokens": 400}


def test_dated_snapshots_are_priced_as_their_family_and_unknown_models_are_not() -> None:
    assert price_of("gpt-4o-2024-08-06") == price_of("gpt-4o")
    assert price_of("gpt-4o-mini-2024-07-18") == price_of("gpt-4o-mini") != price_of("gpt-4o")
    assert price_of("mistral-large") is None and cost_usd("mistral-large", 1000, 1000) is None
    assert cost_usd("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
