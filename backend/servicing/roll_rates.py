"""How likely a loan is to default from where it stands now, not only from where it started.

A credit decision's PD is over the whole term, judged at application. As the loan ages that figure
says less: a loan that has paid most of its installments on time has little of its term's risk
left, and one 45 days late is far more likely to default than its grade says. Lenders read the
second from roll rates: of the loans that once stood in an aging bucket, the share that went on to
default rather than catch up.

Roll rates here come from this platform's own book. An *episode* is one installment a loan fell
behind on, as the servicing pass saw it (the borrower notices it gave, once per installment and
bucket: `servicing_notices`); its worst bucket is the latest notice's. It resolved as a *cure* once
the loan paid that installment (a later installment paid, the loan repaid) and as a *default* when
LoanBook marked the loan defaulted on it; an episode still open is left out. A default is an episode
that went through every bucket, counted even when no servicing pass saw the loan late. The rate
for a bucket is the share of resolved episodes that reached it (or worse) and defaulted, shrunk
towards a stated prior worth `PRIOR_EPISODES` episodes, so a young book with two late loans does
not swing from 0% to 100%, and forced to rise bucket by bucket.

The PD now of a loan:
- still funding: the PD it was priced at, over its whole term;
- current: the share of that PD left in its remaining installments, the term's risk spread evenly
  over the installments (as the market's expected yield spreads it);
- late, in bucket b: the roll rate of b for the installment it is behind on, and if it cures, the
  share of its PD left in the installments after that one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.projection_models import LoanRow
from backend.servicing.aging import NOTICE_OF_BUCKET
from backend.servicing.models import ServicingNotice
from backend.servicing.schemas import ServicingPublic

LATE_BUCKETS = tuple(NOTICE_OF_BUCKET)  # grace, late_16_30, late_31_120, defaultable: least late first
BUCKET_OF_NOTICE = {kind: bucket for bucket, kind in NOTICE_OF_BUCKET.items()}

# What a loan in each bucket is assumed to go on to default from, before this book has late loans of
# its own to go by. An assumption, not a measurement: of the order US marketplace lenders have
# reported for the same note statuses (a loan in its grace period mostly catches up; one more than
# a month late mostly does not), and past the default point LoanBook's own rule decides.
PRIOR = {"grace": 0.20, "late_16_30": 0.50, "late_31_120": 0.75, "defaultable": 0.95}
PRIOR_EPISODES = 20  # how many of the platform's own resolved episodes the prior counts for


@dataclass(frozen=True)
class RollRate:
    bucket: str
    episodes: int  # resolved episodes that reached this bucket or a later one
    defaulted: int  # of them, the ones that ended in the loan's default
    prior: float
    rate: float  # the estimate used: shrunk towards the prior, never below a less late bucket's


@dataclass(frozen=True)
class Episode:
    loan_id: int
    installment: int
    worst: int  # index into LATE_BUCKETS


def episodes(session: Session, clock: int | None = None) -> list[Episode]:
    """Every installment a loan fell behind on, as the borrower's notices record it (due by `clock`
    when given: a monthly report counts only what had happened by its month's end)."""
    query = (select(ServicingNotice.loan_id, ServicingNotice.installment, ServicingNotice.kind)
             .where(ServicingNotice.kind.in_(BUCKET_OF_NOTICE), ServicingNotice.recipient == ServicingNotice.borrower))  # fmt: skip
    if clock is not None:
        query = query.where(ServicingNotice.due_date <= clock)
    worst: dict[tuple[int, int], int] = {}
    for loan_id, installment, kind in session.execute(query):
        level = LATE_BUCKETS.index(BUCKET_OF_NOTICE[kind])
        worst[loan_id, installment] = max(level, worst.get((loan_id, installment), -1))
    return [Episode(loan_id, installment, level) for (loan_id, installment), level in sorted(worst.items())]


def defaulted_on_an_installment(loan: LoanRow) -> bool:
    """A credit default: LoanBook marked the loan defaulted with an installment (principal and
    interest) unsettled. One marked defaulted with every installment settled owed late fees only
    (a fee-only default): a default on chain, but not of the kind a PD or a roll rate measures."""
    return loan.status == "defaulted" and loan.installments_settled < loan.installments


