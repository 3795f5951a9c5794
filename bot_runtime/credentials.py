"""Secret values of a bot: read from files mounted from Kubernetes Secrets, or from the environment.

Layout (what the operator mounts): `<credentialsDir>/wallet/<KEY>` for the wallet Secret and
`<credentialsDir>/credentials/<KEY>` for the API credentials Secret. The kubelet updates a
mounted Secret by writing a new timestamped directory and swapping the `..data` symlink, so each
key file (`KEY -> ..data/KEY`) changes atomically; the reader simply re-reads every file on each
poll (a dozen tiny files) and reports the keys whose values changed. For local runs, a key whose
file is absent is taken from the environment variable of the same name.

Values are held as `Secret`s (repr/str never show the value) and registered with the log
redactor, so whatever is read here cannot be printed by the logging pipeline.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path

import structlog

from bot_runtime.contract.config import ALL_SECRET_KEYS, CREDENTIAL_KEYS, ROTATED_AT, WALLET_KEYS
from bot_runtime.telemetry.logs import register_secret

log = structlog.get_logger("botfleet.credentials")

# ROTATED_AT (either Secret, RFC 3339 or epoch seconds) is written by the rotation Job; without it,
# the age is measured from the files' mtime.
# Public values (an address, a small enum) are not worth redacting and would garble logs.
NOT_SECRET = frozenset({"FUNDER_ADDRESS", "SIGNATURE_TYPE", ROTATED_AT})
SUBDIRS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("wallet", (*WALLET_KEYS, ROTATED_AT)),
    ("credentials", (*CREDENTIAL_KEYS, ROTATED_AT)),
)
ChangeCallback = Callable[[set[str]], object]


class Secret:
    """A secret string that never shows itself in repr/str/format/logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return hmac.compare_digest(self._value.encode(), other._value.encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[object, ...]:  # no pickling a secret into a file by accident
        raise TypeError("Secret values cannot be pickled")


def parse_rotated_at(text: str) -> float | None:
    """`ROTATED_AT` as epoch seconds: RFC 3339 (`2026-11-01T00:00:00Z`) or a number; None if neither."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        return None
    return dt.timestamp()


class CredentialsReader(Mapping[str, str]):
    """Current secret values by key name (a read-only Mapping of plain strings for strategies).

    `refresh()` re-reads everything and returns the changed keys; `watch()` does that every
    `poll_interval` seconds and calls the `on_change` callbacks.
    """

    def __init__(self, base_dir: str | Path | None, env: Mapping[str, str] | None = None,
                 poll_interval: float = 2.0, clock: Callable[[], float] = time.time) -> None:
        self.base_dir = Path(base_dir) if base_dir else None
        self._env = dict(os.environ if env is None else env)
        self.poll_interval = poll_interval
        self._clock = clock
        self._values: dict[str, Secret] = {}
        self._sources: dict[str, str] = {}      # key -> "file" | "env"
        self._file_mtime = 0.0                  # newest mtime among the files read
        self._callbacks: list[ChangeCallback] = []
        self.reloads = 0
        self.refresh()

    # -- reading --------------------------------------------------------------------
    def _read_files(self) -> tuple[dict[str, str], float]:
        values: dict[str, str] = {}
        newest = 0.0
        if self.base_dir is None:
            return values, newest
        for sub, keys in SUBDIRS:
            folder = self.base_dir / sub
            if not folder.is_dir():
                continue
            for key in keys:
                path = folder / key
                try:
                    text = path.read_text()
                    mtime = path.stat().st_mtime  # follows KEY -> ..data/KEY
                except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                    continue
                except OSError as exc:  # unreadable: keep the previous value, say which file
                    log.warning("credential file unreadable", path=str(path), error=type(exc).__name__)
                    if key in self._values:
                        values[key] = self._values[key].get()
                    continue
                # `kubectl create secret --from-file` keeps the file's trailing newline
                values[key] = text.strip()
                newest = max(newest, mtime)
        return values, newest

    def refresh(self) -> set[str]:
        """Re-read files and environment; returns the keys whose values changed (added or removed)."""
        file_values, newest = self._read_files()
        new: dict[str, str] = {}
        sources: dict[str, str] = {}
        for key in (*ALL_SECRET_KEYS, ROTATED_AT):
            if key in file_values:
                new[key], sources[key] = file_values[key], "file"
            elif self._env.get(key):
                new[key], sources[key] = self._env[key].strip(), "env"
        changed = {k for k in set(new) | set(self._values)
                   if k not in new or k not in self._values or self._values[k].get() != new[k]}
        for key, value in new.items():
            if key not in NOT_SECRET:
                register_secret(value)
        self._values = {k: Secret(v) for k, v in new.items()}
        self._sources = sources
        if newest:
            self._file_mtime = newest
        if changed:
            self.reloads += 1
        return changed

    # -- Mapping[str, str] ----------------------------------------------------------
    def __getitem__(self, key: str) -> str:
        return self._values[key].get()

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:  # key names only, never values
        return f"CredentialsReader(dir={self.base_dir}, keys={sorted(self._values)})"

    def secret(self, key: str) -> Secret | None:
        return self._values.get(key)

    def source(self, key: str) -> str | None:
        """Where a key came from: "file", "env" or None."""
        return self._sources.get(key)

    def has_wallet(self) -> bool:
        return bool(self.get("PRIVATE_KEY"))

    # -- age ------------------------------------------------------------------------
    def rotated_at(self) -> float | None:
        """Epoch seconds of the last rotation: `ROTATED_AT` if present, else the files' mtime."""
        explicit = self.get(ROTATED_AT)
        if explicit:
            parsed = parse_rotated_at(explicit)
            if parsed is not None:
                return parsed
        return self._file_mtime or None

    def age_seconds(self) -> float | None:
        """Age of the mounted credentials (None when they come from the environment only)."""
        at = self.rotated_at()
        return None if at is None else max(0.0, self._clock() - at)

    def rotation_due(self, max_age_days: int | None) -> bool:
        age = self.age_seconds()
        return bool(max_age_days) and age is not None and age > max_age_days * 86_400  # type: ignore[operator]

    # -- watching -------------------------------------------------------------------
    def on_change(self, fn: ChangeCallback) -> None:
        """`fn(changed_keys)` after a refresh found new values (may return an awaitable)."""
        self._callbacks.append(fn)

    async def poll_once(self) -> set[str]:
        changed = self.refresh()
        if changed:
            log.info("CREDENTIALS RELOADED", keys=sorted(changed))
            for fn in self._callbacks:
                try:
                    result = fn(changed)
                    if asyncio.iscoroutine(result):
                        await result
                except Exception:
                    log.exception("credential change callback failed")
        return changed

    async def watch(self) -> None:
        """Poll until cancelled (no inotify: it misses symlink swaps on some volume types)."""
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.poll_once()
            except Exception:  # a bad poll must not end the watch: the next one may succeed
                log.exception("credential refresh failed")
