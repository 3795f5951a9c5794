"""`botfleet fleet` against a stand-in for the cluster: a bot that cannot be read is named with the
reason and fails the command (never a silently empty export), API errors are one line, and the
CSV always has its header."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException
from typer.testing import CliRunner

from bot_runtime.cli import app as botfleet
from bot_runtime.trades import COLUMNS
from botfleet_tools.fleet import cli
from botfleet_tools.fleet.errors import FleetError

HEADER = ",".join(COLUMNS)
ROW_A = "2026-12-01T10:00:00.000+00:00,a,arbhunter,paper,0xm,111,BUY,0.400000,5.000000,2.000000,0.000000,t1,o1"


def bot(name: str, paused: bool = False) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name}, "spec": {"strategy": "arbhunter", "paused": paused}}


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": f"{name}-1", "creationTimestamp": "2026-12-01T00:00:00Z",
                         "labels": {"botfleet.io/bot": name}}, "status": {"phase": "Running"}}


class FakeKube:
    def __init__(self, bots: list[dict[str, Any]], pods: list[dict[str, Any]],
                 outputs: dict[str, str | Exception] | None = None, list_error: Exception | None = None) -> None:
        self._bots, self._pods, self.outputs, self.list_error = bots, pods, outputs or {}, list_error

    def bots(self, namespace: str | None, selector: str = "") -> list[dict[str, Any]]:
        if self.list_error:
            raise self.list_error
        return self._bots

    list = bots  # what botfleet_operator.fleet.set_paused calls

    def bot_pods(self, namespace: str | None) -> list[dict[str, Any]]:
        return self._pods

    def exec_text(self, namespace: str, pod: str, command: list[str]) -> str:
        out = self.outputs[pod]
        if isinstance(out, Exception):
            raise out
        return out

    def metrics_many(self, targets: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str | None, str]]:
        return {t: (None, f"/metrics of pod {t[1]} could not be read: connection refused") for t in targets}


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(kube: FakeKube) -> None:
        monkeypatch.setattr(cli, "_kube", lambda kubeconfig: kube)
    return install


def run(*args: str) -> Any:
    return CliRunner().invoke(cli.fleet_app, list(args))


def test_trades_fails_naming_the_bot_it_could_not_read_and_writes_nothing(use: Any, tmp_path: Path) -> None:
    use(FakeKube([bot("a"), bot("b")], [pod("a"), pod("b")],
                 {"a-1": f"{HEADER}\n{ROW_A}\n", "b-1": FleetError("`botfleet trades` exited 1 in pod b-1: boom")}))
    out = tmp_path / "trades.csv"
    res = run("trades", "--since", "2026-12-01", "-o", str(out), "-l", "team=ai")
    assert res.exit_code == 1
    assert "error: ns/b: `botfleet trades` exited 1 in pod b-1: boom" in res.stderr and "nothing written" in res.stderr
    assert not out.exists()

    res = run("trades", "--since", "2026-12-01", "-o", str(out), "--allow-partial")
    assert res.exit_code == 3 and "error: ns/b:" in res.stderr and "1 missing" in res.stderr
    assert out.read_text() == f"{HEADER}\n{ROW_A}\n"


def test_a_bot_without_a_running_pod_is_missing_not_skipped(use: Any, tmp_path: Path) -> None:
    use(FakeKube([bot("a", paused=True)], []))
    res = run("trades", "--since", "2026-12-01")
    assert res.exit_code == 1 and "error: ns/a: paused: it has no pod" in res.stderr and res.stdout == ""
    out = tmp_path / "t.csv"
    res = run("trades", "--since", "2026-12-01", "-o", str(out), "--allow-partial")
    assert res.exit_code == 3 and out.read_text() == HEADER + "\n"  # never a 0-byte file


def test_an_export_without_fills_still_has_its_header(use: Any) -> None:
    use(FakeKube([bot("a"), bot("b")], [pod("a"), pod("b")], {"a-1": HEADER + "\n", "b-1": HEADER + "\n"}))
    res = run("trades", "--since", "2026-12-01", "--csv")
    assert res.exit_code == 0 and res.stdout == HEADER + "\n"


def test_a_bot_whose_columns_differ_is_not_merged_under_the_wrong_header(use: Any) -> None:
    use(FakeKube([bot("a"), bot("b")], [pod("a"), pod("b")],
                 {"a-1": f"{HEADER}\n{ROW_A}\n", "b-1": "time,bot,price\n2026-12-01T11:00:00Z,b,0.5\n"}))
    res = run("trades", "--since", "2026-12-01", "--allow-partial")
    assert res.exit_code == 3 and res.stdout == f"{HEADER}\n{ROW_A}\n"
    assert "error: ns/b: its CSV columns (time,bot,price) differ" in res.stderr


def test_a_pod_gone_between_listing_and_exec_is_one_line_for_that_bot(use: Any) -> None:
    gone = ApiException(status=0, reason='Handshake status 404 Not Found -+-+- {} -+-+- b\'{"kind":"Status",'
                                          '"message":"pods \\\\"b-1\\\\" not found","code":404}\'')
    use(FakeKube([bot("a"), bot("b")], [pod("a"), pod("b")], {"a-1": f"{HEADER}\n{ROW_A}\n", "b-1": gone}))
    res = run("trades", "--since", "2026-12-01")
    assert res.exit_code == 1 and 'error: ns/b: the API server answered 404: pods "b-1" not found' in res.stderr
    assert "Traceback" not in res.output


@pytest.mark.parametrize("command", [["status", "--once"], ["status", "--json"], ["health"], ["check"], ["restart"],
                                     ["pause"], ["resume"], ["trades"]])
def test_a_bad_selector_is_one_line_naming_the_option_in_every_subcommand(use: Any, command: list[str]) -> None:
    err = ApiException(status=400, reason="Bad Request")
    err.body = json.dumps({"kind": "Status", "message": "unable to parse requirement: found '', expected: ')'"})
    use(FakeKube([], [], list_error=err))
    res = run(*command, "-l", "team in (arb")
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().splitlines() == [
        "error: bad label selector -l 'team in (arb': unable to parse requirement: found '', expected: ')' "
        "(e.g. -l team=arb or -l 'team in (arb,ai)')"]


def test_status_names_each_running_bot_whose_numbers_are_missing(use: Any) -> None:
    use(FakeKube([bot("a"), bot("p", paused=True)], [pod("a")]))
    res = run("status", "--json")
    assert res.exit_code == 1
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["a"]["unread"] == "/metrics of pod a-1 could not be read: connection refused"
    assert res.stderr.splitlines() == ["error: ns/a: /metrics of pod a-1 could not be read: connection refused"]
    health = run("health")
    assert health.exit_code == 1 and "could not be read: /metrics of pod a-1" in health.stdout


def test_no_group_offers_shell_completion_since_the_root_does_not() -> None:
    for args in ([], ["fleet"], ["kill-switch"]):
        res = CliRunner().invoke(botfleet, [*args, "--help"])
        assert res.exit_code == 0 and "Usage" in res.output and "--install-completion" not in res.output, args


class FakeStream:
    """The exec websocket after the remote command ended: stdout, stderr and the error channel."""

    def __init__(self, channels: dict[int, str], open_: bool = False) -> None:
        self.channels, self.open_, self.closed = channels, open_, False

    def run_forever(self, timeout: float) -> None:
        pass

    def is_open(self) -> bool:
        return self.open_

    def read_channel(self, channel: int) -> str:
        return self.channels.get(channel, "")

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(("channels", "open_", "expected"), [
    ({1: f"{HEADER}\n", 3: '{"metadata":{},"status":"Success"}'}, False, f"{HEADER}\n"),
    ({2: "error: no journal\n", 3: '{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":'
      '[{"reason":"ExitCode","message":"1"}]}}'}, False, FleetError("`botfleet trades` exited 1 in pod a-1: error: no journal")),
    ({1: "time,"}, True, FleetError("`botfleet trades` in pod a-1 did not finish within 120 s")),
    ({1: f"{HEADER}\n"}, False, FleetError("`botfleet trades` in pod a-1 gave no exit status (connection closed or timed out)")),
])
def test_exec_text_returns_stdout_only_when_the_command_exited_0(
        monkeypatch: pytest.MonkeyPatch, channels: dict[int, str], open_: bool, expected: str | FleetError) -> None:
    import kubernetes.stream

    from botfleet_tools.fleet.kube import FleetKube

    fake = FakeStream(channels, open_)
    monkeypatch.setattr(kubernetes.stream, "stream", lambda *a, **kw: fake)
    kube = FleetKube.__new__(FleetKube)  # no kubeconfig: only exec_text's reading of the stream is tested
    kube.core = type("Core", (), {"connect_get_namespaced_pod_exec": None})()
    if isinstance(expected, FleetError):
        with pytest.raises(FleetError) as e:
            kube.exec_text("ns", "a-1", ["botfleet", "trades"])
        assert str(e.value) == str(expected)
    else:
        assert kube.exec_text("ns", "a-1", ["botfleet", "trades"]) == expected
    assert fake.closed
