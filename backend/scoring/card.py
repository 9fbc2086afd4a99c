"""`loanchain model card`: the model card as Markdown with PNG plots (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from backend.scoring import metrics, policy  # noqa: E402
from backend.scoring.card_analysis import FOUR_FIFTHS, CardAnalysis  # noqa: E402
from backend.scoring.dataset import Dataset  # noqa: E402
from backend.scoring.features import CANDIDATE_INPUTS, DERIVED, TRUE_MEANING, true_meaning  # noqa: E402
from backend.scoring.mapping import MAPPED_FEATURES  # noqa: E402
from backend.scoring.pricing import EXPECTED_CLAIMS, PRUDENT_CLAIMS, fee_cap_notes, price  # noqa: E402
from backend.scoring.reasons import reason  # noqa: E402
from backend.scoring.scorer import Scorer  # noqa: E402

CARD_DIR = Path("docs") / "model_card"


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def _spread(s: dict[str, float], digits: int = 3) -> str:
    return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f} (min {s['min']:.{digits}f}, max {s['max']:.{digits}f})"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


# --- plots ------------------------------------------------------------------------------------


def plot_calibration(analysis: CardAnalysis, path: Path) -> None:
    rows = metrics.calibration_by_decile(analysis.oof_y, analysis.oof_pd)
    predicted = [r["predicted_bad_rate"] for r in rows]
    observed = [r["observed_bad_rate"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    ax.plot(predicted, observed, marker="o", label="PD deciles (out of fold)")
    ax.set_xlabel("predicted PD")
    ax.set_ylabel("observed bad rate")
    ax.set_xlim(0, 0.8)
    ax.set_ylim(0, 0.8)
    ax.legend(loc="upper left")
    ax.set_title("Calibration")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_score_distribution(analysis: CardAnalysis, scorer: Scorer, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.arange(policy.SCORE_MIN, policy.SCORE_MAX + 10, 10)
    for flag, label, colour in ((0, "good", "tab:blue"), (1, "bad", "tab:red")):
        scores = analysis.oof_score[analysis.oof_y == flag]
        ax.hist(scores, bins=bins, alpha=0.55, density=True, label=label, color=colour)
    cut = scorer.cutoffs()
    ax.axvline(cut["approve_min_score"], color="green", linestyle="--", label=f"approve >= {cut['approve_min_score']}")
    ax.axvline(cut["refer_min_score"], color="orange", linestyle="--", label=f"refer >= {cut['refer_min_score']}")
    ax.set_xlim(350, 800)
    ax.set_xlabel("score (out of fold)")
    ax.set_ylabel("density")
    ax.legend()
    ax.set_title("Score distribution by outcome")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_fairness(analysis: CardAnalysis, path: Path) -> None:
    rows = [
        (f"{attr}: {r['group']}", r["approval_rate"], r["below_four_fifths"])
        for attr in ("sex", "age")
        for r in analysis.fairness.get(attr, [])
    ]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh([r[0] for r in rows], [r[1] for r in rows], color=["tab:red" if r[2] else "tab:blue" for r in rows])
    ax.set_xlabel("approval rate (out of fold); red = under four-fifths of the best group")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- sections ---------------------------------------------------------------------------------


def _data_section(scorer: Scorer, dataset: Dataset) -> str:
    t = scorer.artifact["training_data"]
    return f"""## Data

- **Source:** UCI Machine Learning Repository, *Statlog (German Credit Data)*, Hans Hofmann (1994),
  <https://doi.org/10.24432/C5NC77>, licensed CC BY 4.0. The repository ships an 800-row sample as
  `data/german_credit.csv` (sha256 `{t['sha256']}`).
- **Rows:** {t['rows']}; **bad rate:** {_pct(t['bad_rate'])}. Label `creditability` (`good` / `bad`).
- **Excluded from the model:** {', '.join(f'`{a}`' for a in scorer.artifact['excluded_protected_attributes'])}.
  They are read only for the fairness section below.
