"""The keeper that carries out standing instructions under investors' funding mandates.

Each pass, for every active, unexpired mandate whose wallet still has a standing instruction, it
funds the instruction's matching open loans (its grades, APR and term filters, within the
mandate's signed bounds) up to the lower of the instruction's and the mandate's `per_loan`, with
`FundingAgent.fundWithMandate` through the outbox:

- what each funding may take is checked first against the chain: what is left of the mandate's
  budget (`mandateSpent`), the wallet's authorization of the agent, its balance and allowance, its
  KYC, LoanBook not paused; and, right before queuing, the wallet's KYC record in the database,
  under the lock its erasure takes (`of_identified`): the chain's attestation outlives an erasure
  until its revocation is mined; and
  what one pass plans for a wallet, a mandate or a loan is set against the next funding's check;
- per borrower *person*, not only per loan: what a mandate puts into all the open loans of one
  borrower's person (every wallet verified with a national ID it was verified with, `identity.persons.borrower_wallets_of`)
  stays within the same per-loan amount, counting the notes the wallet holds of them, its fundings
  in flight (`in_flight.py`) and this pass's plan. The signed mandate has no bound of its own for
  it (FundingAgent checks `perLoan` per loan id: it cannot tell two wallets of one person apart), so
  the keeper holds it: a bust-out's several loans at once, from several wallets, take no more of a
  mandate than one loan would;
- mandates in turn: the one whose last funding is the oldest (or that has funded nothing yet, the
  earliest given first) is served first, so that when loans are scarce no investor's mandate
  always comes first; within a mandate, oldest loans first (earliest funding deadline); at most
  `mandate_keeper_max_per_pass` fundings a pass (the platform's signer pays their gas);
- the intent's key names the mandate and the loan, digests the facts it was checked against and
  counts the attempts, so a retry or a second keeper never queues the same funding twice; one that
  failed anyway (the investor moved its money between the check and the block) is tried again at
  most `MAX_ATTEMPTS` (3, `backend/chain/keeping.py`) times against the same facts;
- while a funding is in flight, or mined beyond what the index has read, the keeper waits: the
  notes held and the loans' funding it would read are stale;
- what a mandate funded into a loan since cancelled, whose refund its investor has taken (the
  index holds none of the loan's notes for the wallet), it gives back to the mandate's budget with
  `FundingAgent.releaseFunding`, once per (mandate, loan) (`release_refunded`): else the budget
  would count money back in the wallet as spent, and auto-invest would stop early.
The agent checks every bound the investor signed on every use, and LoanBook every rule of funding:
this keeper can only do less."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend import audit
from backend.chain import mandates as fm
from backend.chain.keeping import next_attempt_key, none_queued_since, queued_so_far, waits_for_index
from backend.chain.kyc_reader import is_verified
from backend.chain.loan_book import deadline_clock
from backend.chain.models import ChainEvent, Intent, IntentStatus, key_prefixed
from backend.chain.outbox import enqueue
from backend.chain.projection_models import LoanRow, NoteBalanceRow
from backend.chain.wallet_calls import LoanBookWallet
from backend.config import Settings
from backend.identity.kyc.erasure_lock import hold_erasures, identified
from backend.identity.persons import borrower_wallets_of
from backend.lending.exposure import OPEN
from backend.lending.in_flight import held_or_in_flight
from backend.lending.mandates import FUNDING_KEY_PREFIX, any_active, mandate_of, queue_under_active
from backend.lending.models import FundingMandateRow, InvestmentRule, MandateStatus
from backend.lending.rules import matching

KEY_PREFIX = FUNDING_KEY_PREFIX
RELEASE_KEY_PREFIX = "mandate.release:"  # not under KEY_PREFIX: withdrawing a mandate drops its fundings, not these
EXPIRY_MARGIN = 300  # seconds: a funding must mine before its mandate expires


@dataclass(frozen=True)
class Funding:
    """One `FundingAgent.fundWithMandate` call: `amount` of `loan_id` for the mandate's wallet."""

    mandate_hash: str
    wallet: str
    loan_id: int
    amount: int
    key: str


@dataclass(frozen=True)
class Release:
    """One `FundingAgent.releaseFunding` call: `amount` the mandate funded into the cancelled loan `loan_id`."""

    mandate_hash: str
    wallet: str
    loan_id: int
    amount: int
    key: str


def _in_bounds(loan: LoanRow, mandate: fm.FundingMandate) -> bool:
    return (mandate.min_apr_bps <= loan.apr_bps <= mandate.max_apr_bps and loan.installments <= mandate.max_installments
            and loan.installments * loan.installment_period <= mandate.max_term)


def person_loans(db: Session, borrower: str) -> frozenset[int]:
    """The open loans (being funded, active, defaulted) of every wallet of `borrower`'s person."""
    wallets = sorted(borrower_wallets_of(db, borrower))
    return frozenset(db.scalars(select(LoanRow.loan_id).where(LoanRow.borrower.in_(wallets), LoanRow.status.in_(OPEN))))


