"""An erasure asked for after a business relationship ended waits out the AML record-keeping period
(AMLD art. 40): it is recorded and answered 202 with its due date, the wallet's processing is
restricted meanwhile, and the retention worker carries it out through erasure's own path when due
(the erasure log once, the attestation revoked). On the session chain: the loan is made, funded
never, cancelled after its deadline, and the end of the relationship is the cancellation's block time
as the chain index holds it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from web3 import Web3

from backend.audit.models import AuditEntry
from backend.chain.deploy import deployed_addresses
from backend.chain.models import ChainEvent
from backend.chain.node import rpc_call
from backend.chain.projection_models import AttestationRow, EventSubjectRow, LoanRow, NoteBalanceRow
from backend.db.base import as_utc
from backend.db.session import session_scope
from backend.identity.kyc.erasures import read_log
from backend.identity.kyc.lifecycle import erase_wallet
from backend.identity.kyc.retention import run_round
from backend.identity.kyc.submission import submit as submit_record
from backend.identity.models import ErasureRequest, KycRecord
from backend.identity.schemas import ErasurePublic, ErasureScheduledPublic, KycCreate
from backend.lending.models import LoanOffer
from tests.identity.conftest import ADMIN, bearer, client_for, make_applicant
from tests.lending.conftest import (  # noqa: F401
    SAMPLE,
    approved,
    borrower,
    chain_identity_settings,
    client,
    created_loan,
    scored,
    settle,
)
from tests.lending.test_offers import second_wallet

DAY = 86_400
CANCEL_ABI = [{"type": "function", "name": "cancel", "stateMutability": "nonpayable",
               "inputs": [{"name": "loanId", "type": "uint256"}], "outputs": []}]  # fmt: skip
AML = timedelta(days=1825)  # the default LOANCHAIN_AML_RETENTION_DAYS
SECOND = timedelta(seconds=1)


def _cancel(settings, loan_id: int, sender: str) -> datetime:
    """Past its funding deadline, the loan (never funded) is cancelled by anyone: the relationship's
    end, at the block's time. Indexed, as the indexer worker would."""
    rpc_call(settings.rpc_url, "evm_increaseTime", [60 * DAY])
    rpc_call(settings.rpc_url, "evm_mine")
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url))
    book = w3.eth.contract(address=deployed_addresses(settings)["LoanBook"], abi=CANCEL_ABI)
    receipt = w3.eth.wait_for_transaction_receipt(book.functions.cancel(loan_id).transact({"from": sender}))
    settle(settings)
    return datetime.fromtimestamp(w3.eth.get_block(receipt["blockNumber"])["timestamp"], UTC)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _logged(settings, wallet: str) -> list:
    log = read_log(settings)
    return [e for e in (log.entries if log else []) if e.wallet == wallet and e.standing]


def _requests(settings, wallet: str) -> list[ErasureRequest]:
    with session_scope(settings) as session:
        rows = list(session.scalars(select(ErasureRequest).where(ErasureRequest.wallet == wallet)))
        session.expunge_all()
    return rows


