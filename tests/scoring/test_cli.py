import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backend.cli.model import app
from backend.scoring.features import PROTECTED

runner = CliRunner()


@pytest.fixture
def german(training_csv) -> pd.DataFrame:
    return pd.read_csv(training_csv, dtype=str, keep_default_na=False)


def test_score_writes_one_row_per_input_row_in_order(tmp_path, training_csv, scorer, german):
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["score", "--input", str(training_csv), "--output", str(out)])
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out, keep_default_na=False)
    assert list(scored.columns) == ["score", "grade", "pd", "decision", "policy_notes", "reasons"]
    assert len(scored) == len(german)
    expected = scorer.score_records({c: german[c].to_numpy(dtype=object) for c in scorer.inputs})
    assert scored["score"].tolist() == expected.score.tolist()
    # The score's decision, but where a reserve fee above the loan contract's limit declines (grade E
    # at any term, D at 6 and 7 months), and where a grade resting on the exact amount refers an
    # approval, as the API does. No row is over the 36% APR line: only D at 6-7 months is priced above
    # it, and those the fee declines.
    noted = scored["policy_notes"] != ""
    notes = {n.split(":")[0] for row in scored["policy_notes"][noted] for n in row.split("; ")}
    assert notes == {"reserve fee above the contract's limit", "grade rests on the exact amount"}
    assert (scored["decision"][~noted] == expected.decision[~noted]).all()
    capped = scored["policy_notes"].str.startswith("reserve fee above the contract's limit").to_numpy()
    short_d = (expected.grade == "D") & (german["duration_in_month"].astype(int) <= 7).to_numpy()
    assert capped.sum() == (expected.grade == "E").sum() + short_d.sum() > 0 and short_d.sum() > 0
    assert set(scored["grade"][capped]) == {"D", "E"}
    assert (scored["decision"][capped] == "decline").all()
    referred = noted.to_numpy() & ~capped
    assert set(zip(expected.decision[referred], scored["decision"][referred])) <= {("approve", "refer"), ("refer", "refer")}
    assert scored["reasons"].str.count(";").max() <= 3


def test_the_cli_and_the_api_decide_the_same_application_alike(scorer):
    """Grade E's reserve fee is above the loan contract's limit, and so is grade D's over 6 months: the
    API declines them, and so does `loanchain model score`; under the model before (the fee at the
    mean PD), grade D over 6 months was priced above the 36% line and both said so (review-pricing
    L2), through the same policy functions, each by its model's own policy."""
    from backend.scoring.batch import score_frame
    from backend.scoring.mapping import to_model_inputs
    from backend.scoring.schemas import ApplicationCreate
    from backend.scoring.scorer import scorer_for_version
    from backend.scoring.service import decide
    from tests.scoring.conftest import SAMPLE
    from tests.scoring.test_service import EXPECTED_CLAIMS_MODEL, GAMED, GRADE_E

    app_d = {**SAMPLE, "term_months": 6, "amount": 2800, "checking_account": "none",
             "credit_history": "current_repaid_duly", "savings": "none_or_unknown"}  # fmt: skip
    before = scorer_for_version(EXPECTED_CLAIMS_MODEL)
    for app_, model, grade, decision in ((GRADE_E, scorer, "E", "decline"), (app_d, scorer, "D", "decline"),
                                         (app_d, before, "D", "refer")):  # fmt: skip
        api = decide(ApplicationCreate(**app_), model).outputs
        cli = score_frame(model, pd.DataFrame([to_model_inputs(ApplicationCreate(**app_), model.form_mapping)]))
        assert (api["grade"], api["decision"]) == (cli.iloc[0]["grade"], cli.iloc[0]["decision"]) == (grade, decision)
        assert len(api["policy_notes"]) == 1 and cli.iloc[0]["policy_notes"] == api["policy_notes"][0]
    assert api["policy_notes"] == ["APR above the 36% cap"]
    # and an approval resting on the exact amount
    api = decide(ApplicationCreate(**GAMED), scorer).outputs
    cli = score_frame(scorer, pd.DataFrame([to_model_inputs(ApplicationCreate(**GAMED), scorer.form_mapping)]))
    assert api["decision"] == cli.iloc[0]["decision"] == "refer" and cli.iloc[0]["policy_notes"] == api["policy_notes"][0]



def test_the_cli_probes_the_amount_bins_edges_row_by_row_as_the_api_does(scorer):
    """review-fraud H4: `loanchain model score` refers the worst applicant anywhere in the narrow
    credit_amount bin, as the API does, each row probed at its own amounts in one batch (a decline
    and an approval that holds lower down between them are not probed, or not referred)."""
    from backend.scoring.batch import score_frame
    from backend.scoring.mapping import to_model_inputs
    from backend.scoring.schemas import ApplicationCreate
    from backend.scoring.service import decide
    from tests.scoring.conftest import SAMPLE
    from tests.scoring.test_service import WORST

    apps = [{**WORST, "amount": a} for a in (3400, 3450, 3650, 3900)] + [SAMPLE, {**WORST, "amount": 3800}]
    cli = score_frame(scorer, pd.DataFrame([to_model_inputs(ApplicationCreate(**a), scorer.form_mapping) for a in apps]))
    api = [decide(ApplicationCreate(**a), scorer).outputs for a in apps]
    assert list(cli["decision"]) == [o["decision"] for o in api] == ["decline", "refer", "refer", "refer", "approve", "refer"]
    assert list(cli["policy_notes"]) == ["; ".join(o["policy_notes"]) for o in api]


