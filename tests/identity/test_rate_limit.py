"""Rate-limit rows name client addresses by a keyed hash, and windows that ended are purged."""

from __future__ import annotations

import hashlib
import ipaddress

from sqlalchemy import select

from backend.db.session import session_scope
from backend.identity.models import RateWindow
from backend.identity.rate_limit import hit
from tests.identity.conftest import identity_settings


def test_a_bucket_does_not_give_the_client_address_back(tmp_path):
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'db.db'}")
    client_ip = "203.0.113.77"
    hit(settings, "auth", client_ip, 60)
    with session_scope(settings) as session:
        stored = session.scalars(select(RateWindow.bucket)).one()
    digest = stored.split(":", 1)[1]
    for ip in ipaddress.ip_network("203.0.113.0/24"):  # an unkeyed hash is reversed by trying addresses
        for hashed in (hashlib.sha256(str(ip).encode()).hexdigest(), hashlib.sha1(str(ip).encode()).hexdigest()):
            assert not hashed.startswith(digest), f"bucket {stored} reverses to {ip}"
    assert hit(settings, "auth", client_ip, 60) == 2  # still one bucket per client


def test_windows_that_ended_are_purged_whoever_hits_next(tmp_path):
    """A one-time visitor's row must not stay for good (nor in every backup)."""
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'db.db'}")
    t0 = 1_800_000_000
    hit(settings, "auth", "198.51.100.1", 60, now=t0)
    hit(settings, "offer", "0xabc", 3600, now=t0)
    hit(settings, "auth", "198.51.100.2", 60, now=t0 + 120)  # another client, a later window
    with session_scope(settings) as session:
        rows = session.execute(select(RateWindow.bucket, RateWindow.window_start)).all()
    kept = sorted((bucket.split(":")[0], start) for bucket, start in rows)
    # the first visitor's ended minute is gone; the hour that has not ended stays
    assert kept == [("auth", t0 // 60 * 60 + 120), ("offer", t0 // 3600 * 3600)]
