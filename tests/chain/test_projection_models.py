"""LoanRow's derived facts, as Python properties and as the query conditions beside them."""

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from backend.chain.deploy_params import DEFAULT_AFTER
from backend.chain.projection_models import LoanRow

PERIOD = 30 * 86_400
START = 1_700_000_000
NOW = START + 12 * PERIOD  # the last due date


def _loan(loan_id: int, status: str, outstanding: int, settled: int = 12) -> LoanRow:
    zero = dict(principal=12_000, funded=0, origination_fee=0, interest_paid=0, principal_paid=0, fees_assessed=0,
                fees_paid=0, cover=0, recovered=0, recoverable=0, claimed=0)  # fmt: skip
    return LoanRow(loan_id=loan_id, status=status, principal_outstanding=outstanding, borrower="0x" + "11" * 20,
                   underwriter="0x" + "22" * 20, terms_hash="0x" + "00" * 32, agreement_hash="0x" + "00" * 32,
                   decision_hash="0x" + "00" * 32, apr_bps=1_200, installments=12, installment_period=PERIOD,
                   installment_amount=1_066, funding_deadline=1, origination_fee_bps=100, last_installment=settled,
                   installments_settled=settled, billed_unpaid=0, start_time=START, created_block=1, block_number=1, tx_hash="0x" + "00" * 32,
                   log_index=0, **zero)  # fmt: skip


def test_an_active_loan_owing_only_late_fees_does_not_trade():
    """LoanBook keeps a loan Active while late fees are owed after its principal is repaid, and
    NoteMarket prices notes as a share of the principal outstanding: such a loan's notes would trade
    for nothing, so the keeper, the order listings and the quotes leave it out."""
    loans = [_loan(1, "active", 5_000), _loan(2, "active", 0), _loan(3, "repaid", 0), _loan(4, "funding", 12_000)]
    assert [loan.trades(NOW) for loan in loans] == [True, False, False, False]
    engine = create_engine("sqlite://")
    LoanRow.metadata.create_all(engine, tables=[LoanRow.__table__])
    with Session(engine) as session:
        session.add_all(loans)
        session.flush()
        assert session.scalars(select(LoanRow.loan_id).where(LoanRow.trading(NOW))).all() == [1]


def test_an_active_loan_past_defaultable_at_does_not_trade():
    """The review's M-1: LoanBook keeps a loan Active until someone calls `markDefault`, which anyone
    may once `defaultableAt` (`DEFAULT_AFTER` past the oldest unpaid due date) has passed, and
    NoteMarket refuses its notes from then on (`NoteMarketLoanDefaultable`): the keeper, the order
    listings and the quotes leave it out from the same second. A loan brought up to date trades again."""
    behind, current = _loan(1, "active", 9_000, settled=3), _loan(2, "active", 5_000, settled=6)
    defaultable = START + 4 * PERIOD + DEFAULT_AFTER  # installment 4 unpaid
    assert behind.defaultable_at == defaultable and current.defaultable_at == START + 7 * PERIOD + DEFAULT_AFTER
    assert [(loan.trades(defaultable), loan.trades(defaultable + 1)) for loan in (behind, current)] == [
        (True, False), (True, True)]  # fmt: skip
    engine = create_engine("sqlite://")
    LoanRow.metadata.create_all(engine, tables=[LoanRow.__table__])
    with Session(engine) as session:
        session.add_all([behind, current])
        session.flush()
        for now, trading in ((defaultable, [1, 2]), (defaultable + 1, [2])):
            query = select(LoanRow.loan_id).where(LoanRow.trading(now)).order_by(LoanRow.loan_id)
            assert session.scalars(query).all() == trading
        behind.installments_settled = 4  # a payment brings it up to date
        session.flush()
        assert session.scalars(select(LoanRow.loan_id).where(LoanRow.trading(defaultable + 1))).all() == [1, 2]
