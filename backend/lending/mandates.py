"""Funding mandates: a standing instruction the platform carries out, without custody.

The investor signs a `FundingMandate` once (EIP-712, its own wallet): a budget, an expiry, the
most notes of one loan to hold, an APR range and a longest term, and the platform's keeper (the
outbox's account) as the only executor; and authorizes the FundingAgent on LoanBook, once. The
keeper (`backend/lending/mandate_keeper.py`) then funds the standing instruction's matches with
`FundingAgent.fundWithMandate`: the money goes from the investor's wallet straight into each loan
and the notes to the investor, the agent checks every bound the investor signed on every use and
LoanBook every rule of funding. The mandate's on-chain bounds come from the instruction
(`per_loan`, `min_apr_bps`, `max_installments`, and `max_term`: those installments at the platform's
installment period); its grades narrow further, off chain. Withdrawing
the mandate stops the keeper at once; cancelling it on chain (`cancelMandate`, from the wallet)
makes the agent refuse it whoever asks."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from backend import audit
from backend.chain import mandates as fm
from backend.chain.loan_book import deadline_clock, loan_book_domain
from backend.chain.models import ChainEvent
from backend.chain.outbox import withdraw_pending
from backend.chain.wallet_calls import LoanBookWallet, WalletCall
from backend.config import Settings
from backend.db.base import as_utc
from backend.db.session import begin_write
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.identity.kyc.erasure_lock import gone
from backend.lending.mandate_schemas import (
    MandateCancelPublic,
    MandateDraftCreate,
    MandateDraftPublic,
    MandateFundingPublic,
    MandatePublic,
    MandateSign,
    MandateTerms,
)
from backend.lending.models import FundingMandateRow, InvestmentRule, MandateStatus
from backend.lending.schemas import WalletCallPublic
from backend.servicing.mandate_notices import ENDING_NOTICE_DAYS
from backend.servicing.notices import money

DAY = 86_400
FUNDING_KEY_PREFIX = "mandate.fund:"  # the keeper's outbox keys (backend/lending/mandate_keeper.py)
MAX_APR_BPS, MAX_INSTALLMENTS, MAX_TERM = 10_000, 360, 40 * 365 * DAY  # LoanBook's own limits: "no bound" in a mandate


def active_mandate(db: Session, wallet: str, now: int, *, lock: bool = False) -> FundingMandateRow | None:
    """The wallet's mandate the keeper may use at `now`: given, not withdrawn, not expired. Locked
    (`for_update`) to withdraw or renew it."""
    query = select(FundingMandateRow).where(FundingMandateRow.wallet == wallet, FundingMandateRow.expiry > now,
                                            FundingMandateRow.status == MandateStatus.ACTIVE)  # fmt: skip
    return db.scalar(for_update(db, query, FundingMandateRow) if lock else query)


def for_update(db: Session, query: Select, row_type: type) -> Select:
    """`query` locking the mandate rows (funding or autopay) it reads until the transaction ends,
    and reading them afresh, not from the session's cache. A withdrawal and a keeper about to queue
    a call under the mandate both lock it, so one waits for the other: the keeper queues nothing
    under a mandate withdrawn, and a withdrawal sees (and drops) what the keeper queued. SQLite
    ignores FOR UPDATE: `begin_write` first takes its write lock."""
    begin_write(db, row_type)
    return query.with_for_update().execution_options(populate_existing=True)


def still_active(db: Session, row_type: type, mandate_hashes: set[str]) -> dict[str, Any]:
    """Those of the mandates still active, locked (`for_update`), by hash: what a keeper re-reads
    right before it queues calls under mandates it read at the start of a pass (the chain calls in
    between take seconds, in which a withdrawal may commit)."""
    if not mandate_hashes:
        return {}
    query = (select(row_type).where(row_type.mandate_hash.in_(sorted(mandate_hashes)), row_type.status == MandateStatus.ACTIVE)
             .order_by(row_type.mandate_hash))  # fmt: skip
    return {row.mandate_hash: row for row in db.scalars(for_update(db, query, row_type))}


P = TypeVar("P")  # a planned call under a mandate: it has `mandate_hash`


def any_active(db: Session, row_type: type) -> bool:
    """Whether any mandate of the kind is active: with none, a keeper need not ask the chain anything."""
    return db.scalar(select(row_type.mandate_hash).where(row_type.status == MandateStatus.ACTIVE).limit(1)) is not None


def queue_under_active(db: Session, row_type: type, planned: list[P], queue: Callable[[Any, P], None]) -> list[P]:
    """`queue(mandate row, item)` for each planned item whose mandate is still active when re-read
    (`still_active`: the plan asked the chain for seconds, in which a withdrawal may commit); those queued."""
    rows = still_active(db, row_type, {item.mandate_hash for item in planned})
    queued = [item for item in planned if item.mandate_hash in rows]
    for item in queued:
        queue(rows[item.mandate_hash], item)
    return queued


def left_to_fund(db: Session, settings: Settings, wallet: str, now: int) -> int:
    """What the wallet's active funding mandate may still fund from the wallet: its budget less what
    it has funded (`mandateSpent`), as the keeper counts it; 0 without an active, unexpired mandate."""
    row = active_mandate(db, wallet, now)
    if row is None:
        return 0
    return max(mandate_of(row).budget - fm.mandate_spent(settings, row.mandate_hash), 0)


def funding_approval(db: Session, settings: Settings, book: LoanBookWallet, amount: int, now: int, what: str) -> list[WalletCall]:
    """The `approve` that funding `amount` from the wallet needs first, if any. The keeper funds under
    the wallet's mandate with the same allowance to LoanBook, and ERC-20 `approve` sets it while a
    funding spends from it: an allowance of just `amount` would leave the mandate nothing to fund
    with, silently. So it covers `amount` and what the mandate has left to fund (`what`: the
    fundings planned, as the prompt names them)."""
    left = left_to_fund(db, settings, book.wallet, now)
    needed = amount + left
    if book.allowance() >= needed:
        return []
    covering = f"{what} and the {book.tokens(left)} your funding mandate has left to fund" if left else ""
    return [book.approve(needed, covering)]


def _rule(db: Session, wallet: str) -> InvestmentRule:
    rule = db.get(InvestmentRule, wallet)
    if rule is None:
        raise NotFound(f"{wallet} has no standing instruction: a mandate carries one out, set it first", wallet=wallet)
    return rule


def renewable(status: str, expiry: int, now: int) -> bool:
    """In use and in its last week (when its signer is told it ends): a new mandate may take over."""
    return status == MandateStatus.ACTIVE and now < expiry <= now + ENDING_NOTICE_DAYS * DAY


def renewed_or_none(current: Any, now: int, holder: str) -> Any:
    """The mandate in use (a funding or autopay row) that a new one would take over, which it may in
    its last week only (when its signer is told it ends); one with longer to run is withdrawn first."""
    if current is not None and not renewable(current.status, current.expiry, now):
        raise Conflict(f"{holder} already has an active mandate ({current.mandate_hash}): withdraw it first, or renew "
                       f"it in its last {ENDING_NOTICE_DAYS} days", mandate_hash=current.mandate_hash)  # fmt: skip
    return current


def resent(row: Any, signature: str, now: int) -> bool:
    """Is the caller's own `row` (a funding or autopay mandate given before), sent again with
    `signature`, a retry of its PUT? Yes while it is in use and was given with that signature: a 409
    would send its signer off to sign another, which would then replace this one (review-api M2).
    One no longer in use is refused here (409), before a new mandate's checks read it as a bad expiry."""
    if row.status != MandateStatus.ACTIVE or row.expiry <= now:
        raise given_before(row, now)
    return row.signature == signature.lower()


