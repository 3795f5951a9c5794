"""Credentials from a Kubernetes-style Secret volume: reading, rotation by `..data` swap, age."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot_runtime.credentials import CredentialsReader, Secret, parse_rotated_at

KEY_1 = "0x" + "ab" * 32
KEY_2 = "0x" + "cd" * 32


def write_secret_volume(folder: Path, data: dict[str, str], stamp: str) -> None:
    """What the kubelet's atomic writer does: a new timestamped dir, then swap `..data` to it."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"..{stamp}"
    target.mkdir()
    for k, v in data.items():
        (target / k).write_text(v + "\n")
    tmp = folder / "..data_tmp"
    tmp.symlink_to(target.name)
    os.replace(tmp, folder / "..data")  # atomic rename over the old link
    for k in data:
        link = folder / k
        if not link.is_symlink():
            link.symlink_to(f"..data/{k}")


def test_reads_files_and_strips_newline(tmp_path: Path) -> None:
    write_secret_volume(tmp_path / "wallet", {"PRIVATE_KEY": KEY_1}, "2026_11_25_10_00_00.1")
    write_secret_volume(tmp_path / "credentials", {"CLOB_API_KEY": "key-1", "CLOB_SECRET": "c2VjcmV0LTE="},
                        "2026_11_25_10_00_00.1")
    creds = CredentialsReader(tmp_path, env={})
    assert creds["PRIVATE_KEY"] == KEY_1
    assert creds["CLOB_SECRET"] == "c2VjcmV0LTE="
    assert creds.source("CLOB_API_KEY") == "file"
    assert creds.has_wallet()
    assert KEY_1 not in repr(creds)


def test_env_fallback_and_file_wins(tmp_path: Path) -> None:
    write_secret_volume(tmp_path / "credentials", {"CLOB_API_KEY": "from-file"}, "a")
    creds = CredentialsReader(tmp_path, env={"CLOB_API_KEY": "from-env", "OPENAI_API_KEY": "sk-env-123"})
    assert creds["CLOB_API_KEY"] == "from-file"
    assert creds["OPENAI_API_KEY"] == "sk-env-123"
    assert creds.source("OPENAI_API_KEY") == "env"
    assert "PRIVATE_KEY" not in creds
    assert not creds.has_wallet()


async def test_rotation_by_symlink_swap_is_picked_up(tmp_path: Path) -> None:
    write_secret_volume(tmp_path / "wallet", {"PRIVATE_KEY": KEY_1}, "one")
    write_secret_volume(tmp_path / "credentials", {"CLOB_API_KEY": "key-1", "CLOB_SECRET": "s1-secret"}, "one")
    creds = CredentialsReader(tmp_path, env={}, poll_interval=0.01)
    seen: list[set[str]] = []
    creds.on_change(lambda keys: seen.append(keys))
    assert await creds.poll_once() == set()
    write_secret_volume(tmp_path / "credentials", {"CLOB_API_KEY": "key-2", "CLOB_SECRET": "s2-secret"}, "two")
    changed = await creds.poll_once()
    assert changed == {"CLOB_API_KEY", "CLOB_SECRET"}
    assert seen == [{"CLOB_API_KEY", "CLOB_SECRET"}]
    assert creds["CLOB_API_KEY"] == "key-2"
    assert creds["PRIVATE_KEY"] == KEY_1
    # a key removed from the Secret disappears
    write_secret_volume(tmp_path / "wallet", {}, "three")
    (tmp_path / "wallet" / "PRIVATE_KEY").unlink()
    assert await creds.poll_once() == {"PRIVATE_KEY"}
    assert not creds.has_wallet()


async def test_async_callback_is_awaited(tmp_path: Path) -> None:
    write_secret_volume(tmp_path / "credentials", {"CLOB_API_KEY": "key-1"}, "one")
    creds = CredentialsReader(tmp_path, env={})
    got: list[str] = []

    async def cb(keys: set[str]) -> None:
        got.append(creds["CLOB_API_KEY"])

    creds.on_change(cb)
    write_secret_volume(tmp_path / "credentials", {"CLOB_API_KEY": "key-2"}, "two")
    await creds.poll_once()
    assert got == ["key-2"]


def test_age_from_rotated_at_or_mtime(tmp_path: Path) -> None:
    write_secret_volume(tmp_path / "credentials", {"CLOB_API_KEY": "key-1"}, "one")
    path = tmp_path / "credentials" / "..one" / "CLOB_API_KEY"
    os.utime(path, (1_000_000.0, 1_000_000.0))
    creds = CredentialsReader(tmp_path, env={}, clock=lambda: 1_000_100.0)
    assert creds.age_seconds() == pytest.approx(100.0)
    write_secret_volume(tmp_path / "credentials", {"CLOB_API_KEY": "key-1", "ROTATED_AT": "1970-01-12T13:00:00Z"},
                        "two")
    creds.refresh()
    assert creds.rotated_at() == parse_rotated_at("1970-01-12T13:00:00Z")
    assert creds.rotation_due(None) is False
    assert CredentialsReader(None, env={"CLOB_API_KEY": "x"}).age_seconds() is None


def test_rotation_due(tmp_path: Path) -> None:
    write_secret_volume(tmp_path / "credentials", {"ROTATED_AT": "0"}, "one")
    creds = CredentialsReader(tmp_path, env={}, clock=lambda: 31 * 86_400.0)
    assert creds.rotation_due(30) is True
    assert creds.rotation_due(40) is False


def test_parse_rotated_at() -> None:
    assert parse_rotated_at("12.5") == 12.5
    assert parse_rotated_at("1970-01-01T00:01:00+00:00") == 60.0
    assert parse_rotated_at("2026-11-01T00:00:00") is None  # no timezone: ambiguous, refused
    assert parse_rotated_at("yesterday") is None


def test_secret_never_shows_value() -> None:
    s = Secret("hunter2-very-secret")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s) and "hunter2" not in f"{s}"
    assert s.get() == "hunter2-very-secret"
    assert s == Secret("hunter2-very-secret") and s != Secret("other")
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(s)
