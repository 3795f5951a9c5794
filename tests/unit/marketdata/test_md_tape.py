from __future__ import annotations

from pathlib import Path

from bot_runtime.marketdata.store import BookStore
from bot_runtime.marketdata.tape import TapeWriter, iter_tape, replay, sidecar_path
from botfleet_tools.record import split_market_args

SAMPLES = Path(__file__).parent / "data" / "market-channel-samples.jsonl"


def _write_tape(path: Path) -> list[bytes]:
    frames = [line.encode() for line in SAMPLES.read_text().splitlines()]
    frames.insert(2, b"{not json")
    with TapeWriter(path) as w:
        for i, f in enumerate(frames):
            w.write(f, 1_000 + i)
    return frames


def test_tape_is_wire_identical(tmp_path: Path) -> None:
    tape = tmp_path / "tape.jsonl"
    frames = _write_tape(tape)
    assert tape.read_bytes() == b"".join(f + b"\n" for f in frames)  # nothing prepended
    assert sidecar_path(tape).read_text().split() == [str(1_000 + i) for i in range(len(frames))]
    got = list(iter_tape(tape))
    assert [f.raw for f in got] == frames
    assert [f.recv_ms for f in got] == [1_000 + i for i in range(len(frames))]


def test_multiline_frame_stays_one_line(tmp_path: Path) -> None:
    tape = tmp_path / "t.jsonl.gz"
    with TapeWriter(tape, recv_times=False) as w:
        w.write('{\n "event_type": "x"\r\n}')
        w.write(b"[]")
    assert [f.raw for f in iter_tape(tape)] == [b'{  "event_type": "x"  }', b"[]"]


def test_replay_is_deterministic_and_survives_bad_frames(tmp_path: Path) -> None:
    tape = tmp_path / "tape.jsonl"
    _write_tape(tape)

    def run() -> tuple[list[tuple[int, list[str], int, bool]], object]:
        store = BookStore()
        steps = [(s.frame.index, sorted(s.touched), s.ts_ms, s.error is not None) for s in replay(tape, store)]
        book = next(iter(store.books.values()))
        return steps, (book.levels(), book.tick_size_e6, store.stats)

    a, b = run(), run()
    assert a == b
    steps = a[0]
    assert len(steps) == 6 and steps[2][3] is True  # the bad frame is reported, not fatal
    assert steps[1][2] == 1757908892351  # the price_change frame's own timestamp


def test_split_market_args() -> None:
    cid = "0x" + "ab" * 32
    assert split_market_args([cid.upper().replace("0X", "0x"), "some-slug", " "]) == ([cid], ["some-slug"])
