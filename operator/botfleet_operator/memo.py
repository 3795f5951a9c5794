"""Bounded memos for the reconcile's pure, repeated work.

A bot is reconciled about ten times on its way to Ready (every Deployment, pod and PVC change queues
it) and its spec changes in none of them: re-serialising and hashing its nine desired objects, and
comparing each with the same observed version, was a third of the operator's CPU at 300 bots. The
memos below hold what those computations returned for the same inputs, so a hit returns exactly
what the computation would; they only ever trade memory (bounded) for CPU.
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
