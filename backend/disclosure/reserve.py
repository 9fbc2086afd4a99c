"""The risk reserve (ReserveFund): what went in (deposits, fees, cover recouped from a defaulted
loan's recoveries once its investors have theirs) and what it paid out, by its own events and
LoanBook's (`reserve_flows`: only payments a LoanBook default explains count as cover), its real
balance as the contract reports it at the figures' block, how it compares with the expected loss
on the loans outstanding, and so what share of a default's principal outstanding it can be expected to pay investors.

The reserve pays `coverageRatioBps` of a defaulted loan's principal outstanding while its balance
lasts. Expected claims are that share of the expected defaults (PD x principal outstanding, with
each loan's PD from where it stands now: `servicing.roll_rates`); a balance short of them pays
proportionally less, so the share investors can count on is the ratio times min(1, balance /
expected claims). It is an expectation over the book, not a promise: defaults bunched together can
outrun the balance; `stress` shows how far it stretches if they run at a multiple of it."""

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
    # PDs only from decisions that still prove themselves (`decisions`: the caller's, already checked)
    decisions = loan_decisions(session, ["active"]) if decisions is None else decisions
    pds = {h: row.pd for h, row in decisions.proven.items()}
    expected = claims = share = None
    stress = []
    ratio = _coverage_ratio_bps(session)
    if all(loan.decision_hash in pds for loan in active):
        pd_outstanding = [(pd_now(pds[loan.decision_hash], loan, aging.get(loan.loan_id), rates), loan.principal_outstanding)
                          for loan in active]  # fmt: skip
        defaults = sum(pd * outstanding for pd, outstanding in pd_outstanding)
        expected = round(defaults * policy.LGD)
        if ratio is not None:
            claims, share = _cover(defaults, ratio, balance)
            for multiple in STRESS_MULTIPLES:
                stressed = sum(min(1.0, multiple * pd) * outstanding for pd, outstanding in pd_outstanding)
                stressed_claims, stressed_share = _cover(stressed, ratio, balance)
                stress.append(ReserveStressPublic(pd_multiple=multiple, expected_claims=stressed_claims,
                                                  expected_cover_share=stressed_share))  # fmt: skip
    return ReservePublic(**paid_in, cover_paid=payments.matched,
                         unexplained_outflows=[ReserveOutflowPublic(**vars(o)) for o in payments.unexplained],
                         unexplained_outflow_total=payments.unexplained_total, balance=balance,
                         balance_source="chain call" if balance_on_chain is not None else "chain events",
                         balance_from_events=from_events, balance_on_chain=balance_on_chain,
                         balance_difference=None if balance_on_chain is None else balance_on_chain - from_events,
                         expected_loss=expected, coverage_of_expected_loss=balance / expected if expected else None,
                         coverage_ratio_bps=ratio, expected_claims=claims, expected_cover_share=share,
                         stress=stress)  # fmt: skip


def _cover(defaults: float, ratio_bps: int, balance: int) -> tuple[int, float]:
    """(expected claims, the share of a default's principal investors can count on) when `defaults`
    of principal outstanding is expected to default: the ratio, less as far as the balance falls short."""
    claims = round(defaults * ratio_bps / BPS)
    # With no claims expected the ratio holds only if there is money to pay it: an empty reserve
    # covers nothing, however few defaults are expected (a new platform, a book still funding).
    met = min(1.0, max(0, balance) / claims) if claims else (1.0 if balance > 0 else 0.0)
    return claims, ratio_bps / BPS * met


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
        if share is not None and self.balance is not None and outstanding > 0:
            share = min(share, max(0, self.balance) / outstanding)
        return loss_after_cover(share, self.coverage_ratio)


def book_risk(session: Session) -> BookRisk:
    aging = aging_now(session)
    rates = roll_rates(session, aging)
    reserve = reserve_figures(session, aging=aging, rates=rates)
    ratio = None if reserve.coverage_ratio_bps is None else reserve.coverage_ratio_bps / BPS
    return BookRisk(aging, rates, reserve.expected_cover_share, ratio, reserve.balance)
