"""An investor's portfolio and its diversification, and a plan that spreads new money thinly.

Positions are the investor's LoanBook notes (the chain index's `chain_note_balances`), valued at
the loan's outstanding principal times the investor's share of the notes, and, with no notes,
the loans whose notes it sold or gave away while they still owe it repayments to claim. Concentration is
measured the usual way: the largest position's share, the Herfindahl-Hirschman index (sum of
squared shares) and its inverse, the effective number of equal-sized loans. With n equal loans one
default costs about 1/n of the portfolio, which is why P2P platforms steer investors to many
small notes instead of a few large ones.

`plan_investment` turns an amount into equal tickets over as many open loans as the minimum
ticket allows (water-filling under each loan's remaining need and a per-loan cap, counting what the
wallet's funding mandate is funding now as held: `in_flight`), and returns the
wallet-ready transactions: one `approve` when needed (for the total, and what the wallet's funding
mandate has left to fund, which the same allowance serves), then one `fund` per loan."""

from __future__ import annotations

import time
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.loan_book import deadline_clock
from backend.chain.market_calls import NoteMarketWallet
from backend.chain.projection_models import (
    AttestationRow,
    FundingRow,
    LoanRow,
    MarketBidRow,
    MarketListingRow,
    NoteBalanceRow,
)
from backend.chain.wallet_calls import LoanBookWallet
from backend.config import Settings
from backend.db.chunks import chunks
from backend.disclosure.live import live_book_risk
from backend.disclosure.reserve import BookRisk
from backend.errors import Conflict
from backend.identity.persons import borrower_wallets_of, same_borrower_person
from backend.lending import earnings, statement
from backend.lending.in_flight import held_or_in_flight
from backend.lending.loans import DecisionFacts, decision_facts, refundable
from backend.lending.mandates import funding_approval
from backend.lending.returns import xirr
from backend.lending.schemas import (
    AllocationPublic,
    LoanFilter,
    PlanCreate,
    PlanPublic,
    PortfolioPublic,
    PositionPublic,
    WalletCallPublic,
    WalletTxPublic,
)
from backend.market.pricing import proceeds
from backend.market.yields import fair_value
from backend.scoring import policy
from backend.servicing.notices import money
from backend.servicing.roll_rates import RollRate, late_rate, pd_now
from backend.servicing.schemas import ServicingPublic

AT_RISK = ("funding", "active")
PAYING = ("active", "repaid", "defaulted")  # loans whose repayments or cover reach their notes

MIN_RETURN_HISTORY = 30 * 86_400  # seconds of cash-flow history before a net annual return is given


def _grades(db: Session, hashes: set[str]) -> dict[str, str]:
    return {h: fact.grade for h, fact in decision_facts(db, hashes).items()}


def _pd_now(fact: DecisionFacts | None, loan: LoanRow, standing: ServicingPublic | None,
            rates: dict[str, RollRate]) -> float | None:  # fmt: skip
    """The loan's PD from where it stands (the disclosure's reserve test uses the same figure over
    the whole book); None without a decision of this platform behind it."""
    return pd_now(fact.pd, loan, standing, rates) if fact and fact.pd is not None else None


def _expected_loss(pd: float | None, exposure: int) -> int | None:
    """PD x LGD x exposure."""
    return round(pd * policy.LGD * exposure) if pd is not None else None


def _fair_value(fact: DecisionFacts | None, loan: LoanRow, notes: int, standing: ServicingPublic | None,
                risk: BookRisk, now: int) -> int | None:  # fmt: skip
    """What an active loan's notes are worth now at the loan's own rate, defaults expected from where
    it stands (as the market's fair price); None without a PD, or for a loan not paying."""
    if loan.status != "active" or not notes or fact is None or fact.pd is None:
        return None
    paid = standing.installments_paid if standing else loan.installments_settled
    return fair_value(loan, paid, now, notes, fact.pd, risk.loss_on(loan.principal_outstanding),
                      late_rate(standing, risk.rates))