def given_before(row: Any, now: int) -> Conflict:
    """The 409 for a mandate given before that `resent` does not take back: one is given once, and
    one withdrawn, replaced or expired is not brought back."""
    if row.status != MandateStatus.ACTIVE:
        why = "was withdrawn or replaced by a newer one: sign a new one"
    elif row.expiry <= now:
        why = "has expired: sign a new one"
    else:
        why = "is in use already, given with another signature"
    return Conflict(f"mandate {row.mandate_hash} was given before and {why}", mandate_hash=row.mandate_hash,
                    status=row.status)  # fmt: skip


def _no_active(db: Session, wallet: str, now: int, *, lock: bool = False) -> FundingMandateRow | None:
    return renewed_or_none(active_mandate(db, wallet, now, lock=lock), now, wallet)


def _not_erasing(db: Session, wallet: str) -> None:
    """An erasure asked for withdrew the wallet's mandates (`withdraw_for_erasure`) and the keeper funds
    nothing for it (`erasure_lock.py`): a new mandate would only look active and never fund."""
    if gone(db, [wallet]):
        raise Conflict("your personal data's erasure is scheduled or done: no new funding mandate (processing is "
                       "restricted until the erasure is carried out, GDPR art. 18)", wallet=wallet)  # fmt: skip


def draft_mandate(db: Session, settings: Settings, wallet: str, request: MandateDraftCreate) -> MandateDraftPublic:
    """The mandate that carries out the wallet's standing instruction, ready for its wallet to sign."""
    _not_erasing(db, wallet)
    rule = _rule(db, wallet)
    now = deadline_clock(settings)
    _no_active(db, wallet, now)
    min_apr = rule.min_apr_bps or 0
    if request.max_apr_bps < min_apr:
        raise ValidationFailed(f"max_apr_bps: at least the instruction's min_apr_bps, {min_apr}", field="max_apr_bps",
                               min_apr_bps=min_apr)  # fmt: skip
    if request.budget < rule.per_loan:
        decimals = loan_book_domain(settings).asset_decimals
        raise ValidationFailed(f"budget: at least the instruction's per-loan amount, {money(rule.per_loan, decimals)} tokens",
                               field="budget", per_loan=rule.per_loan)  # fmt: skip
    domain = fm.agent_domain(settings)
    mandate = fm.FundingMandate(
        investor=wallet, executor=fm.executor_address(settings), per_loan=rule.per_loan, budget=request.budget,
        min_apr_bps=min_apr, max_apr_bps=request.max_apr_bps,
        max_installments=rule.max_installments or MAX_INSTALLMENTS, max_term=max_term(settings, rule.max_installments),
        expiry=now + request.days * DAY, salt=secrets.randbits(64),
    )  # fmt: skip
    book = LoanBookWallet(settings, wallet)
    calls = [book.approve(request.budget)] if book.allowance() < request.budget else []
    if not fm.agent_authorized(settings, wallet):
        calls.append(fm.authorize_call(settings, True))
    return MandateDraftPublic(mandate=MandateTerms(**mandate.to_json()),
                              mandate_hash=_hex(fm.digest(mandate, domain.chain_id, domain.address)),
                              typed_data=fm.typed_data(mandate, domain.chain_id, domain.address),
                              transactions=WalletCallPublic.of(calls), warnings=_spread(settings, rule.per_loan, request.budget))  # fmt: skip


