"""The collections case log: what staff did about a late loan and what its borrower said
(contacts, promises to pay, disputes, hardship). Entries are only added, each in the audit log
too. A promise to pay is judged by the chain: kept once the borrower's payments since it reach the
amount, broken if its date passes first. Notes are sealed under each entry's own data key
(`CollectionAction`); the audit log holds the sealed note's hash, never the text.

A promise holds the platform's automatic default, which one staff member records alone: so the
hold is capped per loan (`servicing_promise_hold_max_days` past LoanBook's `defaultableAt`, however
many promises are chained), and nobody records entries on a loan their own person borrowed."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from backend import audit
from backend.audit.hashing import payload_hash
from backend.audit.models import AuditEntry
from backend.chain.loan_book import deadline_clock
from backend.chain.models import ChainEvent
from backend.chain.projection_models import LoanRow, RepaymentRow
from backend.config import Settings
from backend.db.session import lock_until_commit
from backend.errors import Conflict, Forbidden, NotFound
from backend.idempotency import IdempotencyKeyReused, Recorded
from backend.identity.crypto.holders import open_text, seal_text
from backend.identity.crypto.keyring import Keyring, load_keyring
from backend.identity.persons import same_person
from backend.servicing.aging import DAY, DELINQUENT
from backend.servicing.models import CollectionAction, ServicingState
from backend.servicing.schemas import (
    CollectionActionCreate,
    CollectionActionPublic,
    HardshipCreate,
)

AUDIT_ACTION = "collections.action"
# Seconds (chain clock, as entries are stamped) within which an identical entry by the same staff
# member, sent without an Idempotency-Key, is taken for a retry of the first: a client's timeout and
# retry fit well inside it, and two identical entries a minute apart say nothing the first did not.
RETRY_WINDOW = 60


class HardshipAwaitingAnswer(Conflict):
    """409: the borrower's previous hardship request on the loan is still unanswered."""

    code = "hardship_awaiting_answer"


def in_collections(db: Session, loan_id: int) -> bool:
    """16+ days late at the last servicing pass, or defaulted with money still to recover."""
    state = db.get(ServicingState, loan_id)
    loan = db.get(LoanRow, loan_id)
    return bool(state and state.bucket in DELINQUENT) or bool(loan and loan.status == "defaulted" and loan.recoverable > 0)


def record_action(db: Session, settings: Settings, loan_id: int, request: CollectionActionCreate, actor: str,
                  idempotency_key: str | None = None) -> Recorded[CollectionActionPublic]:  # fmt: skip
    """Add the entry, or answer a retry with the entry its first attempt made (`created` False):
    the one `actor` made under `idempotency_key`, or, without a key, an identical one (loan, kind,
    note, promise) `actor` made in the last `RETRY_WINDOW` seconds."""
    loan = db.get(LoanRow, loan_id)
    if loan is None:
        raise NotFound(f"loan {loan_id} is not in the index", field="loan_id", loan_id=loan_id)
    if same_person(db, actor, loan.borrower):
        raise Forbidden(f"loan {loan_id} was borrowed by your own person ({loan.borrower}): its case log, and the "
                        "promises to pay that hold its default, are for other staff",
                        field="loan_id", loan_id=loan_id)  # fmt: skip
    # Two attempts of one request at once (a client retrying before the first answered) must not
    # both find no earlier entry; per actor, since a key is unique per actor, whatever the loan.
    lock_until_commit(db, f"collections-action|{actor.lower()}")
    now = deadline_clock(settings)
    earlier = _earlier(db, settings, loan_id, request, actor, idempotency_key, now)
    if earlier is not None:  # before the queue check: a retry is answered as the first, the loan since paid or not
        made = next(a for a in actions_of(db, settings, [loan_id], lambda: now)[loan_id] if a.id == earlier.id)
        return Recorded(_warned(db, loan_id, request, made), created=False)
    if not in_collections(db, loan_id) and not awaiting_answer(db, loan_id):
        raise Conflict(f"loan {loan_id} is not in collections (16+ days late, defaulted and recovering, or its "
                       "borrower asked for hardship help)", loan_id=loan_id)  # fmt: skip
    made = _add(db, settings, loan_id, request.kind, request.note, actor, request.promised_amount, request.promised_in_days,
                idempotency_key=idempotency_key, now=now)  # fmt: skip
    return Recorded(_warned(db, loan_id, request, made), created=True)


