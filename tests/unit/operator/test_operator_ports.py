"""A second operator on the same machine: the port it cannot take is named, not a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


@pytest.mark.parametrize("option", ["--health-port", "--metrics-port"])
def test_a_port_in_use_is_named_with_its_option_and_exit_code_2(tmp_path: Path, option: str) -> None:
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        other = "--metrics-port" if option == "--health-port" else "--health-port"
        proc = subprocess.run(
            [sys.executable, "-m", "botfleet_operator", "operator", "--kubeconfig", str(tmp_path / "kubeconfig"),
             "--no-leader-election", option, str(port), other, "0"],
            capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    assert f"cannot listen on port {port} ({option})" in proc.stderr
    assert "Traceback" not in proc.stderr
