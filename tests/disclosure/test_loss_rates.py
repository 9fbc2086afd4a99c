"""Auditor finding #6: loss rates a growing book cannot flatter. The gross charge-off rate counts
each loan's principal per year it was outstanding; matured default counts per grade only count
loans that ran their whole term (and LoanBook's 120 days to default after it)."""

from __future__ import annotations

import pytest

from backend.chain.models import ChainEvent, IndexedBlock, IndexerCheckpoint
from backend.chain.projection_models import LoanRow, RepaymentRow
from backend.db import migrate
from backend.db.session import session_scope
from backend.disclosure.bench import proven_decision
from backend.disclosure.service import platform_disclosure
from backend.scoring.models import CreditDecision
from tests.conftest import make_settings

DAY, YEAR = 86_400, 365 * 86_400
T0 = 1_700_000_000


def _hash(n: int) -> str:
    return "0x" + f"{n:064x}"


def _event(session, n: int, event: str, at: int, args: dict) -> ChainEvent:
    row = ChainEvent(block_number=n, block_hash=_hash(n), tx_hash=_hash(1000 + n), tx_index=0, log_index=0,
                     contract="LoanBook", address="0x" + "66" * 20, event=event, args=args, block_timestamp=at)  # fmt: skip
    session.add(row)
    session.flush()
    return row


def _loan(session, loan_id: int, status: str, principal: int, outstanding: int, start: int, grade: str, **kw) -> None:
    decision = CreditDecision(**proven_decision(f"d{loan_id}", grade, 0.1))
    h = decision.decision_hash
    session.add(decision)
    session.add(LoanRow(loan_id=loan_id, status=status, borrower="0x" + "11" * 20, underwriter="0x" + "22" * 20,
                        terms_hash=h, agreement_hash=h, decision_hash=h, principal=principal, apr_bps=1000,
                        installments=kw.pop("installments", 12), installment_period=30 * DAY, installment_amount=1,
                        funding_deadline=0, origination_fee_bps=0, principal_outstanding=outstanding, start_time=start,
                        created_block=1, block_number=1, tx_hash=h, log_index=0, **kw))  # fmt: skip


