"""Runtime footprint: RSS and CPU of each strategy's bot after N minutes of the demo scenario.

One command, prints JSON:
    .venv/bin/python benchmarks/bench_footprint.py [--minutes 10]

Each bot runs as its own `botfleet run` process (as in its pod), in paper mode with the demo's
parameters (tools/botfleet_tools/demo/configs.py), against one `botfleet sim --scenario demo` subprocess.
RSS (VmRSS now, VmHWM peak) and CPU seconds (utime+stime) come from /proc; CPU % is CPU seconds
over wall seconds since the bot became ready. Bots trade from /status counts are included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from botfleet_tools.demo.configs import DEMO_NEWSAPI_KEY, demo_configs
from botfleet_tools.sim.scenarios import make_scenario


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_stats(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    kb = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines() if line.startswith(("VmRSS", "VmHWM"))}
    tick = os.sysconf("SC_CLK_TCK")
    return {"rss_mb": round(kb["VmRSS"] / 1024, 1), "peak_rss_mb": round(kb["VmHWM"] / 1024, 1),
            "cpu_s": round((int(stat[11]) + int(stat[12])) / tick, 2)}


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def machine() -> dict[str, Any]:
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), "")
    return {"nproc": os.cpu_count(), "cpu": model, "loadavg": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version()}


def run(minutes: float, seed: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-footprint-"))
    port = _free_port()
    sim = subprocess.Popen([sys.executable, "-m", "bot_runtime.cli", "sim", "--scenario", "demo", "--seed", str(seed),
                            "--port", str(port), "--log-level", "WARNING"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    bots: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    out: dict[str, Any] = {"benchmark": "runtime_footprint", "minutes": minutes, "bots": {}}
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                _get(f"{url}/gamma/markets")
                break
            time.sleep(0.1)
        whales = make_scenario("demo", seed).whale_wallets
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTFLEET_", "CLOB_", "PRIVATE_KEY"))}
        env["NEWSAPI_KEY"] = DEMO_NEWSAPI_KEY
        for cfg in demo_configs(url, ["arbhunter", "polyai", "elitemimic"], tmp, whales=whales):
            mport = _free_port()
            doc = cfg.model_dump(mode="json")
            doc["telemetry"]["port"] = mport
            path = tmp / f"{cfg.name}.json"
            path.write_text(json.dumps(doc))
            log = open(tmp / f"{cfg.name}.log", "wb")  # noqa: SIM115 - handed to the child
            p = subprocess.Popen([sys.executable, "-m", "bot_runtime.cli", "run", "--config", str(path)],
                                 stdout=log, stderr=subprocess.STDOUT, env=env)
            bots[str(cfg.strategy)] = (p, mport)
        ready_at: dict[str, float] = {}
        deadline = time.monotonic() + 180
        while len(ready_at) < len(bots) and time.monotonic() < deadline:
            for name, (p, mport) in bots.items():
                if name in ready_at:
                    continue
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited {p.returncode}: see {tmp}/demo-{name}.log")
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(f"http://127.0.0.1:{mport}/readyz", timeout=2)
                    ready_at[name] = time.monotonic()
                    out["bots"][name] = {"at_ready": proc_stats(p.pid)}
            time.sleep(0.5)
        time.sleep(minutes * 60)
        for name, (p, mport) in bots.items():
            st = proc_stats(p.pid)
            wall = time.monotonic() - ready_at.get(name, time.monotonic())
            base = out["bots"].get(name, {}).get("at_ready", {"cpu_s": 0.0})
            status: dict[str, Any] = {}
            with contextlib.suppress(OSError, ValueError):
                status = _get(f"http://127.0.0.1:{mport}/status")
            snap = status.get("strategySnapshot") or {}
            out["bots"][name].update({"after": st, "cpu_pct_since_ready": round(100 * (st["cpu_s"] - base["cpu_s"]) / wall, 1)
                                      if wall > 0 else None,
                                      "status": {k: snap.get(k) for k in ("opportunities", "orders", "fills", "pnl_usd")}
                                      if isinstance(snap, dict) else {}})
    finally:
        for p, _ in bots.values():
            p.terminate()
        for p, _ in bots.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        sim.terminate()
        sim.wait(10)
    out["machine"] = machine()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    print(json.dumps(run(a.minutes, a.seed), indent=1))


if __name__ == "__main__":
    main()
