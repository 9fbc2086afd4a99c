"""Offers: an approved credit decision -> EIP-712 loan terms -> the borrower's signature -> the
underwriter's countersignature -> `LoanBook.createLoan` through the outbox.

Rules, each a 4xx that changes nothing:
- only the wallet that asked for the decision may take it up (others get 404, as for no decision);
- only an `approve` decision (or a referral an underwriter approved), younger than
  `offer_decision_ttl_days`, and only once;
- the amount may be lowered, never raised above the application, the affordability limit or what
  is left under the cap on what one borrower owes at once; a lower amount is scored again and
  recorded as a decision of its own, which must be an approval and which prices the offer and
  goes into its terms (the model scores the amount three times, and a lower one can score worse);
- the offer's actuarial APR is at most the platform's cap (`policy.MAX_APR`), whoever approved it;
- the ReserveFund covers the share of a default the reserve fee was priced for (`policy.RESERVE_COVER`);
- the offer's deadline falls within its decision's life, and acceptance checks that life again;
- the application is checked against the ledger (`exposure.py`), over every wallet of the
  borrower's person: no new loan while a defaulted one is owed or one is 16+ days late, no
  "all_repaid_here" credit history without a loan repaid here, no fewer loans with us nor lower
  monthly debt payments declared than it shows, and the cap on what one borrower owes is the person's;
- at most `borrower_max_new_loans_30d` loans taken by one person in 30 days (a bust-out's stack);
- one open offer per borrower: LoanBook accepts one signature per nonce, so a newer offer
  supersedes an unsigned older one, and none is made while a createLoan is still in flight;
- acceptance needs the borrower's own signature over exactly these terms, before their deadline
  and while their nonce is still the borrower's current one;
- acceptance checks the person's ledger again (`_check_person_at_acceptance`): each wallet has a
  nonce of its own, so offers to two wallets of one person can both be open, each made against a
  ledger holding neither loan; one acceptance per person at a time.

Acceptance is idempotent: the outbox key is the offer id, so a retried request (or a crash
between commit and answer) never creates a second loan."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import audit
from backend.anchoring.documents import anchor_document, document_hash
from backend.chain import loan_book, loan_terms
from backend.chain.models import IntentStatus
from backend.chain.outbox import enqueue, get_intent
from backend.chain.projection_models import LoanRow
from backend.chain.reserve_reader import coverage_ratio_bps
from backend.config import Settings
from backend.content.store import get_content_store
from backend.db.base import as_utc
from backend.db.session import begin_write, lock_until_commit
from backend.errors import ConfigurationError, Conflict, ContentIntegrityError, NotFound, ValidationFailed
from backend.identity.persons import borrower_wallets_of, same_person
from backend.lending.agreement import agreement_document
from backend.lending.cost_of_credit import cost_of_credit
from backend.lending.exposure import Exposure, check_application, headroom
from backend.lending.loans import schedule_public
from backend.lending.models import LoanOffer, OfferStatus
from backend.lending.new_loans import NEW_LOANS_WINDOW, loans_taken
from backend.lending.schemas import (
    OfferAccept,
    OfferCreate,
    OfferPublic,
    PricePublic,
)
from backend.scoring.models import CreditDecision
from backend.scoring.policy import INSTALLMENT_PERIOD_DAYS, MAX_APR, MIN_AMOUNT, RESERVE_COVER
from backend.scoring.pricing import on_chain_price
from backend.scoring.service import rescore_at_amount

DAY = 86_400


def _terms(offer: LoanOffer) -> loan_terms.LoanTerms:
    return loan_terms.LoanTerms(**offer.terms)


def _decision_of(db: Session, borrower: str, decision_id: str) -> CreditDecision:
    decision = db.get(CreditDecision, decision_id)
    if decision is None or decision.wallet != borrower:
        raise NotFound(f"no credit decision {decision_id} of yours", decision_id=decision_id)
    return decision


def _check_decision(db: Session, settings: Settings, decision: CreditDecision) -> None:
    if decision.decision == "refer" and decision.review is None:
        raise Conflict(f"decision {decision.id} is a referral waiting for an underwriter's review", decision="refer")
    if decision.decision == "refer" and decision.review != "approve":
        raise Conflict(f"decision {decision.id} was declined on review", decision="refer", review=decision.review)
    if decision.decision == "decline":
        raise Conflict(f"decision {decision.id} is 'decline': only an approval can become an offer", decision="decline")
    # Four eyes again: the applicant's wallet may have become the reviewer's person since the review
    # (verified later with the reviewer's own national ID).
    if decision.reviewed_by and same_person(db, decision.wallet, decision.reviewed_by):
        raise Conflict(f"decision {decision.id} was reviewed by {decision.reviewed_by}, who is now known to be the "
                       "applicant's own person: an underwriter's approval of their own application does not become "
                       "an offer; apply again", field="reviewed_by", reviewed_by=decision.reviewed_by)  # fmt: skip
    _check_decision_life(settings, decision)
    accepted = db.scalars(
        select(LoanOffer).where(LoanOffer.decision_id == decision.id, LoanOffer.status == OfferStatus.ACCEPTED)
    )
    for used in accepted:
        intent = get_intent(db, used.intent_key) if used.intent_key else None
        if intent is None or intent.status != IntentStatus.FAILED:  # a createLoan that reverted used nothing
            raise Conflict(f"decision {decision.id} already became a loan (offer {used.id}): apply again for another loan",
                           offer_id=used.id)  # fmt: skip


def _decision_ends(settings: Settings, decision: CreditDecision) -> datetime:
    return as_utc(decision.created_at) + timedelta(days=settings.offer_decision_ttl_days)


def _check_decision_life(settings: Settings, decision: CreditDecision) -> None:
    if datetime.now(UTC) > _decision_ends(settings, decision):
        raise Conflict(
            f"decision {decision.id} is older than {settings.offer_decision_ttl_days} days: apply again",
            decision_id=decision.id,
        )


def _priced_by(db: Session, settings: Settings, decision: CreditDecision, amount: int) -> CreditDecision:
    """The decision that prices a loan of `amount`: the one taken up, at the amount applied for;
    otherwise the application scored again at `amount` and recorded, which must be an approval.
    (A referral an underwriter approved was reviewed at its own amount: at another, only the model's
    own approval will do.)"""
    applied = int(decision.inputs["amount"])
    if amount == applied:
        return decision
    rescored = rescore_at_amount(db, settings, decision, amount)
    if rescored.decision != "approve":
        verdict = "declines" if rescored.decision == "decline" else "refers to an underwriter"
        raise Conflict(f"amount: at {amount} this application scores {rescored.score} (grade {rescored.grade}) and the "
                       f"model {verdict} it, so it cannot be offered at that amount: take the {applied} approved, or "
                       f"apply for {amount}", field="amount", amount=amount, decision=rescored.decision,
                       grade=rescored.grade)  # fmt: skip
    return rescored


def _offer_amount(decision: CreditDecision, requested: int | None, room: int, cap: int) -> int:
    applied = int(decision.inputs["amount"])
    if room < MIN_AMOUNT:
        raise Conflict(f"this borrower (this wallet and its person's others) owes {cap - room} or more on this platform's "
                       f"loans; a borrower may owe at most {cap} "
                       "at once", field="amount", cap=cap, headroom=room)  # fmt: skip
    limit = min(applied, int(decision.outputs["quote"]["max_amount"]), room)
    amount = applied if requested is None else requested
    if amount > limit:
        raise ValidationFailed(
            f"amount: at most {limit} (the amount applied for, the affordability limit, and what is left of the {cap} a "
            "borrower may owe on this platform at once)", field="amount", limit=limit,
        )  # fmt: skip
    return amount


def offers_in_flight(db: Session, borrower: str) -> list[LoanOffer]:
    """The borrower's accepted offers whose loan the chain index does not hold yet: its createLoan
    still in the outbox, or mined after the last block the index read (unless it reverted). Until
    the index holds that loan, nothing that reads the borrower's loans from it (the exposure
    checks, erasure) can see it, so those wait."""
    accepted = db.scalars(select(LoanOffer).outerjoin(LoanRow, LoanRow.terms_hash == LoanOffer.terms_hash)
                          .where(LoanOffer.borrower == borrower, LoanOffer.status == OfferStatus.ACCEPTED,
                                 LoanRow.loan_id.is_(None)))  # fmt: skip
    intents = [(offer, get_intent(db, offer.intent_key) if offer.intent_key else None) for offer in accepted]
    return [offer for offer, intent in intents if intent is not None and intent.status != IntentStatus.FAILED]


def _clear_the_nonce(db: Session, borrower: str) -> None:
    """Supersede the borrower's unsigned offers; refuse while a signed one of the borrower's person
    is still in flight (its loan not yet in the index, whose exposure checks would not count it)."""
    for other in db.scalars(select(LoanOffer).where(LoanOffer.borrower == borrower, LoanOffer.status == OfferStatus.OFFERED)):
        other.status = OfferStatus.SUPERSEDED
    for wallet in sorted(borrower_wallets_of(db, borrower) | {borrower}):
        if in_flight := offers_in_flight(db, wallet):
            raise Conflict(f"offer {in_flight[0].id} is being recorded on-chain: wait for it", offer_id=in_flight[0].id)


def _check_new_loans(db: Session, settings: Settings, borrower: str) -> None:
    """At most `borrower_max_new_loans_30d` loans taken by the borrower's person (any of its wallets)
    in the last 30 days: offers accepted then, unless their createLoan reverted or the loan was
    cancelled unfunded (nothing was lent)."""
    since, limit = datetime.now(UTC) - NEW_LOANS_WINDOW, settings.borrower_max_new_loans_30d
    taken = loans_taken(db, borrower_wallets_of(db, borrower) | {borrower}, since)
    if len(taken) >= limit:
        first = min(as_utc(o.accepted_at) for o in taken)
        raise Conflict(f"this borrower (this wallet and its person's others) took {len(taken)} loans in the last 30 days, "
                       f"the most allowed (LOANCHAIN_BORROWER_MAX_NEW_LOANS_30D = {limit}); apply again after "
                       f"{(first + NEW_LOANS_WINDOW):%Y-%m-%d %H:%M} UTC", field="borrower_max_new_loans_30d", limit=limit,
                       offer_ids=sorted(o.id for o in taken))  # fmt: skip


def _check_apr_cap(principal: int, interest_apr: int, period: int, installments: int, fee_bps: int) -> None:
    """The cap is on the APR the borrower is told (the actuarial APR of the terms, fee included),
    whoever approved the decision: an underwriter's approval does not lift it."""
    payments = [i.amount for i in loan_terms.schedule(principal, interest_apr, period, installments)]
    apr = cost_of_credit(principal, fee_bps, payments, period).apr_bps
    cap = round(MAX_APR * 10_000)
    if apr > cap:
        raise Conflict(f"the APR of these terms would be {apr / 100:.2f}%, above the platform's {cap / 100:.0f}% cap: "
                       "apply again for a longer term, which lowers it", field="term_months", apr_bps=apr, cap_bps=cap)  # fmt: skip


