"""An auditor holding a decision hash (from a loan's on-chain terms) can show which model and
inputs produced it: the record matches its hash, a replay with the same model version gives
the same outputs, and a tampered or forged record is caught. The end-to-end case, with a real
loan created on-chain and indexed, is in tests/chain/test_indexer.py."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from backend.chain.projection_models import LoanRow
from backend.errors import NotFound, ValidationFailed
from backend.scoring.artifact import ARCHIVE_DIR, find_artifact, read_artifact, write_artifact
from backend.scoring.models import CreditDecision
from backend.scoring.schemas import ApplicationCreate
from backend.scoring.service import decision_hash, prove_decision, score_application


@pytest.fixture
def recorded(db_factory, scorer, application, settings):
    with db_factory() as db:
        public = score_application(db, ApplicationCreate(**application), scorer, settings=settings)
        db.commit()
    return public


def test_an_untouched_decision_verifies_and_replays(db_factory, recorded):
    with db_factory() as db:
        proof = prove_decision(db, recorded.decision_hash.upper().replace("0X", "0x"))
    assert proof.verified and proof.hash_intact and proof.model_available and proof.reproduced
    assert proof.differences == [] and proof.records == 1 and proof.loans == []
    assert proof.decision.id == recorded.id


def test_an_edited_record_no_longer_matches_its_hash(db_factory, recorded):
    with db_factory() as db:
        row = db.get(CreditDecision, recorded.id)
        row.outputs = {**row.outputs, "score": row.outputs["score"] + 40}
        db.commit()
    with db_factory() as db:
        proof = prove_decision(db, recorded.decision_hash)
    assert not proof.hash_intact and not proof.verified
    assert "score" in proof.differences


def test_a_forged_record_with_a_recomputed_hash_fails_the_replay(db_factory, recorded):
    """Editing outputs and re-hashing keeps the record self-consistent; the replay still
    shows the model never produced those outputs."""
    with db_factory() as db:
        row = db.get(CreditDecision, recorded.id)
        forged = {**row.outputs, "score": row.outputs["score"] + 40, "pd": 0.01}
        row.outputs, row.decision_hash = forged, decision_hash(row.model_version, row.inputs, forged, row.salt)
        row.score, row.pd = forged["score"], forged["pd"]  # a careful forger keeps the columns in step
        db.commit()
        forged_hash = row.decision_hash
    with db_factory() as db:
        proof = prove_decision(db, forged_hash)
    assert proof.hash_intact and proof.reproduced is False and not proof.verified
    assert proof.differences == ["pd", "score"]


def test_a_column_edited_beside_its_hashed_outputs_is_caught(db_factory, recorded):
    """Disclosure, prices and the loan tape read grade and PD from columns: an edit there (a
    better PD for a riskier borrower) must not pass as an intact record."""
    with db_factory() as db:
        row = db.get(CreditDecision, recorded.id)
        row.pd, row.grade = 0.001, "A" if row.grade != "A" else "B"
        db.commit()
    with db_factory() as db:
        proof = prove_decision(db, recorded.decision_hash)
    assert not proof.hash_intact and not proof.verified and proof.reproduced
    assert proof.altered_columns == ["grade", "pd"]


def test_a_policy_changed_since_training_is_refused_and_named_on_replay(db_factory, recorded, monkeypatch):
    """Pricing reads the installed policy: the model version names the policy only while the two
    agree, so serving refuses a changed one and a replay says why it no longer matches."""
    from backend.errors import ConfigurationError
    from backend.scoring import policy
    from backend.scoring.scorer import get_scorer

    monkeypatch.setattr(policy, "BASE_RATE", policy.BASE_RATE + 0.01)
    with pytest.raises(ConfigurationError, match="retrain"):
        get_scorer()
    with db_factory() as db:
        proof = prove_decision(db, recorded.decision_hash)
    assert proof.hash_intact and proof.reproduced is False
    assert any(d.startswith("policy:") for d in proof.differences)


def test_loans_carrying_the_hash_are_listed(db_factory, recorded):
    with db_factory() as db:
        db.add(_loan(7, recorded.decision_hash))
        db.add(_loan(8, "0x" + "11" * 32))
        db.commit()
    with db_factory() as db:
        proof = prove_decision(db, recorded.decision_hash)
    assert [loan.loan_id for loan in proof.loans] == [7]


WALLET = "0x" + "aB" * 20


def _decided_loan(loan_id: int, decision, **changes) -> LoanRow:
    """A loan with the decision's own terms (6 decimals), but for `changes`."""
    term, quote = decision.inputs["term_months"], decision.outputs["quote"]
    if "origination_fee_bps" in quote:  # the quote states the loan's interest APR and fee
        interest, fee = quote["interest_apr_bps"], quote["origination_fee_bps"]
    else:  # a model before the expected-claims fee: the flat yearly fee for the weighted average life
        interest, fee = quote["apr_bps"] - quote["reserve_fee_bps"], -(-quote["reserve_fee_bps"] * (term + 1) // 24)
    values = dict(borrower=WALLET.lower(), principal=decision.inputs["amount"] * 10**6,
                  apr_bps=interest, installments=term, origination_fee_bps=fee)  # fmt: skip
    loan = _loan(loan_id, decision.decision_hash)
    for name, value in {**values, **changes}.items():
        setattr(loan, name, value)
    return loan


def test_a_loan_carrying_the_hash_with_other_terms_does_not_verify(db_factory, scorer, application, settings):
    """The proof leads from a loan back to the decision that priced it only if the loan lends what
    was decided, to whom, at its price, over its term (review-pricing M1): a loan that carries the
    hash with any other borrower, principal, APR, installments or fee is named with each difference."""
    from backend.scoring.integrity import audit_decisions

    with db_factory() as db:
        public = score_application(db, ApplicationCreate(**application), scorer, settings=settings, wallet=WALLET)
        db.commit()
    with db_factory() as db:
        row = db.get(CreditDecision, public.id)
        db.add(_decided_loan(1, row))
        db.commit()
    with db_factory() as db:
        proof = prove_decision(db, public.decision_hash, asset_decimals=6)
        assert proof.verified and proof.loans[0].matches_decision and proof.loans[0].differences == []
        assert audit_decisions(db, asset_decimals=6).ok
    changes = {"borrower": "0x" + "22" * 20, "principal": 20_000 * 10**6 - 1, "apr_bps": 1, "installments": 60,
               "origination_fee_bps": 0}  # fmt: skip
    with db_factory() as db:
        row = db.get(CreditDecision, public.id)
        for loan_id, (name, value) in enumerate(changes.items(), start=2):
            db.add(_decided_loan(loan_id, row, **{name: value}))
        db.commit()
    with db_factory() as db:
        proof = prove_decision(db, public.decision_hash, asset_decimals=6)
        report = audit_decisions(db, asset_decimals=6)
    assert not proof.verified and proof.hash_intact and proof.reproduced  # the decision itself is sound
    assert [(loan.loan_id, loan.matches_decision) for loan in proof.loans] == [(1, True)] + [(i, False) for i in range(2, 7)]
    assert [loan.differences[0].split(":")[0] for loan in proof.loans[1:]] == list(changes)
    assert proof.loans[2].differences == [f"principal: loan {20_000 * 10**6 - 1}, decision {3000 * 10**6} (3000 at 6 decimals)"]
    assert [i.problems for i in report.issues] == [[f"loan:{i}: {d}" for i in range(2, 7)
                                                    for d in proof.loans[i - 1].differences]]  # fmt: skip
    with db_factory() as db:  # without an offer of this platform, nothing here says what a whole unit is
        assert "principal: not checked" in prove_decision(db, public.decision_hash).loans[0].differences[0]


def test_a_loan_is_held_to_the_fee_its_decisions_quote_states(db_factory, scorer, application, settings):
    """The reserve fee is the quote's own `origination_fee_bps` (the reserve's expected claim), not a
    formula applied again to the quote: a loan carrying the fee the flat-fee formula gives for the
    same quote does not match. A decision of the model before (its quote states no fee) is held to
    the flat fee it priced, and its loan matches."""
    from backend.scoring.scorer import scorer_for_version
    from tests.scoring.test_service import PREVIOUS_MODEL

    with db_factory() as db:
        today = score_application(db, ApplicationCreate(**application), scorer, settings=settings, wallet=WALLET)
        before = score_application(db, ApplicationCreate(**application), scorer_for_version(PREVIOUS_MODEL),
                                   settings=settings, wallet=WALLET)  # fmt: skip
        db.commit()
    quote, term = today.quote, application["term_months"]
    # SAMPLE is grade A over 24 months: the top of A's band, 5.95% x 80% x the 24-installment schedule's
    # mean share outstanding at 5.10% (0.5302) = 2.53%, rounded up; 5% + 3.91% x 5% x 365 / 720 = 5.10%
    assert (today.grade, quote.origination_fee_bps, quote.interest_apr_bps, quote.apr_bps) == ("A", 253, 510, 753)
    flat_formula = -(-quote.reserve_fee_bps * (term + 1) // 24)  # what offers charged before: 243 x 25/24
    assert flat_formula == 254 != quote.origination_fee_bps
    assert before.quote.origination_fee_bps is None and before.quote.reserve_fee_bps == 100
    with db_factory() as db:
        db.add(_decided_loan(1, db.get(CreditDecision, today.id)))
        db.add(_decided_loan(2, db.get(CreditDecision, today.id), origination_fee_bps=flat_formula))
        db.add(_decided_loan(3, db.get(CreditDecision, before.id)))  # interest = quote - 1%, fee ceil(100 x 25/24)
        db.commit()
    with db_factory() as db:
        proofs = {d.id: prove_decision(db, d.decision_hash, asset_decimals=6) for d in (today, before)}
        assert db.get(LoanRow, 3).origination_fee_bps == 105
    assert [(loan.loan_id, loan.differences) for loan in proofs[today.id].loans] == [
        (1, []), (2, ["origination_fee_bps: loan 254, decision 253"])]
    assert proofs[before.id].verified and proofs[before.id].loans[0].matches_decision


def test_unknown_and_malformed_hashes(db_factory):
    with db_factory() as db:
        with pytest.raises(NotFound):
            prove_decision(db, "0x" + "ab" * 32)
        with pytest.raises(ValidationFailed) as err:
            prove_decision(db, "0x1234")
    assert err.value.details["field"] == "decision_hash"


def test_api_proof_and_its_errors(api, application):
    made = api.post("/api/v1/score", json=application).json()
    proof = api.get(f"/api/v1/score/decisions/{made['decision_hash']}/proof")
    assert proof.status_code == 200 and proof.json()["verified"] is True
    assert api.get("/api/v1/score/decisions/0xnothex/proof").status_code == 422
    missing = api.get(f"/api/v1/score/decisions/0x{'cd' * 32}/proof")
    assert missing.status_code == 404 and "no credit decision" in missing.json()["detail"]


def test_retraining_archives_the_replaced_model(tmp_path, scorer, monkeypatch):
    """Writing a new artifact over an old one keeps the old one by version, and a decision made
    by the old model is still replayable after the switch."""
    old = scorer.artifact
    path = tmp_path / "scorecard.json"
    write_artifact(old, path)
    newer = {**old, "policy": {**old["policy"], "note": "retrained"}}
    written = write_artifact(newer, path)
    archived = tmp_path / "archive" / f"{old['model_version']}.json"
    assert read_artifact(archived)["model_version"] == old["model_version"] != written["model_version"]
    assert find_artifact(old["model_version"], default=path, archive_dir=tmp_path / "archive") == read_artifact(archived)
    assert find_artifact("0x" + "00" * 32, default=path, archive_dir=tmp_path / "archive") is None
    assert find_artifact("../../etc/passwd", default=path, archive_dir=tmp_path / "archive") is None


def test_shipped_archive_holds_only_valid_artifacts():
    for path in ARCHIVE_DIR.glob("*.json"):
        assert read_artifact(path)["model_version"] == path.stem


def test_cli_prove_decision(tmp_path, monkeypatch, application):
    from backend.cli.main import app
    from backend.config import get_settings
    from backend.db import migrate
    from backend.db.session import session_scope
    from tests.anchoring.helpers import point_get_settings_at
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        point_get_settings_at(monkeypatch, settings)
        migrate.upgrade(settings)
        with session_scope(settings) as db:
            made = score_application(db, ApplicationCreate(**application), settings=settings)
        runner = CliRunner()
        ok = runner.invoke(app, ["model", "prove-decision", made.decision_hash, "--json"])
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.stdout)["verified"] is True
        text = runner.invoke(app, ["model", "prove-decision", made.decision_hash])
        assert text.exit_code == 0 and "VERIFIED" in text.stdout
        missing = runner.invoke(app, ["model", "prove-decision", "0x" + "ef" * 32])
        assert missing.exit_code == 2 and "no credit decision" in missing.output
        every = runner.invoke(app, ["model", "verify-decisions", "--json"])
        assert every.exit_code == 0, every.output
        assert json.loads(every.stdout) == {"checked": 1, "erased": 0, "replayed": 1, "issues": [], "ok": True}
        assert "ALL VERIFIED" in runner.invoke(app, ["model", "verify-decisions"]).stdout
    finally:
        get_settings.cache_clear()


def _loan(loan_id: int, decision: str) -> LoanRow:
    return LoanRow(
        loan_id=loan_id, status="funding", borrower="0x" + "22" * 20, underwriter="0x" + "33" * 20,
        terms_hash="0x" + "44" * 32, agreement_hash="0x" + "55" * 32, decision_hash=decision,
        principal=1000, apr_bps=1200, installments=12, installment_period=2_592_000, installment_amount=90,
        funding_deadline=0, origination_fee_bps=100, created_block=1, block_number=1, tx_hash="0x" + "66" * 32,
        log_index=0,
    )  # fmt: skip


def test_every_decision_is_checked_at_once(db_factory, scorer, application, risky_application, settings):
    """`loanchain model verify-decisions`: the untouched ones pass; an edited column, an edited
    record and a forged (re-hashed) one are each named with what fails."""
    from backend.scoring.integrity import audit_decisions

    with db_factory() as db:
        made = [score_application(db, ApplicationCreate(**a), scorer, settings=settings)
                for a in (application, risky_application) * 2]
        db.commit()
    with db_factory() as db:
        assert audit_decisions(db).model_dump() == {"checked": 4, "erased": 0, "replayed": 4, "issues": []}
        column, edited, forged = (db.get(CreditDecision, m.id) for m in made[:3])
        column.pd = 0.0001
        edited.outputs = {**edited.outputs, "reasons": []}
        forged_outputs = {**forged.outputs, "policy_notes": ["forged"]}
        forged.outputs = forged_outputs  # re-hashed by a forger who holds the row, salt included
        forged.decision_hash = decision_hash(forged.model_version, forged.inputs, forged_outputs, forged.salt)
        db.commit()
    with db_factory() as db:
        seen = []
        report = audit_decisions(db, seen.append)
    assert report.checked == 4 and sum(seen) == 4 and not report.ok
    assert {i.id: i.problems for i in report.issues} == {
        made[0].id: ["column:pd"], made[1].id: ["hash", "replay"], made[2].id: ["replay"]}


def test_a_decision_of_a_model_older_than_the_recorded_mapping_still_reproduces(db_factory, application, settings):
    """Models trained before artifacts recorded their form mapping took the UCI wording at its word
    (mapping.LEGACY_ANSWERS); their decisions are replayed with that mapping, not today's."""
    from backend.scoring.mapping import legacy_snapshot, to_model_inputs
    from backend.scoring.scorer import scorer_for_version

    old = scorer_for_version("0x616537ca22ea29884c39763367db3ea45197f639c571f65920758441d547a64f")
    assert old is not None and "form_mapping" not in old.artifact and old.form_mapping == legacy_snapshot()
    inputs = to_model_inputs(ApplicationCreate(**{**application, "checking_account": "none"}), old.form_mapping)
    assert inputs["status_of_existing_checking_account"] == "no checking account"  # as that model read "none"
    with db_factory() as db:
        made = score_application(db, ApplicationCreate(**{**application, "checking_account": "none"}), old,
                                 settings=settings)
        db.commit()
        proof = prove_decision(db, made.decision_hash)
    assert proof.verified and proof.reproduced and proof.differences == []


def test_decisions_recorded_by_the_code_of_an_older_model_still_reproduce():
    """Five decisions recorded on 2026-11-30 by the code of model 0x616537ca… (before the form
    mapping was relabelled and reasons were worded from the applicant's bin), replayed by today's."""
    from pathlib import Path

    from backend.scoring.scorer import scorer_for_version
    from backend.scoring.service import replay

    recorded = json.loads((Path(__file__).parent / "legacy_decisions.json").read_text())
    for made in recorded:
        application = ApplicationCreate(**made["app"]).model_dump(mode="json")
        row = CreditDecision(model_version=made["model_version"], inputs=application, outputs=made["outputs"],
                             decision_hash=made["decision_hash"])  # fmt: skip
        assert decision_hash(row.model_version, row.inputs, row.outputs) == row.decision_hash  # as recorded
        available, reproduced, differences = replay(row, scorer_for_version(made["model_version"]))
        assert available and reproduced and differences == [], (made["app"]["credit_history"], differences)


def test_a_decision_of_the_model_before_the_installment_pace_and_amount_rule_still_reproduces(db_factory, application,
                                                                                             settings):  # fmt: skip
    """Model 0x88feb18e… priced affordability on a monthly annuity at the quote and had no
    amount-sensitivity rule; its policy's copy says so, and its decisions replay by it."""
    from backend.scoring.scorer import get_scorer, scorer_for_version
    from tests.scoring.test_service import GAMED

    old = scorer_for_version("0x88feb18e283f75776678b2edfae282ea48193bf5fee9186e64f0ecfabbc9e960")
    assert old is not None and "amount_sensitivity" not in old.artifact["policy"]
    with db_factory() as db:
        made = [score_application(db, ApplicationCreate(**a), old, settings=settings) for a in (application, GAMED)]
        db.commit()
        proofs = [prove_decision(db, m.decision_hash) for m in made]
    assert all(p.verified and p.differences == [] for p in proofs)
    assert made[1].decision == "approve"  # no amount rule then; today's model refers it
    with db_factory() as db:
        today = score_application(db, ApplicationCreate(**application), get_scorer(), settings=settings)
    assert today.quote.monthly_payment < made[0].quote.monthly_payment  # the interest APR, not the quote's


def test_a_decision_of_the_model_before_the_bin_edge_probes_still_proves(db_factory, settings):
    """Model 0x4895edca… probed only a 5% lower amount (its policy's rule has no `bin_edges`): the
    worst applicant at 3,800 over 12 months was approved. Recorded then, it replays and proves as
    made, and today's model refers the same application."""
    from backend.scoring.scorer import get_scorer, scorer_for_version
    from tests.scoring.test_service import MODEL_BEFORE_BIN_EDGES, WORST

    old = scorer_for_version(MODEL_BEFORE_BIN_EDGES)
    assert old is not None and "bin_edges" not in old.artifact["policy"]["amount_sensitivity"]
    with db_factory() as db:
        made = score_application(db, ApplicationCreate(**WORST, amount=3800), old, settings=settings)
        db.commit()
        proof = prove_decision(db, made.decision_hash)
    assert (made.model_version, made.decision, made.policy_notes) == (MODEL_BEFORE_BIN_EDGES, "approve", [])
    assert proof.verified and proof.reproduced and proof.differences == [] and proof.hash_intact
    with db_factory() as db:
        today = score_application(db, ApplicationCreate(**WORST, amount=3800), get_scorer(), settings=settings)
    assert today.decision == "refer" and today.model_version != MODEL_BEFORE_BIN_EDGES
