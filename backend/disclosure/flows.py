"""What happened within a period, from the chain events stamped in it: a monthly report gives these
beside the figures at the month's end, as P2P disclosure rules ask (loans made this month, repaid,
defaulted), and anyone can recompute them from the chain."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.models import ChainEvent
from backend.disclosure.schemas import PeriodFlowsPublic

# (contract, event) -> the flows it adds to: {flow: the event argument summed, or None to count it}
FLOWS: dict[tuple[str, str], dict[str, str | None]] = {
    ("LoanBook", "LoanDisbursed"): {"loans_disbursed": None, "principal_disbursed": "netAmount",
                                    "origination_fees": "originationFee"},
    ("LoanBook", "LoanPayment"): {"principal_repaid": "principalPaid", "interest_paid": "interestPaid",
                                  "late_fees_paid": "feePaid"},
    ("LoanBook", "LoanPrepayment"): {"principal_repaid": "principalPaid", "late_fees_paid": "feePaid"},
    ("LoanBook", "LoanRepaid"): {"loans_repaid": None},
    ("LoanBook", "LoanDefaulted"): {"defaults": None, "principal_at_default": "principalOutstanding",
                                    "reserve_cover": "cover"},
    ("LoanBook", "LoanRecovery"): {"recovered": "amount"},
    ("LoanBook", "CoverRecouped"): {"cover_recouped": "amount"},
    ("NoteMarket", "Sold"): {"trades": None, "trade_volume": "cost"},
    ("NoteMarket", "BidFilled"): {"trades": None, "trade_volume": "proceeds"},
    ("NoteMarket", "Matched"): {"trades": None, "trade_volume": "cost"},
}  # fmt: skip


NOT_FLOWS = ("start", "end", "complete", "as_of", "as_of_block")


def period_flows(session: Session, start: int, end: int, indexed: tuple[int, int] | None = None) -> PeriodFlowsPublic:
    """Flows of the events stamped in [start, end), with `indexed` the (block, time) the index has
    reached: a month it has not passed the end of is counted only to there, and says so (None: over)."""
    totals: Counter[str] = Counter()
    events = session.execute(select(ChainEvent.contract, ChainEvent.event, ChainEvent.args)
                             .where(ChainEvent.block_timestamp >= start, ChainEvent.block_timestamp < end,
                                    ChainEvent.event.in_({event for _, event in FLOWS})))  # fmt: skip
    for contract, event, args in events:
        for flow, argument in FLOWS.get((contract, event), {}).items():
            totals[flow] += 1 if argument is None else int(args[argument])
    # A disbursal's principal is what the borrower received plus the fee taken from it.
    totals["principal_disbursed"] += totals["origination_fees"]
    so_far = indexed is not None and indexed[1] < end
    return PeriodFlowsPublic(start=start, end=end, complete=not so_far, as_of=indexed[1] if so_far else end,
                             as_of_block=indexed[0] if so_far else None,
                             **{f: totals[f] for f in PeriodFlowsPublic.model_fields if f not in NOT_FLOWS})  # fmt: skip