def test_an_erasure_after_a_loan_waits_out_the_aml_period_then_the_worker_carries_it_out_once(
    client, chain_identity_settings, borrower, approved, accounts  # noqa: F811
):
    settings = chain_identity_settings
    wallet = borrower.account.address
    offer = created_loan(client, settings, borrower, approved)
    assert client.delete("/api/v1/kyc/me", headers=borrower.headers).status_code == 409  # being funded: a debt

    ended = _cancel(settings, offer["loan_id"], accounts[3].address)
    asked = client.delete("/api/v1/kyc/me", headers=borrower.headers)
    assert asked.status_code == 202, asked.json()
    body = asked.json()
    assert (body["status"], body["wallet"], body["requested_by"]) == ("scheduled", wallet, wallet)
    assert _at(body["relationship_ended_at"]) == ended and _at(body["erase_after"]) == ended + AML
    assert "AML record-keeping period" in body["reason"]
    mine = client.get("/api/v1/kyc/me", headers=borrower.headers).json()
    assert mine["status"] == "approved" and mine["erasure"] == body  # nothing erased; the owner sees its schedule
    assert _logged(settings, wallet) == []

    # An admin's request meanwhile is the same one: the person's, at its time.
    again = client.delete(f"/api/v1/admin/kyc/wallets/{wallet}", headers=bearer(client, ADMIN))
    assert again.status_code == 202
    assert {k: again.json()[k] for k in ("requested_at", "requested_by", "erase_after")} == \
        {k: body[k] for k in ("requested_at", "requested_by", "erase_after")}  # fmt: skip
    assert len(_requests(settings, wallet)) == 1

    # Restricted processing: a reveal only on the grounds the data is kept for.
    with session_scope(settings) as session:
        record_id = session.scalar(select(KycRecord.id).where(KycRecord.wallet == wallet))
    admin = bearer(client, ADMIN)
    refused = client.post(f"/api/v1/admin/kyc/{record_id}/reveal", json={"reason": "review"}, headers=admin)
    assert refused.status_code == 409 and refused.json()["context"]["allowed_reasons"] == ["fraud_investigation", "legal_request"]
    assert "restricted" in refused.json()["detail"]
    assert client.post(f"/api/v1/admin/kyc/{record_id}/reveal", json={"reason": "legal_request"}, headers=admin).status_code == 200

    due = ended + AML
    assert run_round(settings, now=due - SECOND).requests == []  # a second early: nothing
    assert _logged(settings, wallet) == []
    done = run_round(settings, now=due + SECOND)
    assert [(e.wallet, e.records) for e in done.requests] == [(wallet, [record_id])]
    assert run_round(settings, now=due + 2 * SECOND).requests == []  # carried out once
    (entry,) = _logged(settings, wallet)
    assert entry.records == [record_id] and entry.kind is None  # a wallet's erasure, replayed as one

    assert client.get("/api/v1/kyc/me", headers=borrower.headers).json() | {"records": None, "current": None} == \
        {"wallet": wallet, "status": "erased", "roles": [], "records": None, "current": None, "erasure": None}  # fmt: skip
    (request,) = _requests(settings, wallet)
    assert (request.status, request.erasure, request.open_for) == ("done", entry.id, None)
    with session_scope(settings) as session:
        erased = session.scalar(select(AuditEntry).where(AuditEntry.action == "kyc.erase", AuditEntry.subject == wallet))
        assert erased is not None and erased.actor == "system"
    settle(settings)  # the revocation goes out as for any erasure
    with session_scope(settings) as session:
        assert session.get(AttestationRow, wallet).revoked


def test_a_loan_taken_before_the_due_date_moves_the_erasure_to_the_new_relationships_end(
    client, chain_identity_settings, borrower, approved, accounts  # noqa: F811
):
    settings = chain_identity_settings
    wallet = borrower.account.address
    first = created_loan(client, settings, borrower, approved)
    ended = _cancel(settings, first["loan_id"], accounts[3].address)
    assert client.delete("/api/v1/kyc/me", headers=borrower.headers).status_code == 202
    due = ended + AML

    decision = scored(client, borrower)
    assert decision["decision"] == "approve", decision
    second = created_loan(client, settings, borrower, decision)
    assert run_round(settings, now=due + SECOND).requests == []  # a loan is open again: no erasure
    (request,) = _requests(settings, wallet)
    assert (request.status, request.erase_after) == ("scheduled", None)

    ended_again = _cancel(settings, second["loan_id"], accounts[3].address)
    assert run_round(settings, now=due + SECOND).requests == []  # the old due date no longer counts
    (request,) = _requests(settings, wallet)
    assert request.erase_after == ended_again + AML
    assert _logged(settings, wallet) == []
    assert [e.wallet for e in run_round(settings, now=ended_again + AML + SECOND).requests] == [wallet]
    assert len(_logged(settings, wallet)) == 1


def test_a_wallet_that_only_applied_is_erased_at_once(settings):
    """Rejected, never borrowed nor invested: no relationship, no AML period."""
    person = make_applicant(2201)
    with session_scope(settings) as session:
        submit_record(session, settings, person.account.address, KycCreate(**person.form()), [])
    with session_scope(settings) as session:
        erased = erase_wallet(session, settings, person.account.address, person.account.address)
    assert isinstance(erased, ErasurePublic) and len(erased.erased_records) == 1
    assert _requests(settings, person.account.address) == [] and len(_logged(settings, person.account.address)) == 1