def _after_cover(pd: float | None, exposure: int, risk: BookRisk, outstanding: int) -> int | None:
    """PD x what a default of a loan with `outstanding` principal costs the investors once the reserve
    has paid (`BookRisk.loss_on`) x exposure; None without a PD or when the reserve's share cannot be told."""
    if pd is None or risk.cover_share is None:
        return None
    return round(pd * risk.loss_on(outstanding) * exposure)


def _defaultable_principal(loan: LoanRow) -> int:
    """The principal a default of the loan would leave: a loan still funding has none outstanding
    until it pays out, and then its whole principal. The reserve's balance caps the cover of that, so
    the loss after cover an investor commits on is the one it holds the day after."""
    return loan.principal if loan.status == "funding" else loan.principal_outstanding


def _exposure(loan: LoanRow, notes: int, now: int) -> int:
    """What the investor has at stake in this loan now (base units)."""
    if refundable(loan, now):
        return 0  # not at risk: the investor's to take back
    if loan.status == "funding":
        return notes  # committed until the loan funds or misses its deadline
    if loan.status == "active":
        return loan.principal_outstanding * notes // loan.principal
    return 0


def unclaimed_elsewhere(db: Session, wallet: str, held: set[int]) -> list[int]:
    """Loans the wallet no longer holds notes in but has repayments to claim from: what notes earn
    stays with whoever held them then, so selling or giving them all away leaves that behind. Read
    from the replay of LoanBook's accumulator against the claims indexed."""
    claimed: dict[int, int] = defaultdict(int)
    for loan_id, amount in db.execute(select(FundingRow.loan_id, FundingRow.amount)
                                      .where(FundingRow.investor == wallet, FundingRow.kind == "claim")):  # fmt: skip
        claimed[loan_id] += amount
    entitled = earnings.entitled_by_loan(earnings.earnings_of(db, wallet))
    return sorted(loan_id for loan_id, total in entitled.items() if loan_id not in held and total > claimed[loan_id])


def bid_commitment(db: Session, wallet: str, now: int) -> tuple[int, int]:
    """The wallet's open bids for notes of active loans, unexpired at block time `now`, and what
    they would pay if all were hit (rounded down per bid, as NoteMarket pays), at each loan's
    principal outstanding as indexed: never below the chain's, which only falls."""
    prices = list(db.execute(select(MarketBidRow.notes_left, MarketBidRow.price_bps, LoanRow)
                             .join(LoanRow, LoanRow.loan_id == MarketBidRow.loan_id)
                             .where(MarketBidRow.bidder == wallet, MarketBidRow.status == "open",
                                    MarketBidRow.live_at(now), LoanRow.trading(now))))  # fmt: skip
    return len(prices), sum(proceeds(notes, price, loan) for notes, price, loan in prices)


def bids_for(db: Session, wallet: str, loan_ids: set[int], now: int, level: int) -> dict[int, list[tuple[int, int]]]:
    """Per loan, (notes left, price) of the other wallets' open, unexpired bids, the best first,
    leaving out those LoanBook would refuse to fill, as the index knows them: the loan's borrower's,
    and those of wallets not verified at KYC `level` at `now` (what `sell` into them would check;
    whether each bidder can still pay is left to the sale, as it needs a chain read per bidder); and
    those the platform does not fill: a wallet of the borrower's person (`Makers.may_receive`)."""
    book: dict[int, list[tuple[int, int]]] = defaultdict(list)
    own: dict[tuple[str, str], bool] = {}
    open_bids = (select(MarketBidRow.loan_id, MarketBidRow.notes_left, MarketBidRow.price_bps, MarketBidRow.bidder, LoanRow.borrower)
                 .join(LoanRow, LoanRow.loan_id == MarketBidRow.loan_id)
                 .join(AttestationRow, AttestationRow.wallet == MarketBidRow.bidder)
                 .where(MarketBidRow.bidder != wallet, MarketBidRow.status == "open", MarketBidRow.live_at(now),
                        MarketBidRow.bidder != LoanRow.borrower, AttestationRow.level >= level,
                        AttestationRow.expires_at > now, AttestationRow.revoked.is_(False))
                 .order_by(MarketBidRow.price_bps.desc(), MarketBidRow.bid_id))  # fmt: skip
    # A loan's bids all come in one chunk, best first: a wallet may hold notes of more loans than a list binds.
    for loan_id, notes, price, bidder, borrower in (
            row for some in chunks(loan_ids) for row in db.execute(open_bids.where(MarketBidRow.loan_id.in_(some)))):
        if (bidder, borrower) not in own:
            own[bidder, borrower] = same_borrower_person(db, bidder, borrower)
        if not own[bidder, borrower]:
            book[loan_id].append((notes, price))
    return book


