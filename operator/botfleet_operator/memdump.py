"""Where the operator's memory is, on demand: how its memory per bot was measured (benchmarks.md).

Off unless asked for in the environment:
- `PYTHONTRACEMALLOC=N`: `kill -USR2 <pid>` logs the 25 largest allocation sites (N frames each).
- `BOTFLEET_MEMORY_DUMP=<prefix>`: the same signal writes `<prefix>.<time>` (resident kB per kind of
  mapping, CPython's allocator statistics, the collector's objects by type and dicts by their first
  keys) and, when tracing, the tracemalloc snapshot beside it; and `<prefix>.samples` gets the
  number of allocated small blocks and the RSS four times a second.
"""

from __future__ import annotations

import collections
import gc
import logging
import os
import signal
import sys
import threading
import time
import tracemalloc
from typing import Any

log = logging.getLogger("botfleet.operator")


def install() -> None:
    prefix = os.environ.get("BOTFLEET_MEMORY_DUMP")
    if not tracemalloc.is_tracing() and not prefix:
        return
    if prefix:
        threading.Thread(target=_sample, args=(f"{prefix}.samples",), daemon=True, name="memory-samples").start()

    def dump(*_: Any) -> None:
        stamp = int(time.time())
        if prefix:
            _write_dump(f"{prefix}.{stamp}")
        if not tracemalloc.is_tracing():
            log.warning("memory dump: written to %s.%d", prefix, stamp)
            return
        snap = tracemalloc.take_snapshot()
        if prefix:
            snap.dump(f"{prefix}.{stamp}.tracemalloc")
        stats = snap.statistics("lineno")
        total = sum(s.size for s in stats)
        peak = tracemalloc.get_traced_memory()[1]
        log.warning("memory dump: tracemalloc: %.1f MiB traced, peak %.1f MiB; largest sites:\n%s",
                    total / 2**20, peak / 2**20,
                    "\n".join(f"{s.size / 2**20:8.2f} MiB {s.count:8d} {s.traceback}" for s in stats[:25]))
    signal.signal(signal.SIGUSR2, dump)


def _sample(path: str) -> None:
    with open(path, "w") as out, open("/proc/self/statm") as statm:
        while True:
            statm.seek(0)
            rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
            out.write(f"{time.time():.2f} {sys.getallocatedblocks()} {rss}\n")
            out.flush()
            time.sleep(0.25)


def _write_dump(path: str) -> None:
    kinds: dict[str, int] = {}
    name = ""
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                size = hi - lo
                name = head[5] if len(head) > 5 else f"anon {size // 1024} kB" if size < 2**20 else f"anon {size >> 20} MiB"
                if name.startswith("/"):
                    name = "file " + name.rsplit("/", 1)[-1]
            elif head[0] == "Rss:":
                kinds[name] = kinds.get(name, 0) + int(head[1])
    types: collections.Counter[str] = collections.Counter()
    shapes: collections.Counter[str] = collections.Counter()
    for obj in gc.get_objects():
        types[type(obj).__qualname__] += 1
        if type(obj) is dict:
            shapes[",".join(str(k) for k in list(obj)[:4])[:100]] += 1
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.writelines(f"{kb:8d} kB {name}\n" for name, kb in sorted(kinds.items(), key=lambda kv: -kv[1]) if kb)
        out.write("types: " + repr(types.most_common(30)) + "\n")
        out.write("dict shapes:\n" + "".join(f"{n:8d} {k}\n" for k, n in shapes.most_common(40)))
        out.flush()
        saved = os.dup(2)
        os.dup2(out.fileno(), 2)  # sys._debugmallocstats() writes to the C stderr
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