def _warned(db: Session, loan_id: int, request: CollectionActionCreate, made: CollectionActionPublic) -> CollectionActionPublic:
    state = db.get(ServicingState, loan_id)
    if request.kind == "promise_to_pay" and state is not None and request.promised_amount < state.due_now:
        # LoanBook moves the default date only once a whole installment is settled: this promise
        # holds the platform's own default to its date, no longer (and anyone may call markDefault).
        made.warning = ("the promised amount is less than what is due now (at the last servicing pass): paid, it will "
                        "not move LoanBook's default date; the platform holds its own default only to the promise's "
                        "date")  # fmt: skip
    return made


def _earlier(db: Session, settings: Settings, loan_id: int, request: CollectionActionCreate, actor: str,
             idempotency_key: str | None, now: int) -> CollectionAction | None:  # fmt: skip
    """The entry an earlier attempt of this request made, if any. A key decides alone (a new key is
    a new request, however alike); reused with other content it is refused, naming the entry."""
    if idempotency_key is not None:
        row = db.scalar(select(CollectionAction).where(CollectionAction.actor == actor,
                                                       CollectionAction.idempotency_key == idempotency_key))  # fmt: skip
        if row is not None and not _same(settings, row, loan_id, request):
            raise IdempotencyKeyReused(f"Idempotency-Key {idempotency_key!r} was already used for another request "
                                       f"(case-log entry {row.id} on loan {row.loan_id}): send a new key with a new "
                                       "request", field="Idempotency-Key", action_id=row.id)  # fmt: skip
        return row
    recent = db.scalars(select(CollectionAction).where(
        CollectionAction.loan_id == loan_id, CollectionAction.actor == actor, CollectionAction.kind == request.kind,
        CollectionAction.chain_time >= now - RETRY_WINDOW).order_by(CollectionAction.id.desc()))  # fmt: skip
    return next((row for row in recent if _same(settings, row, loan_id, request)), None)


def _same(settings: Settings, row: CollectionAction, loan_id: int, request: CollectionActionCreate) -> bool:
    """Does `row` say what `request` asks to record? Its note is read back from the seal, as no
    unsealed copy or plain hash of it is kept (a short note could be guessed from its hash)."""
    days = (row.promised_by - row.chain_time) // DAY if row.promised_by is not None else None
    return ((row.loan_id, row.kind, row.promised_amount, days)
            == (loan_id, request.kind, request.promised_amount, request.promised_in_days)
            and open_note(load_keyring(settings), row) == request.note)  # fmt: skip


def _add(db: Session, settings: Settings, loan_id: int, kind: str, note: str, actor: str,
         promised_amount: int | None = None, promised_in_days: int | None = None, *, idempotency_key: str | None = None,
         now: int | None = None) -> CollectionActionPublic:  # fmt: skip
    now = now if now is not None else deadline_clock(settings)
    promised_by = now + promised_in_days * DAY if promised_in_days else None
    row = CollectionAction(loan_id=loan_id, kind=kind, actor=actor, chain_time=now, promised_amount=promised_amount,
                           promised_by=promised_by, idempotency_key=idempotency_key)  # fmt: skip
    db.add(row)
    db.flush()  # the id is what the note's key and ciphertext are bound to
    seal_note(load_keyring(settings), row, note)
    audit.record(db, actor=actor, action=AUDIT_ACTION, subject=f"loan:{loan_id}", payload=audit_payload(row))
    return actions_of(db, settings, [loan_id], lambda: now)[loan_id][0]