def sell_now(bids: list[tuple[int, int]], notes: int, loan: LoanRow) -> tuple[int, int]:
    """(notes sold, proceeds) of selling up to `notes` of `loan` into `bids`, best first."""
    sold = paid = 0
    for wanted, price in bids:
        take = min(wanted, notes - sold)
        if take <= 0:
            break
        sold, paid = sold + take, paid + proceeds(take, price, loan)
    return sold, paid


def _unpayable_bids(settings: Settings, wallet: str, bids: int, committed: int) -> str | None:
    """Bids are escrowless: say so when the wallet could no longer pay them all."""
    market = NoteMarketWallet(settings, wallet)
    payable = market.takeable()
    if payable >= committed:
        return None
    return (f"your {bids} open bids would pay {committed}, but NoteMarket can take only {payable} from the wallet "
            "(balance or allowance): a sale into them would fail; add money, approve more, or cancel bids")  # fmt: skip


def portfolio_of(db: Session, settings: Settings, wallet: str) -> PortfolioPublic:
    holdings = list(db.execute(
        select(NoteBalanceRow, LoanRow).join(LoanRow, LoanRow.loan_id == NoteBalanceRow.loan_id)
        .where(NoteBalanceRow.holder == wallet).order_by(NoteBalanceRow.loan_id)
    ))  # fmt: skip
    left_behind = unclaimed_elsewhere(db, wallet, {loan.loan_id for _, loan in holdings})
    holdings += [(NoteBalanceRow(loan_id=loan.loan_id, holder=wallet, balance=0), loan)
                 for some in chunks(left_behind) for loan in db.scalars(select(LoanRow).where(LoanRow.loan_id.in_(some)))]  # fmt: skip
    facts = decision_facts(db, {loan.decision_hash for _, loan in holdings})
    risk = live_book_risk(db) if holdings else None
    bidding = db.scalar(select(MarketBidRow.bid_id).where(MarketBidRow.bidder == wallet, MarketBidRow.status == "open"))
    now = deadline_clock(settings) if holdings or bidding else int(time.time())  # the chain's clock when it matters
    book = LoanBookWallet(settings, wallet) if holdings else None
    listed: dict[int, int] = defaultdict(int)
    for loan_id, notes in db.execute(select(MarketListingRow.loan_id, MarketListingRow.notes_left)
                                     .where(MarketListingRow.seller == wallet, MarketListingRow.status == "open",
                                            MarketListingRow.live_at(now))):  # fmt: skip
        listed[loan_id] += notes
    tradable = {loan.loan_id: note.balance for note, loan in holdings if loan.trades(now) and note.balance}
    exits = {}  # what other wallets' bids would pay for them now
    if tradable:
        level = NoteMarketWallet(settings, wallet).investor_level()
        loans = {loan.loan_id: loan for _, loan in holdings}
        exits = {loan_id: sell_now(bids, tradable[loan_id], loans[loan_id])
                 for loan_id, bids in bids_for(db, wallet, set(tradable), now, level).items()}  # fmt: skip
    claims = book.claimable_of([loan.loan_id for _, loan in holdings if loan.status in PAYING]) if book else {}
    positions = []
    for note, loan in holdings:
        fact, state = facts.get(loan.decision_hash), risk.aging.get(loan.loan_id) if loan.status == "active" else None
        exposure, (bid_now, exit_value) = _exposure(loan, note.balance, now), exits.get(loan.loan_id, (0, 0))
        positions.append(PositionPublic(
            loan_id=loan.loan_id, status=loan.status, grade=fact.grade if fact else None, apr_bps=loan.apr_bps,
            notes=note.balance, share_of_loan=note.balance / loan.principal, exposure=exposure,
            refundable=note.balance if refundable(loan, now) else 0,
            claimable=claims.get(loan.loan_id, 0),
            listed=listed[loan.loan_id], bid_now=bid_now, sell_now=exit_value,
            days_past_due=state.days_past_due if state else None, bucket=state.bucket if state else None,
            pd_now=(pd := _pd_now(fact, loan, state, risk.rates) if loan.status in AT_RISK else None),
            expected_loss=_expected_loss(pd, exposure),
            expected_loss_after_cover=_after_cover(pd, exposure, risk, _defaultable_principal(loan)),
            fair_value=_fair_value(fact, loan, note.balance, state, risk, now),
        ))  # fmt: skip
    at_risk = [p for p in positions if p.status in AT_RISK and p.exposure > 0]
    total = sum(p.exposure for p in at_risk)
    shares = [p.exposure / total for p in at_risk] if total else []
    hhi = sum(s * s for s in shares)
    by_grade: dict[str, int] = defaultdict(int)
    for p in at_risk:
        by_grade[p.grade or "unrated"] += p.exposure
    warnings = []
    if back := sum(p.refundable for p in positions):
        loans = ", ".join(str(p.loan_id) for p in positions if p.refundable)
        warnings.append(f"loans {loans} did not fund in time or were never paid out: take your money back (refund)")
    largest = max(shares, default=0.0)
    if at_risk and largest > settings.diversification_max_share:
        warnings.append(f"one loan is {largest:.0%} of your portfolio; keep each under "
                        f"{settings.diversification_max_share:.0%}")  # fmt: skip
    if at_risk and len(at_risk) < settings.diversification_min_loans:
        warnings.append(f"{len(at_risk)} loan{'s' if len(at_risk) > 1 else ''}: a single default could cost about {1 / len(at_risk):.0%} of your "
                        f"portfolio; spread it over at least {settings.diversification_min_loans}")  # fmt: skip
    bids, committed = bid_commitment(db, wallet, now)
    if committed and (short := _unpayable_bids(settings, wallet, bids, committed)):
        warnings.append(short)
    claimable = sum(p.claimable for p in positions)
    # What it holds now, valued today: notes at risk at their exposure, plus money to take back or collect.
    held_value = sum(p.exposure for p in positions) + back + claimable
    flows = [(line.timestamp, line.cash) for line in statement.cash_lines(db, wallet) if line.timestamp is not None]
    flows += statement.gift_flows(db, wallet)  # notes given or received: their value moves with them
    # An annual rate read off days of history is noise (a day's accrual is tens of percent a year).
    seasoned = bool(flows) and now - min(t for t, _ in flows) >= MIN_RETURN_HISTORY
    return PortfolioPublic(
        wallet=wallet, positions=positions, loans_at_risk=len(at_risk), exposure=total, largest_share=largest,
        hhi=hhi, effective_loans=1 / hhi if hhi else 0.0, exposure_by_grade=dict(sorted(by_grade.items())),
        expected_loss=sum(p.expected_loss or 0 for p in positions),
        expected_loss_after_cover=sum(p.expected_loss_after_cover or 0 for p in positions),
        fair_value=sum(p.fair_value or 0 for p in positions),
        refundable=back, claimable=claimable, open_bids=bids, bid_commitment=committed, warnings=warnings,
        net_annual_return=xirr([*flows, (now, held_value)]) if seasoned else None,
    )  # fmt: skip


