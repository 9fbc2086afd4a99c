"""CIDv1 exactly as `ipfs add --cid-version=1 --raw-leaves` computes them, in pure Python.

Rules (the defaults of both Kubo and js-ipfs' importer):
- sha2-256 multihash, base32 multibase (`b…`).
- Content is cut into fixed 256 KiB chunks; each chunk is a *raw* block.
- A file of one chunk (including the empty file) is that raw block: `bafk…`.
- Otherwise a balanced UnixFS DAG of dag-pb nodes with at most 174 links each (`bafy…`):
  chunks are grouped 174 at a time into parents, parents again, until one root is left.

The dag-pb and UnixFS protobuf encodings are written by hand: they are a few fields, and a
byte-for-byte match with the reference encoders is what makes the CIDs equal.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from backend.errors import InvalidCid

CHUNK_SIZE = 262_144
MAX_LINKS = 174

CID_VERSION = 1
RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12
SHA2_256_LENGTH = 32
UNIXFS_FILE = 2



# --- multiformats --------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(buf):
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("truncated varint")


def _cid_bytes(codec: int, block: bytes) -> bytes:
    digest = hashlib.sha256(block).digest()
    return _varint(CID_VERSION) + _varint(codec) + bytes([SHA2_256, SHA2_256_LENGTH]) + digest


def _base32(cid: bytes) -> str:
    return "b" + base64.b32encode(cid).decode("ascii").lower().rstrip("=")


@dataclass(frozen=True)
class ParsedCid:
    codec: int
    digest: bytes


def parse_cid(cid: str) -> ParsedCid:
    """Validate `cid` as a canonical CID of this store, or raise InvalidCid.

    Being strict here also makes a CID safe to use as a file name.
    """
    if not isinstance(cid, str) or not cid.startswith("b") or cid != cid.lower():
        raise InvalidCid(f"not a base32 CIDv1: {cid!r}", cid=cid)
    body = cid[1:]
    try:
        raw = base64.b32decode(body.upper() + "=" * (-len(body) % 8))
        version, pos = _read_varint(raw, 0)
        codec, pos = _read_varint(raw, pos)
    except ValueError as exc:
        raise InvalidCid(f"not a base32 CIDv1: {cid!r}", cid=cid) from exc
    hash_code, length, digest = raw[pos : pos + 1], raw[pos + 1 : pos + 2], raw[pos + 2 :]
    if (
        version != CID_VERSION
        or codec not in (RAW, DAG_PB)
        or hash_code != bytes([SHA2_256])
        or length != bytes([SHA2_256_LENGTH])
        or len(digest) != SHA2_256_LENGTH
        or _base32(raw) != cid  # rejects non-canonical padding bits
    ):
        raise InvalidCid(f"unsupported CID (want v1, raw/dag-pb, sha2-256): {cid!r}", cid=cid)
    return ParsedCid(codec=codec, digest=digest)


# --- protobuf (only the wire types dag-pb and UnixFS use) ------------------------------------


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _field_bytes(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value


@dataclass(frozen=True)
class _Node:
    cid: bytes
    file_size: int  # bytes of file content below this node
    tree_size: int  # bytes of all blocks below and including it (the link's Tsize)


def _leaf(chunk: bytes) -> _Node:
    return _Node(cid=_cid_bytes(RAW, chunk), file_size=len(chunk), tree_size=len(chunk))


def _parent(children: list[_Node]) -> _Node:
    file_size = sum(child.file_size for child in children)
    unixfs = _field_varint(1, UNIXFS_FILE) + _field_varint(3, file_size)
    unixfs += b"".join(_field_varint(4, child.file_size) for child in children)  # blocksizes
    # dag-pb puts Links (field 2) before Data (field 1); the empty Name is still encoded.
    links = b"".join(
        _field_bytes(2, _field_bytes(1, child.cid) + _field_bytes(2, b"") + _field_varint(3, child.tree_size))
        for child in children
    )
    block = links + _field_bytes(1, unixfs)
    return _Node(
        cid=_cid_bytes(DAG_PB, block),
        file_size=file_size,
        tree_size=len(block) + sum(child.tree_size for child in children),
    )


# --- the builder -----------------------------------------------------------------------------


class CidBuilder:
    """Streaming CID computation: feed bytes with `update`, then `cid()`.

    Only one chunk is buffered; per chunk, 36 bytes of leaf CID are kept until the end.
    """

    def __init__(self, chunk_size: int = CHUNK_SIZE, max_links: int = MAX_LINKS) -> None:
        self._chunk_size = chunk_size
        self._max_links = max_links
        self._buffer = bytearray()
        self._leaves: list[_Node] = []

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        while view:
            take = min(self._chunk_size - len(self._buffer), len(view))
            self._buffer += view[:take]
            view = view[take:]
            if len(self._buffer) == self._chunk_size:
                self._leaves.append(_leaf(bytes(self._buffer)))
                self._buffer.clear()

    def cid(self) -> str:
        nodes = list(self._leaves)
        # The empty file still gets one (empty) raw leaf, as the importer's chunker emits one.
        if self._buffer or not nodes:
            nodes.append(_leaf(bytes(self._buffer)))
        if len(nodes) == 1:
            return _base32(nodes[0].cid)  # a single chunk is its own raw block
        while len(nodes) > 1:
            nodes = [_parent(nodes[i : i + self._max_links]) for i in range(0, len(nodes), self._max_links)]
        return _base32(nodes[0].cid)


def cid_of(data: bytes) -> str:
    builder = CidBuilder()
    builder.update(data)
    return builder.cid()


def cid_of_stream(stream: BinaryIO) -> str:
    builder = CidBuilder()
    for block in iter(lambda: stream.read(CHUNK_SIZE), b""):
        builder.update(block)
    return builder.cid()


def cid_of_file(path: Path) -> str:
    with open(path, "rb") as stream:
        return cid_of_stream(stream)


def cid_of_chunks(chunks: Iterable[bytes]) -> str:
    builder = CidBuilder()
    for chunk in chunks:
        builder.update(chunk)
    return builder.cid()
