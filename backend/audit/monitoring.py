"""Transaction monitoring: rules over the chain index that flag note movements an AML officer or
an auditor should look at, and loans a fraud analyst should. Notes only ever reach KYC-verified
wallets (LoanBook's rule), so the note rules look for value moved between verified wallets in ways a
market would not move it:

- `round_trip`: notes of one loan went from wallet A to wallet B and back (by trade or transfer)
  within `monitoring_round_trip_days`: wash trading, or layering money through a loan's notes;
  `cycle` the same round more than two wallets, A -> B -> C (-> ...) -> A, up to
  `monitoring_cycle_max_hops` moves (`backend/audit/note_path_rules.py`);
- `off_market_price`: a trade priced far from what the notes stood for, the principal outstanding
  on them when it happened (below `monitoring_price_low` or above `monitoring_price_high` times
  it): a mispriced trade moves value from one wallet to the other;
- `large_gift`: notes moved outside the market (no trade in that transaction) standing for at least
  `monitoring_gift_threshold` whole tokens of principal outstanding: value moved with nothing paid;
  `structured_gifts` gifts each under it from one person to another that reach it together within
  `monitoring_structuring_days` (`note_path_rules.py`).
- `first_payment_default`: a loan whose first installment went more than 15 days unpaid (the
  borrower's `late` notice for installment 1, or a default with nothing paid): lenders' classic
  sign of identity fraud or of a loan taken never to be repaid, so a person checks the identity
  and the application behind it (even if the borrower pays later: the pattern is the signal).
- `early_payment_default`: the same for installment 2 or 3 (the first one paid): a bust-out pays
  the first installment of each loan to pass `first_payment_default`, then stops.
- `related_party_funding`: a loan funded by a wallet that applied for KYC from the same network
  address as the loan's borrower (`kyc_origins`, kept for `kyc_origin_window`): the borrower's own
  money through a second identity, or someone close to them. LoanBook refuses only the borrower's
  own wallet, and a self-funded default would draw the reserve's cover.
- `promise_chain`: a promise to pay recorded after an earlier one on the loan was not kept
  (`backend/audit/collections_rules.py`): collections strung along to hold off the default.
- `role_change`, `pause` and `reserve_outflow` watch who controls the contracts and the reserve's
  money (`backend/audit/platform_control_rules.py`): a role granted or revoked outside the
  deployment, a contract paused or unpaused, a ReserveFund payment no LoanBook default explains.
- `answers_changed`: a person's credit application approved or referred after another of theirs
  within `monitoring_answers_changed_days` whose declared facts differ in a way that raises the
  score (`backend/audit/application_rules.py`): shopping for a pass.
- `collection_wallet`: a wallet that half or more of a disbursal went to within a week, from the
  borrowers of two or more persons, or that is itself another person's borrower or investor wallet;
  or half or more of a disbursal passed on in pieces to wallets that gathered pieces of other persons'
  (`backend/audit/disbursal_rules.py`): money mules passing what they borrowed to one organiser.

Alerts are recomputed from the index on every read, so they are as reproducible as the chain
itself; none changes anything: a person reviews, and traces the wallets (`/api/v1/audit/trace`).
The review (cleared or escalated, with a note) is the case file: kept once per alert, under the
alert's key, and recorded in the audit log. Its note is sealed, and shredded when the borrower of
the alert's loan is erased, or an applicant of an `answers_changed` alert (`alert_notes.py`); a view opens the notes only when asked
(`with_notes`: the API asks for a recent sign-in), and one that opened any writes an audit entry
naming its reader and the alerts."""

from __future__ import annotations

import bisect
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Bundle, Session, aliased

