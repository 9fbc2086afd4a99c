"""The IPFS backend against a real js-ipfs daemon on loopback (started by the session fixture)."""

from __future__ import annotations

import json

import pytest

from backend.config import Settings
from backend.content import ipfs_daemon
from backend.content.cid import cid_of
from backend.content.embedded import EmbeddedContentStore
from backend.content.ipfs import IpfsContentStore
from backend.content.store import get_content_store
from backend.errors import ContentIntegrityError, ContentNotFound, ServiceUnavailable
from tests.conftest import free_port
from tests.content.conftest import SIZES, payload

pytestmark = [
    pytest.mark.slow,
    # ipfshttpclient 0.7.0 hands urllib3 2 a `strict` argument; harmless, and silenced in
    # backend.content.ipfs for the app, but pytest resets warning filters per test.
    pytest.mark.filterwarnings("ignore:The 'strict' parameter:FutureWarning"),
]


@pytest.fixture(scope="module")
def store(ipfs_node) -> IpfsContentStore:
    # A short lookup timeout: a daemon without peers would otherwise wait for ever.
    return IpfsContentStore(ipfs_node.api, timeout=1.0)


@pytest.mark.parametrize("size", SIZES)
def test_daemon_cids_equal_the_embedded_store_and_the_reference(store, content_dir, size, expected_cids):
    data = payload(size)
    cid = store.put(data)
    assert cid == EmbeddedContentStore(content_dir).put(data) == expected_cids[size]
    assert store.has(cid)
    assert store.get(cid) == data


def test_pin_keeps_stored_content(store):
    cid = store.put(b"repayment schedule")
    store.pin(cid)
    assert store.has(cid)


def test_removed_content_is_unpinned_and_removing_it_again_is_no_error(store):
    cid = store.put(b"an offer's agreement, erased with its borrower's personal data")
    store.remove(cid)
    assert not store.has(cid)
    store.collect_garbage()
    with pytest.raises(ContentNotFound):  # collected: the node no longer has the blocks (nor peers to ask)
        store.get(cid)
    store.remove(cid)
    store.remove(cid_of(b"never added here"))


def test_missing_content(store):
    cid = cid_of(b"nobody ever added this")
    assert not store.has(cid)
    with pytest.raises(ContentNotFound):
        store.get(cid)
    with pytest.raises(ContentNotFound):
        store.pin(cid)


def test_content_that_does_not_match_its_cid_is_refused(store, monkeypatch):
    cid = store.put(b"the real document")
    monkeypatch.setattr(store._client, "cat", lambda *args, **kwargs: b"a substituted document")
    with pytest.raises(ContentIntegrityError):
        store.get(cid)


def test_health(store, ipfs_node):
    status = store.health()
    assert status["ok"] is True and status["backend"] == "ipfs" and status["api"] == ipfs_node.api
    assert status["version"]


def test_factory_builds_a_working_ipfs_store(ipfs_node, tmp_path):
    settings = Settings(var_dir=tmp_path, content_store="ipfs", ipfs_api=ipfs_node.api, _env_file=None)
    store = get_content_store(settings)
    assert store.get(store.put(b"via settings")) == b"via settings"


def test_a_node_that_is_down_is_reported_not_raised(tmp_path):
    store = IpfsContentStore(f"/ip4/127.0.0.1/tcp/{free_port()}/http", timeout=1.0)
    status = store.health()
    assert status["ok"] is False and status["error"]
    with pytest.raises(ServiceUnavailable):
        store.put(b"anything")


def test_the_daemon_listens_on_loopback_only(ipfs_node):
    assert ipfs_node.api.startswith("/ip4/127.0.0.1/tcp/")
    config = json.loads((ipfs_node.repo / "config").read_text())
    addresses = config["Addresses"]
    listeners = [*addresses["Swarm"], addresses["API"], addresses["Gateway"], addresses["RPC"]]
    assert all(address.startswith("/ip4/127.0.0.1/") for address in listeners)
    assert config["Bootstrap"] == [] and addresses["Delegates"] == []
    assert not config["Discovery"]["MDNS"]["Enabled"] and not config["Discovery"]["webRTCStar"]["Enabled"]
    assert ipfs_daemon.api_port_of(ipfs_node.api) > 0