def max_term(settings: Settings, max_installments: int | None) -> int:
    """The longest term the instruction allows, in seconds: its installments at the platform's period
    (every offer's), so a loan of as many installments but longer periods is not funded under it."""
    if max_installments is None:
        return MAX_TERM
    return min(max_installments * settings.installment_period_days * DAY, MAX_TERM)


def _spread(settings: Settings, per_loan: int, budget: int) -> list[str]:
    """A budget that fills few loans concentrates the risk the portfolio warns about: say so first."""
    loans = budget // per_loan
    if loans >= settings.diversification_min_loans:
        return []
    warning = (f"the budget fills at most {loans} loan{'s' if loans != 1 else ''} at the instruction's per-loan "
               f"amount: a single default could cost about {1 / max(loans, 1):.0%} of it; spread it over at least "
               f"{settings.diversification_min_loans} (a smaller per-loan amount)")  # fmt: skip
    return [warning]


def _check(settings: Settings, wallet: str, mandate: fm.FundingMandate, now: int) -> None:
    """What the agent or LoanBook would refuse the mandate for on its first use, said now."""
    if mandate.investor != wallet:
        raise Forbidden(f"the mandate is {mandate.investor}'s: sign your own", investor=mandate.investor)
    check_keeper_and_expiry(settings, mandate.executor, mandate.expiry, now)
    if mandate.max_apr_bps < mandate.min_apr_bps:
        raise ValidationFailed("max_apr_bps: at least min_apr_bps", field="max_apr_bps")
    book = LoanBookWallet(settings, wallet)
    ticket = book.min_ticket()
    if mandate.per_loan < ticket:  # every funding under it would be refused
        raise ValidationFailed(f"per_loan: at least LoanBook's minimum ticket, {book.tokens(ticket)}",
                               field="per_loan", min_ticket=ticket)  # fmt: skip


def check_keeper_and_expiry(settings: Settings, executor: str, expiry: int, now: int) -> None:
    """What any mandate the platform's keeper carries out must say: the keeper (the outbox's
    account) as its executor, and a day at least left to run."""
    keeper = fm.executor_address(settings)
    if executor != keeper:
        raise ValidationFailed(f"executor: must be the platform's keeper, {keeper}", field="executor", executor=keeper)
    if expiry <= now + DAY:
        raise ValidationFailed("expiry: at least a day from now", field="expiry", now=now)