def eligible(db: Session, wallet: str, request: LoanFilter, now: int) -> list[LoanRow]:
    """Loans open for funding now that `request` admits, never those of the wallet's own person (a
    plan, and the mandate keeper through a standing instruction, would otherwise fund the person's
    loans from another of its wallets, which funding by hand refuses); earliest deadline first."""
    own = {w.lower() for w in borrower_wallets_of(db, wallet) | {wallet}}
    query = select(LoanRow).where(LoanRow.status == "funding", LoanRow.funding_deadline > now)
    if request.min_apr_bps is not None:
        query = query.where(LoanRow.apr_bps >= request.min_apr_bps)
    if request.max_installments is not None:
        query = query.where(LoanRow.installments <= request.max_installments)
    loans = list(db.scalars(query.order_by(LoanRow.funding_deadline, LoanRow.loan_id)))
    loans = [l for l in loans if l.principal > l.funded and l.borrower.lower() not in own]
    if request.grades:
        grades = _grades(db, {l.decision_hash for l in loans})
        loans = [l for l in loans if grades.get(l.decision_hash) in request.grades]
    return loans


def _water_fill(amount: int, caps: list[int]) -> list[int]:
    """Equal shares of `amount`, none above its cap; what one cannot take goes to the others."""
    given = [0] * len(caps)
    left = amount
    while left > 0:
        open_ = [i for i, cap in enumerate(caps) if given[i] < cap]
        if not open_:
            break
        share = max(left // len(open_), 1)
        for i in open_:
            take = min(share, caps[i] - given[i], left)
            given[i] += take
            left -= take
            if left == 0:
                break
    return given


def plan_investment(db: Session, settings: Settings, wallet: str, request: PlanCreate) -> PlanPublic:
    book = LoanBookWallet(settings, wallet)
    ticket = book.min_ticket()
    held, flying = held_or_in_flight(db, wallet)  # what its mandate is funding now counts as held already
    limit = request.max_per_loan
    candidates = []
    now = deadline_clock(settings)
    for loan in eligible(db, wallet, request, now):
        remaining = loan.principal - loan.funded - flying[loan.loan_id]
        cap = min(remaining, limit - held[loan.loan_id]) if limit else remaining
        # the contract takes a ticket under the minimum only if it completes the loan, and never one of 0
        if cap > 0 and cap >= min(ticket, remaining):
            candidates.append((loan, cap))
    if not candidates:
        raise Conflict("no open loan matches: nothing to invest in right now", open_loans=0)
    # LoanBook takes a minimum ticket of 0 as "no minimum": then as many loans as there are.
    chosen = candidates[: min(len(candidates), max(request.amount // max(ticket, 1), 1))]
    amounts = _water_fill(request.amount, [cap for _, cap in chosen])
    allocations = [
        AllocationPublic(loan_id=loan.loan_id, amount=amount, apr_bps=loan.apr_bps)
        for (loan, _), amount in zip(chosen, amounts, strict=True)
        if amount > 0 and (amount >= ticket or amount == loan.principal - loan.funded - flying[loan.loan_id])
    ]
    total = sum(a.amount for a in allocations)
    if total == 0:
        d = book.decimals()
        raise Conflict(f"no open loan can take {money(request.amount, d)} tokens (minimum ticket {money(ticket, d)})",
                       min_ticket=ticket)  # fmt: skip
    balance = book.balance()
    if balance < total:
        d = book.decimals()
        raise Conflict(f"the wallet holds {money(balance, d)} tokens, less than the {money(total, d)} this needs",
                       balance=balance, amount=total)  # fmt: skip
    calls = [book.call("fund", [a.loan_id, a.amount], f"fund loan {a.loan_id} with {book.tokens(a.amount)}") for a in allocations]
    calls[:0] = funding_approval(db, settings, book, total, now, "these fundings")
    return PlanPublic(
        amount=request.amount, allocated=total, unallocated=request.amount - total, allocations=allocations,
        transactions=WalletCallPublic.of(calls),
    )  # fmt: skip


def claim_all(db: Session, settings: Settings, wallet: str) -> WalletTxPublic:
    """One `claimMany` over every loan where the wallet has something to claim."""
    book = LoanBookWallet(settings, wallet)
    held = set(db.scalars(select(NoteBalanceRow.loan_id).where(NoteBalanceRow.holder == wallet)))
    candidates = sorted(held | set(unclaimed_elsewhere(db, wallet, held)))
    claimable = {loan_id: amount for loan_id, amount in book.claimable_of(candidates).items() if amount > 0}
    if not claimable:
        raise Conflict(f"nothing to claim for {wallet}", wallet=wallet)
    total = sum(claimable.values())
    call = book.call("claimMany", [list(claimable)], f"claim {book.tokens(total)} from {len(claimable)} loans")
    return WalletTxPublic(loan_id=None, action="claim", amount=total,
                          transactions=WalletCallPublic.of([call]))