def _check_reserve_cover(settings: Settings) -> None:
    """The reserve fee is the reserve's claim (at a prudent PD) at the policy's cover: a ReserveFund that
    covers another share of a default would be funded short (or investors priced for a loss it
    covers), so no offer is made until the two agree."""
    on_chain = coverage_ratio_bps(settings)
    if on_chain != round(RESERVE_COVER * 10_000):
        raise ConfigurationError(f"the ReserveFund's coverageRatioBps is {on_chain} ({on_chain / 100:.2f}% of a defaulted "
                                 f"loan's principal outstanding), but the credit policy prices the reserve fee for "
                                 f"{RESERVE_COVER:.2%} cover (policy.RESERVE_COVER): change them together (and retrain)",
                                 coverage_ratio_bps=on_chain, policy_cover_bps=round(RESERVE_COVER * 10_000))  # fmt: skip


def create_offer(db: Session, settings: Settings, borrower: str, request: OfferCreate) -> OfferPublic:
    if settings.installment_period_days != INSTALLMENT_PERIOD_DAYS:
        # The decision's affordability limit counted installments at the policy's pace.
        raise ConfigurationError(f"LOANCHAIN_INSTALLMENT_PERIOD_DAYS is {settings.installment_period_days}, but the "
                                 f"credit policy's affordability counts installments every {INSTALLMENT_PERIOD_DAYS} "
                                 "days: change them together (and retrain)")  # fmt: skip
    decision = _decision_of(db, borrower, request.decision_id)
    _check_decision(db, settings, decision)
    _check_reserve_cover(settings)
    domain = loan_book.loan_book_domain(settings)
    unit = 10**domain.asset_decimals
    ledger = Exposure.of_person(db, borrower, loan_book.chain_time(settings))
    check_application(ledger, decision, unit)
    _check_new_loans(db, settings, borrower)
    cap = settings.borrower_max_outstanding
    amount = _offer_amount(decision, request.amount, headroom(ledger, cap, unit), cap)
    priced = _priced_by(db, settings, decision, amount)
    _clear_the_nonce(db, borrower)

    wall = int(time.time())
    now = max(wall, loan_book.chain_time(settings))
    # Never past the decision's life: the borrower signs within it, and acceptance checks it again.
    life_left = int(_decision_ends(settings, decision).timestamp()) - wall
    deadline = now + min(settings.offer_ttl_hours * 3600, life_left)
    quote = priced.outputs["quote"]
    term = int(decision.inputs["term_months"])
    interest_apr, fee_bps = on_chain_price(quote, term)  # the quote's own fee (older models': the flat one)
    principal = amount * 10**domain.asset_decimals
    period = settings.installment_period_days * DAY
    # Terms LoanBook would refuse at createLoan are a 422 here, before anything is anchored or signed.
    loan_terms.check_amortizes(principal, interest_apr, period, term)
    _check_apr_cap(principal, interest_apr, period, term, fee_bps)
    funding_deadline = deadline + settings.offer_funding_days * DAY
    offer_id = str(uuid.uuid4())
    document = agreement_document(
        offer_id=offer_id, borrower=borrower, chain_id=domain.chain_id, loan_book=domain.address,
        asset=domain.asset, asset_decimals=domain.asset_decimals, principal=principal,
        interest_apr_bps=interest_apr, installments=term,
        installment_period=period,
        installment_amount=loan_terms.installment_amount(principal, interest_apr, period, term),
        origination_fee_bps=fee_bps, funding_deadline=funding_deadline,
        decision_hash=priced.decision_hash, model_version=priced.model_version,
    )  # fmt: skip
    anchored = anchor_document(db, settings, document, actor=borrower).document
    terms = loan_terms.LoanTerms(
        borrower=borrower,
        principal=principal,
        apr_bps=interest_apr,
        installments=term,
        installment_period=period,
        funding_deadline=funding_deadline,
        origination_fee_bps=fee_bps,
        agreement_hash=anchored.doc_hash,
        decision_hash=priced.decision_hash,
        nonce=loan_book.borrower_nonce(settings, borrower),
        deadline=deadline,
    )
    _not_erased_meanwhile(db, borrower, decision)
    offer = LoanOffer(
        id=offer_id, decision_id=decision.id, borrower=borrower, status=OfferStatus.OFFERED, amount=amount,
        quoted_apr_bps=quote["apr_bps"], chain_id=domain.chain_id, loan_book=domain.address,
        asset_decimals=domain.asset_decimals, terms=terms.to_json(), terms_hash=loan_book.struct_hash(terms, domain),
        agreement_cid=anchored.cid, agreement_hash=anchored.doc_hash,
    )  # fmt: skip
    db.add(offer)
    db.flush()
    audit.record(db, actor=borrower, action="offer.create", subject=f"offer:{offer.id}",
                 payload={"decision_id": decision.id, "terms_hash": offer.terms_hash, "amount": amount,
                          "priced_by": priced.id})  # fmt: skip
    return offer_public(db, offer)


