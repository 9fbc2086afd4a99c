"""Fair-lending monitoring on live decisions: approval rates by age band, read from the applicants'
KYC dates of birth (audited), each applicant counted once, and the four-fifths rule flagged."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from eth_account import Account
from sqlalchemy import select
from typer.testing import CliRunner

from backend.audit.hashing import payload_hash
from backend.audit.models import AuditEntry
from backend.cli.main import app
from backend.db.session import session_scope
from backend.identity.kyc.submission import submit
from backend.identity.schemas import KycCreate
from backend.scoring import fair_lending
from backend.scoring.fair_lending import _utc, live_fairness
from backend.scoring.models import CreditDecision
from backend.scoring.schemas import ApplicationCreate
from backend.scoring.service import score_application
from tests.anchoring.helpers import point_get_settings_at
from tests.identity.conftest import ADMIN, client_for, identity_settings, make_applicant, minted_bearer
from tests.scoring.conftest import RISKY, SAMPLE


@pytest.fixture
def book(tmp_path, database_url):
    """Two applicants under 25 (one approved, one declined), two over 40 (both approved, one of them
    after an earlier decline), one who asked without KYC."""
    settings = identity_settings(tmp_path, database_url, admin_wallets=[ADMIN.address])
    young, old = date(2005, 6, 1), date(1970, 3, 14)
    people = [(make_applicant(701, born=young), [SAMPLE]), (make_applicant(702, born=young), [RISKY]),
              (make_applicant(703, born=old), [SAMPLE]), (make_applicant(704, born=old), [RISKY, SAMPLE])]  # fmt: skip
    for person, _ in people:
        with session_scope(settings) as session:  # each in its own transaction, as a request is
            submit(session, settings, person.account.address, KycCreate(**person.form()), [])
    with session_scope(settings) as session:
        for person, applications in people:
            for application in applications:
                score_application(session, ApplicationCreate(**application), settings=settings,
                                  wallet=person.account.address)
        score_application(session, ApplicationCreate(**SAMPLE), settings=settings, wallet=Account.create().address)
    return settings, people


def test_approval_rates_by_age_band_count_each_applicant_once_and_flag_four_fifths(book, monkeypatch):
    settings, people = book
    monkeypatch.setattr(fair_lending, "MIN_GROUP", 1)  # the book is tiny
    monkeypatch.setattr(fair_lending, "CHUNK", 2)  # the dates of birth read a few wallets at a time
    with session_scope(settings) as session:
        report = live_fairness(session, settings, ADMIN.address)
    bands = {g.group: (g.applicants, g.approved, g.approval_rate, g.adverse_impact_ratio) for g in report.groups}
    # An empty band is under MIN_GROUP too (shown, it would tell by elimination where the others are),
    # and so the total is withheld: less the bands shown, it would give the withheld band's count.
    assert bands == {"<25": (2, 1, 0.5, 0.5), "25-40": (None, None, None, None), ">40": (2, 2, 1.0, 1.0)}
    assert (report.applicants, report.unknown_age, report.flagged) == (None, 1, ["<25"])
    text = report.model_dump_json()
    assert not any(p.account.address in text or p.date_of_birth.isoformat() in text for p, _ in people)
    with session_scope(settings) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "fairness.live")).one()
    assert entry.actor == ADMIN.address


def test_small_bands_are_not_flagged_and_the_period_bounds_the_decisions(book):
    settings, _ = book
    with session_scope(settings) as session:
        assert live_fairness(session, settings, "cli").flagged == []  # 2 applicants a band < MIN_GROUP
        later = live_fairness(session, settings, "cli", since=datetime.now(UTC) + timedelta(days=1))
    assert later.applicants == 0 and all(g.adverse_impact_ratio is None for g in later.groups)


def test_a_period_around_one_decision_tells_no_age_band(book):
    """Privacy review L2: staff can learn when a loan's decision was made; a period of a microsecond
    around it gave `applicants: 1` in that borrower's age band."""
    settings, people = book
    with session_scope(settings) as session:
        made = session.scalar(select(CreditDecision.created_at).where(CreditDecision.wallet == people[0][0].account.address))
    since, until = made, made + timedelta(microseconds=1)
    served = client_for(settings).get("/api/v1/score/fairness", headers=minted_bearer(settings, ADMIN),
                                      params={"since": since.isoformat(), "until": until.isoformat()})  # fmt: skip
    report = served.json()
    assert served.status_code == 200 and report["applicants"] == 1 and report["unknown_age"] is None
    assert [(g["group"], g["withheld"], g["applicants"], g["approved"], g["approval_rate"]) for g in report["groups"]] == [
        ("<25", True, None, None, None), ("25-40", True, None, None, None), (">40", True, None, None, None)]  # fmt: skip
    assert report["note"].startswith("groups of fewer than 30 applicants are shown as <30")
    with session_scope(settings) as session:  # the audit entry covers the period asked for
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "fairness.live")).one()
    assert entry.payload_hash == payload_hash({"applicants": 1, "dates_of_birth_read": 1, "since": _utc(since).isoformat(),
                                               "until": _utc(until).isoformat()})  # fmt: skip