def test_score_ignores_the_label_and_extra_columns(tmp_path, german):
    frame = german.drop(columns=["creditability", "age_in_years"]).assign(customer_id=range(len(german)))
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    frame.iloc[::-1].to_csv(source, index=False)  # reversed order must come back reversed
    assert runner.invoke(app, ["score", "--input", str(source), "--output", str(out)]).exit_code == 0
    forward = tmp_path / "fwd.csv"
    german.to_csv(tmp_path / "g.csv", index=False)
    runner.invoke(app, ["score", "--input", str(tmp_path / "g.csv"), "--output", str(forward)])
    assert pd.read_csv(out)["score"].tolist() == pd.read_csv(forward)["score"].tolist()[::-1]


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("purpose", "holiday", ["purpose", "row 3", "unknown category"]),
        ("credit_amount", "-5", ["credit_amount", "row 3", "out of range"]),
        ("duration_in_month", "", ["duration_in_month", "row 3", "missing"]),
    ],
)
def test_bad_row_is_a_clear_error_naming_field_and_row(tmp_path, german, column, value, words):
    german.loc[2, column] = value
    source, out = tmp_path / "bad.csv", tmp_path / "out.csv"
    german.to_csv(source, index=False)
    result = runner.invoke(app, ["score", "--input", str(source), "--output", str(out)])
    assert result.exit_code == 2
    assert all(w in result.output for w in words), result.output
    assert not out.exists()


def test_missing_column_is_a_clear_error(tmp_path, german):
    source = tmp_path / "bad.csv"
    german.drop(columns=["housing"]).to_csv(source, index=False)
    result = runner.invoke(app, ["score", "--input", str(source), "--output", str(tmp_path / "o.csv")])
    assert result.exit_code == 2 and "housing" in result.output and "missing" in result.output


def test_evaluate_reports_the_shipped_model_metrics(training_csv):
    result = runner.invoke(app, ["evaluate", "--data", str(training_csv), "--no-cv", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    shipped = report["shipped_model"]
    for key in ("auc", "gini", "ks", "brier", "calibration_by_decile", "approval_rate", "bad_rate_among_approved"):
        assert key in shipped
    assert report["data"]["is_training_data"] is True
    assert report["data"]["rows_seen_in_training"] == 800 and shipped["note"].startswith("in-sample")
    assert len(shipped["calibration_by_decile"]) >= 5


def test_evaluate_says_how_much_of_a_file_trained_the_model(tmp_path, german):
    """A file that is partly the training data must not be reported as out-of-sample; a file of
    new applicants is."""
    mixed = german.head(150).copy()
    fresh = german.head(50).copy()
    fresh["credit_amount"] = (fresh["credit_amount"].astype(int) + 1).astype(str)  # rows never seen
    pd.concat([mixed, fresh]).to_csv(tmp_path / "mixed.csv", index=False)
    fresh.to_csv(tmp_path / "fresh.csv", index=False)
    for name, seen, note in (("mixed", 150, "partly in-sample"), ("fresh", 0, "out-of-sample")):
        result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / f"{name}.csv"), "--no-cv", "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["data"]["rows_seen_in_training"] == seen
        assert report["data"]["is_training_data"] is False and report["shipped_model"]["note"].startswith(note)


def test_training_rows_without_the_protected_columns_are_still_in_sample(tmp_path, german):
    """The natural evaluation file carries no protected attributes (scoring never needs them):
    its rows are still the training rows."""
    german.head(200).drop(columns=list(PROTECTED)).to_csv(tmp_path / "plain.csv", index=False)
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "plain.csv"), "--no-cv", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["data"]["rows_seen_in_training"] == 200
    assert report["shipped_model"]["note"].startswith("in-sample")


def test_evaluate_cross_validates_with_spread(training_csv, scorer):
    """The CV part, on a small recipe so the test stays quick (the CLI uses the artifact's)."""
    from dataclasses import replace

    from backend.scoring.dataset import load_dataset
    from backend.scoring.evaluation import evaluate
    from backend.scoring.training import TrainingConfig

    config = replace(TrainingConfig.from_json(scorer.artifact["hyperparameters"]), folds=2, repeats=1)
    full = load_dataset(training_csv)
    half = full.subset(np.arange(0, full.n_rows, 2))
    half.sha256 = full.sha256
    report = evaluate(half, scorer, True, config)
    cv = report["cross_validated"]
    assert {"mean", "std", "min", "max"} <= set(cv["auc"])
    assert {"auc", "gini", "ks", "brier", "pooled_out_of_fold_auc", "decisions_at_shipped_cutoffs"} <= set(cv)
    assert 0.5 < cv["auc"]["mean"] < 1


def test_bench_score_reports_latency_and_throughput():
    from backend.scoring.bench import run_score_bench

    report = run_score_bench(decisions=20, batch_rows=1000)
    assert {"p50", "p95"} <= set(report["single_decision_ms"])
    assert report["batch"]["rows"] == 1000 and report["batch"]["rows_per_s"] > 0