def _not_erased_meanwhile(db: Session, borrower: str, decision: CreditDecision) -> None:
    """Right before the offer is written: wait for an erasure of the wallet committing now (it holds
    `accept_lock`; on SQLite the write lock, which this request's writes waited for), then read the
    decision again. An erasure that read before this offer existed would otherwise leave it behind,
    naming the erased wallet beside its cleared decision."""
    lock_until_commit(db, accept_lock(borrower))
    db.refresh(decision)
    if decision.erased_at is not None:
        raise Conflict(f"credit decision {decision.id} was erased with this wallet's personal data: apply again",
                       decision_id=decision.id)  # fmt: skip


def _visible_offer(db: Session, wallet: str, offer_id: str, *, staff: bool = False) -> LoanOffer:
    """The offer, for its borrower (or, to read, staff); 404 for anyone else, as for no offer."""
    offer = db.get(LoanOffer, offer_id)
    if offer is None or (offer.borrower != wallet and not staff):
        raise NotFound(f"no offer {offer_id}", offer_id=offer_id)
    return offer


def _signature(text: str) -> bytes:
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise ValidationFailed("signature: not 0x-hex", field="signature") from None


def accept_lock(wallet: str) -> str:
    """The name of the lock an acceptance holds for each wallet of its person (an erasure of the
    wallet takes it too: `lifecycle._hold_acceptances`)."""
    return f"offer-accept|{wallet.lower()}"


