"""An encrypted, authenticated, streamable file: AES-256-GCM over fixed-size chunks.

Layout: MAGIC, one header line (JSON, in the clear but authenticated), then frames of
`4-byte big-endian length || ciphertext+tag`. Chunk i is sealed with the nonce
`prefix(7) || i(4, big-endian) || last(1)` and the header as associated data, so a reordered,
dropped, truncated, appended or edited frame, or an edited header, fails to open (the STREAM
construction of Hoang, Reyhanitabar, Rogaway and Vizár, "Online Authenticated-Encryption", 2015).
Memory stays at one chunk whatever the size of the backup.

A stream may also be bound to a second key, named by id in the header (`master_key`): its chunks
are then sealed under HKDF-SHA256(backup key ‖ that key, info = the header), so the stream opens
only while both keys exist. A backup binds the KYC master key active when it was taken: deleting
that key later (after erasures, `shredding.py`) leaves every copy of the backup unreadable as a
whole. A stream without `master_key` (written before) is sealed under the backup key alone."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from backend.errors import ValidationFailed

MAGIC = b"LOANCHAIN-BACKUP/1\n"
CHUNK = 1 << 20
_LEN = struct.Struct(">I")


class BackupUnreadable(ValidationFailed):
    """Not a backup, another key's backup, or a backup that was altered or cut short."""

    code = "backup_unreadable"


def key_fingerprint(key: bytes) -> str:
    """Names the key in the header without revealing anything about it."""
    return hashlib.sha256(b"loanchain/backup-key/v1|" + key).hexdigest()[:16]


@dataclass(frozen=True)
class StreamKeys:
    """What opens a stream: the backup key, and the bound key by id (None: not held here)."""

    backup: bytes
    bound: Callable[[str], bytes | None] = lambda _key_id: None


def _stream_key(backup: bytes, bound: bytes, aad: bytes) -> bytes:
    # The header (with its random nonce prefix) as info: each stream gets a key of its own.
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"loanchain/backup-stream/v2\n" + aad).derive(backup + bound)


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    if index >= 2**32:
        raise ValidationFailed("backup too large: more than 2**32 chunks")
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class SealedWriter:
    """Write plaintext; chunks are sealed as they fill. `close()` seals the last one. With `bound`
    (key id, key), the stream is bound to that key as well (see the module's docstring)."""

    def __init__(self, out: BinaryIO, key: bytes, header: dict[str, Any], bound: tuple[str, bytes] | None = None) -> None:
        self._out, self._prefix = out, os.urandom(7)
        header = {**header, "key": key_fingerprint(key), "nonce_prefix": self._prefix.hex(), "chunk": CHUNK}
        if bound is not None:
            header["master_key"] = bound[0]
        self._aad = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        self._aead = AESGCM(key if bound is None else _stream_key(key, bound[1], self._aad))
        out.write(MAGIC + self._aad + b"\n")
        self._buffer, self._index = bytearray(), 0

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) > CHUNK:  # keep at least one byte back: the last chunk is sealed as last
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]

    def _seal(self, plaintext: bytes, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._prefix, self._index, last), plaintext, self._aad)
        self._out.write(_LEN.pack(len(sealed)) + sealed)
        self._index += 1

    def close(self) -> None:
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()


def read_header(source: BinaryIO) -> tuple[dict[str, Any], bytes]:
    if source.read(len(MAGIC)) != MAGIC:
        raise BackupUnreadable("not a loanchain backup (wrong magic bytes)")
    line = source.readline(64 * 1024)
    try:
        header = json.loads(line)
    except ValueError:
        raise BackupUnreadable("the backup header is damaged") from None
    # Read before it is authenticated (the first chunk does that): its shape is checked here, so a
    # damaged header is refused as such, not as a crash or as another key.
    if not (isinstance(header, dict) and isinstance(header.get("key"), str) and _is_hex(header.get("nonce_prefix"), 7)
            and isinstance(header.get("master_key", ""), str)):  # fmt: skip
        raise BackupUnreadable("the backup header is damaged")
    return header, line.rstrip(b"\n")


def _key_for(header: dict[str, Any], aad: bytes, keys: StreamKeys) -> bytes:
    if (key_id := header.get("master_key")) is None:
        return keys.backup  # a backup from before backups were bound to a master key
    bound = keys.bound(key_id)
    if bound is None:
        raise BackupUnreadable(
            f"this backup is sealed under the KYC master key {key_id} as well as the backup key, and the keyring does "
            "not hold it: a master key retired after erasures leaves every backup taken while it was active "
            "unreadable, by design. If the key was not retired on purpose, put it back in the keyring",
            master_key=key_id,
        )  # fmt: skip
    return _stream_key(keys.backup, bound, aad)


def _is_hex(value: Any, size: int) -> bool:
    if not isinstance(value, str) or len(value) != 2 * size:
        return False
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return True


def open_chunks(source: BinaryIO, keys: StreamKeys) -> Iterator[bytes]:
    """Yield the plaintext chunks, each only once it has been authenticated."""
    header, aad = read_header(source)
    if header.get("key") != key_fingerprint(keys.backup):
        # The header is not authenticated yet: an edited `key` field reads the same as another key.
        raise BackupUnreadable("this backup was made with another backup key, or its header is damaged")
    aead, prefix = AESGCM(_key_for(header, aad, keys)), bytes.fromhex(header["nonce_prefix"])
    index = 0
    while True:
        size = source.read(_LEN.size)
        if len(size) < _LEN.size:
            raise BackupUnreadable("the backup is cut short (no final chunk)")
        sealed = source.read(_LEN.unpack(size)[0])
        for last in (False, True):
            try:
                plaintext = aead.decrypt(_nonce(prefix, index, last), sealed, aad)
            except InvalidTag:
                continue
            break
        else:
            raise BackupUnreadable(f"chunk {index} of the backup was altered or is out of place")
        yield plaintext
        index += 1
        if last:
            if source.read(1):
                raise BackupUnreadable("data follows the backup's final chunk")
            return
