"""Client-side encryption of journal backups (AES-256-GCM, streamed in chunks, versioned header).

A backup holds every signed order of a bot, so it is encrypted before it is written to the backup
volume or uploaded (spec.backup.encryption; required with spec.backup.s3). The key is 32 random bytes,
given base64-encoded in the `BACKUP_ENCRYPTION_KEY` key of a Secret.

File layout (version 1)::

    magic "BFBKENC" | version 0x01 | key id (8 bytes) | nonce prefix (8 bytes) | chunk size (u32 BE)
    then chunks: AES-GCM(plaintext chunk) = ciphertext || 16-byte tag

Each chunk is sealed with nonce = prefix || counter (u32 BE) and associated data = header || counter
(u64 BE) || final flag, so chunks cannot be reordered, dropped, or the file cut after a chunk
boundary (the last chunk, shorter than `chunk size`, possibly empty, is the only one flagged final).
The key id, HMAC-SHA256(key, "botfleet-backup-key-id")[:8], tells "another key" apart from "damaged
file" without revealing anything about the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot_runtime.contract.config import BACKUP_ENCRYPTION_KEY
from bot_runtime.contract.secret_values import backup_key_bytes

MAGIC = b"BFBKENC"
VERSION = 1
SUFFIX = ".enc"
KEY_NAME = BACKUP_ENCRYPTION_KEY  # the Secret key (spec.backup.encryption.secretRef)
KEY_FILE_ENV = "BOTFLEET_BACKUP_ENCRYPTION_KEY_FILE"
ALGORITHM = "aes-256-gcm-chunked-v1"  # recorded in the manifest
CHUNK = 1 << 20  # 1 MiB: bounded memory for a journal of any size
_HEADER = struct.Struct(">7sB8s8sI")
_TAG = 16


class CryptoError(RuntimeError):
    """A key or an encrypted backup that cannot be used; the message says which and what to do."""


def parse_key(text: str | bytes, where: str = KEY_NAME) -> bytes:
    """The 32-byte key from its base64 text (standard or URL-safe alphabet); the operator checks a
    Secret's value with the same contract function and reports a bad one in status."""
    key = backup_key_bytes(text)
    if key is None:
        raise CryptoError(f"{where} must be 32 random bytes in base64 (e.g. `openssl rand -base64 32`); "
                          "the value given is not (the value is not shown)")
    return key


def read_key_file(path: Path) -> bytes:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise CryptoError(f"cannot read the backup encryption key {path}: {exc.strerror or exc} "
                          f"(the {KEY_NAME} key of spec.backup.encryption.secretRef)") from None
    return parse_key(text, f"{KEY_NAME} ({path})")


def key_id(key: bytes) -> bytes:
    return hmac.new(key, b"botfleet-backup-key-id", hashlib.sha256).digest()[:8]


def is_encrypted(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _aad(header: bytes, counter: int, final: bool) -> bytes:
    return header + struct.pack(">QB", counter, 1 if final else 0)


def _nonce(prefix: bytes, counter: int) -> bytes:
    if counter >= 1 << 32:
        raise CryptoError("backup too large for one encrypted file (4 PiB)")
    return prefix + struct.pack(">I", counter)


def encrypt_file(src: Path, dest: Path, key: bytes, chunk: int = CHUNK) -> None:
    """Write `src` encrypted to `dest` (created; the caller renames it into place)."""
    aead = AESGCM(key)
    header = _HEADER.pack(MAGIC, VERSION, key_id(key), os.urandom(8), chunk)
    prefix = header[16:24]
    with src.open("rb") as fin, dest.open("wb") as fout:
        fout.write(header)
        counter = 0
        block = fin.read(chunk)
        while True:
            nxt = fin.read(chunk) if len(block) == chunk else b""
            final = len(block) < chunk  # a full last block is followed by an empty final one
            fout.write(aead.encrypt(_nonce(prefix, counter), block, _aad(header, counter, final)))
            if final:
                break
            counter += 1
            block = nxt
        fout.flush()
        os.fsync(fout.fileno())


def _read_header(fin: BinaryIO, src: Path) -> tuple[bytes, bytes, bytes, int]:
    header = fin.read(_HEADER.size)
    if len(header) < _HEADER.size or not header.startswith(MAGIC):
        raise CryptoError(f"{src} is not an encrypted botfleet backup")
    _, version, kid, prefix, chunk = _HEADER.unpack(header)
    if version != VERSION:
        raise CryptoError(f"{src} is encrypted with format version {version}; this botfleet reads version "
                          f"{VERSION}: restore it with a newer botfleet")
    if not 0 < chunk <= 1 << 30:
        raise CryptoError(f"{src} has a damaged header (chunk size {chunk})")
    return header, kid, prefix, chunk


def decrypt_file(src: Path, dest: Path, key: bytes) -> None:
    """Write the plaintext of `src` to `dest`; CryptoError for another key, a damaged or cut file."""
    aead = AESGCM(key)
    with src.open("rb") as fin:
        header, kid, prefix, chunk = _read_header(fin, src)
        if not hmac.compare_digest(kid, key_id(key)):
            raise CryptoError(
                f"{src} was encrypted with another key (key id {kid.hex()}, the one given is "
                f"{key_id(key).hex()}): give the {KEY_NAME} of the Secret (spec.backup.encryption.secretRef) "
                "that was in use when the backup was taken")
        with dest.open("wb") as fout:
            counter = 0
            while True:
                sealed = fin.read(chunk + _TAG)
                final = len(sealed) < chunk + _TAG
                try:
                    fout.write(aead.decrypt(_nonce(prefix, counter), sealed, _aad(header, counter, final)))
                except InvalidTag:
                    raise CryptoError(f"{src} failed authentication at chunk {counter}: the file is damaged, "
                                      "truncated or was altered; pick another backup") from None
                if final:
                    break
                counter += 1
            if fin.read(1):
                raise CryptoError(f"{src} has data after its final chunk: the file was altered")
