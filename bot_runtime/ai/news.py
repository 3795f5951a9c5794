"""NewsAPI headlines with a daily request budget and a cache.

The free NewsAPI plan allows 100 requests a day; every request is counted against a budget that
resets at UTC midnight, and identical queries within `cache_ttl_ms` are answered from the cache.
The API key travels in the `X-Api-Key` header, never in a URL that could be logged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot_runtime.ai.types import Headline

DAY_MS = 86_400_000


class NewsBudgetExceeded(RuntimeError):
    pass


class NewsClient:
    def __init__(self, session: Any, api_key: str, clock: Callable[[], int], *,
                 base_url: str = "https://newsapi.org", daily_limit: int = 100,
                 cache_ttl_ms: int = 30 * 60_000) -> None:
        self.session = session
        self._key = api_key
        self.clock = clock
        self.base_url = base_url.rstrip("/")
        self.daily_limit = daily_limit
        self.cache_ttl_ms = cache_ttl_ms
        self._cache: dict[str, tuple[int, list[Headline]]] = {}
        self._day = -1
        self.used_today = 0
        self.requests = 0
        self.cache_hits = 0
        self.errors = 0

    @property
    def remaining(self) -> int:
        self._roll()
        return max(0, self.daily_limit - self.used_today)

    def _roll(self) -> None:
        day = self.clock() // DAY_MS
        if day != self._day:
            self._day = day
            self.used_today = 0

    async def headlines(self, query: str, page_size: int = 20) -> list[Headline]:
        """Recent headlines for `query`; raises NewsBudgetExceeded when today's budget is spent."""
        now = self.clock()
        key = f"{query}\0{page_size}"
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.cache_ttl_ms:
            self.cache_hits += 1
            return hit[1]
        self._roll()
        if self.used_today >= self.daily_limit:
            raise NewsBudgetExceeded(f"NewsAPI budget of {self.daily_limit} requests/day is spent")
        self.used_today += 1
        self.requests += 1
        params = {"q": query, "pageSize": str(page_size), "sortBy": "publishedAt", "language": "en"}
        async with self.session.get(f"{self.base_url}/v2/everything", params=params,
                                    headers={"X-Api-Key": self._key}) as resp:
            body = await resp.json(content_type=None)
            if resp.status != 200 or not isinstance(body, dict) or body.get("status") != "ok":
                self.errors += 1
                code = body.get("code") if isinstance(body, dict) else None
                raise RuntimeError(f"NewsAPI answered {resp.status} ({code or 'no code'})")
        out = [parse_article(a) for a in body.get("articles") or [] if isinstance(a, dict)]
        self._cache[key] = (now, out)
        return out


def parse_article(a: dict[str, Any]) -> Headline:
    src = a.get("source")
    return Headline(str(a.get("title") or ""), str(a.get("description") or ""),
                    str(src.get("name") or "") if isinstance(src, dict) else "", str(a.get("url") or ""),
                    str(a.get("publishedAt") or ""))
