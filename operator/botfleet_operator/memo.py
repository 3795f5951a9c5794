"""A bounded memo for the reconcile's pure, repeated work.

A bot is reconciled about seven times on its way to Ready (every Deployment, pod and PVC change
queues it) and its spec changes in none of them: re-serialising and hashing its nine desired objects
each time was a sixth of the operator's CPU at 300 bots (resources.desired_objects keeps the hashes
here). A hit returns exactly what the computation would; the memo only trades memory (bounded) for
CPU. (Comparing observed objects once per version is reconcile.UP_TO_DATE_MARK, kept on the object.)
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Memo(Generic[V]):
    """A dict that forgets its oldest entries beyond `size` (insertion order: cheap, and a bot's
    entries are refreshed on each of its changes, so live bots stay)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: dict[Hashable, V] = {}

    def get(self, key: Hashable) -> V | None:
        return self._data.get(key)

    def put(self, key: Hashable, value: V) -> None:
        self._data.pop(key, None)
        self._data[key] = value
        while len(self._data) > self.size:
            del self._data[next(iter(self._data))]

    def clear(self) -> None:
        self._data.clear()