def test_gross_charge_offs_a_year_of_principal_outstanding_and_matured_defaults_by_grade(tmp_path):
    settings = make_settings(tmp_path)
    migrate.upgrade(settings)
    now = T0 + 2 * YEAR
    with session_scope(settings) as session:
        # A: 1,000 out for a year, then paid down to 400 for a month, then defaulted with 400 left;
        #    100 recovered since, 300 of cover. B: 2,000 repaid in full after half a year.
        # C: 6,000 disbursed a day before the figures' time: a growing book's young loan.
        # (a debt of 450 at default: 350 still recoverable, none of it yet the reserve's)
        _loan(session, 1, "defaulted", 1_000, 400, T0, "A", cover=300, recovered=100, recoverable=350)
        paid = _event(session, 2, "LoanPayment", T0 + YEAR, {"loanId": "1"})
        session.add(RepaymentRow(event_id=paid.id, loan_id=1, kind="payment", payer="0x" + "11" * 20, installment=1,
                                 amount=600, principal_paid=600, principal_outstanding=400, block_number=2,
                                 tx_hash=paid.tx_hash, log_index=0))  # fmt: skip
        _event(session, 3, "LoanDefaulted", T0 + YEAR + 30 * DAY, {"loanId": "1"})
        _loan(session, 2, "repaid", 2_000, 0, T0, "A", principal_paid=2_000)
        repaid = _event(session, 4, "LoanPayment", T0 + YEAR // 2, {"loanId": "2"})
        session.add(RepaymentRow(event_id=repaid.id, loan_id=2, kind="prepayment", payer="0x" + "11" * 20,
                                 amount=2_000, principal_paid=2_000, principal_outstanding=0, block_number=4,
                                 tx_hash=repaid.tx_hash, log_index=0))  # fmt: skip
        _loan(session, 3, "active", 6_000, 6_000, now - DAY, "B")
        session.add(IndexedBlock(number=5, hash=_hash(5), parent_hash=_hash(4), timestamp=now))
        session.add(IndexerCheckpoint(name="main", block_number=5, block_hash=_hash(5), deployment_hash="x"))
    with session_scope(settings) as session:
        report = platform_disclosure(session)

    principal_seconds = 1_000 * YEAR + 400 * 30 * DAY + 2_000 * (YEAR // 2) + 6_000 * DAY
    assert report.defaults.gross_charge_off == 400 - 100  # before the reserve's 300 of cover
    assert report.defaults.net_loss == 0
    assert report.gross_charge_off_rate == pytest.approx(300 * YEAR / principal_seconds)  # about 14% a year
    assert report.average_principal_outstanding == round(principal_seconds / (2 * YEAR))
    assert report.net_loss_rate == 0.0 and report.default_rate == 400 / 9_000  # the young loan dilutes these
    # Matured: the last installment (12 x 30 days) due 120 days or more before the figures' time.
    a, b = report.by_grade
    assert (a.grade, a.loans, a.matured_loans, a.matured_defaulted, a.matured_default_rate) == ("A", 2, 2, 1, 0.5)
    assert (b.grade, b.loans, b.matured_loans, b.matured_defaulted, b.matured_default_rate) == ("B", 1, 0, 0, None)


def test_a_fee_only_default_is_counted_apart_from_credit_defaults(tmp_path):
    """The review's L2: a borrower paid every installment, left a late fee unpaid, and LoanBook
    marked the loan defaulted. It is a default on chain (defaults.count, the vintage's
    defaulted_loans), counted as fee-only beside each; the matured default rate, compared with a PD,
    and the roll rates count only credit defaults (an installment unsettled), so the grade shows
    0 of 2 matured loans defaulted, with 1 fee-only default, not a 50% default rate."""
    from backend.servicing.roll_rates import roll_rates

    settings = make_settings(tmp_path)
    migrate.upgrade(settings)
    now = T0 + 600 * DAY
    with session_scope(settings) as session:
        _loan(session, 1, "defaulted", 1_000, 0, T0, "B", installments_settled=12, principal_paid=1_000,
              fees_assessed=15, recoverable=15)
        _loan(session, 2, "repaid", 1_000, 0, T0, "B", installments_settled=12, principal_paid=1_000)
        _loan(session, 3, "defaulted", 1_000, 400, T0, "C", installments_settled=7, principal_paid=600, recoverable=450)
        session.add(IndexedBlock(number=5, hash=_hash(5), parent_hash=_hash(4), timestamp=now))
        session.add(IndexerCheckpoint(name="main", block_number=5, block_hash=_hash(5), deployment_hash="x"))
    with session_scope(settings) as session:
        report = platform_disclosure(session)
        rates = roll_rates(session, {})
    b, c = report.by_grade
    assert (report.defaults.count, report.defaults.fee_only, report.defaults.principal_at_default) == (2, 1, 400)
    assert (b.grade, b.matured_loans, b.matured_defaulted, b.matured_fee_only_defaults, b.matured_default_rate) == (
        "B", 2, 0, 1, 0.0)
    assert (c.matured_loans, c.matured_defaulted, c.matured_fee_only_defaults, c.matured_default_rate) == (1, 1, 0, 1.0)
    (vintage,) = report.vintages
    assert (vintage.defaulted_loans, vintage.fee_only_defaults) == (2, 1)
    assert rates["defaultable"].defaulted == 1  # loan 3's credit default only, as matured_defaulted


def test_a_loan_has_matured_only_once_loanbook_could_mark_it_defaulted():
    """LoanBook.markDefault needs block.timestamp > defaultableAt (its last installment's due date +
    120 days for a loan that missed it): at that second the loan cannot be defaulted, so it is not yet
    a matured loan that did not default (review, unconfirmed item)."""
    from backend.chain.deploy_params import DEFAULT_AFTER
    from backend.disclosure.loss_rates import matured

    loan = LoanRow(start_time=T0, installments=12, installment_period=30 * DAY, installments_settled=11)
    threshold = loan.defaultable_at
    assert threshold == T0 + 12 * 30 * DAY + DEFAULT_AFTER
    assert not matured(loan, threshold) and matured(loan, threshold + 1)
