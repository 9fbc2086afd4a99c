"""LoanRow's derived facts, as Python properties and as the query conditions beside them."""

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from backend.chain.projection_models import LoanRow


def _loan(loan_id: int, status: str, outstanding: int) -> LoanRow:
    zero = dict(principal=12_000, funded=0, origination_fee=0, interest_paid=0, principal_paid=0, fees_assessed=0,
                fees_paid=0, cover=0, recovered=0, recoverable=0, claimed=0)  # fmt: skip
    return LoanRow(loan_id=loan_id, status=status, principal_outstanding=outstanding, borrower="0x" + "11" * 20,
                   underwriter="0x" + "22" * 20, terms_hash="0x" + "00" * 32, agreement_hash="0x" + "00" * 32,
                   decision_hash="0x" + "00" * 32, apr_bps=1_200, installments=12, installment_period=30 * 86_400,
                   installment_amount=1_066, funding_deadline=1, origination_fee_bps=100, last_installment=12,
                   installments_settled=12, billed_unpaid=0, created_block=1, block_number=1, tx_hash="0x" + "00" * 32,
                   log_index=0, **zero)  # fmt: skip


def test_an_active_loan_owing_only_late_fees_does_not_trade():
    """LoanBook keeps a loan Active while late fees are owed after its principal is repaid, and
    NoteMarket prices notes as a share of the principal outstanding: such a loan's notes would trade
    for nothing, so the keeper, the order listings and the quotes leave it out."""
    loans = [_loan(1, "active", 5_000), _loan(2, "active", 0), _loan(3, "repaid", 0), _loan(4, "funding", 12_000)]
    assert [loan.trades for loan in loans] == [True, False, False, False]
    engine = create_engine("sqlite://")
    LoanRow.metadata.create_all(engine, tables=[LoanRow.__table__])
    with Session(engine) as session:
        session.add_all(loans)
        session.flush()
        assert session.scalars(select(LoanRow.loan_id).where(LoanRow.trading())).all() == [1]
