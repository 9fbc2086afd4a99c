"""The servicing pass and what it feeds: aging, reminders, collections, defaults.

One pass (the `servicing` worker, or `loanchain servicing run`) closes the funding windows that
ended (funding.py), takes every loan the index holds as active, asks LoanBook where it stands,
stores that position, gives the borrower each notice it is due exactly once (a loan fully funded
and paid out too: payout_notices.py), and puts
`markDefault` in the outbox for a loan the contract now lets anyone default, so the reserve's
cover reaches investors without anyone having to remember to call it (unless a promise to pay
recorded in collections is still open: then at its date, if it was not kept). Last, it tells note
holders what happened to their loans (investor_notices.py).
Reads (`aging_report`, `collections_queue`, `notices_of`) use the stored positions only."""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from backend import audit
from backend.chain import deploy_params
from backend.chain.loan_book import chain_time, deadline_clock
from backend.chain.projection_models import LoanRow
from backend.chain.servicing_reader import LoanPosition, loan_positions
from backend.config import Settings
from backend.errors import Conflict, LoanchainError, NotFound
from backend.servicing import plans
from backend.servicing.aging import (
    BUCKETS,
    DELINQUENT,
    DUE_SOON,
    NOTICE_OF_BUCKET,
    bucket_of,
    days_past_due,
    standing,
    stored_standing,
)
from backend.servicing.collections import (
    actions_of,
    awaiting_answer,
    open_requests,
    promise_holds_default,
)
from backend.servicing.cure import cure_ends
from backend.servicing.funding import (
    FundingReport,
    close_funding_windows,
    has_funding_loans,
)
from backend.servicing.investor_notices import (
    has_closed_orders,
    tell_bidders,
    tell_investors,
    tell_makers,
    tell_mandate_fundings,
    tell_rule_matches,
)
from backend.servicing.loan_calls import last_statuses, queue_call
from backend.servicing.mandate_notices import has_active_mandates, tell_mandates_ending
from backend.servicing.models import ServicingNotice, ServicingState
from backend.servicing.notices import add_notice, moment, money, token_decimals
from backend.servicing.payout_notices import tell_borrowers_funded_and_paid_out
from backend.servicing.schemas import (
    AgingPublic,
    BucketPublic,
    CollectionItemPublic,
    NoticePublic,
    PassReportPublic,
    ServicingPublic,
)

DAY = 86_400
GRACE_DAYS = deploy_params.GRACE_PERIOD // DAY
DEFAULT_DAYS = deploy_params.DEFAULT_AFTER // DAY
FEE_DUST_TOKENS = 1  # late fees alone below this many whole tokens: no automatic default

log = logging.getLogger("loanchain.servicing")


def default_intent_key(loan_id: int) -> str:
    return f"default:{loan_id}"


def _message(kind: str, row: LoanRow, pos: LoanPosition, amount: int, decimals: int, cure_until: int | None = None) -> str:
    k, due, owed = pos.installments_paid + 1, moment(pos.next_due_date), money(amount, decimals)
    # A default notice that is the borrower's first warning (`cure.py`) says how long the platform waits.
    cure = (f" The platform will not declare it before {moment(cure_until)}: pay what is past due by then and the "
            "loan goes on as agreed (anyone may still declare it on-chain before)." if cure_until else "")
    if row.principal_outstanding == 0:  # every installment paid, late fees not: LoanBook keeps the loan open
        fees = f"Loan {row.loan_id}: every installment is paid, but {money(pos.due_now, decimals)} of late fees is still owed; the loan closes once it is paid."
        return fees if kind in (DUE_SOON, "overdue", "late") else f"{fees} After {moment(pos.defaultable_at)} the loan can be declared in default.{cure}"
    return {
        DUE_SOON: f"Loan {row.loan_id}: installment {k} of {row.installments} is due on {due}: {owed}.",
        "overdue": f"Loan {row.loan_id}: installment {k} was due on {due} and is unpaid: {owed} is due now. "
        f"Pay by {moment(pos.next_due_date + deploy_params.GRACE_PERIOD)} (the {GRACE_DAYS}-day grace period) to avoid a late fee.",
        "late": f"Loan {row.loan_id}: installment {k} is more than {GRACE_DAYS} days late and a late fee was added: "
        f"{owed} is due now.",
        "collections": f"Loan {row.loan_id}: more than 30 days late ({owed} due). Contact us to agree a plan; "
        f"after {moment(pos.defaultable_at)} the loan can be declared in default.",
        # What a default makes owed (LoanBook's payoff: the whole balance, interest and fees), not
        # only the past-due part (review-servicing M1).
        "default": f"Loan {row.loan_id}: more than {DEFAULT_DAYS} days late; the loan can now be declared in default, "
        f"and then the whole balance is owed at once: {owed} today, principal, interest and fees "
        f"({money(pos.due_now, decimals)} of it past due).{cure}",
    }[kind]


