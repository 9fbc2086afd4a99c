"""A period is exactly YYYY-MM, in ASCII digits: anything else (a trailing newline, which `re.match`
with `$` let through to strptime, or another script's digits, which would name a month twice) is a
422 naming `period` from the API and one line with exit code 2 from the CLI, and nothing is written.
SQLite and PostgreSQL, no chain: the period is refused before the chain or the index is asked."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from backend.audit.models import AuditEntry
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from backend.disclosure.models import DisclosureReport
from backend.disclosure.reports import check_period
from backend.errors import ValidationFailed
from tests.anchoring.helpers import point_get_settings_at
from tests.identity.conftest import ADMIN, client_for, identity_settings, minted_bearer

NOT_PERIODS = ("2026-10\n", "2026-10\r\n", "٢٠٢٦-10", "2026-１0", " 2026-10", "2026-10 ")


@pytest.mark.parametrize("period", NOT_PERIODS)
def test_only_yyyy_mm_in_ascii_digits_is_a_period(period):
    with pytest.raises(ValidationFailed) as refused:
        check_period(period)
    assert refused.value.details == {"field": "period"} and refused.value.message.startswith("period: ")
    assert check_period("2026-10") == "2026-10"


def test_the_api_refuses_a_period_that_is_not_yyyy_mm_with_a_422_naming_it(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url)
    client, as_admin = client_for(settings), minted_bearer(settings, ADMIN)
    for period in NOT_PERIODS:
        for answer in (client.get("/api/v1/disclosure/flows", params={"period": period}),
                       client.post("/api/v1/disclosure/reports", json={"period": period}, headers=as_admin)):  # fmt: skip
            body = answer.json()
            assert answer.status_code == 422, (period, answer.text)
            assert body["detail"].startswith("period: "), body
            # the service's check names it in `context`; the body's own type (control characters) in `fields`
            assert body.get("context") == {"field": "period"} or body["fields"][0]["loc"][-1] == "period", body
    with session_scope(settings) as session:
        assert session.scalar(select(func.count()).select_from(DisclosureReport)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "disclosure.publish")) == 0


def test_the_cli_refuses_a_period_that_is_not_yyyy_mm_in_one_line(tmp_path, database_url, monkeypatch):
    settings = identity_settings(tmp_path, database_url)
    runner = CliRunner()
    try:
        point_get_settings_at(monkeypatch, settings)
        flows = runner.invoke(app, ["disclosure", "flows", "--period", "2026-10\n"])
        publish = runner.invoke(app, ["disclosure", "publish", "--period", "٢٠٢٦-10"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    for result, shown in ((flows, r"'2026-10\n'"), (publish, "'٢٠٢٦-10'")):
        assert result.exit_code == 2, result.output  # a traceback would be 1
        assert result.stderr.splitlines() == [f"error: period: {shown} is not a month written YYYY-MM (1970 to 9998)"]
