"""The loan agreement document: the human-readable contract behind the signed terms.

It is canonical JSON (sorted keys, UTF-8), so the same offer always gives the same bytes, the same
CID and the same keccak-256, which goes into the terms as `agreementHash` and is anchored in a
Merkle batch like any other document. It names wallets, never people: the content store may be a
public IPFS network, and the KYC record is what ties a wallet to a person."""

from __future__ import annotations

import json
from typing import Any

from backend.chain import deploy_params, loan_terms
from backend.lending.cost_of_credit import cost_of_credit

# 2: the cost of credit (amount financed, finance charge, total of payments, APR, APRC) is stated,
# and a clause says what investors see of the borrower.
# 3: the payment order (installments due before late fees), the late fee on the unpaid part, and a
# payoff's interest for the days begun (LoanBook since then).
# 4: one APR only, the true (actuarial) one in `cost_of_credit.apr_actuarial_bps`: the quoted rate
# (`all_in_apr_bps`, interest plus the fee spread as a yearly rate) ran up to 0.18 point below it,
# beyond Reg Z's 1/8-point tolerance, and a signed document must not state two APRs.
AGREEMENT_VERSION = 4

CLAUSES = (
    (
        "The borrower receives the principal less the origination fee once investors have funded the loan "
        "in full before the funding deadline; otherwise the loan is cancelled and investors are refunded."
    ),
    (
        "The borrower repays in equal installments, one per installment period from disbursal; interest "
        "accrues on the outstanding principal at the interest APR."
    ),
    (
        "An installment not paid in full by the end of the grace period incurs a one-off late fee on the part "
        "left unpaid. Payments go to the installments due before any late fee, so an installment paid in full "
        "on time never incurs a fee because of an earlier one; late fees still owed after the last installment "
        "keep the loan open until they are paid."
    ),
    (
        "A loan past due for longer than the default period may be declared in default; the ReserveFund then "
        "covers investors up to its coverage ratio. The cover does not reduce the borrower's debt: the borrower "
        "still owes the whole amount due at default, and collections continue for it, repaying the investors "
        "first and then the ReserveFund's cover."
    ),
    (
        "The borrower may prepay at any time without penalty: paying the loan off in full owes the current "
        "period's interest only for its days begun (each begun day counted in full). A partial prepayment first "
        "pays the current period's installment, with that period's whole interest, then reduces the principal; "
        "interest paid with an installment ahead of its due date is not refunded at a later payoff."
    ),
    (
        "Investors who may fund the loan see the application's banded facts (purpose, income band, employment "
        "length, housing, credit history, loans with this platform), the debt-service ratio and the credit "
        "decision, never the borrower's identity, declared amounts or assets."
    ),
    (
        "The terms are binding as signed (EIP-712) by the borrower's wallet and the platform underwriter and "
        "recorded by the LoanBook contract; this document's keccak-256 is the terms' agreementHash."
    ),
)


def agreement_document(
    *,
    offer_id: str,
    borrower: str,
    chain_id: int,
    loan_book: str,
    asset: str,
    asset_decimals: int,
    principal: int,
    interest_apr_bps: int,
    installments: int,
    installment_period: int,
    installment_amount: int,
    origination_fee_bps: int,
    funding_deadline: int,
    decision_hash: str,
    model_version: str,
) -> bytes:
    document: dict[str, Any] = {
        "document": "loanchain loan agreement",
        "version": AGREEMENT_VERSION,
        "offer_id": offer_id,
        "parties": {
            "borrower_wallet": borrower,
            "lenders": "the holders of this loan's notes in the LoanBook contract",
        },
        "ledger": {"chain_id": chain_id, "loan_book": loan_book, "asset": asset, "asset_decimals": asset_decimals},
        "terms": {
            "principal": principal,
            "interest_apr_bps": interest_apr_bps,
            "installments": installments,
            "installment_period_seconds": installment_period,
            "installment_amount": installment_amount,
            "origination_fee_bps": origination_fee_bps,
            "funding_deadline": funding_deadline,
        },
        "cost_of_credit": _cost(principal, interest_apr_bps, installments, installment_period, origination_fee_bps),
        "servicing": {
            "grace_period_seconds": deploy_params.GRACE_PERIOD,
            "late_fee_bps": deploy_params.LATE_FEE_BPS,
            "default_after_seconds": deploy_params.DEFAULT_AFTER,
            "reserve_coverage_bps": deploy_params.COVERAGE_RATIO_BPS,
        },
        "credit_decision": {"decision_hash": decision_hash, "model_version": model_version},
        "clauses": list(CLAUSES),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _cost(principal: int, apr_bps: int, installments: int, period: int, fee_bps: int) -> dict[str, int]:
    """What the credit costs if every installment is paid on time (`cost_of_credit.py`)."""
    payments = [i.amount for i in loan_terms.schedule(principal, apr_bps, period, installments)]
    cost = cost_of_credit(principal, fee_bps, payments, period)
    return {"amount_financed": cost.amount_financed, "total_of_payments": cost.total_of_payments,
            "finance_charge": cost.finance_charge, "apr_actuarial_bps": cost.apr_bps, "aprc_bps": cost.aprc_bps}  # fmt: skip


def differences_from_chain(data: bytes, *, borrower: str, chain_id: int, loan_book: str, asset: str,
                           principal: int, interest_apr_bps: int, installments: int, installment_period: int,
                           installment_amount: int, origination_fee_bps: int, funding_deadline: int,
                           decision_hash: str) -> list[str]:  # fmt: skip
    """`where: document X, chain Y` for every figure of an agreement document (as `agreement_document`
    wrote it, any version) that the loan's on-chain terms contradict. Its hash being the terms'
    agreementHash only proves the borrower signed over these bytes, not that they say what the
    contract enforces."""
    try:
        document = json.loads(data)
    except ValueError:
        return ["the document is not an agreement this platform writes (not JSON)"]
    if not isinstance(document, dict) or document.get("document") != "loanchain loan agreement":
        return ["the document is not a loanchain loan agreement"]
    expected: dict[str, Any] = {
        "parties.borrower_wallet": borrower, "ledger.chain_id": chain_id, "ledger.loan_book": loan_book,
        "ledger.asset": asset, "terms.principal": principal, "terms.interest_apr_bps": interest_apr_bps,
        "terms.installments": installments, "terms.installment_period_seconds": installment_period,
        "terms.installment_amount": installment_amount, "terms.origination_fee_bps": origination_fee_bps,
        "terms.funding_deadline": funding_deadline, "credit_decision.decision_hash": decision_hash,
    }  # fmt: skip
    if "cost_of_credit" in document:  # from version 2: the cost of credit the borrower was shown
        cost = _cost(principal, interest_apr_bps, installments, installment_period, origination_fee_bps)
        expected |= {f"cost_of_credit.{k}": v for k, v in cost.items()}
    found = []
    for path, value in expected.items():
        section, name = path.split(".")
        stated = (document.get(section) or {}).get(name, "(absent)")
        same = stated.lower() == value.lower() if isinstance(value, str) and isinstance(stated, str) else stated == value
        if not same:
            found.append(f"{path}: document {stated!r}, chain {value!r}")
    return found