def test_an_investor_holding_notes_of_an_open_loan_is_scheduled_until_the_aml_period_after_it(settings):
    """No debt of theirs, so no refusal; the relationship is open while they hold the notes: the
    request waits, undated, and is dated once the notes are gone."""
    person, zero = make_applicant(2202), "0x" + "00" * 32
    wallet = person.account.address
    with session_scope(settings) as session:
        submit_record(session, settings, wallet, KycCreate(**person.form()), [])
        session.add(LoanRow(loan_id=3, status="active", borrower=ADMIN.address, underwriter=ADMIN.address, terms_hash=zero,
                            agreement_hash=zero, decision_hash=zero, principal=10, apr_bps=1, installments=1,
                            installment_period=1, installment_amount=1, funding_deadline=1, origination_fee_bps=0,
                            created_block=1, block_number=1, tx_hash=zero, log_index=0))  # fmt: skip
        session.add(NoteBalanceRow(loan_id=3, holder=wallet, balance=10, block_number=1, tx_hash=zero, log_index=0))
    with session_scope(settings) as session:
        scheduled = erase_wallet(session, settings, wallet, wallet)
    assert isinstance(scheduled, ErasureScheduledPublic)
    assert (scheduled.erase_after, scheduled.relationship_ended_at) == (None, None)
    assert scheduled.reason == ("the business relationship is still open (the wallet holds notes of loan 3 not yet repaid): "
                                "its customer due diligence records are kept until the AML record-keeping period after it "
                                "ends has passed, a date set once it ends")  # fmt: skip
    sold = datetime.now(UTC) - timedelta(days=3)
    with session_scope(settings) as session:  # the notes sold: a transfer naming the wallet, three days ago
        session.get(NoteBalanceRow, (3, wallet)).balance = 0
        event = ChainEvent(block_number=2, block_hash=zero, tx_hash=zero, tx_index=0, log_index=0, contract="LoanBook",
                           address=ADMIN.address, event="TransferSingle", args={"from": wallet},
                           block_timestamp=int(sold.timestamp()))  # fmt: skip
        session.add(event)
        session.flush()
        session.add(EventSubjectRow(event_id=event.id, address=wallet, block_number=2, tx_hash=zero, log_index=0))
    assert run_round(settings).requests == []
    (request,) = _requests(settings, wallet)
    assert request.erase_after == datetime.fromtimestamp(int(sold.timestamp()), UTC) + AML
    assert [e.wallet for e in run_round(settings, now=request.erase_after + SECOND).requests] == [wallet]


def _holding_notes(settings, wallet: str, documents=()) -> str:
    """A KYC record of `wallet`, which holds notes of an open loan: its erasure waits (a relationship)."""
    person, zero = make_applicant(2203), "0x" + "00" * 32
    with session_scope(settings) as session:
        record_id = submit_record(session, settings, wallet, KycCreate(**person.form()), list(documents)).id
        session.add(LoanRow(loan_id=3, status="active", borrower=ADMIN.address, underwriter=ADMIN.address, terms_hash=zero,
                            agreement_hash=zero, decision_hash=zero, principal=10, apr_bps=1, installments=1,
                            installment_period=1, installment_amount=1, funding_deadline=1, origination_fee_bps=0,
                            created_block=1, block_number=1, tx_hash=zero, log_index=0))  # fmt: skip
        session.add(NoteBalanceRow(loan_id=3, holder=wallet, balance=10, block_number=1, tx_hash=zero, log_index=0))
    return record_id


def test_a_restricted_wallets_id_documents_open_only_for_what_the_data_is_kept_for(settings):
    """An ID document shows all a reveal does and more (the photo): while an erasure is scheduled, an
    admin opens one only with `reason` fraud_investigation or legal_request (409 otherwise, nothing
    kept or audited), the reason in the view's audit entry, as a reveal."""
    from tests.identity.conftest import PNG, client_for, minted_bearer

    wallet = make_applicant(2204).account.address
    record_id = _holding_notes(settings, wallet, [PNG])
    with session_scope(settings) as session:
        assert isinstance(erase_wallet(session, settings, wallet, wallet), ErasureScheduledPublic)
    admin, url = minted_bearer(settings, ADMIN), f"/api/v1/admin/kyc/{record_id}/documents/0"
    with client_for(settings) as api:
        for refused in (api.get(url, headers=admin), api.get(url, params={"reason": "review"}, headers=admin)):
            assert refused.status_code == 409, refused.text
            assert refused.json()["context"]["allowed_reasons"] == ["fraud_investigation", "legal_request"]
        with session_scope(settings) as session:
            assert session.scalar(select(AuditEntry).where(AuditEntry.action == "kyc.document_view")) is None
        opened = api.get(url, params={"reason": "legal_request"}, headers=admin)
        assert opened.status_code == 200 and opened.content == PNG
    from backend.audit.hashing import payload_hash
    from backend.identity.models import KycDocumentView

    with session_scope(settings) as session:
        (viewed,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "kyc.document_view"))
        view = session.scalars(select(KycDocumentView)).one()
        assert viewed.payload_hash == payload_hash({"view_id": view.id, "record_id": record_id, "wallet": wallet,
                                                    "document": 0, "reason": "legal_request"})  # fmt: skip


