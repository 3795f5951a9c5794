"""AI for the strategies: analyzers (LLM via `openai`, deterministic offline stand-in), embeddings,
the memory of past analyses (embedded SQLite or Supabase), NewsAPI headlines and accuracy tracking."""
