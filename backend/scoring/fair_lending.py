"""Fair-lending monitoring of live decisions: approval rates by age group and the adverse impact
ratio (the four-fifths rule), on the platform's own applicants rather than the training sample.

The model never sees age, and a decision records none. Each applicant's age band is read here from
their KYC record (the date of birth, decrypted only to place them in a band at the decision's date;
nothing personal leaves this module, and the reading is audited). An applicant counts once, with
their latest decision in the period, so re-quotes do not weigh a group; a referral counts as the
underwriter decided it. Applicants without a readable KYC record (a quote asked before KYC, an
erased record) are counted apart. A group of fewer than `MIN_GROUP` applicants is neither flagged
(its ratio is noise) nor counted in the report: its counts and rates are withheld, shown as
"<MIN_GROUP", and so is the total when some groups are shown (it would give the sum of the others).
Any staff member can find when a loan's decision was made, so a period of a microsecond around it
would otherwise tell that applicant's age band (privacy review L2)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.chunks import CHUNK, chunks
from backend.errors import ValidationFailed
from backend.identity.audit_trail import audit
from backend.identity.crypto.keyring import load_keyring
from backend.identity.kyc.vault import RecordErased, open_sealed
from backend.identity.models import KycRecord
from backend.scoring.fairness import AGE_GROUPS, FOUR_FIFTHS
from backend.scoring.models import CreditDecision
from backend.scoring.schemas import FairLendingGroupPublic, FairLendingPublic

MIN_GROUP = 30
UNKNOWN = "unknown"


def live_fairness(db: Session, settings: Settings, actor: str, since: datetime | None = None,
                  until: datetime | None = None) -> FairLendingPublic:  # fmt: skip
    since, until = _utc(since), _utc(until)
    if since and until and since >= until:  # an empty period, audited as if it were a report
        raise ValidationFailed("until: must be after since", field="until")
    latest = _latest_decision_per_applicant(db, since, until)
    births = _dates_of_birth(db, settings, list(latest))
    bands: dict[str, list[str]] = {}
    for wallet, decision in latest.items():
        born = births.get(wallet)
        group = _age_group(born, decision.created_at.date()) if born else UNKNOWN
        bands.setdefault(group, []).append(_outcome(decision))
    groups = impact_ratios([_group(label, bands.get(label, [])) for label, _, _ in AGE_GROUPS], MIN_GROUP)
    audit(db, actor, "fairness.live", "credit_decisions",
          {"applicants": len(latest), "dates_of_birth_read": len(births),
           "since": since.isoformat() if since else None, "until": until.isoformat() if until else None})  # fmt: skip
    unknown = len(bands.get(UNKNOWN, []))
    small = [n < MIN_GROUP for n in [*(g.applicants for g in groups), unknown]]
    withheld = any(small)
    # The total less the groups shown is what the withheld ones add up to: hidden unless none is shown.
    return FairLendingPublic(since=since, until=until, applicants=None if withheld and not all(small) else len(latest),
                             unknown_age=unknown if unknown >= MIN_GROUP else None,
                             groups=[_withheld(g) if g.applicants < MIN_GROUP else g for g in groups],
                             four_fifths=FOUR_FIFTHS, min_group=MIN_GROUP,
                             flagged=[g.group for g in groups if g.below_four_fifths],
                             note=f"groups of fewer than {MIN_GROUP} applicants are shown as <{MIN_GROUP}, without counts "
                                  "or rates (and the total, when it would give their sum)" if withheld else None)  # fmt: skip


def _withheld(group: FairLendingGroupPublic) -> FairLendingGroupPublic:
    """A group too small to show: its label only (never flagged: `impact_ratios`)."""
    return FairLendingGroupPublic(group=group.group, applicants=None, approved=None, still_referred=None,
                                  approval_rate=None, adverse_impact_ratio=None, withheld=True)  # fmt: skip


def impact_ratios(groups: list[FairLendingGroupPublic], min_group: int) -> list[FairLendingGroupPublic]:
    """Each band's approval rate against the best band's, the best chosen among bands of at least
    `min_group` applicants (a band of one approved applicant would otherwise set the bar for all),
    or among all bands while none is that large (then nothing is flagged)."""
    sized = [g for g in groups if g.applicants >= min_group] or [g for g in groups if g.applicants]
    best = max((g.approval_rate for g in sized), default=0.0)
    for g in groups:
        g.adverse_impact_ratio = g.approval_rate / best if g.applicants and best else None
        g.below_four_fifths = bool(g.applicants >= min_group and g.adverse_impact_ratio is not None
                                   and g.adverse_impact_ratio < FOUR_FIFTHS)  # fmt: skip
    return groups


def _latest_decision_per_applicant(db: Session, since: datetime | None, until: datetime | None) -> dict[str, CreditDecision]:
    query = select(CreditDecision).where(CreditDecision.wallet.is_not(None)).order_by(CreditDecision.created_at)
    if since is not None:
        query = query.where(CreditDecision.created_at >= since)
    if until is not None:
        query = query.where(CreditDecision.created_at < until)
    return {d.wallet: d for d in db.scalars(query)}  # later decisions overwrite earlier ones


def _dates_of_birth(db: Session, settings: Settings, wallets: list[str]) -> dict[str, date]:
    """Each wallet's date of birth from its newest readable KYC record."""
    if not wallets:
        return {}
    keyring, found = load_keyring(settings), {}
    for chunk in chunks(wallets, CHUNK):  # bounded IN lists (SQLite caps bound parameters)
        records = db.scalars(select(KycRecord).where(KycRecord.wallet.in_(chunk)).order_by(KycRecord.submitted_at.desc()))
        for record in records:
            if record.wallet in found:
                continue
            try:
                found[record.wallet] = date.fromisoformat(open_sealed(keyring, record).record.person.date_of_birth)
            except RecordErased:
                continue
    return found


def _utc(moment: datetime | None) -> datetime | None:
    """A date given without a zone is read as UTC, as decisions are stamped."""
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def _age_group(born: date, on: date) -> str:
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    return next(label for label, low, high in AGE_GROUPS if low <= age < high)


def _outcome(decision: CreditDecision) -> str:
    return decision.review if decision.decision == "refer" and decision.review else decision.decision


def _group(label: str, outcomes: list[str]) -> FairLendingGroupPublic:
    n = len(outcomes)
    approved = sum(1 for o in outcomes if o == "approve")
    referred = sum(1 for o in outcomes if o == "refer")
    return FairLendingGroupPublic(group=label, applicants=n, approved=approved, still_referred=referred,
                                  approval_rate=approved / n if n else 0.0)  # fmt: skip