from backend import audit
from backend.audit import (
    alert_cache,
    application_rules,
    collections_rules,
    disbursal_rules,
    fair_lending_rules,
    note_path_rules,
    platform_control_rules,
)
from backend.audit.alert_notes import open_note, review_public, seal_note, sealed_note_sha256
from backend.audit.models import AlertReview, AlertReviewWallet
from backend.audit.schemas import AlertPublic, AlertReviewCreate, AlertReviewPublic
from backend.chain.loan_book import loan_book_domain
from backend.chain.models import ChainEvent
from backend.chain.projection_models import (
    FundingRow,
    LoanRow,
    MarketTradeRow,
    NoteTransferRow,
    RepaymentRow,
)
from backend.config import Settings
from backend.db.base import as_utc
from backend.db.chunks import chunks
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.gc_pause import collection_paused
from backend.idempotency import Recorded
from backend.identity.crypto.keyring import load_keyring
from backend.identity.models import KycOrigin
from backend.identity.persons import checksummed
from backend.market.book import trade_transfers
from backend.servicing.aging import DELINQUENT, NOTICE_OF_BUCKET
from backend.servicing.models import ServicingNotice

DAY = 86_400
RULES = ("round_trip", "cycle", "off_market_price", "large_gift", "structured_gifts", "first_payment_default",
         "early_payment_default", "related_party_funding", "role_change", "pause", "reserve_outflow", "promise_chain",
         "answers_changed", "collection_wallet", "fair_lending")  # fmt: skip
EARLY_INSTALLMENTS = 3  # a default within the first three installments is an early payment default
NOTES_READ = "monitoring.notes_read"
REF_COLUMNS = ("loan_id", "tx_hash", "block_number", "log_index")
MOVE_COLUMNS = (*REF_COLUMNS, "sender", "recipient", "amount")
TRADE_COLUMNS = (*REF_COLUMNS, "seller", "buyer", "notes", "cost")
NOTE_RULES = ("round_trip", "cycle", "off_market_price", "large_gift", "structured_gifts")  # read note moves
FIRST_PAYMENT_LATE = tuple(NOTICE_OF_BUCKET[bucket] for bucket in DELINQUENT)  # the notices of 16+ days late


class Outstanding:
    """Each loan's principal outstanding as of any block, from the repayments the index holds; or,
    built `at_moves`, as of each note transfer and trade only, which is all the rules ask."""

    def __init__(self, db: Session, loan_ids: set[int]) -> None:
        self.principal: dict[int, int] = {}
        # Per loan: the (block, log index) of each payment, and the principal outstanding after it.
        self.steps: dict[int, tuple[list[tuple[int, int]], list[int]]] = defaultdict(lambda: ([], []))
        for some in chunks(loan_ids):  # a loan's rows all come in one chunk, in block order
            self.principal.update(db.execute(select(LoanRow.loan_id, LoanRow.principal)
                                             .where(LoanRow.loan_id.in_(some))).all())  # fmt: skip
            rows = db.execute(select(RepaymentRow.loan_id, RepaymentRow.block_number, RepaymentRow.log_index,
                                     RepaymentRow.principal_outstanding)
                              .where(RepaymentRow.loan_id.in_(some), RepaymentRow.principal_outstanding.is_not(None))
                              .order_by(RepaymentRow.block_number, RepaymentRow.log_index))  # fmt: skip
            for loan_id, block, log_index, left in rows:
                self.steps[loan_id][0].append((block, log_index))
                self.steps[loan_id][1].append(left)
        # Per (loan, block, log index) read at once (`at_moves`): the loan's principal, and what the last
        # repayment before it left outstanding (None: nothing repaid before it).
        self.at: dict[tuple[int, int, int], tuple[int | None, int | None]] = {}

    @classmethod
    def at_moves(cls, db: Session) -> Outstanding:
        """As of every note transfer and trade: one query per kind of row, each finding its loan's
        last repayment before it through the repayments' (loan, block, log index) index, instead of
        reading every repayment of every loan whose notes ever moved (most of a large book's)."""
        made = cls(db, set())
        for row in (NoteTransferRow, MarketTradeRow):
            earlier = (RepaymentRow.block_number < row.block_number) | (
                (RepaymentRow.block_number == row.block_number) & (RepaymentRow.log_index < row.log_index))
            left = (select(RepaymentRow.principal_outstanding)
                    .where(RepaymentRow.loan_id == row.loan_id, RepaymentRow.principal_outstanding.is_not(None), earlier)
                    .order_by(RepaymentRow.block_number.desc(), RepaymentRow.log_index.desc()).limit(1)
                    .correlate(row).scalar_subquery())  # fmt: skip
            for loan_id, block, log_index, principal, after in db.execute(
                    select(row.loan_id, row.block_number, row.log_index, LoanRow.principal, left)
                    .outerjoin(LoanRow, LoanRow.loan_id == row.loan_id)):  # fmt: skip
                made.at[loan_id, block, log_index] = (principal, after)
        return made

    def of_notes(self, loan_id: int, notes: int, block: int, log_index: int) -> int:
        """The principal outstanding that `notes` notes stood for just before (block, log index)."""
        if (loan_id, block, log_index) in self.at:
            principal, left = self.at[loan_id, block, log_index]
            return notes * (principal if left is None else left) // principal if principal else 0
        principal = self.principal.get(loan_id)
        if not principal:
            return 0
        positions, values = self.steps[loan_id]
        i = bisect.bisect_left(positions, (block, log_index))
        return notes * (values[i - 1] if i else principal) // principal