def sign_mandate(db: Session, settings: Settings, wallet: str, request: MandateSign) -> MandatePublic:
    """Records the wallet's signed mandate; the keeper starts using it at its next pass. The same
    one sent again while in use (a retry of the PUT) is answered with it, nothing written."""
    mandate = fm.FundingMandate(**request.mandate.model_dump())
    now = deadline_clock(settings)
    domain = fm.agent_domain(settings)
    mandate_hash = _hex(fm.digest(mandate, domain.chain_id, domain.address))
    given = db.get(FundingMandateRow, mandate_hash)
    if given is not None and given.wallet.lower() == wallet.lower() and resent(given, request.signature, now):
        return _public(db, settings, given)
    _not_erasing(db, wallet)
    _check(settings, wallet, mandate, now)
    signature = bytes.fromhex(request.signature.removeprefix("0x"))
    if not fm.investor_signed(settings, mandate, domain.chain_id, domain.address, signature):
        raise ValidationFailed(f"signature: not {wallet}'s over this mandate", field="signature")
    if given is not None:
        raise given_before(given, now)
    _rule(db, wallet)
    ending = _no_active(db, wallet, now, lock=True)
    if ending is not None:  # renewed: the keeper funds with the new one from now on
        _stop(db, ending, wallet, "mandate.renew", "the investor renewed the mandate")
    row = FundingMandateRow(mandate_hash=mandate_hash, wallet=wallet, status=MandateStatus.ACTIVE, chain_id=domain.chain_id,
                            agent=domain.address, mandate=mandate.to_json(), expiry=mandate.expiry,
                            signature=request.signature.lower())  # fmt: skip
    db.add(row)
    db.flush()
    audit.record(db, actor=wallet, action="mandate.sign", subject=f"mandate:{mandate_hash}", payload=mandate.to_json())
    return _public(db, settings, row)


def get_mandate(db: Session, settings: Settings, wallet: str) -> MandatePublic:
    """The wallet's active mandate, or else its latest one."""
    row = active_mandate(db, wallet, deadline_clock(settings)) or db.scalar(
        select(FundingMandateRow).where(FundingMandateRow.wallet == wallet)
        .order_by(FundingMandateRow.created_at.desc()).limit(1))  # fmt: skip
    if row is None:
        raise NotFound(f"{wallet} has given no funding mandate", wallet=wallet)
    return _public(db, settings, row)


def mandates_of(db: Session, settings: Settings, wallet: str) -> list[MandatePublic]:
    """Every mandate the wallet gave, newest first: for an auditor, the authority behind each
    funding the platform made for it."""
    rows = db.scalars(select(FundingMandateRow).where(FundingMandateRow.wallet == wallet)
                      .order_by(FundingMandateRow.created_at.desc()))  # fmt: skip
    return [_public(db, settings, row) for row in rows]


def withdraw_mandate(db: Session, settings: Settings, wallet: str) -> MandateCancelPublic:
    """Stops the keeper using the wallet's mandate now, and gives the wallet transaction that ends
    it on chain."""
    # The chain is read before the lock: a keeper waiting on the mandate row waits on no RPC call.
    now, authorized = deadline_clock(settings), fm.agent_authorized(settings, wallet)
    row = active_mandate(db, wallet, now, lock=True)
    if row is None:
        raise NotFound(f"{wallet} has no active funding mandate", wallet=wallet)
    _stop(db, row, wallet, "mandate.withdraw", "the investor withdrew the mandate")
    return MandateCancelPublic(mandate_hash=row.mandate_hash, transactions=_cancel_call(db, settings, row, now, authorized))


def withdraw_for_erasure(db: Session, wallet: str, actor: str) -> list[str]:
    """Every funding mandate of the wallet in use, withdrawn because its personal data is erased (or its
    erasure scheduled: processing restricted), as the investor's own withdrawal would (`_stop`); their
    hashes. The platform cannot cancel a mandate on chain (only its investor can), but the agent takes
    one from its executor alone, the platform's keeper: withdrawn here, it is used no more. The caller
    (the erasure) holds the wallet's erasure lock, taken before these rows, as the keeper takes them."""
    query = select(FundingMandateRow).where(FundingMandateRow.wallet == wallet, FundingMandateRow.status == MandateStatus.ACTIVE)
    rows = list(db.scalars(for_update(db, query.order_by(FundingMandateRow.mandate_hash), FundingMandateRow)))
    for row in rows:
        _stop(db, row, actor, "mandate.withdraw", "the wallet's personal data is erased, or its erasure scheduled")
    return [row.mandate_hash for row in rows]


