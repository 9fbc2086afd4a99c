"""Where each disclosed figure comes from, published beside it (`DisclosurePublic.sources`) so a
reader knows which figures anyone can rebuild from a node and which rest on the platform's word."""

from __future__ import annotations

CHAIN_EVENTS = "chain events"
CHAIN_CALL = "chain call"
# A grade or PD is read from a decision record only when the record's hash recomputes and equals the
# decision hash in the loan's on-chain terms (backend/disclosure/decisions.py): the record is the
# platform's, the commitment the chain's.
GRADES = ("platform records bound to chain: credit_decisions (grade), each matched to the decision hash in its loan's "
          "on-chain terms; chain events (loans, amounts, defaults)")

FORBEARANCE = "platform records: hardship_plans (agreed by two staff); chain events (the repayments judging them)"
LATENESS_NOW = "platform records: servicing_states (the last servicing pass)"
LATENESS_AT_BLOCK = "chain call: LoanBook.amountDue at as_of_block"
# Roll rates resolve an active loan's episode as cured from where it stands (installments paid), and
# the reserve's risk figures read each loan's lateness: the last servicing pass live, LoanBook's own
# answer at the month's last block in a report. Each label names what that figure used.
NOTICES = "servicing_notices (late installments a servicing pass noticed)"
ROLL_RATES_NOW = f"platform records: {NOTICES}, servicing_states (cures of active loans: the last servicing pass); chain events (defaults)"
ROLL_RATES_AT_BLOCK = (f"platform records: {NOTICES}; chain events (defaults); chain call: LoanBook.amountDue at "
                       "as_of_block (cures of active loans)")
RISK_NOW = ("platform records: credit_decisions (PD, bound to chain like the grades), servicing_states (lateness: the "
            "last servicing pass) and servicing_notices (roll rates)")
RISK_AT_BLOCK = ("platform records: credit_decisions (PD, bound to chain like the grades) and servicing_notices (roll "
                 "rates); chain call: LoanBook.amountDue at as_of_block (lateness)")

_FROM_EVENTS = (
    "as_of_block", "loans", "principal_originated", "principal_outstanding", "principal_repaid", "interest_paid",
    "late_fees_paid", "investors", "borrowers", "concentration", "vintages", "defaults", "default_rate",
    "net_loss_rate", "average_principal_outstanding", "gross_charge_off_rate", "market", "reserve.deposits",
    "reserve.origination_fees", "reserve.cover_paid", "reserve.cover_recouped", "reserve.unexplained_outflows",
    "reserve.balance_from_events", "reserve.coverage_ratio_bps", "reserve.largest_claim",
)  # fmt: skip
_FROM_RISK = ("reserve.expected_loss", "reserve.coverage_of_expected_loss", "reserve.expected_claims",
              "reserve.expected_cover_share", "reserve.stress")  # fmt: skip


def figure_sources(*, lateness_from_chain: bool, balance_read: bool) -> dict[str, str]:
    """Each figure's source. Lateness is LoanBook's own answer in a monthly report and the last
    servicing pass's live; the reserve's balance is the contract's when it could be asked."""
    sources = dict.fromkeys(_FROM_EVENTS, CHAIN_EVENTS)
    sources |= dict.fromkeys(_FROM_RISK, RISK_AT_BLOCK if lateness_from_chain else RISK_NOW)
    sources["by_grade"] = GRADES
    sources["delinquency"] = LATENESS_AT_BLOCK if lateness_from_chain else LATENESS_NOW
    sources["forbearance"] = FORBEARANCE
    sources["roll_rates"] = ROLL_RATES_AT_BLOCK if lateness_from_chain else ROLL_RATES_NOW
    sources["reserve.balance_on_chain"] = CHAIN_CALL
    sources["reserve.balance"] = CHAIN_CALL if balance_read else CHAIN_EVENTS
    sources["reserve.largest_claim_coverage"] = sources["reserve.balance"]  # events' ratio and loans besides
    return sources