def _alert(**fields) -> AlertPublic:
    """An alert, named by a hash of what makes it: its rule, loan (if any) and transactions."""
    what = "|".join([fields["rule"], str(fields["loan_id"]), *fields["tx_hashes"], *fields.pop("also", [])])
    return AlertPublic(key=hashlib.sha256(what.encode()).hexdigest()[:32], **fields)


def alerts(db: Session, settings: Settings, since: int = 0, rule: str | None = None, open_only: bool = False,
           with_notes: bool = True, reader: str = "cli", limit: int | None = None,
           offset: int = 0, shared: bool = False) -> list[AlertPublic]:  # fmt: skip
    """Every alert on note movements at or after block time `since`, newest first (ties by rule,
    transactions and key: one order, so pages neither overlap nor skip), with its review (`open_only`:
    those not reviewed yet), a page of `limit` after `offset` or all, the reviews' notes opened (or,
    `with_notes=False`, withheld and marked); opened, one audit entry names `reader` and the alerts
    of the page, the only notes read. `shared`: the rules' answer may be one computed for another read
    moments ago (`alert_cache.py`), as the API's reads are."""
    if rule is not None and rule not in RULES:
        raise ValidationFailed(f"rule: one of {', '.join(RULES)}", field="rule")
    if shared:
        found = alert_cache.raised(db, settings, rule, lambda session: _raise(session, settings, rule))
    else:
        found = _raise(db, settings, rule, since)
    found = [a for a in found if (a.timestamp or 0) >= since]
    return _reviewed(db, settings, found, open_only, with_notes, reader, limit, offset)


def _raise(db: Session, settings: Settings, rule: str | None, since: int = 0) -> list[AlertPublic]:
    """What the rules (`rule`, or all of them) raise on the records as they stand, in no order;
    `since` only spares reads of what is older (the caller keeps the alerts at or after it)."""
    with collection_paused():  # the rules hold the whole book: full collections found next to nothing
        return _raise_paused(db, settings, rule, since)


def _raise_paused(db: Session, settings: Settings, rule: str | None, since: int) -> list[AlertPublic]:
    found = []
    if rule in (None, *NOTE_RULES):
        found += _note_alerts(db, settings, rule)
    if rule in (None, "first_payment_default"):
        found += _first_payment_defaults(db, since)
    if rule in (None, "early_payment_default"):
        found += _early_payment_defaults(db)
    if rule in (None, "related_party_funding"):
        found += _related_party_fundings(db)
    if rule in (None, "role_change"):
        found += platform_control_rules.role_changes(db, settings, _alert)
    if rule in (None, "pause"):
        found += platform_control_rules.pauses(db, _alert)
    if rule in (None, "reserve_outflow"):
        found += platform_control_rules.reserve_outflows(db, _alert)
    if rule in (None, "promise_chain"):
        found += collections_rules.promise_chains(db, _alert)
    if rule in (None, "answers_changed"):
        found += application_rules.answers_changed(db, settings.monitoring_answers_changed_days, _alert)
    if rule in (None, "collection_wallet"):
        found += disbursal_rules.collection_wallets(db, settings, _alert)
    if rule in (None, "fair_lending"):
        found += fair_lending_rules.fair_lending_flags(db, _alert)
    return found


