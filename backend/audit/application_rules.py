"""Monitoring rule over credit decisions:

- `answers_changed`: a person's application approved or referred after another of theirs (from any
  of the person's wallets, `persons.wallets_of`'s rule) within `monitoring_answers_changed_days`, whose
  declared facts about the applicant (income band, debt payments, employment, housing, loans with
  us, checking account, savings, credit history, property, other instalments, guarantor) differ in
  a way that raises the score: the later application scored with the earlier one's answers to those
  facts (its own amount, term and purpose kept) scores lower. An applicant shopping for a pass
  changes answers until one passes (review-fraud L1); the loan asked for (amount, term, purpose) is
  the applicant's to change and is not counted (the amount's own gaming is the sensitivity rule's,
  `backend/scoring/pricing.py`). One alert per later decision, naming the earlier one whose answers
  gain it the most points.

The alert names the two decisions, the fields that changed and the points gained, never the
answers: they are the applicant's declared finances, personal data that the referral's
`other_applications` shows an underwriter, who reviews it, and that erasure clears. Decisions whose
application was erased carry no inputs and are skipped, and so is a decision whose model this
installation no longer holds (nothing to score the earlier answers with)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.schemas import AlertPublic
from backend.db.base import as_utc
from backend.db.chunks import chunks
from backend.identity.persons import shared_wallets
from backend.scoring.mapping import to_model_inputs
from backend.scoring.models import CreditDecision
from backend.scoring.schemas import ApplicationCreate
from backend.scoring.scorer import Scorer, scorer_for_version

LOAN_ASKED_FOR = ("amount", "term_months", "purpose")
DECLARED = tuple(name for name in ApplicationCreate.model_fields if name not in LOAN_ASKED_FOR)
PASSED = ("approve", "refer")

Alert = Callable[..., AlertPublic]


def _model_inputs(scorer: Scorer, inputs: dict) -> dict | None:
    """`inputs` in the model's terms, or None for answers today's form refuses (an application
    recorded under an older form): such a decision is not compared rather than failing every read."""
    try:
        return to_model_inputs(ApplicationCreate.model_validate(inputs), scorer.form_mapping)
    except ValueError:  # pydantic's ValidationError and the scorer's ValidationFailed alike
        return None


def _one(scorer: Scorer, features: dict | None) -> int | None:
    try:
        return None if features is None else scorer.score_one(features).score
    except ValueError:
        return None


def _scores(scorer: Scorer, answers: list[dict]) -> list[int | None]:
    """The score of each of `answers` (None: refused, as `_model_inputs`), in one batch: scored one
    at a time, they were most of the read's time on a large book. A batch the scorer refuses (one
    row it cannot score) is scored one at a time, so that row alone is left out."""
    features = [_model_inputs(scorer, inputs) for inputs in answers]
    valid = [f for f in features if f is not None]
    try:
        columns = {k: [f[k] for f in valid] for k in valid[0]} if valid else {}
        batch = iter(scorer.score_records(columns, row_offset=None).score) if valid else iter(())
        return [None if f is None else int(next(batch)) for f in features]
    except (ValueError, KeyError):  # KeyError: rows of different fields, not one batch
        return [_one(scorer, f) for f in features]


_UNERASED = (CreditDecision.erased_at.is_(None), CreditDecision.wallet.is_not(None))


def _compared_rows(db: Session, shared: dict[str, frozenset[str]], window: timedelta) -> list:
    """The decisions a comparison can involve, answers and all, oldest first: each approved or referred
    one that an earlier decision of its person precedes within `window`, and those earlier ones. Most
    applicants apply once, so their answers (a JSON document a decision, most of the rule's time
    when every one was read and parsed) are not read at all."""
    when = list(db.execute(select(CreditDecision.id, CreditDecision.created_at, CreditDecision.wallet,
                                  CreditDecision.decision).where(*_UNERASED)))  # fmt: skip
    by_wallet: dict[str, list] = defaultdict(list)
    for row in when:
        by_wallet[row.wallet.lower()].append((as_utc(row.created_at), row.id))
    wanted = set()
    for row in when:
        if row.decision not in PASSED:
            continue
        at, wallet = as_utc(row.created_at), row.wallet.lower()
        earlier = [i for other in shared.get(wallet, (wallet,)) for t, i in by_wallet[other]
                   if at - window <= t and (t, i) < (at, row.id)]  # fmt: skip
        if earlier:
            wanted |= {row.id, *earlier}
    columns = (CreditDecision.id, CreditDecision.created_at, CreditDecision.wallet, CreditDecision.inputs,
               CreditDecision.decision, CreditDecision.grade, CreditDecision.score, CreditDecision.model_version)
    rows = [row for ids in chunks(wanted) for row in db.execute(select(*columns).where(CreditDecision.id.in_(ids)))]
    return sorted(rows, key=lambda r: (as_utc(r.created_at), r.id))


def answers_changed(db: Session, days: int, alert: Alert) -> list[AlertPublic]:
    """Cost: one read of the unerased decisions and one of the KYC records whose national ID more than
    one wallet holds, then per approved or referred decision one score per earlier decision of its
    person within the window (the application rate limit, 10 an hour per wallet, bounds how many),
    all scored in one batch per model. Wallets are compared lowercased (one wallet however spelt),
    never checksummed: a keccak per decision was most of the read's time on a large book."""
    window = timedelta(days=days)
    shared = shared_wallets(db)
    rows = [row for row in _compared_rows(db, shared, window) if row.inputs]
    by_wallet: dict[str, list] = defaultdict(list)
    for row in rows:
        by_wallet[row.wallet.lower()].append(row)
    scorers: dict[str, Scorer | None] = {}
    asked: dict[str, list[dict]] = defaultdict(list)  # per model, the answers to score, in one batch

    def ask(version: str, inputs: dict) -> int:
        asked[version].append(inputs)
        return len(asked[version]) - 1

    compared = []  # (later, its model, its own answers' place in the batch, [(earlier, changed, their place)])
    for later in rows:
        if later.decision not in PASSED:
            continue
        if later.model_version not in scorers:  # built once per model: building one reads its artifact
            scorers[later.model_version] = scorer_for_version(later.model_version)
        if scorers[later.model_version] is None:
            continue
        at = as_utc(later.created_at)
        wallet = later.wallet.lower()
        earlier = [row for other in shared.get(wallet, (wallet,)) for row in by_wallet[other]
                   if at - window <= as_utc(row.created_at) and (as_utc(row.created_at), row.id) < (at, later.id)]  # fmt: skip
        pairs = []
        for before in sorted(earlier, key=lambda r: (as_utc(r.created_at), r.id)):
            changed = [name for name in DECLARED if before.inputs.get(name) != later.inputs.get(name)]
            if not changed or any(name not in before.inputs for name in changed):
                continue  # nothing declared changed (or an application of another form: not comparable)
            then = {**later.inputs, **{name: before.inputs[name] for name in changed}}
            pairs.append((before, changed, ask(later.model_version, then)))
        if pairs:
            compared.append((later, at, ask(later.model_version, later.inputs), pairs))
    scores = {version: _scores(scorers[version], answers) for version, answers in asked.items()}
    found = []
    for later, at, own_at, pairs in compared:
        best, own = None, scores[later.model_version][own_at]
        for before, changed, then_at in pairs:
            then = scores[later.model_version][then_at]
            if own is None or then is None:
                continue
            if (gained := own - then) > 0 and (best is None or gained >= best[1]):  # the most points; of equals, the latest
                best = (before, gained, changed)
        if best is None:
            continue
        before, gained, changed = best
        found.append(alert(
            rule="answers_changed", loan_id=None, wallets=list(dict.fromkeys([before.wallet, later.wallet])),
            tx_hashes=[], also=[before.id, later.id], decision_ids=[before.id, later.id],
            timestamp=int(at.timestamp()), amount=0,
            detail=f"credit decision {later.id} ({later.decision}, grade {later.grade}) of {later.wallet} followed "
                   f"decision {before.id} ({before.decision}, grade {before.grade}) of "
                   f"{'the same wallet' if before.wallet == later.wallet else before.wallet + ', the same person'} "
                   f"{(at - as_utc(before.created_at)).total_seconds() / 86_400:.1f} days before, with "
                   f"{', '.join(changed)} answered otherwise: worth {gained} points of its score {later.score}. Check "
                   "whether the applicant changed the facts to pass",
        ))  # fmt: skip
    return found