def _lock_person(db: Session, borrower: str) -> None:
    """One acceptance at a time per person: two wallets of one person accepting at the same instant
    would otherwise each find the other's createLoan not yet queued. PostgreSQL: a lock per wallet
    of the person, taken in order; SQLite: its write lock, taken before anything is read."""
    begin_write(db, LoanOffer)
    for wallet in sorted(w.lower() for w in borrower_wallets_of(db, borrower) | {borrower}):
        lock_until_commit(db, accept_lock(wallet))


def _check_person_at_acceptance(db: Session, settings: Settings, offer: LoanOffer, decision: CreditDecision | None) -> None:
    """The offer's checks against the person's ledger, again: since it was made, another wallet of
    the person may have had an offer accepted (each wallet has a nonce of its own, so the two offers
    did not supersede each other), a loan may have fallen late, or the cap been reached."""
    for wallet in sorted(borrower_wallets_of(db, offer.borrower) | {offer.borrower}):
        if in_flight := [o for o in offers_in_flight(db, wallet) if o.id != offer.id]:
            raise Conflict(f"offer {in_flight[0].id} is being recorded on-chain: wait for it", offer_id=in_flight[0].id)
    if decision is None or decision.erased_at is not None:
        raise Conflict(f"offer {offer.id}: its credit decision is gone; apply again", offer_id=offer.id)
    unit = 10**offer.asset_decimals
    ledger = Exposure.of_person(db, offer.borrower, loan_book.chain_time(settings))
    check_application(ledger, decision, unit)
    _check_new_loans(db, settings, offer.borrower)
    cap = settings.borrower_max_outstanding
    if offer.amount > (room := headroom(ledger, cap, unit)):
        raise Conflict(f"amount: this borrower (this wallet and its person's others) may now borrow at most {room} more of "
                       f"the {cap} a borrower may owe on this platform at once, less than this offer's {offer.amount}; "
                       "apply again", field="amount", cap=cap, headroom=room, amount=offer.amount)  # fmt: skip


