"""The retention schedule: KYC records rejected or superseded, and credit applications declined,
are erased past their retention period with no one asking, through erasure's own path (the erasure
log, whose replay after a restore erases them again, and the audit log). A rejection on identity
grounds keeps its blind index, so the ID still waits for two admins; a wallet whose data the AML
period keeps keeps them too."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from backend.audit.models import AuditEntry
from backend.backup.service import create_backup, restore_backup
from backend.chain.models import ChainEvent
from backend.chain.projection_models import EventSubjectRow, LoanRow
from backend.cli.main import app
from backend.db.session import session_scope
from backend.identity.kyc import review
from backend.identity.kyc.erasures import read_log
from backend.identity.kyc.retention import run_round
from backend.identity.kyc.submission import submit
from backend.identity.models import KycEvent, KycOrigin, KycRecord, utcnow
from backend.identity.schemas import KycCreate
from backend.scoring.models import CreditDecision
from backend.scoring.schemas import ApplicationCreate
from backend.scoring.service import score_application
from tests.anchoring.helpers import point_get_settings_at
from tests.identity.conftest import ADMIN, PNG, Applicant, identity_settings, make_applicant
from tests.lending.conftest import approved, borrower, chain_identity_settings, client  # noqa: F401
from tests.scoring.conftest import RISKY, SAMPLE

PAST = timedelta(days=181)  # past the 180-day default
runner = CliRunner()


@pytest.fixture
def settings(tmp_path, database_url):
    return identity_settings(tmp_path, database_url)


def _record(settings, person: Applicant, documents=(), wallet: str | None = None, origin: str | None = None) -> str:
    with session_scope(settings) as session:
        return submit(session, settings, wallet or person.account.address, KycCreate(**person.form()), list(documents),
                      client_address=origin).id  # fmt: skip


def _rejected(settings, person: Applicant, ground: str, ago: timedelta = PAST, origin: str | None = None) -> str:
    record_id = _record(settings, person, [PNG], origin=origin)  # an ID document: waits for a reviewer
    with session_scope(settings) as session:
        review.reject(session, settings, record_id, ADMIN.address, "does not match", ground=ground)
    _age(settings, record_id, ago)
    return record_id


def _age(settings, record_id: str, ago: timedelta) -> None:
    """The record's status changed `ago` (its whole history moved back)."""
    with session_scope(settings) as session:
        session.execute(update(KycEvent).where(KycEvent.record_id == record_id).values(at=utcnow() - ago))


def _get(settings, model, key):
    with session_scope(settings) as session:
        row = session.get(model, key)
        session.expunge(row)
    return row


def _entries(settings) -> list:
    log = read_log(settings)
    return log.entries if log else []


def test_old_rejected_and_superseded_records_are_erased_by_the_schedule_recent_ones_kept(settings):
    rejected_person, renewing, recent_person = make_applicant(2101), make_applicant(2102), make_applicant(2103)
    rejected = _rejected(settings, rejected_person, ground="other")
    superseded = _record(settings, renewing)
    renewing.address_line = "7 New Street"  # moved house: a renewal, approved, supersedes the first
    current = _record(settings, renewing)
    assert _get(settings, KycRecord, superseded).status == "superseded"
    _age(settings, superseded, PAST)
    recent = _rejected(settings, recent_person, ground="other", ago=timedelta(days=179))

    dry = run_round(settings, dry_run=True)
    assert sorted((e.wallet, tuple(e.records)) for e in dry.retention) == sorted(
        [(rejected_person.account.address, (rejected,)), (renewing.account.address, (superseded,))])  # fmt: skip
    assert _get(settings, KycRecord, rejected).wrapped_key is not None and _entries(settings) == []  # nothing done

    done = run_round(settings)
    assert sorted(e.wallet for e in done.retention) == sorted([rejected_person.account.address, renewing.account.address])
    for record_id in (rejected, superseded):
        row = _get(settings, KycRecord, record_id)
        assert (row.status, row.wrapped_key, row.blind_index) == ("erased", None, None) and row.erased_at is not None
    assert _get(settings, KycRecord, current).status == "approved"  # the live verification stays
    assert _get(settings, KycRecord, recent).wrapped_key is not None  # 179 days: kept
    logged = {e.wallet: e for e in _entries(settings)}
    assert logged[rejected_person.account.address].records == [rejected]
    assert {e.kind for e in logged.values()} == {"retention"} and all(e.outcome == "committed" for e in logged.values())
    with session_scope(settings) as session:
        audited = session.scalars(select(AuditEntry.subject).where(AuditEntry.action == "kyc.retention")).all()
    assert sorted(audited) == sorted([rejected_person.account.address, renewing.account.address])
    assert run_round(settings).count == 0 and len(_entries(settings)) == 2  # done once


