"""Encrypted backups (bot_runtime/backup_crypto.py): round trip, wrong key, tampering refused.

Attempts (docs/security.md#findings, finding 18): read a backup with another key; flip a byte of the
header, of a chunk, of a tag; cut the file at a chunk boundary and mid-chunk; drop, swap or append a
chunk; rewrite the version.
"""

from __future__ import annotations

import base64
import os
import struct
from pathlib import Path

import pytest

from bot_runtime import backup_crypto as bc
from bot_runtime.backup_crypto import CryptoError

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))
CHUNK = 64  # small chunks: several per file, so chunk-level attacks are possible


def sealed(tmp_path: Path, data: bytes, key: bytes = KEY, chunk: int = CHUNK) -> Path:
    src, dest = tmp_path / "plain", tmp_path / "plain.enc"
    src.write_bytes(data)
    bc.encrypt_file(src, dest, key, chunk=chunk)
    return dest


def opened(tmp_path: Path, src: Path, key: bytes = KEY) -> bytes:
    out = tmp_path / "opened"
    bc.decrypt_file(src, out, key)
    return out.read_bytes()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 5 * CHUNK + 17])
def test_round_trip_any_size(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    enc = sealed(tmp_path, data)
    assert bc.is_encrypted(enc)
    assert size < 16 or data not in enc.read_bytes()  # (a byte or two may occur by chance)
    assert opened(tmp_path, enc) == data


def test_same_plaintext_twice_differs(tmp_path: Path) -> None:
    a = sealed(tmp_path, b"x" * 200).read_bytes()
    b = sealed(tmp_path, b"x" * 200).read_bytes()
    assert a != b  # a fresh nonce prefix per file


def test_wrong_key_is_named_not_a_traceback(tmp_path: Path) -> None:
    enc = sealed(tmp_path, b"orders" * 50)
    with pytest.raises(CryptoError, match="encrypted with another key") as err:
        opened(tmp_path, enc, OTHER)
    assert "BACKUP_ENCRYPTION_KEY" in str(err.value) and "spec.backup.encryption.secretRef" in str(err.value)
    assert KEY.hex() not in str(err.value) and base64.b64encode(KEY).decode() not in str(err.value)


def _chunks(raw: bytes) -> tuple[bytes, list[bytes]]:
    header, body = raw[:28], raw[28:]
    step = CHUNK + 16
    return header, [body[i:i + step] for i in range(0, len(body), step)]


def tampered(raw: bytes) -> dict[str, bytes]:
    header, chunks = _chunks(raw)
    flip = lambda b, i: b[:i] + bytes([b[i] ^ 1]) + b[i + 1:]  # noqa: E731
    return {
        "flip a ciphertext byte": flip(raw, 40),
        "flip a tag byte": flip(raw, 28 + CHUNK + 15),
        "flip the nonce prefix": flip(raw, 17),
        "flip the chunk size": flip(raw, 27),
        "flip the last byte": flip(raw, len(raw) - 1),
        "cut at a chunk boundary": header + b"".join(chunks[:2]),
        "cut mid-chunk": raw[:-5],
        "drop a chunk": header + chunks[0] + b"".join(chunks[2:]),
        "swap two chunks": header + chunks[1] + chunks[0] + b"".join(chunks[2:]),
        "append a chunk": raw + chunks[0],
        "header only": header,
    }


@pytest.mark.parametrize("attack", list(tampered(b"\0" * 300)))
def test_tampered_archive_is_refused(tmp_path: Path, attack: str) -> None:
    enc = sealed(tmp_path, os.urandom(4 * CHUNK + 10))
    bad = tmp_path / "bad.enc"
    bad.write_bytes(tampered(enc.read_bytes())[attack])
    with pytest.raises(CryptoError, match=r"damaged|altered|truncated|another key"):
        opened(tmp_path, bad)


def test_other_version_and_not_encrypted(tmp_path: Path) -> None:
    enc = sealed(tmp_path, b"abc")
    raw = bytearray(enc.read_bytes())
    raw[7] = 2
    enc.write_bytes(bytes(raw))
    with pytest.raises(CryptoError, match="format version 2"):
        opened(tmp_path, enc)
    plain = tmp_path / "plain.sqlite"
    plain.write_bytes(b"SQLite format 3\0")
    assert not bc.is_encrypted(plain)
    with pytest.raises(CryptoError, match="not an encrypted botfleet backup"):
        opened(tmp_path, plain)


def test_header_layout_is_versioned() -> None:
    assert struct.calcsize(">7sB8s8sI") == 28 and bc.MAGIC == b"BFBKENC" and bc.VERSION == 1


@pytest.mark.parametrize("text", [base64.b64encode(KEY).decode(), base64.urlsafe_b64encode(KEY).decode().rstrip("="),
                                  base64.b64encode(KEY).decode() + "\n"])
def test_key_forms_accepted(text: str) -> None:
    assert bc.parse_key(text) == KEY


@pytest.mark.parametrize("text", ["", "short", base64.b64encode(b"k" * 16).decode(), "not base64 at all!!" * 3,
                                  KEY.hex()])
def test_bad_keys_are_refused_without_showing_them(text: str) -> None:
    with pytest.raises(CryptoError, match="32 random bytes in base64") as err:
        bc.parse_key(text)
    assert not text or text not in str(err.value)


def test_key_file_errors_name_the_secret_key(tmp_path: Path) -> None:
    with pytest.raises(CryptoError, match="BACKUP_ENCRYPTION_KEY"):
        bc.read_key_file(tmp_path / "missing")
    (tmp_path / "k").write_text("nope")
    with pytest.raises(CryptoError, match="BACKUP_ENCRYPTION_KEY"):
        bc.read_key_file(tmp_path / "k")
