"""`loanchain loan list|show` prints what the API serves (the same service underneath)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from backend.cli.main import app
from backend.config import get_settings
from tests.anchoring.helpers import point_get_settings_at
from tests.lending.conftest import created_loan


def test_the_cli_lists_and_shows_the_loan_the_api_serves(client, chain_identity_settings, borrower, approved, monkeypatch):
    settings = chain_identity_settings
    loan_id = created_loan(client, settings, borrower, approved)["loan_id"]
    listed, shown = client.get("/api/v1/loans").json(), client.get(f"/api/v1/loans/{loan_id}").json()
    try:
        point_get_settings_at(monkeypatch, settings)
        runner = CliRunner()
        as_json = [runner.invoke(app, args) for args in (["loan", "list", "--json"], ["loan", "show", str(loan_id), "--json"])]
        table = runner.invoke(app, ["loan", "show", str(loan_id)])
        missing = runner.invoke(app, ["loan", "show", "999"])
        bad_status = runner.invoke(app, ["loan", "list", "--status", "lost"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert [json.loads(r.stdout) for r in as_json] == [listed, shown]
    assert table.exit_code == 0 and f"loan {loan_id} funding" in table.stdout and shown["agreement_cid"] in table.stdout
    assert missing.exit_code == 2 and "no loan 999" in missing.output
    assert bad_status.exit_code == 2 and "status" in bad_status.output