def test_a_rejection_on_identity_grounds_keeps_its_blind_index_and_still_sends_the_id_to_two_admins(settings):
    person = make_applicant(2104)
    record_id = _rejected(settings, person, ground="identity")
    index = _get(settings, KycRecord, record_id).blind_index
    (erased,) = run_round(settings).retention
    assert (erased.records, erased.kept_index) == ([record_id], [record_id])
    row = _get(settings, KycRecord, record_id)
    assert (row.status, row.wrapped_key, row.blind_index) == ("erased", None, index)  # the data key gone, the index kept
    (entry,) = _entries(settings)
    assert entry.kept_index == [record_id]

    # The same national ID on a fresh wallet, months later: still never approved automatically.
    again = _record(settings, person, wallet=make_applicant(2105).account.address)
    flagged = _get(settings, KycRecord, again)
    assert flagged.status == "needs_review" and "DENIED_IDENTITY" in [r["code"] for r in flagged.reasons]


def test_a_restore_replays_a_retention_erasure_keeping_the_index_and_the_wallets_other_data(tmp_path, database_url):
    """A backup taken before the round, restored after it (the keys and the erasure log carried over)."""
    settings = identity_settings(tmp_path / "source", f"sqlite:///{tmp_path / 'source.db'}")
    person = make_applicant(2106)
    record_id = _rejected(settings, person, ground="identity", origin="81.2.69.142")
    index = _get(settings, KycRecord, record_id).blind_index
    backup = tmp_path / "before-retention.lcbk"
    create_backup(settings, backup)
    assert run_round(settings).count == 1

    target = identity_settings(tmp_path / "target", database_url)
    shutil.rmtree(target.keys_dir, ignore_errors=True)
    shutil.copytree(settings.keys_dir, target.keys_dir)
    report = restore_backup(target, backup)
    assert report.erasures_replayed == 1
    row = _get(target, KycRecord, record_id)
    assert (row.status, row.wrapped_key, row.blind_index) == ("erased", None, index)
    with session_scope(target) as session:  # the schedule reached that record only, not the wallet's origins
        assert session.scalars(select(KycOrigin).where(KycOrigin.wallet == person.account.address)).all()


def test_declined_applications_lose_their_inputs_past_their_retention_period(settings):
    person = make_applicant(2107)
    wallet = person.account.address
    _record(settings, person)
    with session_scope(settings) as session:
        old = score_application(session, ApplicationCreate(**RISKY), settings=settings, wallet=wallet)
        new = score_application(session, ApplicationCreate(**(RISKY | {"amount": 9100})), settings=settings, wallet=wallet)
        unused = score_application(session, ApplicationCreate(**SAMPLE), settings=settings, wallet=wallet)
    assert (old.decision, new.decision, unused.decision) == ("decline", "decline", "approve")
    with session_scope(settings) as session:
        for decision_id in (old.id, unused.id):
            session.get(CreditDecision, decision_id).created_at = utcnow() - PAST
    (erased,) = run_round(settings).retention
    assert (erased.wallet, erased.records, sorted(erased.decisions)) == (wallet, [], sorted([old.id, unused.id]))
    row = _get(settings, CreditDecision, old.id)
    assert (row.inputs, row.wallet, row.input_hash, row.salt) == ({}, None, None, None) and row.erased_at is not None
    assert row.outputs == {"score": old.score, "grade": old.grade, "pd": old.pd, "decision": "decline"}
    assert _get(settings, CreditDecision, new.id).inputs  # declined yesterday: kept
    assert _get(settings, CreditDecision, unused.id).inputs == {}  # approved, never a loan: as a declined one
    (entry,) = _entries(settings)
    assert entry.kind == "retention" and sorted(entry.cleared["credit_decisions"]) == sorted([old.id, unused.id])