def _reviewed(db: Session, settings: Settings, found: list[AlertPublic], open_only: bool, with_notes: bool,
              reader: str, limit: int | None, offset: int) -> list[AlertPublic]:  # fmt: skip
    """The page asked for of `found`, in the read's order, each a copy with its review as it stands
    (`found` may be the shared answer: it is never changed)."""
    def reviews_of(keys: Iterable[str]) -> dict[str, AlertReview]:
        return {r.alert_key: r for some in chunks(keys)
                for r in db.scalars(select(AlertReview).where(AlertReview.alert_key.in_(some)))}  # fmt: skip

    # Every alert's review only to leave the reviewed out; else only the page's.
    reviews = reviews_of(a.key for a in found) if open_only else {}
    found = sorted((a for a in found if a.key not in reviews),
                   key=lambda a: (a.timestamp or 0, a.rule, a.tx_hashes, a.key), reverse=True)  # fmt: skip
    page = [a.model_copy() for a in (found[offset:] if limit is None else found[offset:offset + limit])]
    reviews = reviews_of(a.key for a in page) if not open_only else {}  # open: the page has none
    keyring = load_keyring(settings) if with_notes and any(not r.shredded for r in reviews.values()) else None
    for a in page:
        a.review = review_public(reviews[a.key], keyring) if a.key in reviews else None
    if opened := sorted(a.key for a in page if a.review and a.review.note is not None):
        # Notes tell of fraud findings about a person: who read whose, once a view, as for case-log notes.
        audit.record(db, actor=reader, action=NOTES_READ, subject="monitoring:alerts", payload={"alert_keys": opened})
    return page


def _note_alerts(db: Session, settings: Settings, rule: str | None) -> list[AlertPublic]:
    """The rules over note transfers and trades (`rule`, or all of them), which share their reads."""
    # The columns the rules read, not ORM objects: building one per row was most of these reads' time.
    move = Bundle("move", *(getattr(NoteTransferRow, c) for c in MOVE_COLUMNS))
    trade = Bundle("trade", *(getattr(MarketTradeRow, c) for c in TRADE_COLUMNS))
    moves = list(db.execute(select(move, ChainEvent.block_timestamp)
                            .join(ChainEvent, ChainEvent.id == NoteTransferRow.event_id)
                            .order_by(NoteTransferRow.block_number, NoteTransferRow.log_index)))  # fmt: skip
    trades = list(db.execute(select(trade, ChainEvent.block_timestamp)
                             .join(ChainEvent, ChainEvent.id == MarketTradeRow.event_id)))  # fmt: skip
    outstanding = Outstanding.at_moves(db)
    found = []
    if rule in (None, "round_trip"):
        found += _round_trips(moves, settings.monitoring_round_trip_days * DAY)
    if rule in (None, "cycle"):
        found += note_path_rules.cycles(moves, settings.monitoring_round_trip_days * DAY,
                                        settings.monitoring_cycle_max_hops, _alert)  # fmt: skip
    if rule in (None, "off_market_price"):
        found += _off_market(trades, outstanding, settings)
    if rule in (None, "large_gift", "structured_gifts"):
        gifts, threshold = _gifts(moves, [t for t, _ in trades], outstanding, settings)
        if rule in (None, "large_gift"):
            found += _large_gifts(gifts, threshold)
        if rule in (None, "structured_gifts"):
            found += note_path_rules.structured_gifts(db, gifts, threshold, settings.monitoring_structuring_days * DAY,
                                                      _alert)  # fmt: skip
    return found