def add_entry(db: Session, settings: Settings, loan_id: int, kind: str, note: str, actor: str,
              now: int) -> CollectionActionPublic:  # fmt: skip
    """An entry the platform adds itself (a hardship plan confirmed: `plans.decide`), sealed and audited
    as staff's are."""
    return _add(db, settings, loan_id, kind, note, actor, now=now)


def audit_payload(row: CollectionAction) -> dict:
    """What the audit entry of a case-log entry commits to (the sealed note's hash, not its text):
    recomputed from the row, it shows the entry was not altered since."""
    return {"action_id": row.id, "kind": row.kind, "sealed_note_sha256": hashlib.sha256(row.sealed_note).hexdigest(),
            "promised_amount": row.promised_amount, "promised_by": row.promised_by}  # fmt: skip


def case_log_altered(db: Session, loan_id: int) -> tuple[int, list[int]]:
    """(entries in the loan's case log, ids of those no audit entry of the loan commits to)."""
    logged = set(db.scalars(select(AuditEntry.payload_hash).where(AuditEntry.subject == f"loan:{loan_id}",
                                                                  AuditEntry.action == AUDIT_ACTION)))  # fmt: skip
    rows = list(db.scalars(select(CollectionAction).where(CollectionAction.loan_id == loan_id).order_by(CollectionAction.id)))
    return len(rows), [row.id for row in rows if payload_hash(audit_payload(row)) not in logged]


def _note_aad(row: CollectionAction) -> bytes:
    return f"loanchain/collections/note/{row.id}".encode()


def seal_note(keyring: Keyring, row: CollectionAction, note: str) -> None:
    """Seal `note` into `row` (whose id is known) under a fresh data key of its own."""
    row.sealed_note = seal_text(keyring, row, note, _note_aad(row))


def open_note(keyring: Keyring, row: CollectionAction) -> str | None:
    """The row's note, or None once its key was shredded."""
    return open_text(keyring, row, row.sealed_note, _note_aad(row))


def ask_for_hardship(db: Session, settings: Settings, loan_id: int, request: HardshipCreate,
                     wallet: str) -> CollectionActionPublic:  # fmt: skip
    """A borrower's own word that it cannot pay as agreed: it goes into the loan's case log, and the
    loan into the collections queue until staff answer it, late or not."""
    loan = db.get(LoanRow, loan_id)
    if loan is None:
        raise NotFound(f"loan {loan_id} is not in the index", field="loan_id", loan_id=loan_id)
    if loan.borrower.lower() != wallet.lower():
        raise Forbidden(f"only loan {loan_id}'s borrower can ask for hardship help on it", loan_id=loan_id)
    if loan.status not in ("active", "defaulted") or not loan.owes:  # repaid, or recovered in full after default
        raise Conflict(f"loan {loan_id} is {loan.status}: nothing is owed on it", loan_id=loan_id, status=loan.status)
    # Two sent at once would both find none waiting (a lock by name: the loan's row is the indexer's).
    lock_until_commit(db, f"collections-hardship|{loan_id}")
    if awaiting_answer(db, loan_id):  # one open request a loan: repeats would only flood the case log and the queue
        raise HardshipAwaitingAnswer(f"loan {loan_id}: your last request for hardship help is still waiting for the "
                                     "collections team, who will answer it; you can ask again once they have",
                                     loan_id=loan_id)  # fmt: skip
    return _add(db, settings, loan_id, "hardship", request.note, loan.borrower)


def awaiting_answer(db: Session, loan_id: int | None = None) -> list[int]:
    """Loans (or just `loan_id`), active or defaulted, whose borrower's own hardship request staff
    have not answered yet (`open_requests`)."""
    opened = open_requests(db, loan_id)
    rows = db.scalars(select(LoanRow.loan_id).where(LoanRow.loan_id.in_([k for k, (kind, _) in opened.items()
                                                                          if kind == "hardship"]),
                                                    LoanRow.status.in_(("active", "defaulted")))
                      .order_by(LoanRow.loan_id))  # fmt: skip
    return list(rows)


