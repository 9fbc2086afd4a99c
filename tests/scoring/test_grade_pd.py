"""The PD a loan is shown with to anyone but staff (`priced_pd`): its grade's mean out-of-fold PD
in the model that decided it, the PD its interest was worked from (its reserve fee: the top of the
grade's band)."""

from __future__ import annotations

from backend.scoring.artifact import ARCHIVE_DIR, load_artifact
from backend.scoring.grade_pd import priced_pd
from backend.scoring.pricing import price
from backend.scoring.schemas import ApplicationCreate
from backend.scoring.scorer import scorer_for_version
from backend.scoring.service import decide
from tests.scoring.conftest import SAMPLE


def test_it_is_the_grades_pd_in_the_decisions_own_model(scorer):
    for band in scorer.grades:
        assert priced_pd(scorer.model_version, band.grade) == band.pd_mean_oof
    # An archived model's decisions keep its own grade PDs, which here differ from the shipped model's.
    archived = {path.stem for path in ARCHIVE_DIR.glob("0x*.json")}
    differing = [v for v in archived if priced_pd(v, "A") != priced_pd(scorer.model_version, "A")]
    assert differing, "an archived model with other grade PDs than the shipped one"
    for version in differing:
        assert priced_pd(version, "A") == scorer_for_version(version).grade_band("A").pd_mean_oof


def test_a_model_or_grade_not_held_here_has_no_pd(scorer):
    assert priced_pd("0x" + "ab" * 32, "A") is None  # never installed here, nor archived
    assert priced_pd("not a version", "A") is None
    assert priced_pd(scorer.model_version, "Z") is None


def test_two_decisions_of_a_grade_share_it_and_are_priced_on_it():
    """Two applicants of grade A with different hidden answers (savings) get different scores and
    exact PDs, but one priced PD: the one their quotes were worked from."""
    made = [decide(ApplicationCreate(**application)).outputs
            for application in (SAMPLE, {**SAMPLE, "savings": "100_to_500"})]  # fmt: skip
    assert [m["grade"] for m in made] == ["A", "A"]
    assert made[0]["score"] != made[1]["score"] and made[0]["pd"] != made[1]["pd"]
    shown = priced_pd(load_artifact()["model_version"], "A")
    assert shown not in (made[0]["pd"], made[1]["pd"])
    top = scorer_for_version(load_artifact()["model_version"]).grade_band("A").pd_high  # the reserve fee's PD
    for outputs in made:
        assert outputs["quote"]["apr_bps"] == price(shown, SAMPLE["term_months"], fee_pd=top).apr_bps
