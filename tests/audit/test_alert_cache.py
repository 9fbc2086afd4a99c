"""The API's alert reads share one computation of the rules (`backend/audit/alert_cache.py`): the
pages of one refresh and the tabs of several staff cost one, a new record of what the rules read is
seen at once, anything else within the cache's seconds; reviews are never cached. On SQLite and
PostgreSQL."""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete

from backend.audit import alert_cache, monitoring
from backend.audit.models import AlertReview
from backend.chain.models import ChainEvent, IndexerCheckpoint
from backend.db import migrate
from backend.db.session import session_scope
from backend.servicing.models import ServicingNotice
from tests.conftest import make_settings

ACCOUNT = "0x" + "ab" * 20
_log = itertools.count()


@pytest.fixture
def settings(tmp_path, database_url):
    settings = make_settings(tmp_path, database_url=database_url, monitoring_alerts_cache_seconds=30)
    migrate.upgrade(settings)
    alert_cache.forget()
    yield settings
    alert_cache.forget()


@pytest.fixture
def computed(monkeypatch) -> list[str | None]:
    """The rules' computations, by the rule asked for."""
    calls, real = [], monitoring._raise

    def counted(db, settings, rule, since=0):
        calls.append(rule)
        return real(db, settings, rule, since)

    monkeypatch.setattr(monitoring, "_raise", counted)
    return calls


def _pause(settings, block: int) -> None:
    """A contract paused at `block`, as the indexer files it, the checkpoint moved there."""
    n = next(_log)
    with session_scope(settings) as session:
        session.add(ChainEvent(block_number=block, block_hash=f"0x{block:064x}", tx_hash=f"0x{n:064x}", tx_index=0,
                               log_index=n, contract="LoanBook", address=ACCOUNT, event="Paused",
                               args={"account": ACCOUNT}, block_timestamp=1_700_000_000 + block))  # fmt: skip
        cp = session.get(IndexerCheckpoint, "main") or IndexerCheckpoint(name="main", deployment_hash="test", reorgs=0)
        cp.block_number, cp.block_hash = block, f"0x{block:064x}"
        session.merge(cp)


def _read(settings, **kw) -> list:
    with session_scope(settings) as session:
        return monitoring.alerts(session, settings, rule="pause", with_notes=False, shared=True, **kw)


def test_reads_close_together_share_one_computation_and_see_new_records_at_once(settings, computed):
    _pause(settings, 10)
    _pause(settings, 11)
    first = _read(settings, limit=1)
    second = _read(settings, limit=1, offset=1)  # the next page of the same refresh
    assert computed == ["pause"] and [a.key for a in first + second] == [a.key for a in _read(settings)]
    assert computed == ["pause"]

    with session_scope(settings) as session:  # a block with no event of ours indexed: nothing the rules read
        session.get(IndexerCheckpoint, "main").block_number = 13
    _read(settings)
    assert computed == ["pause"]
    _pause(settings, 14)  # an event indexed
    assert len(_read(settings)) == 3 and computed == ["pause", "pause"]
    with session_scope(settings) as session:  # a record of another table the rules read
        session.add(ServicingNotice(loan_id=1, borrower=ACCOUNT, recipient=ACCOUNT, installment=1, kind="reminder",
                                    due_date=0, amount=1, message="due soon"))  # fmt: skip
    _read(settings)
    assert computed == ["pause"] * 3
    with session_scope(settings) as session:  # ... and one erased
        session.execute(delete(ServicingNotice))
    _read(settings)
    assert computed == ["pause"] * 4

    with session_scope(settings) as session:  # unshared: the CLI's, the review's own lookup
        monitoring.alerts(session, settings, rule="pause", with_notes=False)
    assert computed == ["pause"] * 5


def test_what_the_fingerprint_cannot_see_shows_within_the_cache_seconds(settings, computed, monkeypatch):
    _pause(settings, 10)
    clock = iter([100.0, 120.0, 131.0])
    monkeypatch.setattr(alert_cache.time, "monotonic", lambda: next(clock))
    _read(settings)
    _read(settings)  # 20 s later: shared
    assert computed == ["pause"]
    _read(settings)  # 31 s after the computation: raised anew
    assert computed == ["pause", "pause"]


def test_reviews_are_joined_at_each_read_and_a_read_cannot_change_the_shared_answer(settings, computed):
    _pause(settings, 10)
    (alert,) = _read(settings)
    assert alert.review is None
    alert.detail = "changed by a caller"
    with session_scope(settings) as session:
        session.add(AlertReview(alert_key=alert.key, rule="pause", loan_id=0, decision="cleared", reviewer=ACCOUNT,
                                reviewed_at=datetime.now(UTC)))  # fmt: skip
    (again,) = _read(settings)
    assert computed == ["pause"]  # the review needed no new computation ...
    assert again.review is not None and again.review.decision == "cleared"  # ... and is shown
    assert again.detail != "changed by a caller"
    assert _read(settings, open_only=True) == []