def _notify(db: Session, row: LoanRow, pos: LoanPosition, kind: str, amount: int, decimals: int, now: int,
            cure_until: int | None = None) -> bool:  # fmt: skip
    message = _message(kind, row, pos, amount, decimals, cure_until if cure_until and cure_until > now else None)
    return add_notice(db, row, pos.installments_paid + 1, kind, pos.next_due_date, amount, message, chain_time=now)


DEFAULTED = "defaulted"


def tell_borrowers_defaulted(db: Session, decimals: Callable[[], int]) -> int:
    """The borrower of each loan declared in default, once, while something is still owed: what
    (LoanBook's `recoverable`: the whole debt at the default, less what was paid since) and how to pay."""
    untold = ~exists().where(ServicingNotice.loan_id == LoanRow.loan_id, ServicingNotice.kind == DEFAULTED,
                             ServicingNotice.installment == 0, ServicingNotice.recipient == LoanRow.borrower)  # fmt: skip
    told = 0
    for row in db.scalars(select(LoanRow).where(LoanRow.status == "defaulted", LoanRow.recoverable > 0, untold)
                          .order_by(LoanRow.loan_id)):  # fmt: skip
        message = (f"Loan {row.loan_id} was declared in default: the whole balance is owed now, "
                   f"{money(row.recoverable, decimals())} (principal, interest and fees). Collections continue: pay it "
                   "from your wallet on the loan's page, or contact us to agree a plan; what you pay goes to the "
                   "loan's investors.")  # fmt: skip
        told += add_notice(db, row, 0, DEFAULTED, 0, row.recoverable, message)
    return told


def _store(db: Session, row: LoanRow, pos: LoanPosition, now: int) -> None:
    values = standing(pos, now).model_dump() | {"borrower": row.borrower, "updated_at": datetime.now(UTC)}
    state = db.get(ServicingState, row.loan_id)
    if state is None:
        db.add(ServicingState(loan_id=row.loan_id, **values))
    else:
        for key, value in values.items():
            setattr(state, key, value)


def active_loan_count(db: Session) -> int:
    return db.scalar(select(func.count()).where(LoanRow.status == "active")) or 0


def servicing_pass(db: Session, settings: Settings, progress: Callable[[], None] | None = None) -> PassReportPublic:
    """One pass in the caller's transaction. Its audit entries (every notice, every call queued) are
    appended at its end: the log's head row is then locked from there to the commit only, not
    across the pass's chain reads, which every audited API write would otherwise wait behind."""
    with audit.deferred(db):
        return _pass(db, settings, progress)