def plan_fundings(db: Session, settings: Settings, now: int) -> list[Funding]:
    """The fundings the active mandates call for now, each one the chain would accept as far as can be read."""
    rows = list(db.execute(select(FundingMandateRow, InvestmentRule)
                           .join(InvestmentRule, InvestmentRule.wallet == FundingMandateRow.wallet)
                           .where(FundingMandateRow.status == MandateStatus.ACTIVE,
                                  FundingMandateRow.expiry > now + EXPIRY_MARGIN)
                           .order_by(FundingMandateRow.created_at)))  # fmt: skip
    rows.sort(key=lambda pair: _last_served(db, pair[0].mandate_hash))  # stable: the earliest given first among equals
    planned: Counter[int] = Counter()  # what this pass already plans to put into each loan
    loans_of_person: dict[str, frozenset[int]] = {}  # by borrower wallet, for the pass
    fundings = []
    for row, rule in rows:
        mandate = mandate_of(row)
        book = LoanBookWallet(settings, row.wallet)
        if not is_verified(settings, row.wallet, book.investor_level()) or not fm.agent_authorized(settings, row.wallet):
            continue
        left = mandate.budget - fm.mandate_spent(settings, row.mandate_hash)
        money = min(book.balance(), book.allowance())
        ticket, per_loan = book.min_ticket(), min(rule.per_loan, mandate.per_loan)
        held = dict(db.execute(select(NoteBalanceRow.loan_id, NoteBalanceRow.balance)
                               .where(NoteBalanceRow.holder == row.wallet)).all())  # fmt: skip
        staked, _ = held_or_in_flight(db, row.wallet)  # what it holds or is funding, per loan
        for loan in matching(db, rule, now):
            if not _in_bounds(loan, mandate) or loan.funding_deadline <= now + EXPIRY_MARGIN:
                continue
            if loan.borrower not in loans_of_person:
                loans_of_person[loan.borrower] = person_loans(db, loan.borrower)
            in_person = sum(staked[loan_id] for loan_id in loans_of_person[loan.borrower] | {loan.loan_id})
            remaining = loan.principal - loan.funded - planned[loan.loan_id]
            amount = min(per_loan - held.get(loan.loan_id, 0), per_loan - in_person, remaining, left, money)
            if amount <= 0 or (amount < ticket and amount != remaining):
                continue
            facts = (held.get(loan.loan_id, 0), loan.funded, left, money, in_person)
            key = next_attempt_key(db, f"{KEY_PREFIX}{row.mandate_hash}:{loan.loan_id}:", facts)
            if key is None:
                continue
            planned[loan.loan_id] += amount
            staked[loan.loan_id] += amount  # the person's next loan in this pass counts it
            left, money = left - amount, money - amount
            fundings.append(Funding(row.mandate_hash, row.wallet, loan.loan_id, amount, key))
    return fundings


def _last_served(db: Session, mandate_hash: str) -> int:
    """The outbox id of the mandate's latest funding queued (0: none yet): the keeper's turn order."""
    key = key_prefixed(f"{KEY_PREFIX}{mandate_hash}:")
    return db.scalar(select(func.max(Intent.id)).where(key, Intent.status != IntentStatus.FAILED)) or 0


def index_is_stale(db: Session) -> bool:
    """A funding is still open in the outbox, or was mined after the last block the index has read."""
    return waits_for_index(db, KEY_PREFIX)


def fund_by_mandates(db: Session, settings: Settings) -> list[Funding]:
    """Queue a `fundWithMandate` for every funding the active mandates call for; those queued."""
    if not any_active(db, FundingMandateRow):
        return []
    seen = queued_so_far(db, KEY_PREFIX)
    if index_is_stale(db) or fm.book_paused(settings):
        return []

    def queue(row: FundingMandateRow, funding: Funding) -> None:
        enqueue(db, key=funding.key, contract="FundingAgent", function="fundWithMandate",
                args=[funding.loan_id, funding.amount, list(mandate_of(row).as_tuple()), row.signature],
                settings=settings)  # fmt: skip
        audit.record(db, actor="mandate-keeper", action="mandate.fund", subject=f"loan:{funding.loan_id}",
                     payload={"mandate_hash": funding.mandate_hash, "wallet": funding.wallet, "amount": funding.amount})  # fmt: skip

    fundings = plan_fundings(db, settings, deadline_clock(settings))[: settings.mandate_keeper_max_per_pass]
    if not fundings or not none_queued_since(db, KEY_PREFIX, seen):  # a round overlapping this one queued first
        return []
    return queue_under_active(db, FundingMandateRow, of_identified(db, fundings), queue)


