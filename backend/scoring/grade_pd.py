"""The PD a loan is shown with to anyone but staff: its grade's, which priced it.

A decision's own PD is one of a few hundred values, one per score (`Scorer.pd_of_score`, 6
decimals), so published it gives the exact score back, and with the published scorecard the
borrower's hidden answers (checking account, savings, property: privacy review M4). A loan's
interest is priced on its grade's mean out-of-fold PD (`service.decide` quotes `pd_mean_oof`; its
reserve fee, under the prudent basis, on the top of the grade's band), the same for every loan of
the grade under one model: the mean is the PD investors, the market, the portfolio and the
disclosure are given. Staff's views of a decision keep the exact one."""

from __future__ import annotations

from backend.scoring.scorer import scorer_for_version

# By model version: a version is its artifact's content hash, so its grades' PDs never change. A
# version not found is not remembered, so an artifact archived later is found then.
_BY_VERSION: dict[str, dict[str, float]] = {}


def priced_pd(model_version: str, grade: str) -> float | None:
    """The mean out-of-fold PD of `grade` in model `model_version`'s own artifact (the default or an
    archived one); None when this installation does not hold that model or the model has no such grade."""
    grades = _BY_VERSION.get(model_version)
    if grades is None:
        scorer = scorer_for_version(model_version)
        if scorer is None:
            return None
        grades = _BY_VERSION[model_version] = {band.grade: band.pd_mean_oof for band in scorer.grades}
    return grades.get(grade)