def _pass(db: Session, settings: Settings, progress: Callable[[], None] | None) -> PassReportPublic:
    rows = list(db.scalars(select(LoanRow).where(LoanRow.status == "active").order_by(LoanRow.loan_id)))
    db.execute(delete(ServicingState).where(ServicingState.loan_id.not_in([r.loan_id for r in rows])))
    funding = has_funding_loans(db)
    # The contract judges deadlines and lateness by block time; with nothing open, don't ask.
    now = deadline_clock(settings) if rows or funding else None
    decimals = token_decimals(settings)  # shared by every notice of the pass
    closed = close_funding_windows(db, settings, now, decimals) if funding else FundingReport()
    active = _service_active(db, settings, rows, now, decimals, progress) if rows else (Counter(), 0, 0)
    buckets, notices, defaults = active
    notices += tell_borrowers_funded_and_paid_out(db, settings, now, decimals) if rows or funding else 0
    notices += tell_borrowers_defaulted(db, decimals)
    notices += plans.tell_borrowers(db, settings, now, decimals) if rows else 0  # after the positions: it reads them
    told = tell_investors(db, settings, now, decimals)  # after the positions above: `loan_late` reads them
    told += tell_rule_matches(db, now, decimals) if funding else 0
    told += tell_mandate_fundings(db, decimals)
    told += tell_mandates_ending(db, settings, now or deadline_clock(settings), decimals) if has_active_mandates(db) else 0
    told += tell_bidders(db, now, decimals) if rows else 0  # after the positions: it reads their buckets
    told += tell_makers(db, now or deadline_clock(settings), decimals) if has_closed_orders(db) else 0
    return PassReportPublic(as_of=now or int(time.time()), loans=len(rows), buckets=dict(buckets),
                            notices_created=closed.notices + notices + told, investor_notices=told,
                            defaults_queued=defaults, cancels_queued=closed.cancels,
                            disbursals_queued=closed.disbursals)  # fmt: skip


def _service_active(
    db: Session, settings: Settings, rows: list[LoanRow], now: int, decimals: Callable[[], int],
    progress: Callable[[], None] | None,
) -> tuple[Counter[str], int, int]:
    """Position, borrower notices and default for each active loan: (buckets, notices, defaults)."""
    buckets: Counter[str] = Counter()
    notices = defaults = 0
    # The latest block's time, read before the positions (so they are read at that block or a later
    # one): a notice is worded from amounts LoanBook computed at its bucket's time, so a `late` notice
    # saying a fee was added never quotes an amount read before the fee (review-servicing L1).
    block_time = chain_time(settings)
    kept = plans.standing(db, now)  # the confirmed plans, judged once for the pass
    held = plans.paused_loans(db, settings, now, plans=kept)  # requests and disputes open, plans kept
    for row, pos in zip(rows, loan_positions(settings, [r.loan_id for r in rows]), strict=True):
        if pos.status != "active":  # the index has not caught up with a repayment or a default yet
            continue
        bucket = bucket_of(now, pos.next_due_date, pos.defaultable_at)
        buckets[bucket] += 1
        _store(db, row, pos, now)
        # Reminders wait while a hardship request or a dispute is open, or a plan is kept; notices owed in
        # writing (IN_WRITING) are still given, and go by e-mail, not by text (sms.py).
        reminding = bucket in ("current", "grace") and row.loan_id not in held
        # The right to cure (`cure.py`): read before this pass's own notice, which starts it when it is the first.
        cure_until = (max(cure_ends(db, settings, row.loan_id, pos.installments_paid + 1, row.borrower, now),
                          plans.cure_after_broken(db, settings, kept, row.loan_id, now))
                      if bucket == "defaultable" else None)  # fmt: skip
        if bucket == "current" and reminding and 0 < pos.next_due_date - now <= settings.servicing_reminder_days * DAY:
            notices += _notify(db, row, pos, DUE_SOON, pos.due_now or row.installment_amount, decimals(), now)
        elif (bucket in NOTICE_OF_BUCKET and (bucket != "grace" or reminding)
              and bucket == bucket_of(block_time, pos.next_due_date, pos.defaultable_at)):  # fmt: skip
            # (the wall clock past a threshold the last block is not: the next pass words it)
            kind = NOTICE_OF_BUCKET[bucket]
            notices += _notify(db, row, pos, kind, pos.payoff if kind == "default" else pos.due_now, decimals(), now,
                               cure_until)  # fmt: skip
        # A promise to pay still open holds the platform's own default until its date, and promises
        # together no longer than `servicing_promise_hold_max_days` past the threshold; a hardship plan
        # on track, up to `servicing_plan_hold_max_days`.
        # Queued once the latest block is past the threshold, as markDefault's estimate will judge
        # it; the wall clock (`now`) runs up to a block ahead of it.
        # Late-fee dust alone (every installment paid, less than one token of fees) is left to staff:
        # LoanBook allows the default, the platform does not take one over it (review-servicing M4).
        dust = pos.installments_paid == row.installments and pos.payoff < FEE_DUST_TOKENS * 10 ** decimals()
        if (bucket == "defaultable" and settings.servicing_auto_default and not dust and now >= cure_until
                and not promise_holds_default(db, settings, row.loan_id, now, pos.defaultable_at)
                and not plans.plan_holds_default(settings, kept, row.loan_id, now, pos.defaultable_at)):  # fmt: skip
            if block_time > pos.defaultable_at:
                payload = {"days_past_due": days_past_due(now, pos.next_due_date), "payoff": pos.payoff}
                defaults += queue_call(db, settings, row.loan_id, "markDefault", default_intent_key(row.loan_id),
                                       "loan.default", payload)  # fmt: skip
        if progress:
            progress()
    return buckets, notices, defaults