def test_the_owner_reads_an_admins_request_as_staffs_never_the_admins_wallet(settings):
    """A staff member's wallet is their own personal data (GDPR art. 15(4)), as everywhere the owner
    reads what staff did (`reviewer`, `staff`): the schedule an admin asked for names `staff` to the
    owner, in GET /kyc/me and in the 202 of the owner's own request; the admin's view keeps the wallet."""
    from tests.identity.conftest import client_for, minted_bearer

    person = make_applicant(2205)
    wallet = person.account.address
    _holding_notes(settings, wallet)
    with client_for(settings) as api:
        admin, owner = minted_bearer(settings, ADMIN), minted_bearer(settings, person.account)
        asked = api.delete(f"/api/v1/admin/kyc/wallets/{wallet}", headers=admin)
        assert asked.status_code == 202 and asked.json()["requested_by"] == ADMIN.address
        mine = api.get("/api/v1/kyc/me", headers=owner).json()["erasure"]
        again = api.delete("/api/v1/kyc/me", headers=owner)
    assert mine["requested_by"] == "staff" and ADMIN.address.lower() not in str(mine).lower()
    assert again.status_code == 202 and again.json()["requested_by"] == "staff"


def test_an_erasure_at_the_moment_an_offer_is_accepted_waits_for_the_acceptance_then_refuses(
    client, chain_identity_settings, borrower, approved  # noqa: F811
):
    """The acceptance's transaction is open (its createLoan queued, not committed) when an erasure of the
    same wallet begins: the erasure must not read the wallet as borrowing nothing, erase it, and queue
    its revocation behind a createLoan that makes a loan to a debtor no one can identify. It waits for
    the acceptance (the acceptance's per-wallet lock; SQLite's write lock), then refuses (409)."""
    import threading
    import time

    from backend.db.session import session_factory
    from backend.errors import Conflict
    from backend.lending.offers import accept_offer
    from backend.lending.schemas import OfferAccept
    from tests.lending.conftest import sign_typed

    settings, wallet = chain_identity_settings, borrower.account.address
    offer = client.post("/api/v1/offers", json={"decision_id": approved["id"]}, headers=borrower.headers).json()
    signature = sign_typed(borrower.account, offer["typed_data"])
    accepting = session_factory(settings)()
    accept_offer(accepting, settings, wallet, offer["id"], OfferAccept(signature=signature))
    outcome: list = []

    def erase() -> None:
        try:
            with session_scope(settings) as session:
                outcome.append(erase_wallet(session, settings, wallet, wallet))
        except Exception as exc:  # noqa: BLE001 - the answer under test
            outcome.append(exc)

    eraser = threading.Thread(target=erase)
    eraser.start()
    time.sleep(1.5)  # the erasure has begun, and waits or has read
    accepting.commit()
    accepting.close()
    eraser.join(60)
    (answer,) = outcome
    assert isinstance(answer, Conflict) and "becoming a loan" in str(answer), answer
    with session_scope(settings) as session:
        assert all(r.wrapped_key is not None for r in session.scalars(select(KycRecord).where(KycRecord.wallet == wallet)))


def test_an_investor_whose_mandate_funding_is_in_flight_is_scheduled_not_erased(settings):
    """The keeper's `fundWithMandate` for the wallet is queued (or mined, not yet indexed): the wallet
    is investing, a business relationship the index does not show yet. Erased at once, the funding
    would land after it: an investor with no customer due diligence kept. Scheduled instead, undated."""
    from backend.chain.models import Intent
    from backend.lending.mandates import FUNDING_KEY_PREFIX
    from backend.lending.models import FundingMandateRow

    person = make_applicant(2206)
    wallet, mandate_hash = person.account.address, "0x" + "ab" * 32
    with session_scope(settings) as session:
        submit_record(session, settings, wallet, KycCreate(**person.form()), [])
        session.add(FundingMandateRow(mandate_hash=mandate_hash, wallet=wallet, chain_id=31337, agent=ADMIN.address,
                                      mandate={}, expiry=2**40, signature="0x"))  # fmt: skip
        session.add(Intent(key=f"{FUNDING_KEY_PREFIX}{mandate_hash}:7:1", contract="FundingAgent",
                           function="fundWithMandate", args=[7, 1_000_000, [], "0x"], status="pending"))  # fmt: skip
    with session_scope(settings) as session:
        scheduled = erase_wallet(session, settings, wallet, wallet)
    assert isinstance(scheduled, ErasureScheduledPublic), scheduled
    assert scheduled.erase_after is None and "loan 7" in scheduled.reason
    assert _logged(settings, wallet) == []


