"""Loans count the installments they have settled (`installments_settled`, LoanBook's
`installmentsPaid`) beside the last one a payment went towards (`last_installment`): a part
payment, or one of late fees only, names an installment it does not settle, which made roll rates
count a part-paid defaulted installment as cured. `billed_unpaid` is what the installment after the
settled ones still owes of the interest and principal it was billed. Both are folded here from the
LoanBook events already indexed, by the projection's rule as it stands at this revision (a rebuild of
the index gives the same).

Revision ID: 0034_installments_settled
Revises: 0033_role_grant_approvals
"""

import sqlalchemy as sa
from alembic import op

revision = "0034_installments_settled"
down_revision = "0033_role_grant_approvals"
branch_labels = None
depends_on = None

BPS, YEAR = 10_000, 365 * 86_400

loans = sa.table("chain_loans", sa.column("loan_id", sa.BigInteger), sa.column("apr_bps", sa.Integer),
                 sa.column("installments", sa.Integer), sa.column("installment_period", sa.BigInteger),
                 sa.column("installment_amount", sa.String(80)), sa.column("installments_settled", sa.Integer),
                 sa.column("billed_unpaid", sa.String(80)))  # fmt: skip
events = sa.table("chain_events", sa.column("contract", sa.String), sa.column("event", sa.String),
                  sa.column("args", sa.JSON), sa.column("block_number", sa.BigInteger),
                  sa.column("log_index", sa.Integer))  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("chain_loans") as batch:
        batch.add_column(sa.Column("installments_settled", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("billed_unpaid", sa.String(length=80), nullable=False, server_default="0"))
    bind = op.get_bind()
    terms = {row.loan_id: row for row in bind.execute(sa.select(loans))}
    state: dict[int, list[int]] = {}  # loan id -> [settled, billed unpaid]
    folded = bind.execute(sa.select(events.c.event, events.c.args)
                          .where(events.c.contract == "LoanBook", events.c.event.in_(("LoanPayment", "LoanRepaid")))
                          .order_by(events.c.block_number, events.c.log_index))  # fmt: skip
    for event, args in folded:
        loan_id = int(args["loanId"])
        if loan_id not in terms:
            continue
        settled = state.setdefault(loan_id, [0, 0])
        if event == "LoanRepaid":
            settled[:] = [int(args["installmentsPaid"]), 0]
        else:
            _settle(settled, terms[loan_id], int(args["installment"]), int(args["interestPaid"]),
                    int(args["principalPaid"]), int(args["principalOutstanding"]))  # fmt: skip
    for loan_id, (count, unpaid) in state.items():
        bind.execute(loans.update().where(loans.c.loan_id == loan_id)
                     .values(installments_settled=count, billed_unpaid=str(unpaid)))  # fmt: skip


def _settle(settled: list[int], loan, installment: int, interest: int, principal: int, outstanding: int) -> None:
    """`backend.chain.projections._settle` at this revision."""
    if not interest and not principal:
        if installment - 1 > settled[0]:
            settled[:] = [installment - 1, 0]
        return
    if settled[0] != installment - 1 or not settled[1]:
        balance = outstanding + principal
        billed = -(-balance * loan.apr_bps * loan.installment_period // (BPS * YEAR))  # rounded up
        if installment == loan.installments:
            billed += balance
        else:
            billed += min(max(int(loan.installment_amount) - billed, 0), balance)
        settled[:] = [installment - 1, billed]
    settled[1] = max(settled[1] - interest - principal, 0)
    if not settled[1]:
        settled[0] = installment


def downgrade() -> None:
    with op.batch_alter_table("chain_loans") as batch:
        batch.drop_column("billed_unpaid")
        batch.drop_column("installments_settled")