def _relationship_ended(settings, wallet: str, ago: timedelta) -> None:
    """The chain index: a loan `wallet` borrowed, repaid `ago`."""
    zero, at = "0x" + "00" * 32, int((datetime.now(UTC) - ago).timestamp())
    with session_scope(settings) as session:
        event = ChainEvent(block_number=5, block_hash=zero, tx_hash=zero, tx_index=0, log_index=0, contract="LoanBook",
                           address="0x" + "22" * 20, event="LoanRepaid", args={"loanId": 4}, block_timestamp=at)  # fmt: skip
        session.add(event)
        session.flush()
        session.add(EventSubjectRow(event_id=event.id, loan_id=4, block_number=5, tx_hash=zero, log_index=0))
        session.add(LoanRow(loan_id=4, status="repaid", borrower=wallet, underwriter=ADMIN.address, terms_hash=zero,
                            agreement_hash=zero, decision_hash=zero, principal=1, apr_bps=1, installments=1,
                            installment_period=1, installment_amount=1, funding_deadline=1, origination_fee_bps=0,
                            created_block=1, block_number=5, tx_hash=zero, log_index=0))  # fmt: skip


def test_a_wallet_in_the_aml_period_keeps_its_old_rejected_records(settings):
    person = make_applicant(2108)
    rejected = _rejected(settings, person, ground="other")
    _relationship_ended(settings, person.account.address, timedelta(days=10))
    assert run_round(settings).count == 0  # customer due diligence of a relationship five years back
    assert _get(settings, KycRecord, rejected).wrapped_key is not None
    # Past it, nothing done since: the wallet is erased whole (below, `test_..._dormant_...`).
    assert run_round(settings, now=utcnow() + timedelta(days=1825)).dormant[0].records == [rejected]


