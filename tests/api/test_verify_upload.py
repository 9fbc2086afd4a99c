"""The public document-verification upload cannot be used to exhaust memory or disk: a body bound
near the per-document limit, a per-client rate limit, and the upload hashed as it streams."""

from __future__ import annotations

import io

from backend.anchoring.documents import digests_of_stream, document_hash
from backend.api.routes.verify import MAX_UPLOAD_BYTES
from backend.config import Settings
from backend.content.cid import CHUNK_SIZE, cid_of
from backend.errors import LoanchainError
from tests.identity.conftest import client_for, identity_settings


class CountingReader(io.BytesIO):
    """Records the largest read asked of it."""

    largest = 0

    def read(self, size=-1):
        self.largest = max(self.largest, size if size >= 0 else len(self.getbuffer()))
        return super().read(size)


def test_the_body_bound_follows_the_per_document_limit_not_256_mib():
    limit = Settings.model_fields["anchor_max_document_bytes"].default
    assert limit < MAX_UPLOAD_BYTES <= limit + 1024 * 1024


def test_an_upload_is_hashed_a_chunk_at_a_time_and_refused_past_the_limit(tmp_path):
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'v.db'}", anchor_max_document_bytes=3 * CHUNK_SIZE)
    data = bytes(range(256)) * (2 * CHUNK_SIZE // 256) + b"tail"  # three chunks: a UnixFS DAG, not one raw block
    stream = CountingReader(data)
    assert digests_of_stream(settings, stream) == (document_hash(data), cid_of(data))
    assert stream.largest == CHUNK_SIZE  # never read whole
    too_big = CountingReader(b"x" * (3 * CHUNK_SIZE + 1))
    try:
        digests_of_stream(settings, too_big)
    except LoanchainError as refused:
        assert refused.status_code == 413
    else:
        raise AssertionError("an upload past the limit was hashed")

    client = client_for(settings)
    answer = client.post("/api/v1/verify", files={"file": ("doc.bin", data)})
    assert answer.status_code == 200 and answer.json()["status"] == "unknown"
    assert (answer.json()["doc_hash"], answer.json()["cid"]) == (document_hash(data), cid_of(data))
    assert client.post("/api/v1/verify", files={"file": ("big", b"x" * (3 * CHUNK_SIZE + 1))}).status_code == 413


def test_uploads_to_verify_are_rate_limited_per_client(tmp_path):
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'r.db'}", verify_rate_limit=3)
    client, other = client_for(settings), client_for(settings, "10.0.0.9")
    statuses = [client.post("/api/v1/verify", files={"file": ("a", b"abc")}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert other.post("/api/v1/verify", files={"file": ("a", b"abc")}).status_code == 200  # per client
    assert client.get("/api/v1/verify", params={"cid": cid_of(b"abc")}).status_code == 200  # by CID: not an upload