def servicing_step(settings: Settings) -> int:
    """The worker's round: one pass in its own transaction, then what follows it (`after_pass`);
    returns the work done (0 = idle)."""
    from backend.db.session import session_scope

    with session_scope(settings) as session:
        report = servicing_pass(session, settings)
    queued = report.defaults_queued + report.cancels_queued + report.disbursals_queued
    return report.notices_created + queued + after_pass(settings).work


@dataclass
class AfterPass:
    published: bool = False  # a monthly disclosure report
    released: int = 0  # release letters issued
    emailed: int = 0
    texted: int = 0

    @property
    def work(self) -> int:
        return self.published + self.released + self.emailed + self.texted


def after_pass(settings: Settings) -> AfterPass:
    """What follows a servicing pass, each in its own transaction so none holds up the others: the
    monthly disclosure report when one is due, the release letters of loans settled since, and the
    delivery of the notices due by e-mail and SMS. The worker and `loanchain servicing run` both do it."""
    from backend.db.session import session_scope
    from backend.disclosure.reports import publish_due
    from backend.servicing.delivery import deliver_notices
    from backend.servicing.release import issue_releases  # it reads the loan statement, which reads servicing
    from backend.servicing.sms import deliver_sms

    done = AfterPass()
    if settings.disclosure_publish_monthly:
        try:
            with session_scope(settings) as session:
                done.published = publish_due(session, settings) is not None
        except LoanchainError as exc:  # e.g. a node without the month's old state: notices still go out
            log.warning("monthly disclosure report not published: %s", exc)
    try:
        with session_scope(settings) as session:
            done.released = issue_releases(session, settings)
    except LoanchainError as exc:  # e.g. the content store is down: the next pass issues them
        log.warning("release letters not issued: %s", exc)
    try:
        done.emailed = deliver_notices(settings)
    finally:  # an e-mail round that raised must not hold up the texts; its error is still raised after them
        done.texted = deliver_sms(settings)
    return done


# --- reads ---------------------------------------------------------------------------------


def position_now(db: Session, settings: Settings, loan_id: int) -> ServicingPublic:
    """Where an active loan stands now, read from LoanBook rather than the last servicing pass:
    what its borrower is about to pay, right after a payment too."""
    if db.get(LoanRow, loan_id) is None:
        raise NotFound(f"loan {loan_id} is not in the index", field="loan_id", loan_id=loan_id)
    (pos,) = loan_positions(settings, [loan_id])
    if pos.status != "active":
        raise Conflict(f"loan {loan_id} is {pos.status}: only an active loan has payments due", loan_id=loan_id,
                       status=pos.status)  # fmt: skip
    return standing(pos, deadline_clock(settings))