def review_alert(db: Session, settings: Settings, key: str, request: AlertReviewCreate,
                 reviewer: str) -> Recorded[AlertPublic]:  # fmt: skip
    """Record a person's review of an alert the rules raise now; once per alert (409 after), but
    the same reviewer sending the same review again (a retry) gets the stored one (`created` False)."""
    # The API's shared answer first (what the reviewer was shown), then the rules as they stand: a
    # review does not wait the rules' seconds on a large book for an alert the staff page listed.
    alert = next((a for a in alerts(db, settings, with_notes=False, shared=True) if a.key == key), None)
    if alert is None and settings.monitoring_alerts_cache_seconds > 0:
        alert = next((a for a in alerts(db, settings, with_notes=False) if a.key == key), None)
    if alert is None:
        raise NotFound(f"no monitoring alert {key!r} (see GET /api/v1/audit/alerts)", key=key)
    if alert.review is not None:
        done = alert.review
        if (done.reviewer.lower(), done.decision) == (reviewer.lower(), request.decision):
            # A retry only if the note is the same too: the reviewer's own note, opened to compare, not shown.
            row = db.scalar(select(AlertReview).where(AlertReview.alert_key == key))
            if not row.shredded and open_note(load_keyring(settings), row) == request.note:
                alert.review = done.model_copy(update={"note": request.note, "note_withheld": False})
                return Recorded(alert, created=False)
        raise Conflict(f"alert {key} was already reviewed: {alert.review.decision} by {alert.review.reviewer}",
                       key=key)  # fmt: skip
    # 0: the column predates alerts about no loan (role changes, pauses); the key names the alert.
    row = AlertReview(alert_key=key, rule=alert.rule, loan_id=alert.loan_id or 0, decision=request.decision,
                      reviewer=reviewer, reviewed_at=datetime.now(UTC))  # fmt: skip
    if alert.decision_ids:  # about applications: its wallets are the applicants', earlier first
        row.applicant, row.other_applicant = alert.wallets[-1], (alert.wallets[0] if len(alert.wallets) > 1 else None)
    seal_note(load_keyring(settings), row, request.note)
    db.add(row)
    named = dict.fromkeys(checksummed(w) for w in alert.wallets)  # as erasure names them
    db.add_all([AlertReviewWallet(alert_key=key, wallet=wallet) for wallet in named])
    audit.record(db, actor=reviewer, action="monitoring.review", subject=f"alert:{key}",
                 payload={"rule": alert.rule, "loan_id": alert.loan_id, "tx_hashes": alert.tx_hashes,
                          "decision": request.decision, "sealed_note_sha256": sealed_note_sha256(row)})  # fmt: skip
    db.flush()
    alert.review = AlertReviewPublic(decision=row.decision, note=request.note, reviewer=row.reviewer,
                                     reviewed_at=as_utc(row.reviewed_at))  # fmt: skip
    return Recorded(alert, created=True)


def _round_trips(moves: list, window: int) -> list[AlertPublic]:
    """A->B then B->A of the same loan's notes within `window` seconds; one alert per return."""
    sent: dict[tuple[int, str, str], list[tuple[int, NoteTransferRow]]] = defaultdict(list)
    found = []
    for move, at in moves:
        at = at or 0
        back = [(t, m) for t, m in sent[move.loan_id, move.recipient, move.sender] if at - t <= window]
        if back:
            first_at, first = back[-1]
            found.append(_alert(
                rule="round_trip", loan_id=move.loan_id, wallets=[first.sender, first.recipient],
                tx_hashes=[first.tx_hash, move.tx_hash], timestamp=at, amount=move.amount,
                detail=f"notes of loan {move.loan_id} went from {first.sender} to {first.recipient} and "
                       f"{(at - first_at) / DAY:.1f} days later back ({first.amount} then {move.amount} notes)",
            ))  # fmt: skip
        sent[move.loan_id, move.sender, move.recipient].append((at, move))
    return found


