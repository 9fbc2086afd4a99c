"""Hardship plans: a borrower who cannot pay as agreed pays a smaller amount every period for a few
periods, and meanwhile reminders, texts and the platform's own default wait.

A plan holds the default much longer than a promise to pay (`servicing_plan_hold_max_days` past
LoanBook's `defaultableAt`, against the promise's 60 days), so one staff member cannot grant it:
an underwriter or admin proposes it and another person confirms it (maker-checker), neither of
them the borrower's own person. A proposal nobody decides lapses after `servicing_plan_confirm_days`.

A confirmed plan starts at its confirmation (chain time) and is judged by the chain's repayments,
never typed in: by the end of its k-th period the borrower has paid at least k installments of
the plan since it started (`on_track`), or the plan is `broken` at the first end it missed, or,
its last period ended or everything paid, `completed`. Only an `on_track` plan holds anything.
LoanBook itself knows nothing of plans: anyone may still call `markDefault` once it allows it, and
a plan paying less than an installment leaves `defaultableAt` where it was, so what is still late
when the plan ends is collected as before. The plan binds the platform, not the contract."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import audit
from backend.audit.hashing import payload_hash
from backend.audit.models import AuditEntry
from backend.chain.loan_book import deadline_clock
from backend.chain.projection_models import LoanRow
from backend.config import Settings
from backend.db.session import lock_until_commit
from backend.errors import Conflict, Forbidden, NotFound
from backend.idempotency import Recorded
from backend.identity.persons import same_person
from backend.servicing.aging import DAY
from backend.servicing.collections import add_entry, awaiting_answer, in_collections, payments_of
from backend.servicing.collections import paused_loans as requests_waiting
from backend.servicing.models import HardshipPlan, ServicingNotice, ServicingState
from backend.servicing.notices import add_notice, day, moment, money
from backend.servicing.schemas import AgreedPlanPublic, HardshipPlanCreate, HardshipPlanPublic

PROPOSED, CONFIRMED, REJECTED, LAPSED = "proposed", "confirmed", "rejected", "lapsed"
ON_TRACK, BROKEN, COMPLETED = "on_track", "broken", "completed"
AUDIT_PROPOSE, AUDIT_DECIDE = "collections.plan.propose", "collections.plan.decide"
AGREED, BROKEN_NOTICE = "hardship_plan", "plan_broken"  # the borrower's notices (installment: the plan's id)


class PlanOpen(Conflict):
    """409: the loan has a plan proposed or on track already."""

    code = "plan_open"


@dataclass(frozen=True)
class Judged:
    status: str  # proposed | lapsed | rejected | on_track | broken | completed
    paid_since: int | None  # repaid since the plan started (confirmed plans)
    next_end: int | None  # the end of the period running now (on_track)
    broken_at: int | None  # the end of the period it first fell short by


def ends_of(plan: HardshipPlan) -> list[int]:
    """The chain time each of a confirmed plan's periods ends at."""
    return [plan.decided_at + k * plan.period_days * DAY for k in range(1, plan.periods + 1)]


def judge(settings: Settings, plan: HardshipPlan, payments: Iterable[tuple[int, int]], now: int) -> Judged:
    """The plan's standing at chain time `now`, from the loan's (block time, amount) repayments."""
    if plan.decision is None:
        lapsed = now > plan.proposed_at + settings.servicing_plan_confirm_days * DAY
        return Judged(LAPSED if lapsed else PROPOSED, None, None, None)
    if plan.decision == REJECTED:
        return Judged(REJECTED, None, None, None)
    return judge_agreed(plan, payments, now)


def judge_agreed(plan: HardshipPlan, payments: Iterable[tuple[int, int]], now: int) -> Judged:
    """A confirmed plan's standing at chain time `now` (`judge`): on_track, broken or completed."""
    since = sorted((at, amount) for at, amount in payments if at >= plan.decided_at)
    paid = sum(amount for at, amount in since if at <= now)
    if paid >= plan.periods * plan.installment_amount:
        return Judged(COMPLETED, paid, None, None)
    for k, end in enumerate(ends_of(plan), start=1):
        if end >= now:
            return Judged(ON_TRACK, paid, end, None)
        if sum(amount for at, amount in since if at <= end) < k * plan.installment_amount:
            return Judged(BROKEN, paid, None, end)
    return Judged(COMPLETED, paid, None, None)