def actions_of(db: Session, settings: Settings, loan_ids: list[int],
               clock: Callable[[], int], with_notes: bool = True) -> dict[int, list[CollectionActionPublic]]:  # fmt: skip
    """Each loan's case log, newest first, notes opened (or, `with_notes=False`, withheld and marked),
    promises judged at `clock()` (read only if there is one)."""
    out: dict[int, list[CollectionActionPublic]] = defaultdict(list)
    rows = list(db.scalars(select(CollectionAction).where(CollectionAction.loan_id.in_(loan_ids))
                           .order_by(CollectionAction.id.desc())))  # fmt: skip
    keyring = load_keyring(settings) if rows and with_notes else None
    for row in rows:
        paid, status = _judged(db, row, clock) if row.kind == "promise_to_pay" else (None, None)
        out[row.loan_id].append(CollectionActionPublic(
            id=row.id, loan_id=row.loan_id, kind=row.kind, note=open_note(keyring, row) if with_notes else None,
            note_withheld=not with_notes and row.wrapped_key is not None, actor=row.actor, chain_time=row.chain_time,
            promised_amount=row.promised_amount, promised_by=row.promised_by, promise_status=status, paid_since=paid,
        ))  # fmt: skip
    return out


def entry(db: Session, settings: Settings, loan_id: int, action_id: int) -> CollectionActionPublic:
    """One entry of the loan's case log, as `actions_of` shows it now (notes opened)."""
    return next(a for a in actions_of(db, settings, [loan_id], lambda: deadline_clock(settings))[loan_id] if a.id == action_id)


def promise_holds_default(db: Session, settings: Settings, loan_id: int, now: int, defaultable_at: int) -> bool:
    """Does an open promise, an unanswered hardship request or an open dispute (`paused`) still hold
    the platform's own default at `now`? Only up to the cap past `defaultable_at`, whatever their
    number or dates: each staff member records one alone, so chained promises would otherwise keep a
    loan that pays nothing out of default for good."""
    if now > defaultable_at + settings.servicing_promise_hold_max_days * DAY:
        return False
    return promise_pending(db, loan_id, now) or paused(db, settings, loan_id, now) is not None


HARDSHIP_WAITING, DISPUTE_OPEN = "a hardship request awaits an answer", "a dispute is open"


def paused(db: Session, settings: Settings, loan_id: int, now: int) -> str | None:
    """Why reminders, texts and the automatic default are paused on the loan at chain time `now`,
    or None (see `paused_loans`)."""
    return paused_loans(db, settings, now, loan_id).get(loan_id)


# What answers a hardship request or a dispute: staff reached the borrower, took a promise to pay, or
# two of them agreed a hardship plan (`plan`, added by `plans.decide`). A `no_answer` ("called, nobody
# picked up") or a `note` does not.
ANSWERS = ("contacted", "promise_to_pay", "plan")


def open_requests(db: Session, loan_id: int | None = None) -> dict[int, tuple[str, int]]:
    """Loans (or just `loan_id`) with a request staff have not answered: the borrower's own hardship
    request or a dispute, with no `ANSWERS` entry after it; (its kind, its chain time) by loan."""
    asks = or_(and_(CollectionAction.kind == "hardship", CollectionAction.actor == LoanRow.borrower),
               CollectionAction.kind == "dispute")  # fmt: skip
    latest = (select(func.max(CollectionAction.id)).join(LoanRow, LoanRow.loan_id == CollectionAction.loan_id)
              .where(or_(asks, CollectionAction.kind.in_(ANSWERS))).group_by(CollectionAction.loan_id))  # fmt: skip
    if loan_id is not None:
        latest = latest.where(CollectionAction.loan_id == loan_id)
    rows = db.execute(select(CollectionAction.loan_id, CollectionAction.kind, CollectionAction.chain_time)
                      .join(LoanRow, LoanRow.loan_id == CollectionAction.loan_id)
                      .where(CollectionAction.id.in_(latest), asks))  # fmt: skip
    return {loan: (kind, chain_time) for loan, kind, chain_time in rows}