def _off_market(trades: list, outstanding: Outstanding, settings: Settings) -> list[AlertPublic]:
    found = []
    for trade, at in trades:
        worth = outstanding.of_notes(trade.loan_id, trade.notes, trade.block_number, trade.log_index)
        if not worth:
            continue
        ratio = trade.cost / worth
        if settings.monitoring_price_low <= ratio <= settings.monitoring_price_high:
            continue
        found.append(_alert(
            rule="off_market_price", loan_id=trade.loan_id, wallets=[trade.seller, trade.buyer],
            tx_hashes=[trade.tx_hash], timestamp=at, amount=abs(trade.cost - worth),
            detail=f"{trade.notes} notes of loan {trade.loan_id} standing for {worth} of principal outstanding "
                   f"traded for {trade.cost} ({ratio:.0%} of it; the rule flags outside "
                   f"{settings.monitoring_price_low:.0%}-{settings.monitoring_price_high:.0%})",
        ))  # fmt: skip
    return found


def _gifts(moves: list, trades: list, outstanding: Outstanding,
           settings: Settings) -> tuple[list[note_path_rules.Gift], int]:  # fmt: skip
    """The note moves outside the market, in block order, each with its block time and the principal
    outstanding it stood for; and the large-gift threshold in base units."""
    # A trade's own transfer is no gift; another in its transaction (a contract wallet's) may be.
    by_trade = trade_transfers(trades, [move for move, _ in moves])
    gifts = [(move, at, outstanding.of_notes(move.loan_id, move.amount, move.block_number, move.log_index))
             for i, (move, at) in enumerate(moves) if i not in by_trade]  # fmt: skip
    threshold = settings.monitoring_gift_threshold * 10 ** loan_book_domain(settings).asset_decimals if gifts else 0
    return gifts, threshold


def _large_gifts(gifts: list[note_path_rules.Gift], threshold: int) -> list[AlertPublic]:
    found = []
    for move, at, worth in gifts:
        if worth < threshold:
            continue
        found.append(_alert(
            rule="large_gift", loan_id=move.loan_id, wallets=[move.sender, move.recipient],
            tx_hashes=[move.tx_hash], timestamp=at, amount=worth,
            detail=f"{move.amount} notes of loan {move.loan_id} standing for {worth} of principal outstanding moved "
                   f"from {move.sender} to {move.recipient} with nothing paid on the market",
        ))  # fmt: skip
    return found


def _first_payment_defaults(db: Session, since: int = 0) -> list[AlertPublic]:
    """Loans whose first installment went 16+ days unpaid: told so (installment 1's `late` notice or
    a later one), or defaulted before settling its first (a part payment does not settle it); only
    those whose first installment fell due at or after block time `since` (the read keeps no other)."""
    late = select(ServicingNotice.loan_id).where(
        ServicingNotice.installment == 1, ServicingNotice.kind.in_(FIRST_PAYMENT_LATE),
        ServicingNotice.recipient == ServicingNotice.borrower)  # fmt: skip
    loans = list(db.scalars(select(LoanRow).where(LoanRow.start_time.is_not(None),
                                                  LoanRow.start_time + LoanRow.installment_period >= since).where(
        LoanRow.loan_id.in_(late) | ((LoanRow.status == "defaulted") & (LoanRow.installments_settled == 0)))))  # fmt: skip
    if not loans:
        return []
    # Only these loans' disbursals, not every loan's: each was in a block at or after its loan's
    # creation, at its start time (LoanBook stamps `startTime` with the block's), so the earliest of
    # them bounds the events read (one with no block time recorded is read, to be safe).
    flagged = {loan.loan_id for loan in loans}
    disbursals = {int(args["loanId"]): tx for args, tx in db.execute(
        select(ChainEvent.args, ChainEvent.tx_hash).where(
            ChainEvent.contract == "LoanBook", ChainEvent.event == "LoanDisbursed",
            ChainEvent.block_number >= min(loan.created_block for loan in loans),
            ChainEvent.block_timestamp.is_(None) | (ChainEvent.block_timestamp >= min(loan.start_time for loan in loans)),
        )) if int(args["loanId"]) in flagged}  # fmt: skip
    found = []
    for loan in loans:
        due = loan.start_time + loan.installment_period
        found.append(_alert(
            rule="first_payment_default", loan_id=loan.loan_id, wallets=[loan.borrower],
            tx_hashes=[disbursals.get(loan.loan_id, loan.tx_hash)], timestamp=due, amount=loan.principal,
            detail=f"loan {loan.loan_id}: its first installment, due {datetime.fromtimestamp(due, UTC):%Y-%m-%d}, went more "
                   f"than 15 days unpaid ({loan.status} now): check the borrower's identity and application",
        ))  # fmt: skip
    return found