def propose(db: Session, settings: Settings, loan_id: int, request: HardshipPlanCreate,
            actor: str) -> Recorded[HardshipPlanPublic]:  # fmt: skip
    """Propose a plan on an active loan (one open at a time); the same proposal by the same person
    again, while open, is answered with the first (`created` False): a client's retry."""
    loan = _loan(db, loan_id, actor, "propose")
    lock_until_commit(db, f"collections-plan|{loan_id}")
    now = deadline_clock(settings)
    payments = _payments(db, loan_id)
    for plan in _plans(db, loan_id):
        judged = judge(settings, plan, payments, now)
        if judged.status in (PROPOSED, ON_TRACK):
            same = (plan.proposed_by == actor and judged.status == PROPOSED
                    and (plan.installment_amount, plan.period_days, plan.periods)
                    == (request.installment_amount, request.period_days, request.periods))  # fmt: skip
            if same:
                return Recorded(public(plan, judged), created=False)
            raise PlanOpen(f"loan {loan_id} has plan {plan.id} {judged.status.replace('_', ' ')} already: one plan a "
                           "loan at a time (reject a proposal to propose another)", loan_id=loan_id, plan_id=plan.id)
    if not in_collections(db, loan_id) and not awaiting_answer(db, loan_id):
        raise Conflict(f"loan {loan_id} is not in collections (16+ days late, or its borrower asked for hardship "
                       "help): a plan is for a borrower who cannot pay as agreed", loan_id=loan_id)  # fmt: skip
    plan = HardshipPlan(loan_id=loan.loan_id, installment_amount=request.installment_amount,
                        period_days=request.period_days, periods=request.periods, proposed_by=actor, proposed_at=now)  # fmt: skip
    db.add(plan)
    db.flush()
    audit.record(db, actor=actor, action=AUDIT_PROPOSE, subject=f"loan:{loan_id}", payload=_terms(plan))
    return Recorded(public(plan, judge(settings, plan, payments, now)), created=True)


def decide(db: Session, settings: Settings, loan_id: int, plan_id: int, actor: str, confirm: bool) -> HardshipPlanPublic:
    """Confirm (another person than its proposer) or reject (anyone allowed, its proposer too: that
    grants nothing) a proposed plan. Deciding it again as it was decided answers with the plan."""
    _loan(db, loan_id, actor, "confirm" if confirm else "reject")
    lock_until_commit(db, f"collections-plan|{loan_id}")
    plan = db.get(HardshipPlan, plan_id)
    if plan is None or plan.loan_id != loan_id:
        raise NotFound(f"loan {loan_id} has no plan {plan_id}", field="plan_id", plan_id=plan_id)
    wanted = CONFIRMED if confirm else REJECTED
    now = deadline_clock(settings)
    judged = judge(settings, plan, _payments(db, loan_id), now)
    if plan.decision == wanted and plan.decided_by == actor:  # a retry of this very decision
        return public(plan, judged)
    if judged.status != PROPOSED:
        raise Conflict(f"plan {plan_id} is {judged.status.replace('_', ' ')}: only a proposed plan is decided",
                       plan_id=plan_id, status=judged.status)  # fmt: skip
    if confirm and same_person(db, actor, plan.proposed_by):
        raise Forbidden(f"you proposed plan {plan_id} (or another wallet of yours did): another person confirms it",
                        plan_id=plan_id)  # fmt: skip
    plan.decision, plan.decided_by, plan.decided_at = wanted, actor, now
    db.flush()
    audit.record(db, actor=actor, action=AUDIT_DECIDE, subject=f"loan:{loan_id}", payload=_decision(plan))
    if confirm:  # the case log's entry answers the borrower's hardship request, as a promise to pay does
        add_entry(db, settings, loan_id, "plan", f"hardship plan {plan.id} agreed: {plan.periods} payments of "
                  f"{plan.installment_amount} base units every {plan.period_days} days from {day(now)}, proposed by "
                  f"{plan.proposed_by}, confirmed by {actor}", actor, now)  # fmt: skip
    return public(plan, judge(settings, plan, _payments(db, loan_id), now))


def plans_of(db: Session, settings: Settings, loan_id: int) -> list[HardshipPlanPublic]:
    """The loan's plans, newest first, each judged now."""
    if db.get(LoanRow, loan_id) is None:
        raise NotFound(f"loan {loan_id} is not in the index", field="loan_id", loan_id=loan_id)
    plans = _plans(db, loan_id)
    if not plans:
        return []
    now, payments = deadline_clock(settings), _payments(db, loan_id)
    return [public(plan, judge(settings, plan, payments, now)) for plan in plans]


