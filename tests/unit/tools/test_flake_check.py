"""make flake-check's tally: failures per test over several JUnit reports."""

from __future__ import annotations

from pathlib import Path

from botfleet_tools.flake_check import Tally, parse_junit, record, report

RUN = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.a.test_x" name="test_ok" time="0.1"/>
<testcase classname="tests.a.test_x.TestK" name="test_flaky[p1]" time="0.1">{flaky}</testcase>
<testcase classname="tests.a.test_x" name="test_skip" time="0"><skipped message="no pg"/></testcase>
</testsuite></testsuites>"""


def test_failures_are_counted_per_test_over_runs(tmp_path: Path) -> None:
    tally = Tally()
    for i, flaky in enumerate(['<failure message="AssertionError: condition not reached&#10;more">tb</failure>',
                               "", '<error message="">setup failed</error>']):
        path = tmp_path / f"run-{i}.xml"
        path.write_text(RUN.format(flaky=flaky))
        record(tally, parse_junit(path))
        tally.runs += 1
    flaky_id = "tests.a.test_x.TestK::test_flaky[p1]"
    assert tally.failed == {flaky_id: 2} and tally.passed["tests.a.test_x::test_ok"] == 3
    assert tally.skipped["tests.a.test_x::test_skip"] == 3
    assert tally.first_error[flaky_id] == "AssertionError: condition not reached"
    text = report(tally)
    assert "6 test executions, 2 failed (33.3%)" in text and f"2/3 failed  {flaky_id}" in text