def test_an_offer_made_while_the_wallets_erasure_commits_is_refused_not_left_behind(
    client, chain_identity_settings, borrower, approved  # noqa: F811
):
    """The erasure's transaction is open (the decision cleared, the wallet's offers deleted, not yet
    committed) when the borrower asks for an offer on that decision: the offer must not be written after
    the erasure commits, an offer naming the erased wallet left behind. It waits, then is refused (409)."""
    import threading
    import time

    from backend.db.session import session_factory
    from backend.errors import Conflict, NotFound
    from backend.lending.models import LoanOffer
    from backend.lending.offers import create_offer
    from backend.lending.schemas import OfferCreate

    settings, wallet = chain_identity_settings, borrower.account.address
    erasing = session_factory(settings)()
    assert isinstance(erase_wallet(erasing, settings, wallet, wallet), ErasurePublic)
    outcome: list = []

    def offer() -> None:
        try:
            with session_scope(settings) as session:
                outcome.append(create_offer(session, settings, wallet, OfferCreate(decision_id=approved["id"])))
        except Exception as exc:  # noqa: BLE001 - the answer under test
            outcome.append(exc)

    asking = threading.Thread(target=offer)
    asking.start()
    time.sleep(1.5)  # the offer's request has begun, and waits or has read
    erasing.commit()
    erasing.close()
    asking.join(60)
    (answer,) = outcome
    # Refused either way: waiting for the erasure (a loaded machine may start the request after it
    # committed, when the decision is no longer the wallet's: 404).
    assert isinstance(answer, Conflict | NotFound), answer
    with session_scope(settings) as session:
        assert session.scalar(select(LoanOffer).where(LoanOffer.borrower == wallet)) is None


def test_an_erasure_waits_until_the_wallets_loans_leave_its_persons_30_day_count(
    client, chain_identity_settings, borrower, approved  # noqa: F811
):
    """A wallet is in its person through its KYC records: erased, its loans leave the person's count of
    new loans (LOANCHAIN_BORROWER_MAX_NEW_LOANS_30D), and with an AML period under 30 days a person
    who took the most allowed on one wallet, repaid early and erased it, borrowed again at once on
    another (review 2026-12-01). The erasure now waits until the last of them leaves the count."""
    settings = chain_identity_settings.model_copy(update={"aml_retention_days": 0})
    first = created_loan(client, settings, borrower, approved)
    with session_scope(settings) as session:
        on_ledger = -(-session.get(LoanRow, first["loan_id"]).installment_amount // 10**6)
    second = created_loan(client, settings, borrower,
                          scored(client, borrower, {**SAMPLE, "existing_loans_with_us": 1, "monthly_debt_payments": on_ledger}))  # fmt: skip
    with session_scope(settings) as session:  # both paid off early, as the index shows it
        for offer in (first, second):
            session.get(LoanRow, offer["loan_id"]).status = "repaid"
        taken = max(as_utc(session.get(LoanOffer, offer["id"]).accepted_at) for offer in (first, second))
    other = second_wallet(client, settings, 400)  # the person's other wallet
    third = scored(client, other, SAMPLE)

    with client_for(settings) as short:
        asked = short.delete("/api/v1/kyc/me", headers=borrower.headers)
        assert asked.status_code == 202, asked.json()
        due = taken + timedelta(days=30)
        assert _at(asked.json()["erase_after"]) == due
        assert "limit of new loans in 30 days" in asked.json()["reason"]
        assert run_round(settings, now=due - SECOND).requests == []
        refused = short.post("/api/v1/offers", json={"decision_id": third["id"]}, headers=other.headers)
        assert refused.status_code == 409 and refused.json()["context"]["field"] == "borrower_max_new_loans_30d"
        assert [e.wallet for e in run_round(settings, now=due + SECOND).requests] == [borrower.account.address]