def agreed_plans(db: Session, settings: Settings, loan_id: int, viewer: str, staff: bool) -> list[AgreedPlanPublic]:
    """The plans agreed (confirmed) on the loan, newest first, each judged now: for its borrower, whose
    page says what the plan asks by when while its reminders wait, and staff. Proposals are not
    agreements yet, and a rejected or lapsed one never was: left out."""
    from backend.lending.loan_statement import borrowers_loan  # lending imports servicing (loans.py)

    borrowers_loan(db, loan_id, viewer, staff, "hardship plans")
    plans = [plan for plan in _plans(db, loan_id) if plan.decision == CONFIRMED]
    if not plans:
        return []
    now, payments = deadline_clock(settings), _payments(db, loan_id)
    shared = set(AgreedPlanPublic.model_fields) - {"agreed_at"}  # the staff view's figures, staff names left out
    return [AgreedPlanPublic(**public(plan, judge(settings, plan, payments, now)).model_dump(include=shared),
                             agreed_at=plan.decided_at) for plan in plans]  # fmt: skip


def queue_plans(db: Session, settings: Settings, loan_ids: list[int], clock: Callable[[], int]) -> dict[int, HardshipPlanPublic]:
    """The plan the collections queue shows with each of the loans, judged at `clock()` (read only if
    a plan exists): the one proposed or on track, else the loan's latest agreed plan if it broke, so
    staff see it ended and may propose another."""
    rows = list(db.scalars(select(HardshipPlan).where(HardshipPlan.loan_id.in_(loan_ids)).order_by(HardshipPlan.id)))
    if not rows:
        return {}
    payments = payments_of(db, select(HardshipPlan.loan_id).where(HardshipPlan.id.in_([p.id for p in rows])))
    open_, latest = {}, {}
    for plan in rows:  # by id: a loan's latest agreed plan is judged last
        judged = judge(settings, plan, payments.get(plan.loan_id, []), clock())
        if judged.status in (PROPOSED, ON_TRACK):
            open_[plan.loan_id] = public(plan, judged)
        if plan.decision == CONFIRMED:
            latest[plan.loan_id] = public(plan, judged)
    return {loan_id: plan for loan_id, plan in latest.items() if plan.status == BROKEN} | open_


@dataclass(frozen=True)
class Standing:
    """The confirmed plans' standing at one chain time, read once for a servicing pass: the plan on
    track of each loan keeping one, and the latest confirmed plan of each loan whose latest broke."""

    kept: dict[int, HardshipPlan]
    broken: dict[int, HardshipPlan]


def standing(db: Session, now: int, loan_ids: Iterable[int] | None = None, agreed_by: int | None = None) -> Standing:
    """The confirmed plans of `loan_ids` (or of every loan; agreed by chain time `agreed_by`, if given)
    judged at chain time `now`: one read of the plans and one of their loans' repayments."""
    query = select(HardshipPlan).where(HardshipPlan.decision == CONFIRMED)
    if loan_ids is not None:
        query = query.where(HardshipPlan.loan_id.in_(list(loan_ids)))
    if agreed_by is not None:
        query = query.where(HardshipPlan.decided_at <= agreed_by)
    plans = list(db.scalars(query.order_by(HardshipPlan.id)))
    if not plans:
        return Standing({}, {})
    payments = payments_of(db, select(HardshipPlan.loan_id).where(HardshipPlan.id.in_([p.id for p in plans])))
    kept, latest = {}, {}
    for plan in plans:  # by id: a loan's latest confirmed plan is judged last
        status = judge_agreed(plan, payments.get(plan.loan_id, []), now).status
        latest[plan.loan_id] = (plan, status)
        if status == ON_TRACK:
            kept[plan.loan_id] = plan
    return Standing(kept, {loan_id: plan for loan_id, (plan, status) in latest.items() if status == BROKEN})


def kept_at(db: Session, at: int, loan_ids: Iterable[int]) -> dict[int, HardshipPlan]:
    """The loans (of `loan_ids`) whose plan, agreed by chain time `at`, was on track then, and that
    plan: forbearance as the disclosure reports it, at a month's end as well as now."""
    return standing(db, at, loan_ids, agreed_by=at).kept


PLAN_KEPT = "a hardship plan is being kept"