def test_another_rule_or_other_settings_are_computed_apart(settings, computed):
    _pause(settings, 10)
    _read(settings)
    with session_scope(settings) as session:
        monitoring.alerts(session, settings, rule="role_change", with_notes=False, shared=True)
        stricter = settings.model_copy(update={"monitoring_round_trip_days": 7})
        monitoring.alerts(session, stricter, rule="pause", with_notes=False, shared=True)
    assert computed == ["pause", "role_change", "pause"]


def test_with_no_cache_seconds_every_read_computes(settings, computed):
    _pause(settings, 10)
    off = settings.model_copy(update={"monitoring_alerts_cache_seconds": 0})
    for _ in range(2):
        with session_scope(off) as session:
            monitoring.alerts(session, off, rule="pause", with_notes=False, shared=True)
    assert computed == ["pause", "pause"]


def test_the_apis_pages_of_one_refresh_cost_one_computation(settings, computed):
    from tests.identity.conftest import ADMIN, client_for, minted_bearer

    settings = settings.model_copy(update={"admin_wallets": [ADMIN.address], "run_workers": False})
    for block in (10, 11, 12):
        _pause(settings, block)
    client, auditor = client_for(settings), minted_bearer(settings, ADMIN)
    pages = [client.get("/api/v1/audit/alerts", params={"rule": "pause", "limit": 2, "offset": offset},
                        headers=auditor) for offset in (0, 2)]  # fmt: skip
    assert [len(page.json()) for page in pages] == [2, 1]
    assert computed == ["pause"]


@pytest.fixture
def slow(monkeypatch):
    """Rules that take as long as the test holds `slow.release` open (a large book's seconds)."""
    release, real = threading.Event(), monitoring._raise
    release.set()

    def held(db, settings, rule, since=0):
        release.wait(30)
        return real(db, settings, rule, since)

    monkeypatch.setattr(monitoring, "_raise", held)
    monkeypatch.setattr(alert_cache, "WAIT_SECONDS", 0.2)
    return release


def test_a_large_books_reads_get_the_last_answer_while_one_thread_raises_the_next(settings, slow):
    _pause(settings, 10)
    assert len(_read(settings)) == 1
    slow.clear()  # the rules now take long
    _pause(settings, 11)
    with ThreadPoolExecutor(4) as pool:  # a refresh's pages and other tabs, all at once
        served = list(pool.map(lambda _: len(_read(settings)), range(4)))
    assert served == [1, 1, 1, 1]  # the last answer, after WAIT_SECONDS, not the rules' time
    assert list(alert_cache._refreshing) == [("pause", alert_cache._settings_key(settings))]  # one computation
    slow.set()
    for _ in range(100):
        if not alert_cache._refreshing:
            break
        time.sleep(0.05)
    assert len(_read(settings)) == 2


def test_a_failed_computation_fails_the_first_read_and_leaves_the_last_answer_to_the_others(settings, monkeypatch):
    real = monitoring._raise
    broken = threading.Event()

    def flaky(db, settings, rule, since=0):
        if broken.is_set():
            raise RuntimeError("the database went away")
        return real(db, settings, rule, since)

    monkeypatch.setattr(monitoring, "_raise", flaky)
    _pause(settings, 10)
    broken.set()
    with pytest.raises(RuntimeError, match="went away"):
        _read(settings)
    broken.clear()
    assert len(_read(settings)) == 1  # the next read tries again
    broken.set()
    _pause(settings, 11)
    assert len(_read(settings)) == 1  # the last answer, the failure logged


def test_a_review_finds_the_alert_the_staff_page_was_shown(settings, computed):
    from tests.identity.conftest import ADMIN, client_for, minted_bearer

    settings = settings.model_copy(update={"admin_wallets": [ADMIN.address], "run_workers": False})
    _pause(settings, 10)
    client, auditor = client_for(settings), minted_bearer(settings, ADMIN)
    (shown,) = client.get("/api/v1/audit/alerts", params={"rule": "pause"}, headers=auditor).json()
    reviewed = client.post(f"/api/v1/audit/alerts/{shown['key']}/review", json={"decision": "cleared", "note": "ours"},
                           headers=auditor)  # fmt: skip
    assert reviewed.status_code == 201 and computed.count(None) == 1  # every rule once, for the lookup, not per review
    (again,) = client.get("/api/v1/audit/alerts", params={"rule": "pause"}, headers=auditor).json()
    assert again["review"]["decision"] == "cleared"
    assert client.post("/api/v1/audit/alerts/nope/review", json={"decision": "cleared", "note": "looked at it"},
                       headers=auditor).status_code == 404  # fmt: skip
