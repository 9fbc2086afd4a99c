"""The borrower's release letter: once nothing more is owed on a loan (paid in full, or settled
after a default by recoveries of the whole debt: the reserve's cover paid the investors, not the
borrower's debt, so a defaulted loan is settled only once its investors and then the reserve have
been repaid; `recoverable` is what the borrower still owes), the servicing worker issues a document saying so, stores it
content-addressed, anchors its hash on-chain with the other documents, and tells the borrower its
CID. Another lender, a landlord or a court can then check it at *Verify* without trusting us.

The letter is canonical JSON built only from the chain's own facts (no issue time, no personal
data: the wallet, not the person), so issuing it twice gives the same bytes and the same record,
and anyone can rebuild it from the chain and compare."""

from __future__ import annotations

import json

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from backend import audit
from backend.anchoring.documents import anchor_document, by_hash, document_hash
from backend.anchoring.models import BATCH_ANCHORED
from backend.chain.loan_book import loan_book_domain
from backend.chain.projection_models import LoanRow
from backend.config import Settings
from backend.content.store import get_content_store
from backend.errors import Conflict
from backend.lending.loan_statement import borrowers_loan, loan_statement
from backend.servicing.models import ServicingNotice
from backend.servicing.notices import add_notice, day
from backend.servicing.schemas import ReleasePublic

# /2 adds what the debt grew by at default and what was recovered after it; letters issued as /1
# are still found (release_of rebuilds either).
FORMAT, FORMAT_V1 = "loanchain.release/2", "loanchain.release/1"
NOTICE = "released"
# Nothing more owed: repaid, or defaulted and then the whole debt at default recovered (LoanBook keeps
# `recoverable` at the debt, cover included, until the investors and then the reserve are repaid).
SETTLED = or_(LoanRow.status == "repaid", and_(LoanRow.status == "defaulted", LoanRow.recoverable == 0, LoanRow.recovered != 0))


def letter(db: Session, settings: Settings, loan: LoanRow, version: str = FORMAT) -> bytes:
    """The letter's canonical bytes, rebuilt from the index (what the chain says), as `version` words it."""
    statement = loan_statement(db, settings, loan.loan_id, viewer="", staff=True)
    closing = statement.lines[-1]  # paid off, or the recovery that settled it
    domain = loan_book_domain(settings)
    defaulted = next((line for line in statement.lines if line.kind == "defaulted"), None)
    outcome = "settled_after_default" if defaulted else "paid_in_full"
    said = (f"Loan {loan.loan_id} was declared in default on {day(defaulted.timestamp)} and is settled: nothing more is "
            f"owed on it since {day(closing.timestamp)}." if defaulted
            else f"Loan {loan.loan_id} is paid in full: nothing more is owed on it since {day(closing.timestamp)}.")  # fmt: skip
    body = {
        "format": FORMAT, "outcome": outcome, "statement": said, "loan_id": loan.loan_id, "borrower": loan.borrower,
        "chain_id": domain.chain_id, "loan_book": domain.address, "asset": domain.asset, "asset_decimals": domain.asset_decimals,
        "terms_hash": loan.terms_hash, "agreement_hash": loan.agreement_hash, "principal": loan.principal,
        "closed_at": closing.timestamp, "closing_block": closing.block_number, "closing_tx": closing.tx_hash,
        "paid": statement.paid, "interest_paid": statement.interest_paid, "principal_paid": statement.principal_paid,
        "late_fees_paid": statement.late_fee_paid, "reserve_cover": sum(line.reserve_cover for line in statement.lines),
    }  # fmt: skip
    if version == FORMAT:  # LoanBook gives the growth at default as one sum, and recoveries unsplit
        body |= {"format": FORMAT, "charged_at_default": statement.charged_at_default, "recovered": statement.recovered}
    else:
        body["format"] = FORMAT_V1
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def issue_releases(db: Session, settings: Settings) -> int:
    """Issue the letter of every loan settled since the last pass, and tell its borrower. Audited at
    the end (`audit.deferred`): not holding the log's head across each letter's store writes."""
    with audit.deferred(db):
        return _issue(db, settings)


def _issue(db: Session, settings: Settings) -> int:
    told = exists().where(ServicingNotice.loan_id == LoanRow.loan_id, ServicingNotice.kind == NOTICE)
    issued = 0
    for loan in db.scalars(select(LoanRow).where(SETTLED, ~told).order_by(LoanRow.loan_id)):
        data = letter(db, settings, loan)
        document = anchor_document(db, settings, data).document
        body = json.loads(data)
        outcome = body["outcome"].replace("_", " ")
        issued += add_notice(db, loan, 0, NOTICE, body["closed_at"], 0,
                             f"Loan {loan.loan_id} is {outcome}. Your release letter is document {document.cid}: anyone "
                             "can check it under Verify, against its anchor on-chain.")  # fmt: skip
    return issued


def release_of(db: Session, settings: Settings, loan_id: int, viewer: str, staff: bool) -> ReleasePublic:
    loan = borrowers_loan(db, loan_id, viewer, staff, "release letter")
    if db.scalar(select(LoanRow.loan_id).where(LoanRow.loan_id == loan_id, SETTLED)) is None:
        raise Conflict(f"loan {loan_id} is {loan.status} with money still owed: no release yet", loan_id=loan_id,
                       status=loan.status)  # fmt: skip
    document = next(filter(None, (by_hash(db, document_hash(letter(db, settings, loan, version)))
                                  for version in (FORMAT, FORMAT_V1))), None)  # fmt: skip
    if document is None:
        raise Conflict(f"loan {loan_id}'s release letter is not issued yet: the servicing worker issues it on its next pass",
                       loan_id=loan_id)  # fmt: skip
    data = get_content_store(settings).get(document.cid)
    return ReleasePublic(loan_id=loan_id, outcome=json.loads(data)["outcome"], cid=document.cid, doc_hash=document.doc_hash,
                         anchored=bool(document.batch and document.batch.status == BATCH_ANCHORED),
                         letter=json.loads(data))  # fmt: skip
