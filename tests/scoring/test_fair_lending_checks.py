"""Scheduled fair-lending checks: the `fair-lending` worker takes the live report over the trailing
window once a UTC day, keeps it for staff, and /health says whether the checks run (never what
they found)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from typer.testing import CliRunner

from backend.audit.models import AuditEntry
from backend.cli.main import app
from backend.db.session import session_scope
from backend.scoring import fair_lending, fair_lending_checks
from backend.scoring.fair_lending_checks import check_health, run_check
from backend.scoring.models import FairLendingCheck
from backend.services.health import health_report
from backend.workers.registry import WORKERS
from tests.anchoring.helpers import point_get_settings_at
from tests.identity.conftest import ADMIN, client_for, minted_bearer
from tests.scoring.test_fair_lending import book  # noqa: F401 - the fixture: two bands, one approved half as often
from tests.workers.overlap import Meeting, at_once


def _checks(settings) -> list[FairLendingCheck]:
    with session_scope(settings) as session:
        return list(session.scalars(select(FairLendingCheck).order_by(FairLendingCheck.checked_on)))


def _audited(settings) -> list[str]:
    with session_scope(settings) as session:
        return list(session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "fairness.live")))


def test_the_worker_flags_a_band_once_a_day_and_staff_read_it(book, monkeypatch):  # noqa: F811
    settings, people = book
    monkeypatch.setattr(fair_lending, "MIN_GROUP", 1)  # the book is tiny
    assert WORKERS["fair-lending"].interval(settings) == settings.fair_lending_interval == 3600.0
    assert check_health(settings)["status"] == "not run"

    assert WORKERS["fair-lending"].step(settings) == 1
    assert WORKERS["fair-lending"].step(settings) == 0  # today's is taken: nothing read again
    (check,) = _checks(settings)
    assert check.flagged == ["<25"] and check.checked_by == "worker:fair-lending"
    assert settings.fair_lending_window_days == 90 and check.until - check.since == timedelta(days=90)
    assert _audited(settings) == ["worker:fair-lending"]  # the dates of birth were read once, audited

    client = client_for(settings)
    url = "/api/v1/score/fairness/checks"
    assert client.get(url, headers=minted_bearer(settings, people[0][0].account)).status_code == 403
    (shown,) = client.get(url, headers=minted_bearer(settings, ADMIN)).json()
    assert shown["flagged"] == ["<25"] and shown["report"]["groups"][0]["adverse_impact_ratio"] == 0.5
    text = json.dumps(shown)
    assert not any(p.account.address in text or p.date_of_birth.isoformat() in text for p, _ in people)

    # /health is public: it says the checks run, not what they found.
    part = health_report(settings)["fair_lending"]
    assert part == {"ok": True, "status": "ok", "last_checked_on": check.checked_on.isoformat()}
    later = datetime.now(UTC) + timedelta(days=3)
    assert check_health(settings, now=later)["status"] == "overdue"

    # The next day's round takes the next check.
    with session_scope(settings) as session:
        assert run_check(session, settings, now=datetime.now(UTC) + timedelta(days=1)) is not None
    assert len(_checks(settings)) == 2


def test_two_rounds_at_once_store_one_check_and_one_audit_entry(book, monkeypatch):  # noqa: F811
    settings, _ = book
    meeting = Meeting()  # both have read that today's check is not taken before either stores it
    monkeypatch.setattr(fair_lending_checks, "live_fairness", meeting.around(fair_lending_checks.live_fairness))
    step = WORKERS["fair-lending"].step
    results = at_once(lambda: step(settings), lambda: step(settings))
    assert sorted(results) == [0, 1], results
    assert len(_checks(settings)) == 1
    assert _audited(settings) == ["worker:fair-lending"]  # the loser's reading rolled back with its savepoint


def test_the_cli_takes_todays_check_and_exits_1_on_a_flag(book, monkeypatch):  # noqa: F811
    settings, _ = book
    point_get_settings_at(monkeypatch, settings)
    quiet = CliRunner().invoke(app, ["model", "fairness-check", "--json"])  # bands under 30: nothing flagged
    assert quiet.exit_code == 0, quiet.output
    assert json.loads(quiet.stdout)["flagged"] == [] and json.loads(quiet.stdout)["checked_by"] == "cli"
    again = CliRunner().invoke(app, ["model", "fairness-check"], terminal_width=200)  # today's: shown, not taken again
    assert again.exit_code == 0 and "fair-lending check of" in again.stdout
    assert len(_checks(settings)) == 1


def test_a_newly_flagged_band_is_raised_among_the_staffs_alerts_once(book, monkeypatch):  # noqa: F811
    """The check only recorded its flag, for someone to think of reading its list: it now reaches the
    monitoring alerts staff review, once when a band is newly flagged, not once a day while it stays."""
    settings, people = book
    monkeypatch.setattr(fair_lending, "MIN_GROUP", 1)
    with session_scope(settings) as session:
        for days in (0, 1, 2):  # three days' checks, each flagging the same band
            assert run_check(session, settings, now=datetime.now(UTC) + timedelta(days=days)) is not None
    client = client_for(settings)
    alerts = client.get("/api/v1/audit/alerts", params={"rule": "fair_lending"}, headers=minted_bearer(settings, ADMIN))
    (alert,) = alerts.json()
    assert alert["rule"] == "fair_lending" and alert["wallets"] == [] and alert["loan_id"] is None
    assert "<25" in alert["detail"] and "/api/v1/score/fairness/checks" in alert["detail"]
    text = json.dumps(alert)
    assert not any(p.account.address in text or p.date_of_birth.isoformat() in text for p, _ in people)