def of_identified(db: Session, fundings: list[Funding]) -> list[Funding]:
    """Those of `fundings` whose wallet's identity stands as the database holds it now, under the lock
    its erasure takes, kept until these fundings commit (`erasure_lock.py`). The plan read the
    attestation on chain, which stays valid until an erasure's revocation is mined: a funding queued
    for a wallet erased meanwhile would land in the name of an investor no one can identify (AML). An
    erasure beginning after this waits for the commit and sees the fundings in flight: scheduled.
    Taken before the mandate rows (`queue_under_active`), as an erasure takes them: no two wait on each other."""
    wallets = {funding.wallet for funding in fundings}
    hold_erasures(db, wallets, FundingMandateRow)
    standing = identified(db, wallets)
    return [funding for funding in fundings if funding.wallet in standing]


def _mandate_events(db: Session, event: str, mandate_hash: str) -> list[ChainEvent]:
    return list(db.scalars(select(ChainEvent).where(ChainEvent.contract == "FundingAgent", ChainEvent.event == event,
                                                    ChainEvent.args["mandateHash"].as_string() == mandate_hash)))  # fmt: skip


def plan_releases(db: Session, now: int) -> list[Release]:
    """What the active mandates funded into loans since cancelled and refunded to their wallet, not
    yet released, as the index reads it: each a call the agent would accept. The refund is the
    investor's to pull from LoanBook; until then the agent refuses (`FundingAgentNotRefunded`), so
    nothing is planned for a wallet still holding notes of the loan."""
    rows = db.scalars(select(FundingMandateRow).where(FundingMandateRow.status == MandateStatus.ACTIVE,
                                                      FundingMandateRow.expiry > now)
                      .order_by(FundingMandateRow.created_at))  # fmt: skip
    releases = []
    for row in rows:
        funded: Counter[int] = Counter()
        for ev in _mandate_events(db, "MandateUsed", row.mandate_hash):
            funded[int(ev.args["loanId"])] += int(ev.args["amount"])
        released = {int(ev.args["loanId"]) for ev in _mandate_events(db, "MandateReleased", row.mandate_hash)}
        if not funded.keys() - released:
            continue
        cancelled = set(db.scalars(select(LoanRow.loan_id).where(LoanRow.loan_id.in_(sorted(funded.keys() - released)),
                                                                 LoanRow.status == "cancelled")))  # fmt: skip
        held = dict(db.execute(select(NoteBalanceRow.loan_id, NoteBalanceRow.balance)
                               .where(NoteBalanceRow.holder == row.wallet, NoteBalanceRow.loan_id.in_(sorted(cancelled)))).all())  # fmt: skip
        for loan_id in sorted(cancelled):
            if held.get(loan_id, 0):
                continue
            stem = f"{RELEASE_KEY_PREFIX}{row.mandate_hash}:{loan_id}:"
            # In flight, or mined and not yet indexed: a second one would only revert.
            busy = key_prefixed(stem) & Intent.status.in_((*IntentStatus.OPEN, IntentStatus.CONFIRMED))
            if db.scalar(select(Intent.id).where(busy).limit(1)) is not None:
                continue
            key = next_attempt_key(db, stem, (funded[loan_id],))
            if key is not None:
                releases.append(Release(row.mandate_hash, row.wallet, loan_id, funded[loan_id], key))
    return releases


def release_refunded(db: Session, settings: Settings) -> list[Release]:
    """Queue a `releaseFunding` for what each active mandate funded into a loan since cancelled and
    refunded; those queued. Anyone may release (the agent checks the loan and the notes itself): the
    platform's signer pays the gas so the investor's budget is whole again."""
    if not any_active(db, FundingMandateRow):
        return []
    seen = queued_so_far(db, RELEASE_KEY_PREFIX)

    def queue(row: FundingMandateRow, release: Release) -> None:
        enqueue(db, key=release.key, contract="FundingAgent", function="releaseFunding",
                args=[list(mandate_of(row).as_tuple()), release.loan_id], settings=settings)  # fmt: skip
        audit.record(db, actor="mandate-keeper", action="mandate.release", subject=f"loan:{release.loan_id}",
                     payload={"mandate_hash": release.mandate_hash, "wallet": release.wallet, "amount": release.amount})  # fmt: skip

    releases = plan_releases(db, deadline_clock(settings))
    if not releases or not none_queued_since(db, RELEASE_KEY_PREFIX, seen):
        return []
    return queue_under_active(db, FundingMandateRow, releases, queue)


def mandate_keeper_step(settings: Settings) -> int:
    """The worker's round: what refunded loans give back to investors' mandates, investors'
    fundings, then borrowers' autopay payments (`backend/lending/autopay_keeper.py`), queued; their
    number (0 = idle). Each in a transaction
    of its own: queuing a funding locks the audit log's head (on SQLite the whole database) until
    its transaction commits, so the fundings commit before the payments' plan asks the chain for
    seconds, which every audited API write would otherwise wait behind."""
    from backend.db.session import session_scope
    from backend.lending.autopay_keeper import pay_by_mandates

    if not settings.mandate_keeper:
        return 0
    with session_scope(settings) as session:
        released = len(release_refunded(session, settings))
    with session_scope(settings) as session:
        funded = released + len(fund_by_mandates(session, settings))
    with session_scope(settings) as session:
        return funded + len(pay_by_mandates(session, settings))