def test_the_cli_runs_a_round_dry_or_for_real(settings, monkeypatch):
    point_get_settings_at(monkeypatch, settings)
    person = make_applicant(2109)
    rejected = _rejected(settings, person, ground="identity")
    dry = runner.invoke(app, ["kyc", "retention", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    shown = json.loads(dry.output)
    assert shown["dry_run"] and shown["retention"] == [{"wallet": person.account.address, "records": [rejected],
                                                        "kept_index": [rejected], "decisions": [], "offers": [],
                                                        "request": None, "last_activity": None}]  # fmt: skip
    assert _get(settings, KycRecord, rejected).wrapped_key is not None
    done = runner.invoke(app, ["kyc", "retention"])
    assert done.exit_code == 0, done.output
    assert "erased data of 1 wallet" in done.output and person.account.address in done.output
    assert _get(settings, KycRecord, rejected).wrapped_key is None


def test_the_retention_worker_runs_the_round(settings):
    from backend.workers.registry import WORKERS

    person = make_applicant(2110)
    rejected = _rejected(settings, person, ground="other")
    assert WORKERS["retention"].interval(settings) == settings.retention_interval == 3600.0
    assert WORKERS["retention"].step(settings) == 1  # one wallet's data erased
    assert _get(settings, KycRecord, rejected).wrapped_key is None
    assert WORKERS["retention"].step(settings) == 0  # idle: nothing left


INACTIVE = timedelta(days=1095)  # the default LOANCHAIN_RETENTION_INACTIVE_DAYS
AML = timedelta(days=1825)


def _quiet(settings, wallet: str, ago: timedelta) -> None:
    """Everything the wallet's person did on the platform (its KYC submissions and their decisions,
    applications, sign-in), `ago`."""
    at = utcnow() - ago
    with session_scope(settings) as session:
        session.execute(update(KycRecord).where(KycRecord.wallet == wallet).values(submitted_at=at, decided_at=at))
        session.execute(update(CreditDecision).where(CreditDecision.wallet == wallet).values(created_at=at))


def _approved(settings, person: Applicant) -> str:
    record_id = _record(settings, person)  # no ID document: level 1, approved at once
    assert _get(settings, KycRecord, record_id).status == "approved"
    return record_id


def test_a_verified_wallet_that_never_borrowed_nor_invested_is_erased_whole_once_inactive(settings):
    """No relationship, nothing done for three years: every record erased through erasure's path (the
    log entry a wallet's erasure, the attestation's revocation queued, audited `kyc.retention`). Kept:
    one a day short, one that signed in since, one holding a staff role, one borrowing in an open loan."""
    from backend.chain.outbox import get_intent
    from backend.identity.models import User
    from backend.identity.roles import grant_role

    gone, short, signed_in, staff, debtor = (make_applicant(2111 + i) for i in range(5))
    records = {p.account.address: _approved(settings, p) for p in (gone, short, signed_in, staff, debtor)}
    with session_scope(settings) as session:
        application = score_application(session, ApplicationCreate(**SAMPLE), settings=settings, wallet=gone.account.address)
        grant_role(session, "operator", staff.account.address, "underwriter")
        session.add(User(wallet=signed_in.account.address, last_login_at=utcnow() - timedelta(days=3)))
    for person in (gone, signed_in, staff, debtor):
        _quiet(settings, person.account.address, INACTIVE + timedelta(days=1))
    _quiet(settings, short.account.address, INACTIVE - timedelta(days=1))
    _relationship_ended(settings, debtor.account.address, timedelta(days=4000))
    with session_scope(settings) as session:  # ... and borrowed again: a loan still owing
        session.get(LoanRow, 4).status = "active"
    wallet = gone.account.address

    dry = run_round(settings, dry_run=True)
    assert [(e.wallet, e.records, e.decisions) for e in dry.dormant] == [(wallet, [records[wallet]], [application.id])]
    assert dry.dormant[0].last_activity is not None and _entries(settings) == []  # listed, nothing done

    done = run_round(settings)
    assert [(e.wallet, e.records) for e in done.dormant] == [(wallet, [records[wallet]])]
    row = _get(settings, KycRecord, records[wallet])
    assert (row.status, row.wrapped_key, row.blind_index) == ("erased", None, None)
    assert _get(settings, CreditDecision, application.id).inputs == {}
    for other in (short, signed_in, staff, debtor):
        assert _get(settings, KycRecord, records[other.account.address]).wrapped_key is not None
    (entry,) = _entries(settings)
    assert (entry.wallet, entry.records, entry.kind, entry.outcome) == (wallet, [records[wallet]], None, "committed")
    with session_scope(settings) as session:
        audited = session.scalar(select(AuditEntry).where(AuditEntry.action == "kyc.retention", AuditEntry.subject == wallet))
        assert audited is not None and audited.actor == "system"
        assert get_intent(session, f"kyc:revoke:{records[wallet]}").function == "revoke"  # the attestation revoked
    assert run_round(settings).count == 0  # done once


def test_a_wallet_past_its_aml_period_that_did_something_since_waits_for_the_inactivity_period(settings):
    """The relationship ended six years ago; a new KYC submission two years ago is activity since:
    erased once that is three years old, not at the AML period's end."""
    person = make_applicant(2116)
    wallet = person.account.address
    record_id = _approved(settings, person)
    _relationship_ended(settings, wallet, timedelta(days=6 * 365))
    _quiet(settings, wallet, timedelta(days=2 * 365))
    assert run_round(settings).count == 0
    assert _get(settings, KycRecord, record_id).wrapped_key is not None
    done = run_round(settings, now=utcnow() + timedelta(days=366))
    assert [(e.wallet, e.records) for e in done.dormant] == [(wallet, [record_id])]


def test_with_no_aml_period_a_customer_who_repaid_is_kept_for_the_inactivity_period(settings):
    """Where the law keeps nothing (an AML period of 0 days), a borrower who repaid last week and did
    nothing since is not erased unasked: it may well come back. Once inactive for the period, it is."""
    no_aml_period = settings.model_copy(update={"aml_retention_days": 0})
    person = make_applicant(2120)
    wallet = person.account.address
    record_id = _approved(no_aml_period, person)
    _quiet(no_aml_period, wallet, timedelta(days=8))
    _relationship_ended(no_aml_period, wallet, timedelta(days=7))
    assert run_round(no_aml_period).count == 0
    assert _get(no_aml_period, KycRecord, record_id).wrapped_key is not None
    done = run_round(no_aml_period, now=utcnow() + INACTIVE)
    assert [(e.wallet, e.records) for e in done.dormant] == [(wallet, [record_id])]


def test_a_scheduled_request_is_carried_out_by_its_own_path_not_the_dormancy_one(settings):
    """An erasure asked for in the AML period: the dormancy path leaves the wallet to the request
    (one erasure, `kyc.erase` naming the request), and never erases it before it is due."""
    from backend.identity.kyc.lifecycle import erase_wallet

    person = make_applicant(2117)
    wallet = person.account.address
    record_id = _approved(settings, person)
    _relationship_ended(settings, wallet, timedelta(days=10))
    with session_scope(settings) as session:
        erase_wallet(session, settings, wallet, wallet)  # scheduled
    _quiet(settings, wallet, timedelta(days=4000))
    assert run_round(settings).count == 0  # the AML period runs: neither path
    done = run_round(settings, now=utcnow() + AML)
    assert ([e.wallet for e in done.requests], done.dormant) == ([wallet], [])
    assert _get(settings, KycRecord, record_id).wrapped_key is None and len(_entries(settings)) == 1


def test_approved_applications_never_used_lose_their_inputs_and_offers_unless_an_offer_was_accepted(settings):
    """Approved, 181 days ago, never a loan: cleared as a declined one, its offer never accepted
    deleted with it (logged, so a replay deletes it too). One whose offer was accepted is a loan on
    its way, and is kept."""
    from backend.lending.models import LoanOffer

    person = make_applicant(2118)
    wallet = person.account.address
    _approved(settings, person)
    with session_scope(settings) as session:
        unused, accepted = (score_application(session, ApplicationCreate(**(SAMPLE | {"amount": a})), settings=settings,
                                              wallet=wallet) for a in (SAMPLE["amount"], SAMPLE["amount"] + 100))  # fmt: skip
    assert (unused.decision, accepted.decision) == ("approve", "approve")
    zero = "0x" + "00" * 32
    with session_scope(settings) as session:
        for decision, status, n in ((unused, "offered", 1), (accepted, "accepted", 2)):
            session.get(CreditDecision, decision.id).created_at = utcnow() - PAST
            session.add(LoanOffer(id=f"offer-{n}", decision_id=decision.id, borrower=wallet, status=status, amount=1000,
                                  quoted_apr_bps=900, chain_id=1, loan_book=ADMIN.address, asset_decimals=6, terms={},
                                  terms_hash=f"0x{n:064x}", agreement_cid="cid", agreement_hash=zero))  # fmt: skip

    (dry,) = run_round(settings, dry_run=True).retention
    assert (dry.decisions, dry.offers) == ([unused.id], ["offer-1"])
    (erased,) = run_round(settings).retention
    assert (erased.wallet, erased.records, erased.decisions, erased.offers) == (wallet, [], [unused.id], ["offer-1"])
    assert _get(settings, CreditDecision, unused.id).inputs == {}
    assert _get(settings, CreditDecision, accepted.id).inputs  # its offer accepted: kept
    with session_scope(settings) as session:
        assert session.get(LoanOffer, "offer-1") is None and session.get(LoanOffer, "offer-2") is not None
    (entry,) = _entries(settings)
    assert entry.cleared == {"credit_decisions": [unused.id], "loan_offers": ["offer-1"]}


def test_a_borrower_past_its_aml_period_that_did_nothing_since_is_erased_whole_and_revoked_on_chain(
    client, chain_identity_settings, borrower, approved, accounts  # noqa: F811
):
    """On the session chain: a loan made, never funded, cancelled (the relationship's end, the block's
    time). Nothing done since: the wallet is erased unasked once the AML period after it has passed,
    its attestation revoked by the outbox on chain; the loan's decision stays whole."""
    from backend.chain.projection_models import AttestationRow
    from tests.identity.test_erasure_requests import _cancel
    from tests.lending.conftest import created_loan, settle

    settings, wallet = chain_identity_settings, borrower.account.address
    offer = created_loan(client, settings, borrower, approved)
    ended = _cancel(settings, offer["loan_id"], accounts[3].address)
    with session_scope(settings) as session:
        (record_id,) = session.scalars(select(KycRecord.id).where(KycRecord.wallet == wallet))
    due, second = ended + AML, timedelta(seconds=1)
    assert wallet not in [e.wallet for e in run_round(settings, dry_run=True, now=due - second).dormant]
    (listed,) = [e for e in run_round(settings, dry_run=True, now=due + second).dormant if e.wallet == wallet]
    assert (listed.records, listed.decisions) == ([record_id], [])  # the loan's decision is the loan's

    done = run_round(settings, now=due + second)
    assert [e.records for e in done.dormant if e.wallet == wallet] == [[record_id]]
    assert client.get("/api/v1/kyc/me", headers=borrower.headers).json()["status"] == "erased"
    assert _get(settings, CreditDecision, approved["id"]).inputs  # kept whole, as the loan's credit decision
    (entry,) = [e for e in _entries(settings) if e.wallet == wallet]
    assert (entry.records, entry.kind) == ([record_id], None)
    with session_scope(settings) as session:
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "kyc.retention", AuditEntry.subject == wallet))
    settle(settings)
    with session_scope(settings) as session:
        assert session.get(AttestationRow, wallet).revoked


