"""The risk reserve (ReserveFund): what went in (deposits, fees, cover recouped from a defaulted
loan's recoveries once its investors have theirs) and what it paid out, by its own events and
LoanBook's (`reserve_flows`: only payments a LoanBook default explains count as cover), its real
balance as the contract reports it at the figures' block, how it compares with the expected loss
on the loans outstanding, and so what share of a default's principal outstanding it can be expected to pay investors.

The reserve pays `coverageRatioBps` of a defaulted loan's principal outstanding while its balance
lasts, and never more than its whole balance to one default (`ReserveFund.coverageFor`). So each
loan's claim is the ratio of its principal outstanding capped at the balance (`claim_share`, the cap
the pricing path's `BookRisk.loss_on` applies), expected claims are those claims weighted by each
loan's PD now (`servicing.roll_rates`), and the share of a default's principal investors can count on
is what the balance can pay of them, min(balance, expected claims), over the principal expected to
default. A young book of a few loans large against the reserve is therefore promised no more than
the balance pays one of them (the review's H1: one 100,000 loan against 2,000 shows 2%, not the 80%
ratio). It is an expectation over the book, not a promise: defaults bunched together can outrun the
balance; `stress` shows how far it stretches if they run at a multiple of it, and `largest_claim`
what the single largest claim would get."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.models import ChainEvent
from backend.chain.projection_models import LoanRow
from backend.disclosure.aging import aging_now
from backend.disclosure.decisions import LoanDecisions, loan_decisions
from backend.disclosure.reserve_flows import cover_payments, inflows
from backend.disclosure.schemas import ReserveOutflowPublic, ReservePublic, ReserveStressPublic
from backend.scoring import policy
from backend.servicing.roll_rates import RollRate, pd_now, roll_rates
from backend.servicing.schemas import ServicingPublic

BPS = 10_000
# Stress scenarios: every loan's PD now times these (at most 1), a bad year's defaults as lenders
# stress a provision fund; the reserve pays its ratio only while its balance lasts.
STRESS_MULTIPLES = (2.0, 3.0)


def _coverage_ratio_bps(session: Session) -> int | None:
    last = session.scalar(select(ChainEvent).where(ChainEvent.contract == "ReserveFund", ChainEvent.event == "CoverageRatioSet")
                          .order_by(ChainEvent.block_number.desc(), ChainEvent.log_index.desc()).limit(1))  # fmt: skip
    return int(last.args["newBps"]) if last else None


def reserve_figures(session: Session, active: list[LoanRow] | None = None, *,
                    aging: dict[int, ServicingPublic] | None = None,
                    rates: dict[str, RollRate] | None = None, balance_on_chain: int | None = None,
                    decisions: LoanDecisions | None = None) -> ReservePublic:  # fmt: skip
    """The reserve against `active` (every active loan by default), each loan's PD now read with
    lateness from `aging` (the last servicing pass by default) and the book's roll `rates`. The
    balance it can pay from is `balance_on_chain` (ReserveFund.balance() at the figures' block) when
    the caller read it, else what the events add up to."""
    if active is None:
        active = list(session.scalars(select(LoanRow).where(LoanRow.status == "active")))
    aging = aging_now(session) if aging is None else aging
    rates = roll_rates(session, aging) if rates is None else rates
    paid_in, payments = inflows(session), cover_payments(session)
    from_events = sum(paid_in.values()) - payments.matched - payments.unexplained_total
    balance = from_events if balance_on_chain is None else balance_on_chain
    # PDs only from decisions that still prove themselves (`decisions`: the caller's, already checked),
    # each its grade's, which priced the loan (`LoanDecisions.pd`)
    decisions = loan_decisions(session, ["active"]) if decisions is None else decisions
    pds = {h: pd for h in decisions.proven if (pd := decisions.pd(h)) is not None}
    expected = claims = share = coverage = None
    stress = []
    ratio = _coverage_ratio_bps(session)
    if all(loan.decision_hash in pds for loan in active):
        pd_outstanding = [(pd_now(pds[loan.decision_hash], loan, aging.get(loan.loan_id), rates), loan.principal_outstanding)
                          for loan in active]  # fmt: skip
        expected = round(sum(pd * outstanding for pd, outstanding in pd_outstanding) * policy.LGD)
        # What the balance can meet of the expected loss: no one default takes more than all of it.
        meetable = sum(pd * outstanding * claim_share(policy.LGD, balance, outstanding) for pd, outstanding in pd_outstanding)
        coverage = min(max(0, balance), meetable) / expected if expected else None
        if ratio is not None:
            claims, share = _cover(pd_outstanding, ratio, balance)
            for multiple in STRESS_MULTIPLES:
                stressed = [(min(1.0, multiple * pd), outstanding) for pd, outstanding in pd_outstanding]
                stressed_claims, stressed_share = _cover(stressed, ratio, balance)
                stress.append(ReserveStressPublic(pd_multiple=multiple, expected_claims=stressed_claims,
                                                  expected_cover_share=stressed_share))  # fmt: skip
    # The one default that would ask the most of it: what the ratio claims of the largest loan outstanding.
    largest = round(max((loan.principal_outstanding for loan in active), default=0) * ratio / BPS) if ratio else 0
    return ReservePublic(**paid_in, cover_paid=payments.matched,
                         unexplained_outflows=[ReserveOutflowPublic(**vars(o)) for o in payments.unexplained],
                         unexplained_outflow_total=payments.unexplained_total, balance=balance,
                         balance_source="chain call" if balance_on_chain is not None else "chain events",
                         balance_from_events=from_events, balance_on_chain=balance_on_chain,
                         balance_difference=None if balance_on_chain is None else balance_on_chain - from_events,
                         expected_loss=expected, coverage_of_expected_loss=coverage,
                         coverage_ratio_bps=ratio, expected_claims=claims, expected_cover_share=share,
                         largest_claim=largest or None,
                         largest_claim_coverage=max(0, balance) / largest if largest else None,
                         stress=stress)  # fmt: skip


def claim_share(share: float, balance: int | None, outstanding: int) -> float:
    """`share` of one default's principal `outstanding`, but never more than the whole `balance`
    pays of that one claim (ReserveFund pays min(ratio x principal, balance)); None: no cap known."""
    if balance is None or outstanding <= 0:
        return share
    return min(share, max(0, balance) / outstanding)


def _cover(pd_outstanding: list[tuple[float, int]], ratio_bps: int, balance: int) -> tuple[int, float]:
    """(expected claims, the share of a default's principal investors can count on) for loans of
    (PD, principal outstanding): each claim the ratio of the loan's principal, capped at the balance,
    and the balance paying at most all of them."""
    defaults = sum(pd * outstanding for pd, outstanding in pd_outstanding)
    claims = sum(pd * outstanding * claim_share(ratio_bps / BPS, balance, outstanding) for pd, outstanding in pd_outstanding)
    if not defaults:
        # With no defaults expected the ratio holds only if there is money to pay it: an empty reserve
        # covers nothing, however few defaults are expected (a new platform, a book still funding).
        return 0, ratio_bps / BPS if balance > 0 else 0.0
    return round(claims), min(max(0, balance), claims) / defaults


def loss_after_cover(cover_share: float | None, ratio: float | None) -> float:
    """The share of a default's principal outstanding its note holders are expected to lose once
    the reserve has paid, with `cover_share` the reserve's expected cover of it (`_cover`) and
    `ratio` its coverage ratio (no cover when either is unknown).

    The cover (`ratio` of the principal outstanding) reaches the investors at once and LoanBook pays
    recoveries to their `debt - cover` first, so a covered default costs them LGD - ratio, nothing
    once the cover meets the loss (the accrued interest in the debt, which recoveries may also repay
    them, is left out: this errs on the side of loss). ReserveFund pays each claim in full while its
    balance lasts and then nothing, so a share `cover_share / ratio` of defaults is covered and the
    rest loses the whole LGD: LGD - met x min(ratio, LGD), i.e. LGD - cover_share whenever the ratio
    does not exceed the LGD."""
    if not cover_share or not ratio:
        return policy.LGD
    met = cover_share / ratio
    return policy.LGD - met * min(ratio, policy.LGD)


@dataclass(frozen=True)
class BookRisk:
    """What the whole book says about any one loan's risk: where each active loan stands, the roll
    rates, the share of a default's principal the reserve is expected to cover and its coverage ratio."""

    aging: dict[int, ServicingPublic]
    rates: dict[str, RollRate]
    cover_share: float | None
    coverage_ratio: float | None
    balance: int | None = None  # the reserve's balance; None leaves a single claim unbounded by it

    @property
    def loss(self) -> float:
        """The share of a default's principal outstanding a note holder is expected to lose after the
        reserve's cover (`loss_after_cover`), over a book of many small claims."""
        return loss_after_cover(self.cover_share, self.coverage_ratio)

    def loss_on(self, outstanding: int) -> float:
        """`loss` for a default of a loan with `outstanding` principal: the book's expected share, but
        never more than the whole balance pays of that one claim. The book's share spreads the balance
        over the expected claims as if they were many and small; one loan large against the reserve
        (a young platform's first loans) would be promised cover the balance cannot pay."""
        share = self.cover_share
        if share is not None:
            share = claim_share(share, self.balance, outstanding)
        return loss_after_cover(share, self.coverage_ratio)


def book_risk(session: Session) -> BookRisk:
    aging = aging_now(session)
    rates = roll_rates(session, aging)
    reserve = reserve_figures(session, aging=aging, rates=rates)
    ratio = None if reserve.coverage_ratio_bps is None else reserve.coverage_ratio_bps / BPS
    return BookRisk(aging, rates, reserve.expected_cover_share, ratio, reserve.balance)