def outcomes(found: Iterable[Episode], loans: Mapping[int, LoanRow],
             aging: Mapping[int, ServicingPublic]) -> list[tuple[Episode, bool]]:  # fmt: skip
    """(episode, defaulted) for each resolved episode; open ones are left out. `loans` holds the
    episodes' loans and every defaulted one.

    A defaulted loan defaulted on the installment after the last it settled (`installments_settled`:
    a part payment towards that one does not settle it): that episode went through
    every bucket (LoanBook marks a default only past the last), whatever the servicing pass saw of
    it, and it counts even when no pass saw it late (declared between two passes); its earlier
    episodes were cured. A loan defaulted with every installment settled, owing late fees only,
    defaulted on no installment: it gives no default episode (roll rates are of installments)."""
    top = len(LATE_BUCKETS) - 1
    resolved, defaults_seen = [], set()
    for episode in found:
        loan = loans.get(episode.loan_id)
        if loan is None:
            continue
        if defaulted_on_an_installment(loan) and episode.installment > loan.installments_settled:
            resolved.append((replace(episode, worst=top), True))
            defaults_seen.add(loan.loan_id)
        elif loan.status in ("repaid", "defaulted"):
            resolved.append((episode, False))
        elif (standing := aging.get(episode.loan_id)) is not None and standing.installments_paid >= episode.installment:
            resolved.append((episode, False))  # active, and it has paid the installment since
    for loan in loans.values():
        if defaulted_on_an_installment(loan) and loan.loan_id not in defaults_seen:
            resolved.append((Episode(loan.loan_id, loan.installments_settled + 1, top), True))
    return resolved


def estimate(resolved: Iterable[tuple[Episode, bool]]) -> dict[str, RollRate]:
    """Each late bucket's roll rate from resolved episodes: (defaults + prior x weight) / (episodes
    + weight), then raised to the rate of any less late bucket."""
    resolved = list(resolved)
    rates, floor = {}, 0.0
    for level, bucket in enumerate(LATE_BUCKETS):
        reached = [defaulted for episode, defaulted in resolved if episode.worst >= level]
        shrunk = (sum(reached) + PRIOR[bucket] * PRIOR_EPISODES) / (len(reached) + PRIOR_EPISODES)
        floor = max(floor, shrunk)
        rates[bucket] = RollRate(bucket, len(reached), sum(reached), PRIOR[bucket], floor)
    return rates


def roll_rates(session: Session, aging: Mapping[int, ServicingPublic], clock: int | None = None) -> dict[str, RollRate]:
    """The book's roll rates with lateness from `aging` (as `disclosure.aging` reads it)."""
    found = episodes(session, clock)
    loan_ids = {episode.loan_id for episode in found}
    query = select(LoanRow).where(LoanRow.loan_id.in_(loan_ids) | (LoanRow.status == "defaulted"))
    loans = {loan.loan_id: loan for loan in session.scalars(query)}
    return estimate(outcomes(found, loans, aging))


def remaining_share(pd: float, installments: int, left: int) -> float:
    """The PD over a whole term of `installments`, spread evenly over them, that falls in the last `left`."""
    return 1 - (1 - pd) ** (max(left, 0) / installments)


def late_rate(standing: ServicingPublic | None, rates: Mapping[str, RollRate]) -> float | None:
    """The chance a loan standing late defaults on the installment it is behind on (None: not late)."""
    return rates[standing.bucket].rate if standing is not None and standing.bucket in rates else None


def pd_now(pd: float, loan: LoanRow, standing: ServicingPublic | None, rates: Mapping[str, RollRate]) -> float:
    """The chance `loan`, priced at `pd` over its term, defaults from where it stands now."""
    if loan.status != "active":
        return pd
    paid = standing.installments_paid if standing else loan.installments_settled
    left = loan.installments - paid
    if (rate := late_rate(standing, rates)) is None:
        return remaining_share(pd, loan.installments, left)
    return rate + (1 - rate) * remaining_share(pd, loan.installments, left - 1)