def test_the_cli_dry_run_lists_a_dormant_wallet_with_its_last_activity(settings, monkeypatch):
    point_get_settings_at(monkeypatch, settings)
    person = make_applicant(2119)
    record_id = _approved(settings, person)
    _quiet(settings, person.account.address, INACTIVE + timedelta(days=30))
    dry = runner.invoke(app, ["kyc", "retention", "--dry-run"], terminal_width=300)
    assert dry.exit_code == 0, dry.output
    since = f"{utcnow() - INACTIVE - timedelta(days=30):%Y-%m-%d}"
    assert "would erase data of 1 wallet" in dry.output and f"no activity since {since}" in dry.output
    assert person.account.address in dry.output and record_id in dry.output
    assert _get(settings, KycRecord, record_id).wrapped_key is not None
    shown = json.loads(runner.invoke(app, ["kyc", "retention", "--dry-run", "--json"]).output)
    assert [(e["wallet"], e["records"]) for e in shown["dormant"]] == [(person.account.address, [record_id])]


def test_a_dormant_wallets_rejection_on_identity_grounds_keeps_its_blind_index(settings):
    """The dormancy pass runs before the rest of the schedule, and on a book older than the inactivity
    period (the first round after an upgrade) reaches a rejection on identity grounds first: it is the
    schedule's erasure too, so the national ID keeps its index and still waits for two admins (an
    erasure that dropped it would free a stolen ID for any wallet). The wallet's other records go whole."""
    person = make_applicant(2131)
    wallet = person.account.address
    record_id = _rejected(settings, person, ground="identity", ago=INACTIVE + timedelta(days=1))
    _quiet(settings, wallet, INACTIVE + timedelta(days=1))
    index = _get(settings, KycRecord, record_id).blind_index

    done = run_round(settings)
    assert [(e.wallet, e.records, e.kept_index) for e in done.dormant] == [(wallet, [record_id], [record_id])]
    row = _get(settings, KycRecord, record_id)
    assert (row.status, row.wrapped_key, row.blind_index) == ("erased", None, index)
    (entry,) = _entries(settings)
    assert entry.kept_index == [record_id]  # a restore's replay keeps it too

    again = _record(settings, person, wallet=make_applicant(2132).account.address)
    flagged = _get(settings, KycRecord, again)
    assert flagged.status == "needs_review" and "DENIED_IDENTITY" in [r["code"] for r in flagged.reasons]
