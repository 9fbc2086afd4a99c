"""The pure-Python CIDs must equal what `ipfs add --cid-version=1 --raw-leaves` gives."""

from __future__ import annotations

import io

import pytest

from backend.content.cid import (
    CHUNK_SIZE,
    DAG_PB,
    MAX_LINKS,
    RAW,
    CidBuilder,
    InvalidCid,
    cid_of,
    cid_of_stream,
    parse_cid,
)
from backend.errors import ContentError, ValidationFailed
from tests.content.conftest import SIZES, payload

EMPTY_FILE_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


@pytest.mark.parametrize("size", SIZES)
def test_cid_matches_ipfs_only_hash(size, expected_cids):
    assert cid_of(payload(size)) == expected_cids[size]


def test_single_chunk_is_a_raw_block_and_more_is_a_dag(expected_cids):
    assert expected_cids[0] == EMPTY_FILE_CID  # the empty file is an empty raw block
    assert parse_cid(cid_of(payload(CHUNK_SIZE))).codec == RAW
    assert parse_cid(cid_of(payload(CHUNK_SIZE + 1))).codec == DAG_PB


def test_streaming_in_uneven_pieces_gives_the_same_cid(expected_cids):
    data = payload(5 * 1024 * 1024)
    builder = CidBuilder()
    for start in range(0, len(data), 100_003):  # pieces that straddle chunk boundaries
        builder.update(data[start : start + 100_003])
    assert builder.cid() == expected_cids[len(data)]
    assert cid_of_stream(io.BytesIO(data)) == expected_cids[len(data)]


def test_deep_balanced_trees_match_the_importer(reference_cids):
    # Tiny chunks and fan-out reach 3-7 tree levels with a few KB, so the layout rules that
    # real files only hit past 174 * 256 KiB (~44 MiB) or 7.9 GiB are checked cheaply.
    sizes = [10, 11, 30, 31, 90, 91, 271, 1000, 5000]
    blobs = [payload(size) for size in sizes]
    expected = reference_cids(blobs, maxChunkSize=10, maxChildrenPerNode=3)
    actual = []
    for blob in blobs:
        builder = CidBuilder(chunk_size=10, max_links=3)
        builder.update(blob)
        actual.append(builder.cid())
    assert actual == expected


@pytest.mark.slow
def test_more_than_174_chunks_matches_ipfs_only_hash(reference_cids):
    blobs = [payload(MAX_LINKS * CHUNK_SIZE), payload(MAX_LINKS * CHUNK_SIZE + 1)]
    assert [cid_of(blob) for blob in blobs] == reference_cids(blobs)


@pytest.mark.parametrize(
    "text",
    [
        "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",  # CIDv0
        "zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA",  # CIDv1, base58
        EMPTY_FILE_CID.upper(),
        EMPTY_FILE_CID[:-1],
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk1",
        "../../etc/passwd",
        "",
    ],
)
def test_only_canonical_cids_are_accepted(text):
    with pytest.raises(InvalidCid) as caught:
        parse_cid(text)
    assert isinstance(caught.value, ContentError) and isinstance(caught.value, ValidationFailed)


def test_a_computed_cid_parses():
    parsed = parse_cid(cid_of(b"loanchain"))
    assert parsed.codec == RAW and len(parsed.digest) == 32
