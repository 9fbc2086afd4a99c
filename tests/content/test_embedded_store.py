"""The default store: files under content_dir, keyed and verified by CID."""

from __future__ import annotations

import pytest

from backend.config import Settings
from backend.content.cid import InvalidCid, cid_of
from backend.content.embedded import EmbeddedContentStore
from backend.content.ipfs import IpfsContentStore
from backend.content.store import ContentStore, get_content_store
from backend.errors import ContentIntegrityError, ContentNotFound
from tests.content.conftest import SIZES, payload


@pytest.fixture
def store(content_dir) -> EmbeddedContentStore:
    return EmbeddedContentStore(content_dir)


@pytest.mark.parametrize("size", SIZES)
def test_put_returns_the_ipfs_cid_and_get_returns_the_bytes(store, size, expected_cids):
    data = payload(size)
    cid = store.put(data)
    assert cid == expected_cids[size]
    assert store.has(cid)
    assert store.get(cid) == data


def test_putting_the_same_bytes_twice_is_one_object(store, content_dir):
    assert store.put(b"agreement") == store.put(b"agreement")
    files = [path for path in content_dir.rglob("*") if path.is_file()]
    assert [path.name for path in files] == [cid_of(b"agreement")]  # no temporary files left


def test_removed_content_is_gone_and_removing_it_again_is_no_error(store):
    cid = store.put(b"an offer's agreement, erased with its borrower's personal data")
    store.remove(cid)
    assert not store.has(cid) and not store.path_of(cid).exists()
    with pytest.raises(ContentNotFound):
        store.get(cid)
    store.remove(cid)


def test_missing_content(store):
    cid = cid_of(b"never stored")
    assert not store.has(cid)
    with pytest.raises(ContentNotFound):
        store.get(cid)
    with pytest.raises(ContentNotFound):
        store.pin(cid)


def test_pin_of_stored_content_succeeds(store):
    cid = store.put(b"keep me")
    store.pin(cid)
    assert store.has(cid)


def test_tampered_content_is_refused(store):
    cid = store.put(b"loan agreement: 1000 USDC at 7%")
    store.path_of(cid).write_bytes(b"loan agreement: 9000 USDC at 7%")
    with pytest.raises(ContentIntegrityError):
        store.get(cid)


def test_putting_again_repairs_a_damaged_copy(store):
    data = b"original"
    cid = store.put(data)
    store.path_of(cid).write_bytes(b"damaged")
    store.put(data)
    assert store.get(cid) == data


def test_malformed_cids_are_refused_before_touching_the_disk(store):
    for bad in ("../../etc/passwd", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"):
        with pytest.raises(InvalidCid):
            store.get(bad)
        with pytest.raises(InvalidCid):
            store.has(bad)


def test_health(store, content_dir, tmp_path):
    assert store.health() == {"ok": True, "backend": "embedded", "path": str(content_dir)}
    blocked = tmp_path / "a-file"
    blocked.write_bytes(b"")
    status = EmbeddedContentStore(blocked / "content").health()  # its parent is a file
    assert status["ok"] is False and status["backend"] == "embedded" and status["error"]


def test_factory_chooses_the_backend_from_settings(tmp_path):
    embedded = get_content_store(Settings(var_dir=tmp_path, _env_file=None))
    assert isinstance(embedded, EmbeddedContentStore) and isinstance(embedded, ContentStore)
    assert embedded.root == tmp_path / "content"
    ipfs = get_content_store(Settings(var_dir=tmp_path, content_store="ipfs", _env_file=None))
    assert isinstance(ipfs, IpfsContentStore) and isinstance(ipfs, ContentStore)