def test_with_some_groups_shown_the_total_is_withheld_too(book, monkeypatch):
    """The total less the bands shown would give back what the withheld bands add up to."""
    settings, _ = book
    monkeypatch.setattr(fair_lending, "MIN_GROUP", 2)  # <25 and >40 have 2 each; 25-40 none, unknown age 1
    with session_scope(settings) as session:
        report = live_fairness(session, settings, "cli")
    assert (report.applicants, report.unknown_age) == (None, None)
    assert [(g.group, g.applicants) for g in report.groups] == [("<25", 2), ("25-40", None), (">40", 2)]
    point_get_settings_at(monkeypatch, settings)
    shown = CliRunner().invoke(app, ["model", "fairness"]).stdout
    assert "applicants withheld (<2 of unknown age)" in shown and "groups of fewer than 2 applicants" in shown


def test_the_api_is_for_staff_and_the_cli_exits_1_on_a_flag(book, monkeypatch):
    settings, people = book
    client = client_for(settings)
    assert client.get("/api/v1/score/fairness", headers=minted_bearer(settings, people[0][0].account)).status_code == 403
    served = client.get("/api/v1/score/fairness", params={"since": "2020-01-01"}, headers=minted_bearer(settings, ADMIN))
    assert served.status_code == 200 and served.json()["applicants"] == 5

    point_get_settings_at(monkeypatch, settings)
    monkeypatch.setattr(fair_lending, "MIN_GROUP", 1)
    result = CliRunner().invoke(app, ["model", "fairness", "--json", "--since", "2020-01-01"])
    assert result.exit_code == 1 and json.loads(result.stdout)["flagged"] == ["<25"]


def test_a_period_that_ends_before_it_starts_is_a_422_naming_until_and_nothing_is_audited(book):
    settings, _ = book
    client, staff = client_for(settings), minted_bearer(settings, ADMIN)
    for since, until in (("2030-01-01", "2020-01-01"), ("2026-05-01T00:00:00Z", "2026-05-01T02:00:00+02:00")):
        refused = client.get("/api/v1/score/fairness", params={"since": since, "until": until}, headers=staff)
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"] == "until: must be after since" and refused.json()["context"] == {"field": "until"}
    with session_scope(settings) as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "fairness.live")).all() == []


def test_a_tiny_band_does_not_set_the_bar_for_the_large_ones():
    from backend.scoring.fair_lending import impact_ratios
    from backend.scoring.schemas import FairLendingGroupPublic

    def band(group, n, approved):
        return FairLendingGroupPublic(group=group, applicants=n, approved=approved, still_referred=0,
                                      approval_rate=approved / n if n else 0.0)  # fmt: skip

    groups = impact_ratios([band("<25", 1, 1), band("25-40", 100, 75), band(">40", 100, 70)], min_group=30)
    ratios = {g.group: (round(g.adverse_impact_ratio, 3), g.below_four_fifths) for g in groups}
    assert ratios == {"<25": (1.333, False), "25-40": (1.0, False), ">40": (0.933, False)}
    groups = impact_ratios([band("<25", 40, 10), band("25-40", 100, 75), band(">40", 0, 0)], min_group=30)
    assert [(g.group, g.below_four_fifths) for g in groups if g.below_four_fifths] == [("<25", True)]
    assert groups[2].adverse_impact_ratio is None
