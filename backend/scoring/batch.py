"""`loanchain model score`: a German-credit-shaped CSV in, one decision per row out, same order.
A `creditability` column, protected attributes and any other extra column are ignored.

The decision is the API's for the same application, policy included (`pricing.fee_cap_notes`,
`pricing.policy_notes`, `pricing.sensitivity_notes`): a reserve fee above the loan contract's limit
declines, from the grade and the term; the 36% APR line refers what the score would approve, and
so does a grade that falls two or more at a lower amount (`pricing.probe_amounts`: 5% lower and,
for models whose policy says `bin_edges`, each side of the amount bins' edges below it; the row scored
again with its other columns as they are; the API also re-derives the instalment-rate code from the income band). The affordability rule is not applied: the file holds no income or debt payments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from backend.scoring.dataset import read_csv_text
from backend.scoring.pricing import (
    fee_cap_notes,
    policy_notes,
    price,
    probe_amounts,
    sensitivity_notes,
    sensitivity_rule,
    with_policy,
)
from backend.scoring.scorer import BatchScores, Scorer

OUTPUT_COLUMNS = ("score", "grade", "pd", "decision", "policy_notes", "reasons")


def reason_strings(scorer: Scorer, batch: BatchScores) -> list[str]:
    """'R05 Amount of credit requested; R02 ...' per row, most points lost first."""
    codes, texts = scorer.reason_table(batch)
    return ["; ".join(f"{c} {t}" for c, t in zip(row_codes, row_texts) if c) for row_codes, row_texts in zip(codes, texts)]


def _price_notes(scorer: Scorer, grade: str, term: int) -> list[str]:
    """The rules on the price of a grade over a term, by the model's own policy: a reserve fee the
    contract cannot take (a decline), else the APR line."""
    rules = scorer.artifact["policy"]
    pricing, band = rules["pricing"], scorer.grade_band(grade)
    priced = price(band.pd_mean_oof, term, pricing, fee_pd=band.pd_high,
                   period_days=rules["product"].get("installment_period_days"))  # fmt: skip
    return fee_cap_notes(priced.origination_fee_bps, pricing) or policy_notes(priced.apr_bps)


def _grades_at(scorer: Scorer, data: dict[str, np.ndarray], probes: list[list[int]]) -> list[list[str]]:
    """Each row's grades at its `probes` amounts, its other columns as they are, in one batch."""
    rows = np.repeat(np.arange(len(probes)), [len(p) for p in probes])
    if not len(rows):
        return [[] for _ in probes]
    amounts = np.array([a for p in probes for a in p], dtype=object)
    grades = scorer.score_records({**{k: v[rows] for k, v in data.items()}, "credit_amount": amounts}, row_offset=1).grade
    out, start = [], 0
    for p in probes:
        out.append([str(g) for g in grades[start:start + len(p)]])
        start += len(p)
    return out


def score_frame(scorer: Scorer, frame: pd.DataFrame) -> pd.DataFrame:
    data = {c: frame[c].to_numpy(dtype=object) for c in scorer.inputs if c in frame.columns}
    batch = scorer.score_records(data, row_offset=1)
    # Every approved row again at the rule's lower amounts (validated above, so whole numbers): one batch.
    rule = sensitivity_rule(scorer.artifact["policy"])
    probes: list[list[int]] = [
        probe_amounts(int(float(amount)), int(float(term)), rule, scorer.artifact["features"])
        if rule and decision == "approve" else []
        for amount, term, decision in zip(frame["credit_amount"], frame["duration_in_month"], batch.decision, strict=True)
    ]  # fmt: skip
    lower_grades = _grades_at(scorer, data, probes)
    notes_of: dict[tuple[str, int], list[str]] = {}  # one price per grade and term
    decisions, notes = [], []
    rows = zip(batch.grade, batch.decision, frame["duration_in_month"], lower_grades, probes, strict=True)
    for grade, decision, term, lower_grade, probe in rows:
        key = (str(grade), int(float(term)))
        if decision == "decline":
            found = []
        elif (found := notes_of.get(key)) is None:
            found = notes_of[key] = _price_notes(scorer, *key)
        if decision == "approve" and rule and with_policy(str(decision), found) != "decline":
            found = found + sensitivity_notes(key[0], lower_grade, probe, rule)
        decisions.append(with_policy(str(decision), found))
        notes.append("; ".join(found))
    return pd.DataFrame(
        {
            "score": batch.score,
            "grade": batch.grade,
            "pd": batch.pd,
            "decision": decisions,
            "policy_notes": notes,
            "reasons": reason_strings(scorer, batch),
        },
        columns=list(OUTPUT_COLUMNS),
    )


def score_csv(scorer: Scorer, input_path: Path, output_path: Path) -> int:
    out = score_frame(scorer, read_csv_text(input_path))
    output_path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(output_path, index=False)
    return len(out)
