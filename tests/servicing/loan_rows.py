"""An active loan in the chain index without a chain: for what reads only the index (hardship
requests, the collections queue), with the chain's clock stubbed where a case-log entry is stamped."""

from __future__ import annotations

from backend.chain.projection_models import LoanRow
from backend.config import Settings
from backend.db.session import session_scope

ZERO_HASH = "0x" + "00" * 32
NOW = 1_790_000_000  # the chain clock the stub answers (2026-09)


def index_active_loan(settings: Settings, borrower: str, loan_id: int = 7) -> int:
    with session_scope(settings) as session:
        session.add(LoanRow(loan_id=loan_id, status="active", borrower=borrower, underwriter="0x" + "55" * 20,
                            terms_hash=ZERO_HASH, agreement_hash=ZERO_HASH, decision_hash=ZERO_HASH, principal=10**9,
                            funded=10**9, apr_bps=1000, installments=12, installment_period=2_592_000,
                            installment_amount=10**8, funding_deadline=0, origination_fee_bps=0, created_block=1,
                            block_number=1, tx_hash="0x" + "11" * 32, log_index=0, principal_outstanding=10**9))  # fmt: skip
    return loan_id


def stub_chain_clock(monkeypatch) -> None:
    monkeypatch.setattr("backend.servicing.collections.deadline_clock", lambda settings: NOW)