- **Caveat:** 1970s-80s German bank customers, amounts in Deutsche Mark. The platform reads the
  money bands at face value in the loan currency; a model trained on platform data must replace
  this one before real lending.
- **Caveat, mislabelled categories:** the UCI codebook's labels for checking-account status and
  credit history are wrong (Grömping 2019, *South German Credit Data: Correcting a Widely Used
  Data Set*, Beuth Hochschule Report 4/2019; UCI's "South German Credit" has the corrected table).
  The data file keeps the UCI labels, which stay the model's keys; this card shows those two
  variables' bins in their true meaning, and the application form maps each answer to the category
  that truly means it. The other variables keep the UCI wording (no correction of them is assumed).
"""


def _method_section(scorer: Scorer) -> str:
    a = scorer.artifact
    s, h, cal = a["scaling"], a["hyperparameters"], a["calibration"]
    cut = scorer.cutoffs()
    trends = ", ".join(f"`{k}` {v['monotonic_trend']}" for k, v in h["binning_params"].items())
    derived = " and ".join(f"`{name}` = {d.formula}" for name, d in DERIVED.items())
    return f"""## Method

1. **Binning:** optbinning `BinningProcess` (optimal binning on weight of evidence) over all
   {len(h['candidate_features'])} candidate characteristics: the {len(CANDIDATE_INPUTS)} non-protected Statlog columns plus
   {derived}. Monotonic trends: {trends};
   others automatic. Characteristics with information value below {h['min_information_value']} are dropped
   ({len(a['features'])} kept).
2. **Model:** L2 logistic regression on WoE (C = {h['logistic_regression_c']}), wrapped by optbinning
   `Scorecard` with integer points.
3. **Scaling (PDO):** PDO = {s['pdo']}, base odds {s['base_odds']:g}:1 (good:bad) at base score {s['base_score']};
   factor = PDO / ln 2 = {s['factor']:.3f}, offset = {s['offset']:.3f}.
   Theoretical range {s['theoretical_min']}-{s['theoretical_max']},
   shown clipped to {policy.SCORE_MIN}-{policy.SCORE_MAX}.
4. **Calibrated PD:** Platt scaling fitted on out-of-fold scores ({h['cv_folds']}-fold x {h['cv_repeats']}):
   PD = 1 / (1 + exp(-({cal['a']:.4f} - {-cal['b']:.6f} x score))).
5. **Grades and cut-offs:** grades cut at calibrated-PD limits; approve at score >= {cut['approve_min_score']}
   (grades {', '.join(policy.APPROVE_GRADES)}), refer to an underwriter at >= {cut['refer_min_score']}
   ({', '.join(policy.REFER_GRADES)}), decline below ({', '.join(policy.DECLINE_GRADES)}); whatever the grade,
   an application whose reserve fee would be above the loan contract's limit is declined (see *Grades*).
6. **Serving:** the artifact `backend/scoring/artifacts/scorecard-default.json` holds bins, points,
   coefficients, scaling, calibration, grades, policy, data hash and metrics as plain JSON; its
   keccak-256 is the model version (`{scorer.model_version}`). Scoring is numpy lookups in these
   tables; no pickle, no optbinning at serving time.
"""


def _candidates_section(analysis: CardAnalysis) -> str:
    rows = [[c["model"], _spread(c["auc"]), c["reason_codes"]] for c in analysis.candidates]
    by_kind: dict[str, list[dict]] = {}
    for c in analysis.candidates:
        by_kind.setdefault(c["kind"], []).append(c)
    shipped, floor, reference = by_kind["shipped"][0], by_kind["bin_floor"][0], by_kind["reference"][0]
    best_challenger = max(by_kind["challenger"], key=lambda c: c["auc"]["mean"])
    challenger_gap = best_challenger["auc"]["mean"] - shipped["auc"]["mean"]
    floor_cost = shipped["auc"]["mean"] - floor["auc"]["mean"]
    lifts = ", ".join(
        f"{c['dropped']} {shipped['auc']['mean'] - c['auc']['mean']:+.3f}" for c in by_kind["ablation"]
    )
    reference_gap = reference["auc"]["mean"] - shipped["auc"]["mean"]
    bagging = "".join(
        f"\nNor is variance: averaging {b['bags']} scorecards fitted on {_pct(b['bag_share'], 0)} subsamples (still one\n"
        f"points table) changes it by {b['auc']['mean'] - shipped['auc']['mean']:+.3f}."
        for b in by_kind.get("bagged", [])
    )
    best_auc = max(c["auc"]["mean"] for c in analysis.candidates)
    return f"""## Candidates (same folds: {analysis.cv_report['scheme']})

{_table(['model', 'CV AUC (mean ± sd)', 'reason codes'], rows)}

The scorecard ships: the best challenger ({best_challenger['model']}, {best_challenger['auc']['mean']:.3f}) is not
clearly better ({challenger_gap:+.3f} AUC, inside one fold standard deviation) and cannot give
points-based reason codes.

**Derived characteristics.** AUC each one adds to the shipped recipe on the same folds: {lifts}.

**Headroom.** Re-fitting the same recipe *with* the protected attributes as inputs (a
measurement only; the training code refuses them) changes CV AUC by {reference_gap:+.3f}. Excluding
them is not what holds the AUC back.{bagging}
No row above, protected inputs included, passes {best_auc:.3f} on this 800-row sample (a single
fold's AUC varies by ± {shipped['auc']['std']:.3f}).

**Narrow amount bins.** The optimiser finds two narrow bins with very few bads (see the
`credit_amount` and `monthly_amount` tables below). They survive cross-validation: forcing every amount
bin to hold at least {_pct(0.10, 0)} of the sample costs {floor_cost:.3f} AUC. They were kept,
because the brief asks to choose by cross-validation. The cost is in the explanations: an amount
outside the best bin loses many points, so "Amount of credit requested" and "Monthly repayment
requested" are frequent first reasons (table in *Reason codes*). Watch this first when the model
is retrained on platform data.
"""


def _performance_section(analysis: CardAnalysis, scorer: Scorer) -> str:
    r = analysis.cv_report
    d = r["decisions_at_shipped_cutoffs"]
    apparent = scorer.artifact["metrics"]["apparent"]
    return f"""## Performance (from `loanchain model evaluate`)

Repeated stratified cross-validation re-fits the whole recipe (binning included) in every fold.

| metric | cross-validated, mean ± sd (min, max) |
|---|---|
| AUC | {_spread(r['auc'])} |
| Gini | {_spread(r['gini'])} |
| KS | {_spread(r['ks'])} |
| Brier (scaling-implied PD) | {_spread(r['brier'])} |

Pooled out-of-fold AUC {r['pooled_out_of_fold_auc']:.3f}. In-sample (apparent, optimistic) AUC of the shipped model:
{apparent['auc']:.3f}.

At the shipped cut-offs, out of fold: approval rate {_pct(d['approval_rate'])}, referral {_pct(d['refer_rate'])},
decline {_pct(d['decline_rate'])}; bad rate among approved {_pct(d['bad_rate_among_approved'])}
(overall {_pct(d['bad_rate_overall'])}).

![Calibration](calibration.png) ![Score distribution](score_distribution.png)
"""


def _margins(scorer: Scorer) -> str:
    """Each offered grade's band top over its mean PD, e.g. "A +52%, B +22%"."""
    offered = [g for g in scorer.grades if g.decision != "decline"]
    return ", ".join(f"{g.grade} +{g.pd_high / g.pd_mean_oof - 1:.0%}" for g in offered)


def _capped_terms(scorer: Scorer, pricing: dict, period: int) -> str:
    """Which terms of each offered grade the fee cap declines, e.g. "D at 6-7 months, E at every term"."""
    parts = []
    for g in scorer.grades:
        if g.decision == "decline":
            continue
        terms = [t for t in range(policy.MIN_TERM, policy.MAX_TERM + 1)
                 if fee_cap_notes(price(g.pd_mean_oof, t, pricing, fee_pd=g.pd_high, period_days=period)
                                  .origination_fee_bps, pricing)]  # fmt: skip
        if len(terms) == policy.MAX_TERM - policy.MIN_TERM + 1:
            parts.append(f"grade {g.grade} at every term")
        elif terms:  # in runs: e is least at middling terms, so the capped terms need not be contiguous
            runs: list[list[int]] = []
            for t in terms:
                if runs and t == runs[-1][-1] + 1:
                    runs[-1].append(t)
                else:
                    runs.append([t])
            spans = [f"{r[0]}-{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs]
            parts.append(f"grade {g.grade} at {', '.join(spans)} months")
    return "; ".join(parts) or "no grade at any term"


def _grades_section(scorer: Scorer) -> str:
    pricing = scorer.artifact["policy"]["pricing"]
    period = scorer.artifact["policy"]["product"].get("installment_period_days")
    terms = (12, 36, 60)
    rows = []
    for g, stored in zip(scorer.grades, scorer.artifact["grades"]):
        prices = [price(g.pd_mean_oof, t, pricing, fee_pd=g.pd_high, period_days=period) for t in terms]
        capped = [fee_cap_notes(p.origination_fee_bps, pricing) for p in prices]
        decision = g.decision
        if g.decision != "decline" and all(capped):
            decision = "decline (reserve fee above the contract's limit)"
        rows.append(
            [g.grade, f"{g.min_score}-{g.max_score}", f"{_pct(g.pd_low)} - {_pct(g.pd_high)}", _pct(g.pd_mean_oof),
             _pct(stored["oof_share"]), _pct(stored["oof_bad_rate"]), decision,
             " / ".join(f"{p.apr_bps / 100:.2f}%" for p in prices),
             " / ".join(f"{p.interest_apr_bps / 100:.2f}%" for p in prices),
             " / ".join(f"{p.origination_fee_bps / 100:.2f}%" for p in prices)]
        )  # fmt: skip
    header = ["grade", "score", "PD band", "pricing PD (OOF mean)", "OOF share", "OOF bad rate", "decision",
              "quoted APR 12 / 36 / 60 months", "interest APR", "reserve fee"]  # fmt: skip
    basis = pricing.get("reserve_fee_basis")
    if basis not in (EXPECTED_CLAIMS, PRUDENT_CLAIMS):
        formula = (f"APR = {policy.BASE_RATE:.0%} base + a flat {pricing['reserve_fee']:.0%} reserve fee + PD x LGD "
                   f"({policy.LGD}) x 24 / (term + 1), with PD the grade's pricing PD; the interest APR is the APR less "
                   "the flat fee, which is prepaid for the weighted average life as the origination fee.")  # fmt: skip
    elif basis == PRUDENT_CLAIMS:
        cover, cap = pricing["reserve_cover"], pricing["max_origination_fee_bps"]
        formula = f"""With n the term in installments (one every {period} days), r the interest APR x {period} / 365
and e the mean share of principal outstanding at a default (defaults equally likely at any installment)
on the level-payment schedule LoanBook amortises at r, with WAL = e x n x {period} / 365 years its weighted
average life: the reserve fee (the origination fee, paid once from the disbursal into the ReserveFund) is
the reserve's claim at a prudent PD, the top of the grade's PD band, PD_high x {cover:.0%} cover x e of the
amount, a margin of {_margins(scorer)} over the grade's mean PD for PD uncertainty; the interest APR
(to investors) is {pricing['base_rate']:.0%} base + PD x (LGD {pricing['lgd']} - {cover:.0%} cover) x e / WAL with PD the
grade's pricing PD (its mean), the loss the reserve leaves them; the quoted APR adds the fee as a yearly
rate over the WAL, fee / WAL. A fee above LoanBook's {cap / 100:.0f}% limit cannot be put on chain, so the
application is declined (reason R24): {_capped_terms(scorer, pricing, period)}."""
    else:
        cover, cap = pricing["reserve_cover"], pricing["max_origination_fee_bps"]
        formula = f"""With PD the grade's pricing PD, n the term in months and e(n) = (n + 1) / (2n) the average
share of principal outstanding at a default (defaults equally likely at any installment): the reserve
fee (the origination fee, paid once from the disbursal into the ReserveFund) is the reserve's expected
claim, PD x {cover:.0%} cover x e(n) of the amount; the interest APR (to investors) is {policy.BASE_RATE:.0%} base +
PD x (LGD {policy.LGD} - {cover:.0%} cover) / (n / 12), the loss the reserve leaves them; the quoted APR adds the
fee as a yearly rate over the weighted average life, fee x 24 / (n + 1). A fee above LoanBook's
{cap / 100:.0f}% limit cannot be put on chain, so the application is declined (reason R24), at any term
for a grade whose fee is above it at 60 months."""
    return f"""## Grades

PD bands come from the out-of-fold calibration; share and bad rate are out-of-fold counts on the
training data. {formula}

{_table(header, rows)}
"""


def _bins_section(scorer: Scorer) -> str:
    parts = ["## Scorecard: bins and points\n"]
    for f in scorer.artifact["features"]:
        code, text = reason(f["name"])
        rows = [
            [true_meaning(f["name"], label), count, _pct(rate), f"{woe:+.3f}", points]
            for label, count, rate, woe, points in zip(f["labels"], f["count"], f["event_rate"], f["woe"], f["points"])
        ]
        relabelled = ""
        if f["name"] in TRUE_MEANING:
            relabelled = " Bins in their true meaning (the data's UCI labels are wrong here; see *Data*)."
        unseen = "\n"
        if f["kind"] == "categorical":
            unseen = f"\n\nA category unseen in training: {f['neutral_points']} points (WoE 0).\n"
        parts.append(
            f"### `{f['name']}` (IV {f['iv']:.3f}, coefficient {f['coefficient']:+.3f}, reason {code}: {text})\n\n"
            + (f"{relabelled.strip()}\n\n" if relabelled else "")
            + _table(["bin", "count", "bad rate", "WoE", "points"], rows)
            + unseen
        )
    unused = [name for name in MAPPED_FEATURES if name not in scorer.table.names]
    if unused:
        parts.append("Asked on the form but not used by this model: " + ", ".join(f"`{u}`" for u in unused) + ".\n")
    return "\n".join(parts)


def _reasons_section(analysis: CardAnalysis) -> str:
    rows = [[r["code"], r["text"], _pct(r["first_reason_share"])] for r in analysis.reason_frequency]
    return f"""## Reason codes

Up to four per decision: the characteristics that cost the most points against their best bin
(ECOA / Regulation B adverse-action practice). R03 is worded from the applicant's own bin ("Credit
history: " and that bin's true meaning), since no one wording is true in every bin. R19 is given
only at an instalment-rate code of 2 or more; at code 1 the characteristic is the amount alone,
so its lost points count under R05. Share of declined training applicants for whom each is the
first reason (shipped model):

{_table(['code', 'statement', 'first reason for'], rows)}
"""


def _fairness_section(analysis: CardAnalysis) -> str:
    parts = [
        "## Fairness\n",
        "Out-of-fold decisions at the shipped cut-offs (pooled over the CV repeats). Adverse impact ratio (AIR) =",
        "a group's approval rate / the highest group's approval rate; under "
        f"{FOUR_FIFTHS} fails the four-fifths rule.\n",
    ]
    for attribute in ("sex", "age", "foreign_worker"):
        rows = [_fairness_row(r, analysis.config.repeats) for r in analysis.fairness.get(attribute, [])]
        if rows:
            header = ["group", "applicants", "bad rate", "approved", "approved or referred", "AUC", "AIR"]
            parts.append(f"### By {attribute.replace('_', ' ')}\n")
            parts.append(_table(header, rows) + "\n")
    parts.append("![Approval rates by group](fairness.png)\n")
    parts.append(_mitigation_section(analysis))
    return "\n".join(parts)


def _fairness_row(r: dict[str, Any], repeats: int) -> list[Any]:
    auc = "n/a" if r["auc"] is None else f"{r['auc']:.3f}"
    air = f"{r['adverse_impact_ratio']:.2f}" + (" **< 0.8**" if r["below_four_fifths"] else "")
    approved, either = _pct(r["approval_rate"]), _pct(r["approve_or_refer_rate"])
    return [r["group"], r["n"] // repeats, _pct(r["bad_rate"]), approved, either, auc, air]


def _mitigation_section(analysis: CardAnalysis) -> str:
    if not analysis.flagged:
        return "### Four-fifths rule\n\nNo group falls under 0.8; nothing to mitigate.\n"
    flagged = ", ".join(f"{a} {g} (AIR {r:.2f})" for a, g, r in analysis.flagged)
    verdicts = []
    for attribute, group, _ in analysis.flagged:
        row = next((r for r in analysis.group_calibration.get(attribute, []) if r["group"] == group), None)
        if row:
            harsher = row["mean_pd"] > row["bad_rate"]
            verdict = (
                "it **over-states** this group's risk; recalibration is needed before release."
                if harsher
                else "it does not over-state this group's risk."
            )
            verdicts.append(
                f"For {attribute} {group} the model predicts {_pct(row['mean_pd'])} "
                f"against an observed {_pct(row['bad_rate'])}: {verdict}"
            )
    calib_rows = [
        [f"{attr}: {r['group']}", _pct(r["mean_pd"]), _pct(r["bad_rate"])]
        for attr, rows in analysis.group_calibration.items()
        for r in rows
    ]
    alt_rows = [
        [a["dropped"], f"{a['auc']:.3f}", _pct(a["approval_rate"])]
        + [f"{v:.2f}" for v in a["adverse_impact_ratios"].values()]
        for a in analysis.alternatives
    ]
    keys = list(analysis.alternatives[0]["adverse_impact_ratios"]) if analysis.alternatives else []
    best = max(analysis.alternatives[1:], key=lambda a: min(a["adverse_impact_ratios"].values()), default=None)
    base = analysis.alternatives[0] if analysis.alternatives else None
    best_line = ""
    if best and base:
        best_ratio = min(best["adverse_impact_ratios"].values())
        reach = "it does not reach 0.8." if best_ratio < FOUR_FIFTHS else "it reaches 0.8: review it before release."
        best_line = (
            f"The best single removal (`{best['dropped']}`) moves the ratio to {best_ratio:.2f} "
            f"at {best['auc'] - base['auc']:+.3f} AUC; {reach}"
        )
    return f"""### Under four-fifths: {flagged}. What was done

1. **Inputs checked.** Age, sex/marital status and foreign-worker status are not model inputs, and
   no characteristic was engineered from them.
2. **Calibration by group.** If the model over-stated a group's risk, that would be a defect to fix.
   Mean predicted PD vs observed bad rate, out of fold:

{_table(['group', 'mean predicted PD', 'observed bad rate'], calib_rows)}

   {" ".join(verdicts)} A group whose observed bad rate is at or above its predicted PD is not scored
   harsher than its outcomes; the approval gap then follows the difference in outcomes.
3. **Less discriminatory alternative search.** The scorecard was re-fitted without each kept
   characteristic in turn ({analysis.config.folds}-fold CV, approval at the same PD limit, own calibration):

{_table(['characteristic dropped', 'CV AUC', 'approval rate'] + [f'AIR {k}' for k in keys], alt_rows)}

   {best_line}
4. **Decision.** The scorecard ships unchanged. No group-specific cut-off or score adjustment is
   applied: that would be disparate treatment on a prohibited basis (ECOA / Reg B), and age is
   kept out of the model on purpose. Referred applications (grades {', '.join(policy.REFER_GRADES)}) get a human
   review for everyone. The AIR by age group is recomputed at every retrain (this card, on the
   training data) and on live decisions by `loanchain model fairness` (`GET /api/v1/score/fairness`,
   staff): each applicant's age band is read from their KYC date of birth (audited), a band under four
   fifths of the best with at least 30 applicants is flagged, and the command exits 1. A retrain on
   platform data must repeat the alternative search above.
"""


def _limitations_section() -> str:
    return """## Limitations

- 800 rows: every figure above carries a fold-to-fold spread of several AUC points; read the ± column.
- The held-out performance is not known from this card; it is measured on a separate sample.
- "Bad" in the Statlog data is the bank's own label, not a charged-off loss; PD here means that label.
- The platform's promise of bad debt under 1% of principal cannot rest on this model alone: the
  out-of-fold bad rate among approved applicants is several percent. It rests on pricing (the
  reserve fee funds the ReserveFund's expected claims, and investors' risk premium the expected loss
  the reserve leaves them), the ReserveFund, and tighter cut-offs if needed. The fee funds the
  reserve at expected claims with no margin: a run of defaults above the PD drains it, and its cover
  is first come, first served.
- The amount and the term are chosen by the applicant, and two narrow bins of them are worth about
  100 points together: `credit_amount` [3446.5, 3913.5) (49 training rows) and `monthly_amount`
  [286.79, 359.21) (45 rows, 6 of them in both). A 100-token change of amount can move an applicant
  two grades (3,400 over 12 months grade G, 3,500 grade E), and declines' top reasons point at
  "ask for about 3,500". Coarser bins (`min_bin_size` 0.10) or an ascending trend for these two
  inputs lowered the cross-validated AUC from 0.792 to 0.777-0.776, so the bins stay; instead the
  policy refers an approval whose grade would fall two or more at a lower amount: 5% lower, and each
  side of every edge of the `credit_amount` and `monthly_amount` bins below the amount asked for
  (`amount_sensitivity`, `bin_edges`; a 5% probe alone left the bins' upper part, 3,650-3,900 over
  12 months, approved for all 500 random applicants). An offer for less than the amount applied for is scored
  again. The price of the guard is referrals: the bins' shape makes many lower amounts score worse,
  so 60% of the approvals at random amounts and terms go to an underwriter (14% with the 5% probe
  alone; 500 random applicants the score approves).
"""


def render(analysis: CardAnalysis, scorer: Scorer, dataset: Dataset) -> str:
    return "\n".join(
        [
            "# Model card: loanchain credit scorecard\n",
            f"Model version `{scorer.model_version}`. Generated by `loanchain model card`; figures are recomputed from",
            "the training file and the shipped artifact each time.\n",
            "**Intended use:** ranking and pricing consumer loan applications on loanchain, with a human",
            "underwriter for referred cases. **Not for:** decisions on populations unlike the training data",
            "without retraining and re-running this card.\n",
            _data_section(scorer, dataset),
            _method_section(scorer),
            _candidates_section(analysis),
            _performance_section(analysis, scorer),
            _grades_section(scorer),
            _reasons_section(analysis),
            _fairness_section(analysis),
            _bins_section(scorer),
            _limitations_section(),
        ]
    )


def write_card(analysis: CardAnalysis, scorer: Scorer, dataset: Dataset, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_calibration(analysis, out_dir / "calibration.png")
    plot_score_distribution(analysis, scorer, out_dir / "score_distribution.png")
    plot_fairness(analysis, out_dir / "fairness.png")
    path = out_dir / "README.md"
    path.write_text(render(analysis, scorer, dataset), encoding="utf-8")
    return path
