"""Run a part of the test suite N times and report the failures per test (flake hunting).

    python -m botfleet_tools.flake_check tests/integration/runtime -n 5 [-- extra pytest args]
    make flake-check TESTS=tests/integration/runtime N=5

Every run is a fresh `pytest` process with a JUnit XML report; no rerun/retry plugin is involved,
so a test that fails once in N runs shows up as failing once in N. Exit status: 0 when every run
of every test passed, 1 when any failed, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Tally:
    runs: int = 0
    passed: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    first_error: dict[str, str] = field(default_factory=dict)
    durations: list[float] = field(default_factory=list)
    crashed_runs: list[int] = field(default_factory=list)  # no report written (collection error, kill)


def parse_junit(path: Path) -> list[tuple[str, str, str]]:
    """(test id, outcome: passed|failed|skipped, first line of the failure) per test case."""
    out: list[tuple[str, str, str]] = []
    for case in ET.parse(path).getroot().iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        test_id = f"{classname}::{name}" if classname else name  # module[.Class]::test
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
                first = (child.get("message") or child.text or "").strip().splitlines()[:1]
                message = first[0][:200] if first else child.tag
                break
            if child.tag == "skipped":
                outcome = "skipped"
        out.append((test_id, outcome, message))
    return out


def record(tally: Tally, cases: list[tuple[str, str, str]]) -> None:
    for test_id, outcome, message in cases:
        getattr(tally, outcome)[test_id] += 1
        if outcome == "failed":
            tally.first_error.setdefault(test_id, message)


def report(tally: Tally) -> str:
    tests = set(tally.passed) | set(tally.failed) | set(tally.skipped)
    executions = sum(tally.passed.values()) + sum(tally.failed.values())
    failures = sum(tally.failed.values())
    lines = [f"flake-check: {tally.runs} runs, {len(tests)} tests, {executions} test executions, "
             f"{failures} failed ({100 * failures / executions if executions else 0:.1f}%); "
             f"run time {min(tally.durations, default=0):.0f}-{max(tally.durations, default=0):.0f}s"]
    if tally.crashed_runs:
        lines.append(f"runs without a report (collection error or killed): {tally.crashed_runs}")
    flaky = sorted(tally.failed, key=lambda t: (-tally.failed[t], t))
    if not flaky:
        lines.append("no test failed")
    for t in flaky:
        n = tally.failed[t] + tally.passed[t]
        lines.append(f"  {tally.failed[t]}/{n} failed  {t}\n      first: {tally.first_error.get(t, '')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tests", nargs="+", help="pytest paths or node ids, e.g. tests/integration/runtime")
    ap.add_argument("-n", "--runs", type=int, default=5, help="how many times to run them (default 5)")
    ap.add_argument("--keep", type=Path, default=None,
                    help="directory for the JUnit reports and run logs (default: a temporary one)")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error(f"--runs must be >= 1, got {args.runs}")
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="flake-check-") as tmp:
        outdir = args.keep or Path(tmp)
        outdir.mkdir(parents=True, exist_ok=True)
        for run in range(1, args.runs + 1):
            xml = outdir / f"run-{run}.xml"
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
                   *extra, *args.tests]
            logfile = outdir / f"run-{run}.log"  # follow a long run with `tail -f`
            started = time.monotonic()
            with logfile.open("w") as out:
                code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode
            tally.durations.append(time.monotonic() - started)
            tally.runs += 1
            output = logfile.read_text(errors="replace")
            summary = output.strip().splitlines()[-1:] or ["(no output)"]
            print(f"run {run}/{args.runs}: exit {code}: {summary[0]}", flush=True)
            if not xml.exists():
                tally.crashed_runs.append(run)
                print(output[-3000:], flush=True)
                continue
            record(tally, parse_junit(xml))
    print(report(tally))
    return 1 if tally.failed or tally.crashed_runs else 0


if __name__ == "__main__":
    sys.exit(main())