def accept_offer(db: Session, settings: Settings, borrower: str, offer_id: str, request: OfferAccept) -> OfferPublic:
    _lock_person(db, borrower)
    offer = _visible_offer(db, borrower, offer_id)
    signature = _signature(request.signature)
    if offer.status == OfferStatus.ACCEPTED:
        if offer.borrower_signature == "0x" + signature.hex():
            return offer_public(db, offer)  # a retry of the same acceptance
        raise Conflict(f"offer {offer.id} is already accepted", offer_id=offer.id)
    if offer.status == OfferStatus.SUPERSEDED:
        raise Conflict(f"offer {offer.id} was superseded by a newer offer", offer_id=offer.id)
    terms = _terms(offer)
    if loan_book.chain_time(settings) >= terms.deadline:
        raise Conflict(f"offer {offer.id} expired: ask for a new one", offer_id=offer.id, deadline=terms.deadline)
    decision = db.get(CreditDecision, offer.decision_id)
    if decision is not None:  # the deadline already ends with it; this holds even if the clocks disagree
        _check_decision_life(settings, decision)
    domain = loan_book.LoanBookDomain(offer.loan_book, offer.chain_id, "", offer.asset_decimals)
    if not loan_book.borrower_signed(settings, terms, domain, signature):
        raise ValidationFailed(
            "signature: not the borrower's signature over these terms (sign `typed_data` with eth_signTypedData_v4)",
            field="signature",
        )
    current = loan_book.borrower_nonce(settings, borrower)
    if current != terms.nonce:
        raise Conflict(
            f"offer {offer.id}: its nonce {terms.nonce} is spent or revoked (now {current}); ask for a new offer",
            offer_id=offer.id,
        )
    _check_person_at_acceptance(db, settings, offer, decision)
    countersignature = loan_book.underwriter_signature(settings, terms, domain)
    offer.intent_key = f"offer:{offer.id}"
    enqueue(db, key=offer.intent_key, contract="LoanBook", function="createLoan",
            args=[terms.json_message(), "0x" + signature.hex(), "0x" + countersignature.hex()], settings=settings)  # fmt: skip
    offer.status = OfferStatus.ACCEPTED
    offer.borrower_signature = "0x" + signature.hex()
    offer.underwriter_signature = "0x" + countersignature.hex()
    offer.accepted_at = datetime.now(UTC)
    audit.record(db, actor=borrower, action="offer.accept", subject=f"offer:{offer.id}",
                 payload={"terms_hash": offer.terms_hash, "intent": offer.intent_key})  # fmt: skip
    return offer_public(db, offer)


