"""`Idempotency-Key` on create requests with no other way to tell a retry (backend/idempotency_keys.py),
held through a credit application, whose retry used to be a second decision counted against the
wallet's hourly limit: the same key and request answer the first record (200), writing nothing and
spending nothing; the key with another request is 409; keys are the caller's own; two attempts at once
make one record; a key is kept a day. Offers and hardship requests: tests/lending/test_offers.py and
tests/servicing/test_hardship_requests.py."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from sqlalchemy import func, select

from backend.audit.models import AuditEntry
from backend.db.session import session_scope
from backend.idempotency_keys import RETENTION, IdempotencyKeyRow, fingerprint, prune
from backend.scoring import service
from backend.scoring.models import CreditDecision
from tests.identity.conftest import client_for, identity_settings, minted_bearer
from tests.scoring.conftest import SAMPLE


def _counts(settings) -> tuple[int, int, int]:
    """(credit decisions, audit entries, keys kept)."""
    with session_scope(settings) as session:
        return tuple(session.scalar(select(func.count()).select_from(t))
                     for t in (CreditDecision, AuditEntry, IdempotencyKeyRow))  # fmt: skip


def test_a_retried_application_is_answered_with_its_first_decision_and_spends_no_limit(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url, score_rate_limit=2)
    client, wallet = client_for(settings), minted_bearer(settings, Account.create())
    keyed = {**wallet, "Idempotency-Key": "8f14e45f-ceea-467f-a0e6-2c4f7b3b8d1e"}
    first = client.post("/api/v1/score", json=SAMPLE, headers=keyed)
    assert first.status_code == 201, first.text
    written = _counts(settings)
    assert written[2] == 1
    # the same request again, its body's keys in another order and spaced otherwise: the same decision
    shuffled = json.dumps(dict(reversed(list(SAMPLE.items()))), indent=2)
    for retry in (client.post("/api/v1/score", json=SAMPLE, headers=keyed),
                  client.post("/api/v1/score", content=shuffled, headers={**keyed, "Content-Type": "application/json"}),
                  client.post("/api/v1/score", json=SAMPLE, headers=keyed)):  # fmt: skip
        assert retry.status_code == 200, retry.text
        assert retry.json() == first.json()
    assert _counts(settings) == written  # no second decision, no audit entry, no key
    # the hourly limit of 2 counted the first attempt only: one more application is decided, then 429
    assert client.post("/api/v1/score", json=SAMPLE, headers=wallet).status_code == 201
    limited = client.post("/api/v1/score", json=SAMPLE, headers=wallet)
    assert limited.status_code == 429, limited.text
    # a retry still answers past the limit: it decides nothing
    assert client.post("/api/v1/score", json=SAMPLE, headers=keyed).json()["id"] == first.json()["id"]


def test_a_key_sent_with_another_request_is_refused_and_keys_are_the_callers_own(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url)
    client = client_for(settings)
    alice, bob = minted_bearer(settings, Account.create()), minted_bearer(settings, Account.create())
    key = {"Idempotency-Key": "one-key"}
    first = client.post("/api/v1/score", json=SAMPLE, headers={**alice, **key})
    assert first.status_code == 201
    before = _counts(settings)
    other = client.post("/api/v1/score", json={**SAMPLE, "amount": SAMPLE["amount"] + 1}, headers={**alice, **key})
    assert other.status_code == 409, other.text
    assert other.json()["error"] == "idempotency_key_reused" and "POST /api/v1/score" in other.json()["detail"]
    assert _counts(settings) == before
    # another wallet's key of the same value is its own: its own decision
    theirs = client.post("/api/v1/score", json=SAMPLE, headers={**bob, **key})
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    # a refused request keeps no key: the key is free for the request it is meant for
    bad = client.post("/api/v1/score", json={**SAMPLE, "amount": -1}, headers={**alice, "Idempotency-Key": "k2"})
    assert bad.status_code == 422
    assert client.post("/api/v1/score", json=SAMPLE, headers={**alice, "Idempotency-Key": "k2"}).status_code == 201
    # a key is visible ASCII, at most 128 characters
    for refused in ("", "a" * 129, "tab\there"):
        answer = client.post("/api/v1/score", json=SAMPLE, headers={**alice, "Idempotency-Key": refused})
        assert answer.status_code == 422, (refused, answer.text)


def test_two_attempts_at_once_make_one_decision(tmp_path, database_url, monkeypatch):
    """The second attempt arrives while the first is still deciding: it finds no key yet, then meets the
    first's on the table's key, waits for it to commit and answers its decision."""
    settings = identity_settings(tmp_path, database_url)
    client, wallet = client_for(settings), minted_bearer(settings, Account.create())
    keyed = {**wallet, "Idempotency-Key": "double-click"}
    real = service.score_application

    def slow(*args, **kwargs):  # the real decision, then a pause with the key held and nothing committed
        decided = real(*args, **kwargs)
        time.sleep(1.0)
        return decided

    monkeypatch.setattr(service, "score_application", slow)
    answers: list = [None, None]

    def attempt(i: int) -> None:
        answers[i] = client.post("/api/v1/score", json=SAMPLE, headers=keyed)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(2)]
    threads[0].start()
    time.sleep(0.3)
    threads[1].start()
    for thread in threads:
        thread.join(60)
    assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
    assert answers[0].json()["id"] == answers[1].json()["id"]
    assert _counts(settings)[0] == 1


def test_keys_are_kept_a_day_then_name_a_new_request(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url)
    client, account = client_for(settings), Account.create()
    wallet = minted_bearer(settings, account)
    keyed = {**wallet, "Idempotency-Key": "yesterday"}
    first = client.post("/api/v1/score", json=SAMPLE, headers=keyed).json()
    with session_scope(settings) as session:
        session.get(IdempotencyKeyRow, (account.address, "yesterday")).created_at -= RETENTION + timedelta(minutes=1)
        session.add(IdempotencyKeyRow(principal=account.address, key="recent", route="POST /api/v1/score",
                                      request_hash="0" * 64, created_at=datetime.now(UTC) - RETENTION + timedelta(minutes=5)))  # fmt: skip
    # past the day, the key was deleted when the next one was claimed: the same key is a new request
    again = client.post("/api/v1/score", json={**SAMPLE, "amount": SAMPLE["amount"] + 1}, headers=keyed)
    assert again.status_code == 201 and again.json()["id"] != first["id"]
    with session_scope(settings) as session:
        kept = sorted(session.scalars(select(IdempotencyKeyRow.key)))
    assert kept == ["recent", "yesterday"]  # the new "yesterday", and the key still within its day
    assert prune(settings, now=datetime.now(UTC) + timedelta(minutes=6)) == 1  # "recent" turns a day old


@pytest.mark.parametrize("body", [b'{"a": 1, "b": [1, 2]}', b'{"b":[1,2],"a":1}'])
def test_the_fingerprint_is_of_the_content_not_its_spelling(body):
    assert fingerprint("POST", "/api/v1/score", body) == fingerprint("POST", "/api/v1/score", b'{"a":1,"b":[1,2]}')
    assert fingerprint("POST", "/api/v1/loans/1/hardship", body) != fingerprint("POST", "/api/v1/loans/2/hardship", body)
    assert fingerprint("POST", "/api/v1/score", b'{"a":2,"b":[1,2]}') != fingerprint("POST", "/api/v1/score", body)


def test_an_erasure_deletes_the_wallets_keys_and_the_retention_round_prunes_old_ones(tmp_path, database_url):
    """A key names the caller's wallet, the record its request made and the SHA-256 of the body: for a
    credit application, an unsalted hash of a few closed choices and an amount, which trying them all
    gives back, the very reason erasure clears a decision's input hash. So an erasure deletes the
    wallet's keys (a retry after it is a new request, never the erased decision joined to the wallet
    again), and the retention round deletes every key past its day, whether or not a request with a
    key came since (they were pruned only as new keys were claimed)."""
    from backend.identity.kyc.lifecycle import erase_wallet
    from backend.identity.kyc.retention import run_round

    settings = identity_settings(tmp_path, database_url)
    client, account, other = client_for(settings), Account.create(), Account.create()
    keyed = {**minted_bearer(settings, account), "Idempotency-Key": "before-the-erasure"}
    first = client.post("/api/v1/score", json=SAMPLE, headers=keyed)
    assert first.status_code == 201, first.text
    with session_scope(settings) as session:
        session.add(IdempotencyKeyRow(principal=other.address, key="old", route="POST /api/v1/score",
                                      request_hash="0" * 64, created_at=datetime.now(UTC) - RETENTION - timedelta(minutes=1)))  # fmt: skip
    with session_scope(settings) as session:
        erased = erase_wallet(session, settings, account.address, account.address)
    assert erased.erased_decisions == [first.json()["id"]]
    with session_scope(settings) as session:
        assert session.scalar(select(func.count()).where(IdempotencyKeyRow.principal == account.address)) == 0
    retry = client.post("/api/v1/score", json=SAMPLE, headers=keyed)
    assert retry.status_code == 201 and retry.json()["id"] != first.json()["id"]

    run_round(settings)
    with session_scope(settings) as session:
        assert sorted(session.scalars(select(IdempotencyKeyRow.principal))) == [account.address]  # the retry's, a new day
