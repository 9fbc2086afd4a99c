"""`loanchain roles`: the operator grants, lists and revokes staff roles from the shell through the
same service as the API, audited under the actor named; bad input is a usage error naming it. The
operator's grant is direct (no second admin, no KYC needed): it is how the first staff come to be."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from typer.testing import CliRunner

from backend.audit.log import entries
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from backend.identity.role_proposals import pending
from backend.identity.roles import Role, roles_of
from tests.anchoring.helpers import point_get_settings_at
from tests.identity.conftest import ADMIN

runner = CliRunner()


@pytest.fixture
def as_operator(settings, monkeypatch):
    """The CLI pointed at `settings`, with ADMIN an admin by configuration; undone after."""
    point_get_settings_at(monkeypatch, settings)
    monkeypatch.setenv("LOANCHAIN_ADMIN_WALLETS", ADMIN.address)
    get_settings.cache_clear()
    yield settings
    monkeypatch.undo()
    get_settings.cache_clear()


def test_an_operator_grants_lists_and_revokes_a_role_from_the_shell(as_operator):
    settings = as_operator
    staff = Account.create().address

    granted = runner.invoke(app, ["roles", "grant", staff.lower(), "underwriter", "--actor", "ops:alice"])
    assert granted.exit_code == 0 and f"underwriter granted; {staff} now: underwriter" in granted.stdout
    assert "already held" in runner.invoke(app, ["roles", "grant", staff, "underwriter"]).stdout
    listed = json.loads(runner.invoke(app, ["roles", "list", "--json"]).stdout)
    assert [(g["wallet"], g["role"], g["granted_by"]) for g in listed["grants"]] == [(staff, "underwriter", "ops:alice")]
    assert listed["configured_admins"] == [ADMIN.address] and listed["grants"][0]["confirmed_by"] is None
    assert runner.invoke(app, ["roles", "list"]).exit_code == 0  # the table, for a person
    with session_scope(settings) as session:
        assert roles_of(session, settings, staff) == {Role.UNDERWRITER}  # at once, though the wallet has no KYC
        assert pending(session) == []
        assert [(e.actor, e.action) for e in entries(session) if e.subject == staff] == [("ops:alice", "role.grant")]

    assert runner.invoke(app, ["roles", "revoke", staff, "underwriter"]).exit_code == 0
    assert runner.invoke(app, ["roles", "revoke", ADMIN.address, "admin"]).exit_code == 2  # an admin by configuration
    refused = runner.invoke(app, ["roles", "grant", staff, "borrower"])  # follows from KYC, never granted
    assert refused.exit_code == 2 and "only admin, auditor, underwriter can be granted" in " ".join(refused.output.split())
    assert runner.invoke(app, ["roles", "grant", "0x123", "auditor"]).exit_code == 2
    with session_scope(settings) as session:
        assert roles_of(session, settings, staff) == frozenset()