def _stop(db: Session, row: FundingMandateRow, wallet: str, action: str, why: str) -> None:
    """The keeper uses the mandate no more: fundings queued under it and not yet signed never go
    out (one already signed may still land)."""
    row.status, row.cancelled_at = MandateStatus.CANCELLED, datetime.now(UTC)
    dropped = withdraw_pending(db, f"{FUNDING_KEY_PREFIX}{row.mandate_hash}:", why)
    audit.record(db, actor=wallet, action=action, subject=f"mandate:{row.mandate_hash}",
                 payload={"queued_fundings_dropped": dropped})  # fmt: skip
    db.flush()  # before a renewal's new row: one active mandate per wallet at every moment


def _cancel_call(db: Session, settings: Settings, row: FundingMandateRow, now: int, authorized: bool) -> list[WalletCallPublic]:
    """Cancel the mandate on chain; and take back the agent's authorization (`authorized`: the
    wallet's, read before), unless another mandate of the wallet is still in use."""
    calls = [fm.cancel_call(settings, mandate_of(row))]
    if authorized and active_mandate(db, row.wallet, now) is None:
        calls.append(fm.authorize_call(settings, False))
    return WalletCallPublic.of(calls)


def mandate_of(row: FundingMandateRow) -> fm.FundingMandate:
    return fm.FundingMandate(**row.mandate)


def fundings(db: Session, mandate_hash: str) -> list[MandateFundingPublic]:
    """What the chain index holds of the mandate's `MandateUsed` events, oldest first, each marked
    `released` once its loan's `MandateReleased` gave it back to the budget (a cancelled loan is
    funded no more, so a release covers every funding of the loan before it)."""
    # Filtered in the database (json_extract on SQLite, ->> on PostgreSQL), not over every mandate's events.
    events = db.scalars(select(ChainEvent).where(ChainEvent.contract == "FundingAgent",
                                                 ChainEvent.event.in_(("MandateUsed", "MandateReleased")),
                                                 ChainEvent.args["mandateHash"].as_string() == mandate_hash)
                        .order_by(ChainEvent.block_number, ChainEvent.log_index)).all()  # fmt: skip
    released = {int(e.args["loanId"]) for e in events if e.event == "MandateReleased"}
    return [MandateFundingPublic(loan_id=int(e.args["loanId"]), amount=int(e.args["amount"]), block_number=e.block_number,
                                 tx_hash=e.tx_hash, released=int(e.args["loanId"]) in released)
            for e in events if e.event == "MandateUsed"]  # fmt: skip


def _public(db: Session, settings: Settings, row: FundingMandateRow) -> MandatePublic:
    mandate = mandate_of(row)
    spent = fm.mandate_spent(settings, row.mandate_hash)
    now = deadline_clock(settings)
    live = row.expiry > now
    warnings = _warnings(settings, row.wallet, min(mandate.per_loan, mandate.budget - spent)) \
        if row.status == MandateStatus.ACTIVE and live and spent < mandate.budget else []
    # Withdrawn here while the agent would still take it: the wallet has yet to cancel it on chain.
    unfinished = row.status == MandateStatus.CANCELLED and live and spent < mandate.budget
    return MandatePublic(mandate_hash=row.mandate_hash, status=row.status if live else "expired",
                         mandate=MandateTerms(**row.mandate), expires_at=datetime.fromtimestamp(row.expiry, UTC),
                         spent=spent, left=mandate.budget - spent, fundings=fundings(db, row.mandate_hash),
                         created_at=as_utc(row.created_at), warnings=warnings,
                         cancel_transactions=_cancel_call(db, settings, row, now, fm.agent_authorized(settings, row.wallet))
                         if unfinished else [],
                         renewable=renewable(row.status, row.expiry, now))  # fmt: skip


def _warnings(settings: Settings, wallet: str, ticket: int) -> list[str]:
    """What keeps the keeper from funding a full ticket (`ticket`) from the wallet now."""
    book = LoanBookWallet(settings, wallet)
    allowance, balance = book.allowance(), book.balance()
    warnings = [] if fm.agent_authorized(settings, wallet) else [
        ("your wallet has not authorized the funding agent on LoanBook: send that transaction (the draft's) for the "
         "keeper to fund")]  # fmt: skip
    if allowance >= ticket and balance >= ticket:
        return warnings
    d = loan_book_domain(settings).asset_decimals
    if allowance < ticket:
        warnings.append(f"your wallet lets LoanBook take {money(allowance, d)}, less than a ticket of "
                        f"{money(ticket, d)}: approve more for the keeper to fund")  # fmt: skip
    if balance < ticket:
        warnings.append(f"your wallet holds {money(balance, d)} of the loan token, less than a ticket of {money(ticket, d)}")
    return warnings


def _hex(digest: bytes) -> str:
    return "0x" + digest.hex()