def paused_loans(db: Session, settings: Settings, now: int, loan_id: int | None = None) -> dict[int, str]:
    """Loans (or just `loan_id`) whose reminders (by text and e-mail), texts and automatic default are
    paused at chain time `now`, with why: the borrower's own hardship request, or a dispute, staff
    have not answered (`open_requests`), made at most `servicing_hardship_hold_days` ago. Collecting
    while a request for help waits for an answer ("dual tracking") is what regulators object to
    (review-servicing M2); staff end the pause with an answer (`ANSWERS`), and the bound ends one
    nobody answers."""
    since = now - settings.servicing_hardship_hold_days * DAY
    return {loan: DISPUTE_OPEN if kind == "dispute" else HARDSHIP_WAITING
            for loan, (kind, chain_time) in open_requests(db, loan_id).items() if chain_time >= since}


def promise_pending(db: Session, loan_id: int, now: int) -> bool:
    """Does a promise to pay on the loan run to `now` or later, pending or kept? A kept one holds
    too: a part payment (the usual "100 now, the rest on the 1st") leaves LoanBook's defaultableAt
    where it was, and a borrower who paid as promised must not be defaulted sooner than one who paid
    nothing (review-servicing H1). Only its date passing ends the hold (unpaid by then: broken)."""
    return db.scalar(select(CollectionAction.id).where(CollectionAction.loan_id == loan_id,
                                                       CollectionAction.kind == "promise_to_pay",
                                                       CollectionAction.promised_by >= now).limit(1)) is not None  # fmt: skip


def promise_status(db: Session, row: CollectionAction, at: int) -> str:
    """kept | broken | pending, as judged at chain time `at`."""
    return _judged(db, row, lambda: at)[1]


def _judged(db: Session, row: CollectionAction, clock: Callable[[], int]) -> tuple[int, str]:
    """(paid since the promise, kept | broken | pending), by the chain's payments."""
    paid = _paid_between(db, row.loan_id, row.chain_time, row.promised_by)
    return paid, "kept" if paid >= row.promised_amount else "broken" if clock() > row.promised_by else "pending"


def payments_of(db: Session, loan_ids: Select) -> dict[int, list[tuple[int, int]]]:
    """(block time, amount) of each repayment of the loans `loan_ids` selects: what judging a promise
    reads (`_paid_between`), in one read for a rule that judges every promise on the book."""
    rows = db.execute(select(RepaymentRow.loan_id, ChainEvent.block_timestamp, RepaymentRow.amount)
                      .join(ChainEvent, ChainEvent.id == RepaymentRow.event_id)
                      .where(RepaymentRow.loan_id.in_(loan_ids), ChainEvent.block_timestamp.is_not(None)))  # fmt: skip
    found: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for loan_id, at, amount in rows:
        found[loan_id].append((at, amount))
    return found


def promise_kept(row: CollectionAction, payments: list[tuple[int, int]]) -> bool:
    """`promise_status(...) == "kept"` from the loan's `payments_of`: paid enough between the promise
    and the day it named."""
    if row.promised_by is None:
        return False
    return sum(amount for at, amount in payments if row.chain_time <= at <= row.promised_by) >= row.promised_amount


def _paid_between(db: Session, loan_id: int, start: int, end: int) -> int:
    # Summed in Python: amounts are uint256 kept as decimal strings.
    amounts = db.scalars(select(RepaymentRow.amount).join(ChainEvent, ChainEvent.id == RepaymentRow.event_id)
                         .where(RepaymentRow.loan_id == loan_id, ChainEvent.block_timestamp >= start,
                                ChainEvent.block_timestamp <= end))  # fmt: skip
    return sum(amounts)