def servicing_of(db: Session, loan_id: int) -> ServicingPublic | None:
    state = db.get(ServicingState, loan_id)
    return stored_standing(state) if state is not None else None


def aging_report(db: Session) -> AgingPublic:
    pairs = db.execute(select(ServicingState, LoanRow).join(LoanRow, LoanRow.loan_id == ServicingState.loan_id)).all()
    buckets = []
    for name in BUCKETS:
        members = [(state, loan) for state, loan in pairs if state.bucket == name]
        buckets.append(BucketPublic(bucket=name, loans=len(members),
                                    principal_outstanding=sum(loan.principal_outstanding for _, loan in members),
                                    due_now=sum(state.due_now for state, _ in members)))  # fmt: skip
    outstanding = sum(b.principal_outstanding for b in buckets)
    delinquent = sum(b.principal_outstanding for b in buckets if b.bucket in DELINQUENT)
    return AgingPublic(
        as_of=max((state.as_of for state, _ in pairs), default=None),
        buckets=buckets,
        delinquent_share=delinquent / outstanding if outstanding else None,
    )


def _notice_kinds(db: Session, loan_ids: list[int]) -> dict[int, list[str]]:
    """Kinds of notice each borrower was given, first given first (collections talk to the
    borrower, not investors)."""
    kinds: dict[int, list[str]] = defaultdict(list)
    for loan_id, kind in db.execute(select(ServicingNotice.loan_id, ServicingNotice.kind)
                                    .where(ServicingNotice.loan_id.in_(loan_ids),
                                           ServicingNotice.recipient == ServicingNotice.borrower)
                                    .order_by(ServicingNotice.id)):  # fmt: skip
        if kind not in kinds[loan_id]:
            kinds[loan_id].append(kind)
    return kinds


NOTES_READ = "collections.notes_read"