def paused_loans(db: Session, settings: Settings, now: int, loan_id: int | None = None,
                 plans: Standing | None = None) -> dict[int, str]:  # fmt: skip
    """Loans (or just `loan_id`) whose reminders, texts and automatic default wait at chain time
    `now`, with why: a hardship request or dispute staff have not answered (`collections.paused_loans`),
    or a plan on track (from `plans`, the pass's `standing`, when given)."""
    held = requests_waiting(db, settings, now, loan_id)
    if plans is None:
        plans = standing(db, now, None if loan_id is None else [loan_id])
    for kept in plans.kept:
        if loan_id is None or kept == loan_id:
            held.setdefault(kept, PLAN_KEPT)
    return held


def paused(db: Session, settings: Settings, loan_id: int, now: int) -> str | None:
    return paused_loans(db, settings, now, loan_id).get(loan_id)


def plan_holds_default(settings: Settings, plans: Standing, loan_id: int, now: int, defaultable_at: int) -> bool:
    """Does a plan on track hold the platform's own default at `now`? Up to its cap past `defaultable_at`."""
    return loan_id in plans.kept and now <= defaultable_at + settings.servicing_plan_hold_max_days * DAY


def cure_after_broken(db: Session, settings: Settings, plans: Standing, loan_id: int, now: int) -> int:
    """The right to cure after a broken plan: the platform's own default waits `servicing_cure_days`
    after the borrower was told the plan ended (`plan_broken`; `now` when the pass is yet to tell it),
    as after the first warning of a late installment (`cure.py`). 0 unless the loan's latest
    confirmed plan broke (`plans`: the pass's `standing`)."""
    plan = plans.broken.get(loan_id)
    if plan is None:
        return 0
    told = db.scalar(select(ServicingNotice.chain_time).where(
        ServicingNotice.loan_id == loan_id, ServicingNotice.installment == plan.id,
        ServicingNotice.kind == BROKEN_NOTICE).limit(1))  # fmt: skip
    return (told if told is not None else now) + settings.servicing_cure_days * DAY


def plans_altered(db: Session, loan_id: int) -> tuple[int, list[int]]:
    """(the loan's plans, ids of those the audit log does not bear out): each plan's terms as proposed,
    by its proposer, and its decision, by whoever decided it. A plan set `confirmed` in the database
    alone (the second person skipped) or whose terms were changed since has no entry recomputing to it."""
    plans = _plans(db, loan_id)
    if not plans:
        return 0, []
    logged = set(db.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.payload_hash).where(
        AuditEntry.subject == f"loan:{loan_id}", AuditEntry.action.in_((AUDIT_PROPOSE, AUDIT_DECIDE)))).all())  # fmt: skip
    altered = [plan.id for plan in reversed(plans) if (plan.proposed_by, AUDIT_PROPOSE, payload_hash(_terms(plan))) not in logged
               or (plan.decision is not None and (plan.decided_by, AUDIT_DECIDE, payload_hash(_decision(plan))) not in logged)]  # fmt: skip
    return len(plans), altered


def public(plan: HardshipPlan, judged: Judged) -> HardshipPlanPublic:
    confirmed = plan.decision == CONFIRMED
    return HardshipPlanPublic(
        id=plan.id, loan_id=plan.loan_id, installment_amount=plan.installment_amount, period_days=plan.period_days,
        periods=plan.periods, proposed_by=plan.proposed_by, proposed_at=plan.proposed_at, decision=plan.decision,
        decided_by=plan.decided_by, decided_at=plan.decided_at, status=judged.status, paid_since=judged.paid_since,
        owed_by_now=_owed_by(plan, judged.next_end) if judged.status == ON_TRACK else None,
        next_end=judged.next_end, broken_at=judged.broken_at, ends_at=ends_of(plan)[-1] if confirmed else None,
    )  # fmt: skip


def _owed_by(plan: HardshipPlan, end: int) -> int:
    """What the plan asks to have been paid by the end of the period ending at `end`."""
    return (ends_of(plan).index(end) + 1) * plan.installment_amount


def _terms(plan: HardshipPlan) -> dict:
    return {"plan_id": plan.id, "installment_amount": plan.installment_amount, "period_days": plan.period_days,
            "periods": plan.periods, "proposed_at": plan.proposed_at}  # fmt: skip


def _decision(plan: HardshipPlan) -> dict:
    return {"plan_id": plan.id, "decision": plan.decision, "decided_at": plan.decided_at}


