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
    assert (erased.wallet, erased.records, erased.decisions) == (wallet, [], [old.id])
    row = _get(settings, CreditDecision, old.id)
    assert (row.inputs, row.wallet, row.input_hash, row.salt) == ({}, None, None, None) and row.erased_at is not None
    assert row.outputs == {"score": old.score, "grade": old.grade, "pd": old.pd, "decision": "decline"}
    assert _get(settings, CreditDecision, new.id).inputs  # declined yesterday: kept
    assert _get(settings, CreditDecision, unused.id).inputs  # approved: not this schedule's
    (entry,) = _entries(settings)
    assert (entry.kind, entry.cleared) == ("retention", {"credit_decisions": [old.id]})


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
    assert run_round(settings, now=utcnow() + timedelta(days=1825)).retention[0].records == [rejected]


def test_the_cli_runs_a_round_dry_or_for_real(settings, monkeypatch):
    point_get_settings_at(monkeypatch, settings)
    person = make_applicant(2109)
    rejected = _rejected(settings, person, ground="identity")
    dry = runner.invoke(app, ["kyc", "retention", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    shown = json.loads(dry.output)
    assert shown["dry_run"] and shown["retention"] == [{"wallet": person.account.address, "records": [rejected],
                                                        "kept_index": [rejected], "decisions": [], "request": None}]  # fmt: skip
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
