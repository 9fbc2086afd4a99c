"""The fraud review's M3: a bust-out pays the first installment of each loan, so that
`first_payment_default` never fires, then stops. `early_payment_default` flags a loan whose second
or third installment went 16+ days unpaid (the borrower told so, or the loan defaulted before
settling it), from the index and the servicing notices alone."""

from __future__ import annotations

from backend.audit.monitoring import alerts
from backend.chain.projection_models import LoanRow
from backend.db.session import session_scope
from backend.servicing.models import ServicingNotice
from tests.identity.conftest import identity_settings

BORROWER, HOLDER, PERIOD, START = "0x" + "b1" * 20, "0x" + "c2" * 20, 30 * 86_400, 1_700_000_000


def _loan(loan_id: int, status: str, settled: int) -> LoanRow:
    return LoanRow(
        loan_id=loan_id, status=status, borrower=BORROWER, underwriter="0x" + "33" * 20, terms_hash=f"0x{loan_id:064x}",
        agreement_hash="0x" + "55" * 32, decision_hash="0x" + "77" * 32, principal=3_800 * 10**6, apr_bps=600,
        installments=12, installment_period=PERIOD, installment_amount=326 * 10**6, funding_deadline=0,
        origination_fee_bps=0, created_block=1, block_number=1, tx_hash=f"0x{loan_id:064x}", log_index=0,
        start_time=START, installments_settled=settled, recoverable=1 if status == "defaulted" else 0,
    )  # fmt: skip


def _late(loan_id: int, installment: int, recipient: str = BORROWER) -> ServicingNotice:
    return ServicingNotice(loan_id=loan_id, borrower=BORROWER, recipient=recipient, installment=installment, kind="late",
                           due_date=START + installment * PERIOD, amount=326 * 10**6, message="late")  # fmt: skip


def test_early_payment_default_flags_a_loan_that_paid_one_installment_then_stopped(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url)
    with session_scope(settings) as session:
        session.add_all([
            _loan(1, "active", 1), _late(1, 2),  # paid the first, the second 16+ days late
            _loan(2, "defaulted", 2),  # paid two, defaulted on the third
            _loan(3, "defaulted", 3),  # paid three before its default: not early
            _loan(4, "active", 1), _late(4, 2, recipient=HOLDER),  # only a note holder was told: not the borrower's notice
            _loan(5, "defaulted", 0),  # nothing paid: first_payment_default's, not this rule's
            _loan(6, "active", 3), _late(6, 4),  # the fourth installment late: past the early ones
        ])  # fmt: skip
    with session_scope(settings) as session:
        early = alerts(session, settings, rule="early_payment_default")
        first = alerts(session, settings, rule="first_payment_default")
    assert sorted((a.loan_id, a.timestamp) for a in early) == [(1, START + 2 * PERIOD), (2, START + 3 * PERIOD)]
    assert all(a.wallets == [BORROWER] and a.amount == 3_800 * 10**6 for a in early)
    assert "installment 2" in next(a.detail for a in early if a.loan_id == 1) and "bust-out" in early[0].detail
    assert [a.loan_id for a in first] == [5]
    assert len({a.key for a in early}) == 2