def _early_payment_defaults(db: Session) -> list[AlertPublic]:
    """Loans that settled their first installment but left the second or third 16+ days unpaid (told
    so, or defaulted before settling it); the first one unpaid is `first_payment_default`'s."""
    told = (ServicingNotice.installment.between(2, EARLY_INSTALLMENTS), ServicingNotice.kind.in_(FIRST_PAYMENT_LATE),
            ServicingNotice.recipient == ServicingNotice.borrower)  # fmt: skip
    late = dict(db.execute(select(ServicingNotice.loan_id, func.min(ServicingNotice.installment)).where(*told)
                           .group_by(ServicingNotice.loan_id)).all())  # fmt: skip
    defaulted_early = (LoanRow.status == "defaulted") & LoanRow.installments_settled.between(1, EARLY_INSTALLMENTS - 1)
    loans = db.scalars(select(LoanRow).where(LoanRow.start_time.is_not(None))  # a subquery: no list of every late loan
                       .where(LoanRow.loan_id.in_(select(ServicingNotice.loan_id).where(*told)) | defaulted_early))  # fmt: skip
    found = []
    for loan in loans:
        installment = late.get(loan.loan_id, loan.installments_settled + 1)
        due = loan.start_time + installment * loan.installment_period
        found.append(_alert(
            rule="early_payment_default", loan_id=loan.loan_id, wallets=[loan.borrower], tx_hashes=[loan.tx_hash],
            also=[str(installment)], timestamp=due, amount=loan.principal,
            detail=f"loan {loan.loan_id}: installment {installment}, due {datetime.fromtimestamp(due, UTC):%Y-%m-%d}, went "
                   f"more than 15 days unpaid after the first was paid ({loan.status} now): check the borrower's other "
                   "loans and identity (a bust-out pays the first installment, then stops)",
        ))  # fmt: skip
    return found


def _related_party_fundings(db: Session) -> list[AlertPublic]:
    """One alert per loan and investor whose KYC came from a network address its borrower's came from."""
    borrower_seen, investor_seen = aliased(KycOrigin), aliased(KycOrigin)
    rows = db.execute(select(FundingRow.loan_id, FundingRow.investor, FundingRow.amount, FundingRow.tx_hash,
                             FundingRow.event_id, LoanRow.borrower, ChainEvent.block_timestamp)
                      .join(LoanRow, LoanRow.loan_id == FundingRow.loan_id)
                      .join(ChainEvent, ChainEvent.id == FundingRow.event_id)
                      .join(borrower_seen, borrower_seen.wallet == LoanRow.borrower)
                      .join(investor_seen, (investor_seen.wallet == FundingRow.investor)
                            & (investor_seen.origin_index == borrower_seen.origin_index))
                      .where(FundingRow.kind == "fund")
                      .order_by(FundingRow.event_id))  # fmt: skip
    fundings: dict[tuple[int, str], dict[int, tuple]] = defaultdict(dict)
    for loan_id, investor, amount, tx_hash, event_id, borrower, at in rows:  # one row per shared address: once each
        fundings[loan_id, investor][event_id] = (amount, tx_hash, borrower, at or 0)
    found = []
    for (loan_id, investor), by_event in fundings.items():
        funded = list(by_event.values())
        borrower, total = funded[0][2], sum(amount for amount, *_ in funded)
        found.append(_alert(
            rule="related_party_funding", loan_id=loan_id, wallets=[borrower, investor],
            tx_hashes=[tx_hash for _, tx_hash, *_ in funded], timestamp=funded[0][3], amount=total,
            detail=f"{investor} funded {total} of loan {loan_id} and applied for KYC from a network address its "
                   f"borrower {borrower} applied from: check whether they are one person or related (self-funding "
                   "through a second identity would draw the reserve's cover at a default)",
        ))  # fmt: skip
    return found
