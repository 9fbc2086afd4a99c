"""Investors' standing instructions (auto-invest without custody). An investor says which new
loans it wants (grades, a minimum APR, a maximum term) and how much to hold in each; the servicing
worker tells it of every new loan that matches (in-app and e-mail, once per loan), and one click
builds the wallet transactions that bring each matching loan up to that amount. The platform
never holds or moves the investor's money: the investor's own wallet signs every `fund`."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from backend.chain.loan_book import deadline_clock
from backend.chain.projection_models import LoanRow
from backend.chain.wallet_calls import LoanBookWallet
from backend.config import Settings
from backend.db.base import as_utc
from backend.db.session import get_or_add
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.lending.in_flight import held_or_in_flight
from backend.lending.models import InvestmentRule
from backend.lending.portfolio import eligible, plan_investment
from backend.lending.schemas import (
    InvestmentRuleCreate,
    InvestmentRulePublic,
    LoanFilter,
    PlanCreate,
    PlanPublic,
)


def _filter(rule: InvestmentRule) -> LoanFilter:
    return LoanFilter(grades=rule.grades, min_apr_bps=rule.min_apr_bps, max_installments=rule.max_installments)


def matching(db: Session, rule: InvestmentRule, now: int) -> list[LoanRow]:
    """Open loans the rule admits where the wallet holds less than `per_loan` of the notes, counting
    what its funding mandate is funding now (`in_flight`)."""
    held, _ = held_or_in_flight(db, rule.wallet)
    return [loan for loan in eligible(db, rule.wallet, _filter(rule), now) if held[loan.loan_id] < rule.per_loan]


def _public(db: Session, settings: Settings, rule: InvestmentRule) -> InvestmentRulePublic:
    now = deadline_clock(settings)
    return InvestmentRulePublic(wallet=rule.wallet, per_loan=rule.per_loan, grades=rule.grades,
                                min_apr_bps=rule.min_apr_bps, max_installments=rule.max_installments,
                                updated_at=as_utc(rule.updated_at), matching_now=[l.loan_id for l in matching(db, rule, now)])  # fmt: skip


def _rule(db: Session, wallet: str) -> InvestmentRule:
    rule = db.get(InvestmentRule, wallet)
    if rule is None:
        raise NotFound(f"{wallet} has no standing instruction", wallet=wallet)
    return rule


def set_rule(db: Session, settings: Settings, wallet: str, request: InvestmentRuleCreate) -> InvestmentRulePublic:
    """Creates or replaces the wallet's instruction (one per wallet)."""
    book = LoanBookWallet(settings, wallet)
    ticket = book.min_ticket()
    if request.per_loan < ticket:  # LoanBook would refuse every such ticket: say so now, not at each match
        raise ValidationFailed(f"per_loan: at least LoanBook's minimum ticket, {book.tokens(ticket)}",
                               field="per_loan", min_ticket=ticket)  # fmt: skip
    rule, _ = get_or_add(db, InvestmentRule, wallet, lambda: InvestmentRule(wallet=wallet, per_loan=request.per_loan), lock=True)
    rule.per_loan, rule.grades = request.per_loan, request.grades
    rule.min_apr_bps, rule.max_installments = request.min_apr_bps, request.max_installments
    rule.updated_at = datetime.now(UTC)
    db.add(rule)
    db.flush()
    return _public(db, settings, rule)


def get_rule(db: Session, settings: Settings, wallet: str) -> InvestmentRulePublic:
    return _public(db, settings, _rule(db, wallet))


def delete_rule(db: Session, wallet: str) -> None:
    db.delete(_rule(db, wallet))


def rule_plan(db: Session, settings: Settings, wallet: str) -> PlanPublic:
    """The wallet transactions that bring every matching loan up to `per_loan` (the plan's usual
    checks: minimum ticket, remaining need, the wallet's balance)."""
    rule = _rule(db, wallet)
    loans = matching(db, rule, deadline_clock(settings))
    if not loans:
        raise Conflict("no open loan matches your standing instruction right now", open_loans=0)
    request = PlanCreate(amount=rule.per_loan * len(loans), max_per_loan=rule.per_loan,
                         **_filter(rule).model_dump())  # fmt: skip
    return plan_investment(db, settings, wallet, request)