def _loan(db: Session, loan_id: int, actor: str, doing: str) -> LoanRow:
    loan = db.get(LoanRow, loan_id)
    if loan is None:
        raise NotFound(f"loan {loan_id} is not in the index", field="loan_id", loan_id=loan_id)
    if same_person(db, actor, loan.borrower):
        raise Forbidden(f"loan {loan_id} was borrowed by your own person ({loan.borrower}): you cannot {doing} a "
                        "plan that holds its default; other staff do", field="loan_id", loan_id=loan_id)  # fmt: skip
    if loan.status != "active":
        raise Conflict(f"loan {loan_id} is {loan.status}: a plan is for an active loan", loan_id=loan_id,
                       status=loan.status)  # fmt: skip
    return loan


def _plans(db: Session, loan_id: int) -> list[HardshipPlan]:
    return list(db.scalars(select(HardshipPlan).where(HardshipPlan.loan_id == loan_id).order_by(HardshipPlan.id.desc())))


def _payments(db: Session, loan_id: int) -> list[tuple[int, int]]:
    return payments_of(db, select(LoanRow.loan_id).where(LoanRow.loan_id == loan_id)).get(loan_id, [])


def tell_borrowers(db: Session, settings: Settings, now: int, decimals: Callable[[], int]) -> int:
    """Each confirmed plan's borrower, once, of its terms (`hardship_plan`), and once more if it
    breaks (`plan_broken`): the notice's installment is the plan's id. Given by the servicing pass,
    in writing (e-mailed whatever the preference), as an agreement changing what is owed when must be.
    Only plans of active loans not told both yet are read: one read of the notices for them all."""
    plans = list(db.scalars(select(HardshipPlan).join(LoanRow, LoanRow.loan_id == HardshipPlan.loan_id).where(
        HardshipPlan.decision == CONFIRMED, LoanRow.status == "active").order_by(HardshipPlan.id)))  # fmt: skip
    given = set(db.execute(select(ServicingNotice.installment, ServicingNotice.kind).where(
        ServicingNotice.kind.in_((AGREED, BROKEN_NOTICE)), ServicingNotice.installment.in_([p.id for p in plans]),
        ServicingNotice.loan_id.in_({p.loan_id for p in plans}))).all()) if plans else set()  # fmt: skip
    plans = [p for p in plans if (p.id, AGREED) not in given or (p.id, BROKEN_NOTICE) not in given]
    if not plans:
        return 0
    loans = {row.loan_id: row for row in db.scalars(select(LoanRow).where(LoanRow.loan_id.in_({p.loan_id for p in plans})))}
    payments = payments_of(db, select(LoanRow.loan_id).where(LoanRow.loan_id.in_(list(loans))))
    told = 0
    for plan in plans:
        loan, ends, paid = loans[plan.loan_id], ends_of(plan), payments.get(plan.loan_id, [])
        if (plan.id, AGREED) not in given:
            told += add_notice(db, loan, plan.id, AGREED, ends[0], plan.installment_amount, (
                f"Your hardship plan for loan {loan.loan_id} is agreed: pay {money(plan.installment_amount, decimals())} "
                f"every {plan.period_days} days, {plan.periods} times, the first by {moment(ends[0])} and the last by "
                f"{moment(ends[-1])}. While you keep to it we send no reminders and the platform does not declare the "
                f"loan in default (at most until {day(_hold_ends(settings, db, loan.loan_id, ends[-1]))}). The loan's own "
                "schedule is not changed: what is still owed when the plan ends is due then. A payment missed by the "
                "end of its period ends the plan."), chain_time=now)  # fmt: skip
        judged = judge(settings, plan, paid, now)
        if judged.status == BROKEN:
            paid_by = sum(amount for at, amount in paid if plan.decided_at <= at <= judged.broken_at)
            told += add_notice(db, loan, plan.id, BROKEN_NOTICE, judged.broken_at, plan.installment_amount, (
                f"Your hardship plan for loan {loan.loan_id} has ended: by {moment(judged.broken_at)} the plan asked "
                f"for {money(_owed_by(plan, judged.broken_at), decimals())} in all and {money(paid_by, decimals())} "
                "was paid. Reminders start again and the loan's schedule applies: pay what is due on the loan's page, "
                "or contact us."), chain_time=now)  # fmt: skip
    return told


def _hold_ends(settings: Settings, db: Session, loan_id: int, plan_end: int) -> int:
    """When the plan's hold on the default ends at the latest: its last period's end, or the cap past
    the loan's `defaultableAt` at the last pass, whichever is first."""
    state = db.get(ServicingState, loan_id)
    if state is None:
        return plan_end
    return min(plan_end, state.defaultable_at + settings.servicing_plan_hold_max_days * DAY)
