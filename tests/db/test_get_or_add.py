"""Two requests creating the same row at once (a double click, two tabs, a retry) both succeed:
the second reads the first one's row instead of failing on the key with a 500."""

from __future__ import annotations

import threading
import time

from eth_account import Account

from backend.db.session import session_scope
from backend.identity.roles import grant_role, roles_of
from backend.servicing.preferences import preferences_of, set_preferences
from backend.servicing.schemas import NoticePreferencesUpdate
from tests.identity.conftest import ADMIN, client_for, identity_settings, minted_bearer


def _overlapping(settings, write) -> list:
    """`write` in two transactions, the second starting while the first has written and not committed."""
    results, wrote = [], threading.Event()

    def first():
        with session_scope(settings) as session:
            results.append(write(session))
            session.flush()
            wrote.set()
            time.sleep(0.5)

    def second():
        wrote.wait(5)
        with session_scope(settings) as session:
            results.append(write(session))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_overlapping_first_writes_of_one_row_both_succeed(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url)
    wallet = Account.create().address
    update = NoticePreferencesUpdate(email=True, sms=False)
    assert len(_overlapping(settings, lambda s: set_preferences(s, wallet, update))) == 2
    granted = _overlapping(settings, lambda s: grant_role(s, ADMIN.address, wallet, "auditor"))
    assert sorted(granted) == [False, True]  # granted once; the other saw it granted
    with session_scope(settings) as session:
        assert preferences_of(session, wallet).sms is False and "auditor" in roles_of(session, settings, wallet)


def test_concurrent_identical_requests_get_no_500(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url)
    headers = minted_bearer(settings, Account.create())
    statuses = []

    def call():
        with client_for(settings) as client:
            statuses.append(client.put("/api/v1/servicing/notices/preferences", json={"email": True, "sms": False},
                                       headers=headers).status_code)  # fmt: skip
            statuses.append(client.post("/api/v1/auth/logout", headers=headers).status_code)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 500 not in statuses, statuses