def collections_queue(db: Session, settings: Settings, with_notes: bool = True, reader: str = "cli",
                      limit: int | None = None, offset: int = 0) -> list[CollectionItemPublic]:  # fmt: skip
    """Loans 16+ days past due, defaulted loans with money still to recover, and loans whose borrower
    asked for hardship help and awaits an answer; each with its case log (promises judged on the
    chain's clock; its notes withheld, marked, unless `with_notes`; opened, one audit entry names
    `reader` and the loans whose notes it read; a page of `limit` after `offset`, or all, the CLI's,
    and only the page's notes are opened). Most in need of a person first
    (review-servicing L4): a hardship request or a dispute waiting for an answer (reminders and the
    default wait on it); then defaultable loans a promise to pay or a hardship plan holds, its date
    (the end of the plan's running period) nearest first (at that date the default may go ahead); then loans 16+ days late, most days first; then defaultable
    loans nothing holds (the platform declares them in default); then defaulted loans recovering.
    A fixed number of statements whatever the queue's length: the notices, default calls and case
    logs of all its loans are read at once."""
    rows = []  # (loan_id, borrower, bucket, days past due, owed)
    late = db.scalars(select(ServicingState).where(ServicingState.bucket.in_(DELINQUENT))
                      .order_by(ServicingState.days_past_due.desc(), ServicingState.loan_id))  # fmt: skip
    rows += [(state.loan_id, state.borrower, state.bucket, state.days_past_due, state.due_now) for state in late]
    rows += [(loan.loan_id, loan.borrower, "defaulted", None, loan.recoverable)
             for loan in db.scalars(select(LoanRow).where(LoanRow.status == "defaulted").order_by(LoanRow.loan_id))
             if loan.recoverable > 0]  # fmt: skip
    queued = {row[0] for row in rows}
    # A borrower's hardship request, late or not, until staff answer it.
    waiting = awaiting_answer(db)
    asking = [loan_id for loan_id in waiting if loan_id not in queued]
    if asking:
        borrowers = dict(db.execute(select(LoanRow.loan_id, LoanRow.borrower).where(LoanRow.loan_id.in_(asking))).all())
        states = {s.loan_id: s for s in db.scalars(select(ServicingState).where(ServicingState.loan_id.in_(asking)))}
        for loan_id in asking:
            state = states.get(loan_id)
            rows.append((loan_id, borrowers[loan_id], state.bucket if state else "current",
                         state.days_past_due if state else 0, state.due_now if state else 0))  # fmt: skip
    ids = [row[0] for row in rows]
    notices = _notice_kinds(db, ids) if ids else {}
    calls = last_statuses(db, default_intent_key(""), {default_intent_key(loan_id) for loan_id in ids}) if ids else {}
    clock = cache(lambda: deadline_clock(settings))  # read once, and only if a promise is to be judged
    logs = actions_of(db, settings, ids, clock, with_notes=False)  # to rank by; the page's notes are opened below
    waiting_set = set(waiting)
    disputes = {loan_id for loan_id, (kind, _) in open_requests(db).items() if kind == "dispute"}
    shown_plans = plans.queue_plans(db, settings, ids, clock) if ids else {}
    items = [CollectionItemPublic(loan_id=loan_id, borrower=borrower, bucket=bucket, days_past_due=days, amount_owed=owed,
                                  notices=notices.get(loan_id, []), default_status=calls.get(default_intent_key(loan_id)),
                                  actions=logs.get(loan_id, []), awaiting_answer=loan_id in waiting_set,
                                  dispute_open=loan_id in disputes, plan=shown_plans.get(loan_id))
             for loan_id, borrower, bucket, days, owed in rows]  # fmt: skip
    # Stable: within each group, the order of `rows` (most days first, then by loan id): one order for
    # a queue that did not change, so its pages neither overlap nor skip.
    items = sorted(items, key=lambda item: _urgency(item, clock))
    items = items[offset:] if limit is None else items[offset:offset + limit]
    if with_notes and items:
        opened_logs = actions_of(db, settings, [item.loan_id for item in items], clock)
        for item in items:
            item.actions = opened_logs.get(item.loan_id, [])
        opened = sorted(loan_id for loan_id, log in opened_logs.items() if any(a.note is not None for a in log))
        if opened:  # notes tell of health and jobs: who read whose, once a view, as a KYC reveal is (review-servicing L2)
            audit.record(db, actor=reader, action=NOTES_READ, subject="collections:queue", payload={"loan_ids": opened})
    return items


def _urgency(item: CollectionItemPublic, clock: Callable[[], int]) -> tuple[int, int]:
    if item.awaiting_answer or item.dispute_open:
        return 0, 0
    if item.bucket == "defaultable":
        held = [a.promised_by for a in item.actions if a.kind == "promise_to_pay" and a.promised_by >= clock()]
        held += [item.plan.next_end] if item.plan and item.plan.status == "on_track" else []
        return (1, min(held)) if held else (3, 0)
    return (2, 0) if item.bucket in DELINQUENT else (4, 0)


def notices_of(db: Session, wallet: str, limit: int = 100, offset: int = 0) -> list[NoticePublic]:
    """What the wallet was told, as a borrower and as an investor, newest first."""
    rows = db.scalars(select(ServicingNotice).where(ServicingNotice.recipient == wallet)
                      .order_by(ServicingNotice.id.desc()).limit(limit).offset(offset))  # fmt: skip
    return [_public_notice(n) for n in rows]


def borrower_notices(db: Session, loan_id: int) -> list[NoticePublic]:
    """What the loan's borrower was told about it, oldest first (an auditor's record of notice)."""
    rows = db.scalars(select(ServicingNotice).where(ServicingNotice.loan_id == loan_id,
                                                    ServicingNotice.recipient == ServicingNotice.borrower)
                      .order_by(ServicingNotice.id))  # fmt: skip
    return [_public_notice(n) for n in rows]


def _public_notice(n: ServicingNotice) -> NoticePublic:
    return NoticePublic(loan_id=n.loan_id, installment=n.installment, kind=n.kind, due_date=n.due_date,
                        amount=n.amount, message=n.message, created_at=n.created_at, emailed_at=n.emailed_at)