def offer_public(db: Session, offer: LoanOffer, now: int | None = None) -> OfferPublic:
    terms = _terms(offer)
    schedule = schedule_public(terms.principal, terms.apr_bps, terms.installment_period, terms.installments)
    cost = cost_of_credit(terms.principal, terms.origination_fee_bps, [i.amount for i in schedule], terms.installment_period)
    intent = get_intent(db, offer.intent_key) if offer.intent_key else None
    loan = db.scalar(select(LoanRow).where(LoanRow.terms_hash == offer.terms_hash))
    state: str
    if loan is not None:
        state = "created"
    elif offer.status == OfferStatus.SUPERSEDED:
        state = "superseded"
    elif intent is not None:
        state = "failed" if intent.status == IntentStatus.FAILED else "submitting"
    else:
        state = "expired" if (now or int(time.time())) >= terms.deadline else "offered"
    return OfferPublic(
        id=offer.id,
        created_at=as_utc(offer.created_at),  # SQLite reads it back naive: the same instant as created
        state=state,
        borrower=offer.borrower,
        decision_id=offer.decision_id,
        decision_hash=offer.terms["decision_hash"],
        amount=offer.amount,
        asset_decimals=offer.asset_decimals,
        price=PricePublic(
            quoted_apr_bps=offer.quoted_apr_bps,
            interest_apr_bps=terms.apr_bps,
            origination_fee_bps=terms.origination_fee_bps,
            installment_amount=terms.installment_amount,
            total_repayable=cost.total_of_payments,
            amount_financed=cost.amount_financed,
            finance_charge=cost.finance_charge,
            apr_actuarial_bps=cost.apr_bps,
            aprc_bps=cost.aprc_bps,
        ),
        terms=offer.terms,
        terms_hash=offer.terms_hash,
        typed_data=loan_terms.typed_data(terms, offer.chain_id, offer.loan_book),
        agreement_cid=offer.agreement_cid,
        schedule=schedule,
        intent_status=intent.status if intent else None,
        error=(intent.error_name or intent.error) if intent is not None and intent.status == IntentStatus.FAILED else None,
        loan_id=loan.loan_id if loan else None,
    )


def get_offer(db: Session, wallet: str, offer_id: str, *, staff: bool = False) -> OfferPublic:
    """The offer, for its borrower or for staff (underwriter, auditor, admin); 404 for anyone else."""
    return offer_public(db, _visible_offer(db, wallet, offer_id, staff=staff))


def agreement_of(db: Session, settings: Settings, wallet: str, offer_id: str, *, staff: bool = False) -> dict:
    """The offer's agreement document as stored (the bytes whose keccak-256 is agreementHash), for
    the borrower to read before signing; checked against that hash on the way out."""
    offer = _visible_offer(db, wallet, offer_id, staff=staff)
    data = get_content_store(settings).get(offer.agreement_cid)
    if document_hash(data) != offer.agreement_hash:
        raise ContentIntegrityError(f"the stored agreement of offer {offer.id} does not match its hash", offer_id=offer.id)
    return json.loads(data)


def list_offers(db: Session, borrower: str, limit: int = 50, offset: int = 0,
                decision_id: str | None = None) -> list[OfferPublic]:  # fmt: skip
    """The borrower's offers, newest first, a page at a time; with `decision_id`, that decision's only."""
    query = select(LoanOffer).where(LoanOffer.borrower == borrower)
    if decision_id is not None:
        query = query.where(LoanOffer.decision_id == decision_id)
    offers = db.scalars(query.order_by(LoanOffer.created_at.desc(), LoanOffer.id).limit(limit).offset(offset))
    return [offer_public(db, offer) for offer in offers]
