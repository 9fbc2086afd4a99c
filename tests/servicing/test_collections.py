"""The collections case log: staff record contacts and promises to pay against a late loan; a
promise is judged by the chain's payments (kept, pending, broken); bad entries are refused and
change nothing; auditors read the log but do not write it. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from backend.audit.hashing import payload_hash
from backend.audit.models import AuditEntry
from backend.audit.monitoring import alerts
from backend.chain.outbox import get_intent
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from backend.errors import Conflict
from backend.identity.crypto.envelope import DecryptionFailed
from backend.identity.crypto.keyring import add_master_key, load_keyring
from backend.identity.crypto.rotation import keys_in_use, retire, rotate
from backend.identity.roles import grant_role
from backend.servicing.collections import actions_of, seal_note
from backend.servicing.models import CollectionAction, ServicingNotice
from backend.servicing.service import default_intent_key, servicing_pass
from tests.anchoring.helpers import point_get_settings_at
from tests.identity.conftest import ADMIN, client_for, minted_bearer
from tests.servicing.conftest import index

DAY = 86_400


def _pass(settings) -> None:
    with session_scope(settings) as session:
        servicing_pass(session, settings)


def test_a_promise_to_pay_is_kept_or_broken_by_what_the_chain_shows(servicing_settings, world, monkeypatch):
    settings, chain = servicing_settings, world.chain
    late, start = world.active_loan()
    repaid, _ = world.active_loan(investors=world.investors[:2])
    chain.mine_at(start + 30 * DAY + 20 * DAY)
    world.repay(repaid, world.book.functions.amountDue(repaid).call()[1])  # paid off: never in collections
    index(settings)
    _pass(settings)
    client, staff = client_for(settings), minted_bearer(settings, ADMIN)
    url = f"/api/v1/servicing/collections/{late}/actions"

    def log(**body):
        return client.post(url, json=body, headers=staff)

    assert log(kind="no_answer", note="called twice, voicemail").status_code == 201
    due = world.book.functions.amountDue(late).call()[0]
    promise = log(kind="promise_to_pay", note="will pay the arrears on payday", promised_amount=due, promised_in_days=7)
    assert promise.status_code == 201, promise.text
    made = promise.json()
    assert (made["promise_status"], made["paid_since"]) == ("pending", 0)
    assert made["promised_by"] == made["chain_time"] + 7 * DAY

    (item,) = client.get("/api/v1/servicing/collections", headers=staff).json()
    assert item["loan_id"] == late and [a["kind"] for a in item["actions"]] == ["promise_to_pay", "no_answer"]
    world.repay(late, due)  # the borrower keeps it
    index(settings)
    (item,) = client.get("/api/v1/servicing/collections", headers=staff).json()  # no pass since: still queued
    assert (item["actions"][0]["promise_status"], item["actions"][0]["paid_since"]) == ("kept", due)

    chain.mine_at(start + 3 * 30 * DAY + 20 * DAY)  # late again; a promise made and not kept
    index(settings)
    _pass(settings)
    second = log(kind="promise_to_pay", note="promised half now", promised_amount=10**6, promised_in_days=3).json()
    chain.mine_at(second["promised_by"] + 1)
    (item,) = client.get("/api/v1/servicing/collections", headers=staff).json()
    assert (item["actions"][0]["promise_status"], item["actions"][0]["paid_since"]) == ("broken", 0)

    # Bad entries: a clear 4xx, nothing written.
    with session_scope(settings) as session:
        before = len(list(session.scalars(select(CollectionAction.id))))
    assert log(kind="promise_to_pay", note="no amount", promised_in_days=3).status_code == 422
    assert log(kind="contacted", note="spoke to them", promised_amount=5).status_code == 422
    assert log(kind="threatened", note="xyz").status_code == 422 and log(kind="note", note="").status_code == 422
    assert log(kind="promise_to_pay", note="too far", promised_amount=5, promised_in_days=61).status_code == 422
    not_late = client.post(f"/api/v1/servicing/collections/{repaid}/actions", json={"kind": "note", "note": "hello"},
                           headers=staff)  # fmt: skip
    assert not_late.status_code == 409 and "not in collections" in not_late.json()["detail"]
    assert client.post("/api/v1/servicing/collections/999/actions", json={"kind": "note", "note": "hello"},
                       headers=staff).status_code == 404  # fmt: skip
    auditor = world.investors[5]
    with session_scope(settings) as session:
        grant_role(session, ADMIN.address, auditor.address, "auditor")
    as_auditor = minted_bearer(settings, auditor)
    assert client.post(url, json={"kind": "note", "note": "hello"}, headers=as_auditor).status_code == 403
    assert client.get("/api/v1/servicing/collections", headers=as_auditor).status_code == 200  # reads the log
    assert client.post(url, json={"kind": "note", "note": "hello"}).status_code == 401
    with session_scope(settings) as session:
        assert len(list(session.scalars(select(CollectionAction.id)))) == before
        logged = list(session.scalars(select(AuditEntry.action).where(AuditEntry.action == "collections.action")))
    assert len(logged) == before == 3  # every entry is in the audit log too

    runner = CliRunner()
    try:
        point_get_settings_at(monkeypatch, settings)
        cli = runner.invoke(app, ["servicing", "collections", "--json"])
        table = runner.invoke(app, ["servicing", "collections"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert json.loads(cli.stdout) == client.get("/api/v1/servicing/collections", headers=staff).json()
    assert table.exit_code == 0 and "broken" in table.stdout

    # An auditor tracing the loan reads its case log, each entry checked against its audit entry.
    def case_check(trace: dict) -> dict:
        return next(c for c in trace["checks"] if c["name"] == "case_log_matches_audit_log")

    traced = client.get(f"/api/v1/audit/trace/loan/{late}", headers=as_auditor).json()
    assert traced["case_log"] == item["actions"] and case_check(traced)["ok"], case_check(traced)
    with session_scope(settings) as session:  # someone edits a promise in the database
        session.get(CollectionAction, second["id"]).promised_amount = 1
    traced = client.get(f"/api/v1/audit/trace/loan/{late}", headers=as_auditor).json()
    assert not case_check(traced)["ok"] and f"[{second['id']}]" in case_check(traced)["detail"]
    assert not traced["consistent"]


def test_a_borrower_asks_for_hardship_help_and_staff_see_it_until_they_answer(servicing_settings, world):
    settings = servicing_settings
    loan_id, _ = world.active_loan()  # current: not late at all
    funding, _ = world.create()
    index(settings)
    _pass(settings)
    client, staff = client_for(settings), minted_bearer(settings, ADMIN)
    borrower = minted_bearer(settings, world.borrower)

    def ask(loan: int, headers: dict, note: str = "lost my job; could pay half for three months"):
        return client.post(f"/api/v1/loans/{loan}/hardship", json={"note": note}, headers=headers)

    assert client.get("/api/v1/servicing/collections", headers=staff).json() == []
    asked = ask(loan_id, borrower)
    assert asked.status_code == 201 and (asked.json()["kind"], asked.json()["actor"]) == ("hardship", world.borrower.address)
    (item,) = client.get("/api/v1/servicing/collections", headers=staff).json()  # in the queue, though current
    assert (item["loan_id"], item["bucket"], item["actions"][0]["note"]) == (loan_id, "current", asked.json()["note"])
    assert ask(loan_id, borrower).status_code == 409  # one waiting request a loan (tests/servicing/test_hardship_requests.py)

    answer = client.post(f"/api/v1/servicing/collections/{loan_id}/actions", headers=staff,
                         json={"kind": "contacted", "note": "called back; payment plan offered"})  # fmt: skip
    assert answer.status_code == 201
    assert client.get("/api/v1/servicing/collections", headers=staff).json() == []  # answered, and not late

    assert ask(loan_id, minted_bearer(settings, world.investors[0])).status_code == 403  # only its borrower
    assert ask(funding, borrower).status_code == 409 and ask(999, borrower).status_code == 404  # nothing owed yet
    assert ask(loan_id, borrower, note="").status_code == 422
    assert client.post(f"/api/v1/loans/{loan_id}/hardship", json={"note": "help"}).status_code == 401


def test_case_notes_are_shown_only_to_a_recent_sign_in(servicing_settings, world):
    """The collections queue and the loan trace are read all day from one session; their notes
    (hardship, what was said on the phone) are what a copied staff token must not read. Past the
    step-up age they are withheld and marked; the rest of the case log stays; a fresh sign-in reads them."""
    from datetime import UTC, datetime, timedelta

    from backend.identity.tokens import issue_pair

    settings = servicing_settings
    loan_id, _ = world.active_loan()
    index(settings)
    _pass(settings)
    client = client_for(settings)
    words = "lost my job in March; could pay half until June"
    asked = client.post(f"/api/v1/loans/{loan_id}/hardship", json={"note": words}, headers=minted_bearer(settings, world.borrower))
    assert asked.status_code == 201

    def session_begun(minutes_ago: float) -> dict[str, str]:
        with session_scope(settings) as session:
            pair = issue_pair(session, settings, ADMIN.address, auth_time=datetime.now(UTC) - timedelta(minutes=minutes_ago))
        return {"Authorization": f"Bearer {pair.access_token}"}

    stale = session_begun(45)
    queue = client.get("/api/v1/servicing/collections", headers=stale)
    traced = client.get(f"/api/v1/audit/trace/loan/{loan_id}", headers=stale)
    for response, log in ((queue, lambda b: b[0]["actions"]), (traced, lambda b: b["case_log"])):
        assert response.status_code == 200 and "March" not in response.text
        (entry,) = log(response.json())
        assert (entry["kind"], entry["note"], entry["note_withheld"], entry["actor"]) == ("hardship", None, True, world.borrower.address)
    fresh = session_begun(5)
    for log in (client.get("/api/v1/servicing/collections", headers=fresh).json()[0]["actions"],
                client.get(f"/api/v1/audit/trace/loan/{loan_id}", headers=fresh).json()["case_log"]):  # fmt: skip
        assert [(e["note"], e["note_withheld"]) for e in log] == [(words, False)]


def test_case_notes_are_sealed_rotated_with_the_kyc_keys_and_shredded_on_erasure(servicing_settings, world):
    # Erased as soon as the loan is repaid: the AML period's wait is tests/identity/test_erasure_requests.py's.
    settings = servicing_settings.model_copy(update={"aml_retention_days": 0})
    loan_id, _ = world.active_loan()
    index(settings)
    _pass(settings)
    client, staff = client_for(settings), minted_bearer(settings, ADMIN)
    borrower = minted_bearer(settings, world.borrower)
    words = "lost my job in March; could pay half until June"
    assert client.post(f"/api/v1/loans/{loan_id}/hardship", json={"note": words}, headers=borrower).status_code == 201
    assert client.post(f"/api/v1/servicing/collections/{loan_id}/actions", headers=staff,
                       json={"kind": "contacted", "note": "called back; payment plan offered"}).status_code == 201  # fmt: skip

    # At rest: ciphertext under each entry's own key; the audit entry commits to the sealed note's
    # hash, never to the text (a hash of a short text could be guessed).
    with session_scope(settings) as session:
        rows = list(session.scalars(select(CollectionAction).order_by(CollectionAction.id)))
        logged = list(session.scalars(select(AuditEntry.payload_hash).where(AuditEntry.action == "collections.action")
                                      .order_by(AuditEntry.seq)))  # fmt: skip
    assert len(rows) == 2 and len({r.wrapped_key for r in rows}) == 2
    assert all(b"March" not in r.sealed_note and b"payment plan" not in r.sealed_note for r in rows)
    assert logged == [payload_hash({"action_id": r.id, "kind": r.kind, "sealed_note_sha256": hashlib.sha256(r.sealed_note).hexdigest(),
                                    "promised_amount": None, "promised_by": None}) for r in rows]  # fmt: skip
    with session_scope(settings) as session:  # bound to its own row: moved to another, it does not open
        first, second = session.scalars(select(CollectionAction).order_by(CollectionAction.id)).all()
        second.sealed_note = first.sealed_note
    with pytest.raises(DecryptionFailed):
        _log(settings, loan_id)

    # Rotation moves the notes' keys too; the old master key retires only after it.
    with session_scope(settings) as session:
        second = session.scalars(select(CollectionAction).order_by(CollectionAction.id.desc())).first()
        seal_note(load_keyring(settings), second, "called back; payment plan offered")
    old = load_keyring(settings).active_id
    new = add_master_key(settings)
    with pytest.raises(Conflict):
        retire(settings, old)
    assert rotate(settings).rewrapped == 2
    retire(settings, old)
    assert [a.note for a in _log(settings, loan_id)] == ["called back; payment plan offered", words]
    with session_scope(settings) as session:
        assert keys_in_use(session) == {new: 2}

    # Erasure, once nothing is owed, shreds them; what was done and when stays.
    assert client.delete("/api/v1/kyc/me", headers=borrower).status_code == 409  # still borrowing
    now = world.w3.eth.get_block("latest")["timestamp"]  # paid off in that second: the payoff grows by the next
    world.repay(loan_id, world.book.functions.amountDue(loan_id).call()[1], at=now)
    index(settings)
    erased = client.delete("/api/v1/kyc/me", headers=borrower)
    assert erased.status_code == 200 and erased.json()["erased_notes"] == 2, erased.text
    assert [(a.kind, a.note) for a in _log(settings, loan_id)] == [("contacted", None), ("hardship", None)]
    assert client.delete("/api/v1/kyc/me", headers=borrower).status_code == 404  # nothing left to erase


def _log(settings, loan_id: int) -> list:
    with session_scope(settings) as session:
        return actions_of(session, settings, [loan_id], lambda: 0)[loan_id]


def test_an_open_promise_to_pay_holds_the_automatic_default_until_its_date(servicing_settings, world):
    settings, book, chain = servicing_settings, world.book, world.chain
    loan_id, _ = world.active_loan()
    threshold = book.functions.defaultableAt(loan_id).call()
    chain.mine_at(threshold - 10 * DAY)  # deep in collections
    index(settings)
    _pass(settings)
    promise = client_for(settings).post(f"/api/v1/servicing/collections/{loan_id}/actions", headers=minted_bearer(settings, ADMIN),
                                        json={"kind": "promise_to_pay", "note": "will pay it all on the 1st",
                                              "promised_amount": 10**6, "promised_in_days": 30}).json()  # fmt: skip

    def default_queued() -> bool:
        with session_scope(settings) as session:
            return get_intent(session, default_intent_key(loan_id)) is not None

    chain.mine_at(threshold + 1)  # defaultable, but the promise is still open
    _pass(settings)
    assert not default_queued()
    chain.mine_at(promise["promised_by"] + 1)  # its date passed with nothing paid: broken
    _pass(settings)
    assert default_queued()


def test_chained_promises_hold_the_automatic_default_no_longer_than_the_cap(servicing_settings, world):
    """Regression of the security review's M3: one staff member recorded a 60-day promise to pay
    before each one ran out, and a loan that paid nothing stayed out of default for good. Promises
    together hold it at most `servicing_promise_hold_max_days` past defaultableAt, however many."""
    settings, book, chain = servicing_settings, world.book, world.chain
    loan_id, _ = world.active_loan()
    threshold = book.functions.defaultableAt(loan_id).call()
    cap = threshold + settings.servicing_promise_hold_max_days * DAY
    client, staff = client_for(settings), minted_bearer(settings, ADMIN)

    def promise() -> int:
        r = client.post(f"/api/v1/servicing/collections/{loan_id}/actions", headers=staff,
                        json={"kind": "promise_to_pay", "note": "soon", "promised_amount": 10**6, "promised_in_days": 60})  # fmt: skip
        assert r.status_code == 201, r.json()
        return r.json()["promised_by"]

    def default_queued_at(at: int) -> bool:
        chain.mine_at(at)
        index(settings)
        _pass(settings)
        with session_scope(settings) as session:
            return get_intent(session, default_intent_key(loan_id)) is not None

    assert not default_queued_at(threshold - 10 * DAY)
    due = promise()
    assert not default_queued_at(due - DAY)  # defaultable, within the cap: the promise holds it
    due = promise()  # the next one, recorded before the first ran out
    assert due > cap
    assert not default_queued_at(cap - DAY)
    assert default_queued_at(cap + DAY)  # past the cap: queued though a promise is still open
    with session_scope(settings) as session:  # newest first: the second is open, the first broken
        log = actions_of(session, settings, [loan_id], lambda: cap + DAY)[loan_id]
    assert [a.promise_status for a in log] == ["pending", "broken"]
    with session_scope(settings) as session:  # and monitoring flags the chain for a person to check
        (chained,) = alerts(session, settings, rule="promise_chain")
    assert (chained.loan_id, chained.timestamp, chained.amount) == (loan_id, log[0].chain_time, 10**6)
    assert chained.wallets == [world.borrower.address, ADMIN.address] and f"entry {log[1].id}" in chained.detail


def test_staff_do_not_keep_the_case_log_of_a_loan_their_own_person_borrowed(servicing_settings, world):
    """A promise holds a default, so an underwriter whose person borrowed the loan (its wallet, or
    another verified with the borrower's national ID) records nothing on it: 403, nothing written."""
    from eth_account import Account

    from backend.identity.kyc.submission import submit
    from backend.identity.schemas import KycCreate
    from tests.identity.conftest import make_applicant

    settings, chain = servicing_settings, world.chain
    loan_id, start = world.active_loan()
    chain.mine_at(start + 30 * DAY + 20 * DAY)  # late: in collections
    index(settings)
    _pass(settings)
    borrower, other = make_applicant(90), Account.create()
    with session_scope(settings) as session:
        assert submit(session, settings, world.borrower.address, KycCreate(**borrower.form()), []).status == "approved"
    with session_scope(settings) as session:  # the borrower's ID on another wallet: the same person
        submit(session, settings, other.address, KycCreate(**borrower.form()), [])
    with session_scope(settings) as session:
        for wallet in (world.borrower.address, other.address):
            grant_role(session, "cli", wallet, "underwriter")
    client, url = client_for(settings), f"/api/v1/servicing/collections/{loan_id}/actions"
    body = {"kind": "promise_to_pay", "note": "my own loan", "promised_amount": 10**6, "promised_in_days": 60}
    for staff in (world.borrower, other):
        refused = client.post(url, json=body, headers=minted_bearer(settings, staff))
        assert refused.status_code == 403 and "your own person" in refused.json()["detail"], refused.json()
    assert _log(settings, loan_id) == []
    assert client.post(url, json=body, headers=minted_bearer(settings, ADMIN)).status_code == 201  # another person


def _queue_of(settings, first: int, n: int) -> None:
    """`n` late loans, `n` defaulted ones still recovering and `n` whose borrower asked for help, from
    loan `first` on; each with notices (some to investors) and markDefault attempts, the last failed
    then retried under `default:{id}:2`."""
    from backend.chain.models import Intent
    from backend.chain.projection_models import LoanRow
    from backend.servicing.models import ServicingNotice, ServicingState

    with session_scope(settings) as session:
        for loan_id in range(first, first + 3 * n):
            borrower, kind = "0x" + f"{loan_id:040x}", ("late", "defaulted", "asking")[(loan_id - first) // n]
            session.add(LoanRow(loan_id=loan_id, status="defaulted" if kind == "defaulted" else "active",
                                borrower=borrower, underwriter=borrower, terms_hash="0x", agreement_hash="0x",
                                decision_hash="0x", principal=10**9, apr_bps=1000, installments=12,
                                installment_period=30 * DAY, installment_amount=10**8, funding_deadline=0,
                                origination_fee_bps=0, recoverable=7 if kind == "defaulted" else 0, created_block=1,
                                block_number=1, tx_hash="0x", log_index=0))  # fmt: skip
            if kind == "late":
                session.add(ServicingState(loan_id=loan_id, borrower=borrower, bucket="late_16_30", days_past_due=20,
                                           installments_paid=0, due_now=5, payoff=9, next_due_date=0, defaultable_at=0,
                                           as_of=0))  # fmt: skip
            if kind == "asking":
                session.add(CollectionAction(loan_id=loan_id, kind="hardship", actor=borrower, chain_time=0))
            investor = "0x" + "ee" * 20
            for installment, kind_, recipient in ((1, "due_soon", borrower), (2, "overdue", borrower),
                                                  (2, "holder_late", investor), (3, "due_soon", borrower)):  # fmt: skip
                session.add(ServicingNotice(loan_id=loan_id, borrower=borrower, recipient=recipient, installment=installment,
                                            kind=kind_, due_date=0, amount=1, message=kind_))  # fmt: skip
            if kind != "asking":
                for key, status in ((default_intent_key(loan_id), "failed"), (f"{default_intent_key(loan_id)}:2", "sent")):
                    session.add(Intent(key=key, contract="LoanBook", function="markDefault", args=[loan_id], status=status))


def test_the_collections_queue_reads_a_fixed_number_of_statements_whatever_its_length(tmp_path, database_url):
    """Notices, markDefault attempts and case logs are read for the whole queue at once; a loan's
    attempts are its own (`default:1` is not `default:10`'s)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from backend.db import migrate
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, database_url=database_url, admin_wallets=[ADMIN.address], run_workers=False)
    migrate.upgrade(settings)
    client, staff = client_for(settings), minted_bearer(settings, ADMIN)
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    def queue() -> tuple[list[dict], int]:
        statements.clear()
        event.listen(Engine, "before_cursor_execute", count)
        try:
            response = client.get("/api/v1/servicing/collections", headers=staff)
        finally:
            event.remove(Engine, "before_cursor_execute", count)
        assert response.status_code == 200, response.text
        return response.json(), len(statements)

    _queue_of(settings, 1, 1)
    small, few = queue()
    # a request for help waiting for an answer first (review-servicing L4), then the late, then the defaulted
    assert [(i["loan_id"], i["bucket"]) for i in small] == [(3, "current"), (1, "late_16_30"), (2, "defaulted")]
    assert [(i["notices"], i["default_status"]) for i in small] == [(["due_soon", "overdue"], None)] + [
        (["due_soon", "overdue"], "sent")] * 2
    assert small[0]["actions"][0]["kind"] == "hardship" and small[0]["awaiting_answer"]
    _queue_of(settings, 10, 20)  # loans 10..69: 10 and 1 share a key prefix
    large, many = queue()
    assert len(large) == 63 and many == few
    assert {i["loan_id"]: i["default_status"] for i in large}[1] == "sent"
    with session_scope(settings) as session:
        get_intent(session, "default:1:2").status = "failed"
    assert {i["loan_id"]: i["default_status"] for i in queue()[0]}[1] == "failed"


def test_a_kept_part_payment_promise_holds_the_default_until_its_date_and_staff_are_warned(servicing_settings, world):
    """Review-servicing H1: a borrower who pays what was promised (less than the installment, so
    LoanBook's defaultableAt does not move) was defaulted at the next pass, weeks before the promise's
    date, sooner than one who paid nothing. A kept promise now holds the default to its date, like a
    pending one; staff are told when the promised amount does not bring the loan up to date."""
    settings, book, chain = servicing_settings, world.book, world.chain
    loan_id, _ = world.active_loan()
    threshold = book.functions.defaultableAt(loan_id).call()
    chain.mine_at(threshold - 10 * DAY)
    index(settings)
    _pass(settings)
    promise = client_for(settings).post(
        f"/api/v1/servicing/collections/{loan_id}/actions", headers=minted_bearer(settings, ADMIN),
        json={"kind": "promise_to_pay", "note": "pays 100 now, the rest on the 1st", "promised_amount": 100 * 10**6,
              "promised_in_days": 40}).json()  # fmt: skip
    assert promise["warning"] and "will not move" in promise["warning"]

    def default_queued() -> bool:
        with session_scope(settings) as session:
            return get_intent(session, default_intent_key(loan_id)) is not None

    chain.mine_at(threshold + DAY)
    _pass(settings)
    assert not default_queued()
    world.repay(loan_id, 100 * 10**6)  # kept, 29 days early
    assert book.functions.defaultableAt(loan_id).call() == threshold  # the installment is not settled
    index(settings)
    _pass(settings)
    assert not default_queued()  # held to the promise's date, as an unpaid promise would be
    assert _log(settings, loan_id)[0].promise_status == "kept"
    chain.mine_at(promise["promised_by"] + 1)
    _pass(settings)
    assert default_queued()


def test_an_unanswered_hardship_request_or_an_open_dispute_pauses_reminders_and_the_default(servicing_settings, world):
    """Review-servicing M2: a borrower was defaulted and reminded while its request for help waited for
    staff. An unanswered hardship request, or a dispute that is the case log's latest entry, now holds
    the reminders and the automatic default until staff answer (at most
    `servicing_hardship_hold_days` from it, and within the promise cap past defaultableAt)."""
    settings, book, chain = servicing_settings, world.book, world.chain
    loan_id, start = world.active_loan()
    threshold = book.functions.defaultableAt(loan_id).call()
    client, staff = client_for(settings), minted_bearer(settings, ADMIN)
    chain.mine_at(start + 28 * DAY)
    index(settings)
    asked = client.post(f"/api/v1/loans/{loan_id}/hardship", headers=minted_bearer(settings, world.borrower),
                        json={"note": "lost my job, can pay half"})  # fmt: skip
    assert asked.status_code == 201
    chain.mine_at(start + 30 * DAY + DAY)  # overdue: no reminder while the request waits
    _pass(settings)

    def kinds() -> list[str]:
        with session_scope(settings) as session:
            return list(session.scalars(select(ServicingNotice.kind).where(ServicingNotice.recipient == world.borrower.address)))

    def default_queued() -> bool:
        with session_scope(settings) as session:
            return get_intent(session, default_intent_key(loan_id)) is not None

    assert "overdue" not in kinds()
    (item,) = client.get("/api/v1/servicing/collections", headers=staff).json()
    assert item["awaiting_answer"] and not item["dispute_open"]
    chain.mine_at(threshold - DAY)
    assert client.post(f"/api/v1/servicing/collections/{loan_id}/actions", headers=staff,
                       json={"kind": "dispute", "note": "disputes the late fee"}).status_code == 201  # fmt: skip
    chain.mine_at(threshold + 60)  # defaultable: the dispute, still the latest entry, holds it
    _pass(settings)
    assert not default_queued() and "default" in kinds()  # the notices owed in writing still go
    assert client.post(f"/api/v1/servicing/collections/{loan_id}/actions", headers=staff,
                       json={"kind": "contacted", "note": "explained the fee"}).status_code == 201  # fmt: skip
    _pass(settings)  # answered: the default goes ahead
    assert default_queued()


def test_a_no_answer_or_a_note_does_not_end_the_pause_an_answer_does(servicing_settings, world):
    """Review-recent L1: any later case-log entry ended the pause, a staff `no_answer` ("called,
    nobody picked up") or an internal `note` too: the default went ahead with no answer given. Only
    an answer (`contacted`, `promise_to_pay`) ends it now."""
    settings, book, chain = servicing_settings, world.book, world.chain
    loan_id, _ = world.active_loan()
    threshold = book.functions.defaultableAt(loan_id).call()
    client, staff = client_for(settings), minted_bearer(settings, ADMIN)
    chain.mine_at(threshold - 3 * DAY)
    index(settings)
    asked = client.post(f"/api/v1/loans/{loan_id}/hardship", headers=minted_bearer(settings, world.borrower),
                        json={"note": "lost my job, can pay half"})  # fmt: skip
    assert asked.status_code == 201
    for kind, note in (("no_answer", "called, nobody picked up"), ("note", "try again on Monday")):
        assert client.post(f"/api/v1/servicing/collections/{loan_id}/actions", headers=staff,
                           json={"kind": kind, "note": note}).status_code == 201  # fmt: skip

    def default_queued() -> bool:
        with session_scope(settings) as session:
            return get_intent(session, default_intent_key(loan_id)) is not None

    chain.mine_at(threshold + 60)  # defaultable: the request, still unanswered, holds the default
    _pass(settings)
    assert not default_queued()
    (item,) = client.get("/api/v1/servicing/collections", headers=staff).json()
    assert item["awaiting_answer"] and not item["dispute_open"]
    again = client.post(f"/api/v1/loans/{loan_id}/hardship", headers=minted_bearer(settings, world.borrower),
                        json={"note": "did you get my request?"})  # fmt: skip
    assert again.status_code == 409  # still the one open request
    assert client.post(f"/api/v1/servicing/collections/{loan_id}/actions", headers=staff,
                       json={"kind": "contacted", "note": "no plan possible, explained"}).status_code == 201  # fmt: skip
    _pass(settings)  # answered: the default goes ahead
    assert default_queued()
    (item,) = client.get("/api/v1/servicing/collections", headers=staff).json()
    assert not item["awaiting_answer"]


def test_a_hardship_request_holds_the_default_no_longer_than_its_bound(servicing_settings, world):
    settings, book, chain = servicing_settings, world.book, world.chain
    loan_id, _ = world.active_loan()
    threshold = book.functions.defaultableAt(loan_id).call()
    chain.mine_at(threshold - 3 * DAY)
    index(settings)
    asked = client_for(settings).post(f"/api/v1/loans/{loan_id}/hardship", headers=minted_bearer(settings, world.borrower),
                                      json={"note": "lost my job, can pay half"}).json()  # fmt: skip
    chain.mine_at(asked["chain_time"] + settings.servicing_hardship_hold_days * DAY - 60)
    _pass(settings)
    with session_scope(settings) as session:
        assert get_intent(session, default_intent_key(loan_id)) is None  # never answered, still held
    chain.mine_at(asked["chain_time"] + settings.servicing_hardship_hold_days * DAY + 60)
    _pass(settings)
    with session_scope(settings) as session:
        assert get_intent(session, default_intent_key(loan_id)) is not None  # unanswered this long: no longer


def test_reading_the_queue_s_case_notes_is_audited_once_a_view(servicing_settings, world):
    """Review-servicing L2: the queue decrypted every borrower's hardship notes and left no trace.
    Each view that opens notes now writes one audit entry: who read them, and whose."""
    settings = servicing_settings
    loan_id, _ = world.active_loan()
    index(settings)
    client = client_for(settings)
    asked = client.post(f"/api/v1/loans/{loan_id}/hardship", headers=minted_bearer(settings, world.borrower),
                        json={"note": "diagnosed with an illness, off work for 3 months"})  # fmt: skip
    assert asked.status_code == 201

    def reads() -> list[tuple[str, str]]:
        with session_scope(settings) as session:
            return [(e.actor, e.subject) for e in session.scalars(select(AuditEntry).where(
                AuditEntry.action == "collections.notes_read").order_by(AuditEntry.seq))]  # fmt: skip

    for _ in range(2):
        queue = client.get("/api/v1/servicing/collections", headers=minted_bearer(settings, ADMIN)).json()
        assert queue[0]["actions"][0]["note"] == "diagnosed with an illness, off work for 3 months"
    assert reads() == [(ADMIN.address, "collections:queue")] * 2
    with session_scope(settings) as session:
        (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "collections.notes_read").limit(1))
        assert entry.payload_hash == payload_hash({"loan_ids": [loan_id]})
    # The loan's trace opens the same notes: recorded so too, and its case-log check still holds.
    traced = client.get(f"/api/v1/audit/trace/loan/{loan_id}", headers=minted_bearer(settings, ADMIN)).json()
    assert traced["case_log"][0]["note"] == "diagnosed with an illness, off work for 3 months"
    assert reads() == [(ADMIN.address, "collections:queue")] * 2 + [(ADMIN.address, "collections:trace")]
    assert next(c for c in traced["checks"] if c["name"] == "case_log_matches_audit_log")["ok"]


def test_a_retried_case_log_entry_is_recorded_once_and_raises_no_promise_chain_alert(servicing_settings, world):
    """Review-api H2: a client retrying after a timeout wrote a second promise to pay, which could
    never be removed and made monitoring flag the staff member for chaining promises. The same
    `Idempotency-Key` now answers with the first entry (200); without a key, the same entry by the
    same person within a minute is taken for the retry it is."""
    from eth_account import Account

    settings, chain = servicing_settings, world.chain
    loan_id, start = world.active_loan()
    chain.mine_at(start + 30 * DAY + 20 * DAY)  # late: in collections
    index(settings)
    _pass(settings)
    client, staff, url = client_for(settings), minted_bearer(settings, ADMIN), f"/api/v1/servicing/collections/{loan_id}/actions"
    promise = {"kind": "promise_to_pay", "note": "will pay on Friday", "promised_amount": 10**6, "promised_in_days": 7}
    key = "6f1c2a8e-3b7d-4c15-9a0e-2d4b8f6c1e3a"

    first = client.post(url, json=promise, headers={**staff, "Idempotency-Key": key})
    again = client.post(url, json=promise, headers={**staff, "Idempotency-Key": key})
    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert again.json() == first.json() and first.json()["warning"]  # the first answer, its warning too
    reused = client.post(url, json={**promise, "promised_amount": 2 * 10**6}, headers={**staff, "Idempotency-Key": key})
    assert reused.status_code == 409 and reused.json()["error"] == "idempotency_key_reused"
    assert key in reused.json()["detail"] and reused.json()["context"]["action_id"] == first.json()["id"]
    for bad in ("", "with space", "x" * 129):  # a key is visible ASCII, at most 128 characters
        refused = client.post(url, json=promise, headers={**staff, "Idempotency-Key": bad})
        assert refused.status_code == 422 and refused.json()["fields"][0]["loc"] == ["header", "Idempotency-Key"]

    # Without a key: the same entry within a minute is the retry; another note is another entry.
    called = {"kind": "contacted", "note": "called; they will call back"}
    made = client.post(url, json=called, headers=staff)
    retried = client.post(url, json=called, headers=staff)
    assert (made.status_code, retried.status_code) == (201, 200) and retried.json()["id"] == made.json()["id"]
    other = client.post(url, json={**called, "note": "called again; no answer"}, headers=staff)
    assert other.status_code == 201 and other.json()["id"] != made.json()["id"]
    with_new_key = client.post(url, json=called, headers={**staff, "Idempotency-Key": "a-new-request"})
    assert with_new_key.status_code == 201  # a new key is a new request, however alike
    assert [a.id for a in _log(settings, loan_id)] == sorted({first.json()["id"], made.json()["id"], other.json()["id"],
                                                              with_new_key.json()["id"]}, reverse=True)  # fmt: skip

    # Another staff member's key is theirs alone, and their own entry is theirs: not a retry of the admin's.
    colleague = Account.create()
    with session_scope(settings) as session:
        grant_role(session, "cli", colleague.address, "underwriter")
    theirs = client.post(url, json=promise, headers={**minted_bearer(settings, colleague), "Idempotency-Key": key})
    assert theirs.status_code == 201 and theirs.json()["actor"] == colleague.address
    chain.mine_at(world.w3.eth.get_block("latest")["timestamp"] + 2 * 60)  # past the minute: the same entry again is new
    assert client.post(url, json=called, headers=staff).status_code == 201

    with session_scope(settings) as session:
        logged = len(list(session.scalars(select(AuditEntry.seq).where(AuditEntry.action == "collections.action"))))
        chained = alerts(session, settings, rule="promise_chain")
    assert logged == len(_log(settings, loan_id)) == 6  # every entry audited once, no retry written
    # The colleague's promise follows the admin's still-pending one: that chain is real, and is the only alert.
    (chain_alert,) = chained
    assert f"recorded by {colleague.address}" in chain_alert.detail and f"entry {first.json()['id']}," in chain_alert.detail
