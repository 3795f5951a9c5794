"""Tapes: market-channel frames exactly as received, one frame per line.

A tape line is the frame's own bytes (an object or an array, as on the wire); nothing
is prepended. Receive times, when recorded, live in a sidecar file `<tape>.recv_ms`
holding one integer per tape line, so the tape itself stays wire-identical. Replay
is deterministic: same file, same frames, same order, same store state.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bot_runtime.marketdata.store import BookStore
from bot_runtime.venue.polymarket.frames import Event, FrameError, event_timestamp_ms, parse_frame

SIDECAR_SUFFIX = ".recv_ms"


def sidecar_path(tape: str | Path) -> Path:
    p = Path(tape)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def _open(path: Path, mode: str) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, mode)  # type: ignore[return-value]
    return open(path, mode)


@dataclass(frozen=True, slots=True)
class TapeFrame:
    index: int  # 0-based frame number
    line: int  # 1-based line in the tape file
    raw: bytes
    recv_ms: int | None  # local receive time from the sidecar, if one was recorded


def iter_tape(path: str | Path) -> Iterator[TapeFrame]:
    """Frames of a tape in order; blank lines are skipped (a sidecar, if present, must match)."""
    p = Path(path)
    side = sidecar_path(p)
    side_f = open(side, "rb") if side.exists() else None  # noqa: SIM115 - closed below
    try:
        with _open(p, "rb") as f:
            index = 0
            for lineno, line in enumerate(f, 1):
                recv_ms: int | None = None
                if side_f is not None:
                    s = side_f.readline().strip()
                    recv_ms = (int(s) if s.isdigit() else 0) or None  # 0: not known
                raw = line.rstrip(b"\r\n")
                if not raw.strip():
                    continue
                yield TapeFrame(index, lineno, raw, recv_ms)
                index += 1
    finally:
        if side_f is not None:
            side_f.close()


@dataclass(slots=True)
class ReplayStep:
    frame: TapeFrame
    events: list[Event]
    touched: set[str]
    ts_ms: int  # the frame's own (exchange) timestamp: the latest of its events
    error: FrameError | None = None


def replay(path: str | Path, store: BookStore, *, use_recv_times: bool = False) -> Iterator[ReplayStep]:
    """Apply a tape to `store` frame by frame, yielding after each frame.

    Bad frames are yielded with `error` set (and counted in store.stats.bad_frames) and
    leave the store untouched. Freshness is measured on the frames' own timestamps
    unless `use_recv_times` asks for the sidecar's local receive times.
    """
    for fr in iter_tape(path):
        try:
            events = parse_frame(fr.raw)
        except FrameError as e:
            store.stats.bad_frames += 1
            yield ReplayStep(fr, [], set(), 0, e)
            continue
        ts = event_timestamp_ms(events)
        recv = fr.recv_ms if use_recv_times and fr.recv_ms is not None else None
        touched = store.apply_events(events, recv)
        yield ReplayStep(fr, events, touched, ts)


class TapeWriter:
    """Appends frames to a tape (and optionally receive times to its sidecar)."""

    def __init__(self, path: str | Path, *, recv_times: bool = True, flush_every_s: float = 1.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = _open(self.path, "wb")
        self._side = open(sidecar_path(self.path), "wb") if recv_times else None  # noqa: SIM115
        self._flush_every = flush_every_s
        self._last_flush = time.monotonic()
        self.frames = 0
        self.bytes = 0

    def write(self, raw: bytes | str, recv_ms: int | None = None) -> None:
        data = raw.encode() if isinstance(raw, str) else raw
        if b"\n" in data or b"\r" in data:
            # valid JSON holds raw newlines only as whitespace: one frame must stay one line
            data = data.replace(b"\r", b" ").replace(b"\n", b" ")
        self._f.write(data + b"\n")
        if self._side is not None:
            self._side.write(b"%d\n" % (recv_ms or 0))
        self.frames += 1
        self.bytes += len(data)
        now = time.monotonic()
        if now - self._last_flush >= self._flush_every:
            self.flush()
            self._last_flush = now

    def flush(self) -> None:
        self._f.flush()
        if self._side is not None:
            self._side.flush()

    def close(self) -> None:
        self.flush()
        self._f.close()
        if self._side is not None:
            self._side.close()

    def __enter__(self) -> TapeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
