"""A loan's statement for its borrower: disbursement net of the fee, payments split into late fees,
interest and principal, a prepayment, the default and a recovery, each with its transaction; its
cash is exactly the borrower's token flow with LoanBook, a year's closing balance is the next
year's opening one, only the borrower and staff read it, and the API, its CSV and the CLI agree."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from backend.chain.indexer import Indexer
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from backend.identity.roles import grant_role
from tests.anchoring.helpers import point_get_settings_at
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.contracts.helpers import events
from tests.identity.conftest import ADMIN, client_for, minted_bearer

UNIT = 10**6
DAY = 86_400


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url, admin_wallets=[ADMIN.address])


def _new_year_soon(world) -> int:  # noqa: F811
    """Twenty days before a New Year still ahead of the chain's clock, so the loan spans two years."""
    now = world.w3.eth.get_block("latest")["timestamp"]
    year = datetime.fromtimestamp(now, UTC).year + 1
    while datetime(year, 1, 1, tzinfo=UTC).timestamp() - 20 * DAY <= now:
        year += 1
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp())


def test_a_loans_statement_tells_every_movement_and_adds_up_to_the_borrowers_token_flow(settings, world):  # noqa: F811
    node, book, borrower = world.chain, world.book, world.borrower
    new_year = _new_year_soon(world)
    node.mine_at(new_year - 20 * DAY)
    before = world.balance(borrower)
    loan_id, start = world.active_loan()
    node.mine_at(start + 30 * DAY)
    world.repay(loan_id, book.functions.amountDue(loan_id).call()[0])  # on time
    node.mine_at(start + 80 * DAY)
    # Late (a fee), then the next (billed, not yet due, so not in what is due now), then ahead:
    # LoanBook takes the late installment, the fee, the next one, then principal.
    next_one = world.loan(loan_id)["installmentAmount"]
    world.repay(loan_id, book.functions.amountDue(loan_id).call()[0] + next_one + 300 * UNIT)
    threshold = book.functions.defaultableAt(loan_id).call()
    (default,) = events(node.tx(book.functions.markDefault(loan_id), world.admin.address, at=threshold + 1), book,
                        "LoanDefaulted")  # fmt: skip
    world.repay(loan_id, 70 * UNIT)  # recovered after the default
    Indexer().catch_up(settings)

    client = client_for(settings)
    mine = minted_bearer(settings, borrower)
    whole = client.get(f"/api/v1/loans/{loan_id}/statement", headers=mine)
    assert whole.status_code == 200, whole.text
    s = whole.json()
    kinds = [line["kind"] for line in s["lines"]]
    assert kinds == ["disbursed", "payment", "late_fee", "payment", "payment", "prepayment", "defaulted", "recovery"]
    disbursed, first, fee, second, third, ahead, defaulted, recovery = s["lines"]
    loan = world.loan(loan_id)
    assert disbursed["cash"] + disbursed["origination_fee"] == loan["principal"] == s["principal"]
    assert (first["installment"], first["late_fee_paid"], second["installment"], third["installment"]) == (1, 0, 2, 3)
    # The fee is paid after the installment due, so LoanBook reports it on the next payment's line.
    assert second["late_fee_paid"] == 0 and third["late_fee_paid"] == fee["late_fee_charged"] == s["late_fee_charged"] > 0
    assert ahead["principal_paid"] > 0 and ahead["principal_outstanding"] == default["principalOutstanding"]
    assert (defaulted["reserve_cover"], defaulted["recoverable"]) == (default["cover"], default["recoverable"])
    assert recovery["recoverable"] == default["recoverable"] - 70 * UNIT == s["closing_recoverable"]
    assert recovery["cash"] == -70 * UNIT and recovery["payer"] == borrower.address
    # Nothing estimated: the cash is the borrower's real token flow with LoanBook.
    assert sum(line["cash"] for line in s["lines"]) == world.balance(borrower) - before == s["received"] - s["paid"]
    assert s["paid"] == s["late_fee_paid"] + s["interest_paid"] + s["principal_paid"] + 70 * UNIT
    # What the debt grew by at default (interest and late fees, LoanBook gives their sum) is shown,
    # and what was recovered after it, which LoanBook does not split.
    assert defaulted["charged_at_default"] == default["debt"] - default["principalOutstanding"] == s["charged_at_default"] > 0
    assert s["recovered"] == 70 * UNIT
    assert s["principal_paid"] == loan["principal"] - default["principalOutstanding"]
    assert (s["opening_principal"], s["closing_principal"]) == (0, 0)  # defaulted: what stays owed is recoverable

    # A year's closing balance is the next one's opening balance; the years hold every line once.
    first_year = datetime.fromtimestamp(new_year - 1, UTC).year
    years = [client.get(f"/api/v1/loans/{loan_id}/statement?year={y}", headers=mine).json() for y in (first_year, first_year + 1)]
    assert [len(y["lines"]) for y in years] == [1, 7]
    assert years[0]["closing_principal"] == years[1]["opening_principal"] == loan["principal"]
    assert years[0]["received"] == disbursed["cash"] and years[1]["received"] == 0
    assert sum(y["interest_paid"] for y in years) == s["interest_paid"]

    # Its borrower and staff read it; nobody else.
    assert client.get(f"/api/v1/loans/{loan_id}/statement", headers=minted_bearer(settings, world.investors[0])).status_code == 403
    assert client.get(f"/api/v1/loans/{loan_id}/statement").status_code == 401
    assert client.get("/api/v1/loans/999/statement", headers=mine).status_code == 404
    auditor = world.investors[5]
    with session_scope(settings) as session:
        grant_role(session, ADMIN.address, auditor.address, "auditor")
    as_auditor = client.get(f"/api/v1/loans/{loan_id}/statement", headers=minted_bearer(settings, auditor))
    assert as_auditor.json() == s

    table = client.get(f"/api/v1/loans/{loan_id}/statement.csv", headers=mine)
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert table.headers["content-type"].startswith("text/csv")
    assert [r["kind"] for r in rows] == kinds and sum(int(r["cash"]) for r in rows) == sum(line["cash"] for line in s["lines"])
    assert Decimal(rows[0]["cash_tokens"]) == Decimal(disbursed["cash"]) / UNIT  # exact, never a float


def test_the_cli_prints_the_same_statement_and_a_paid_off_loan_ends_at_zero(settings, world, monkeypatch, tmp_path):  # noqa: F811
    loan_id, start = world.active_loan()
    world.repay(loan_id, world.book.functions.amountDue(loan_id).call()[1], at=start)  # paid off in the payout's second
    Indexer().catch_up(settings)
    api = client_for(settings).get(f"/api/v1/loans/{loan_id}/statement", headers=minted_bearer(settings, world.borrower)).json()
    assert [line["kind"] for line in api["lines"]] == ["disbursed", "prepayment", "paid_off"]  # nothing billed yet
    assert api["closing_principal"] == 0 and api["principal_paid"] == api["principal"] and api["interest_paid"] == 0

    runner = CliRunner()
    out = tmp_path / "statement.csv"
    try:
        point_get_settings_at(monkeypatch, settings)
        as_json = runner.invoke(app, ["loan", "statement", str(loan_id), "--json"])
        as_table = runner.invoke(app, ["loan", "statement", str(loan_id), "--csv", str(out)])
        missing = runner.invoke(app, ["loan", "statement", "999"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert json.loads(as_json.stdout) == api
    assert as_table.exit_code == 0 and "paid off" in as_table.stdout
    # The disbursement's fee is the origination fee, in its own column: no late fee was charged.
    header = next(row for row in as_table.stdout.splitlines() if "late fee" in row)
    disbursed = next(row for row in as_table.stdout.splitlines() if "disbursed" in row)
    cells = dict(zip((c.strip() for c in header.split("┃")), (c.strip() for c in disbursed.split("│")), strict=True))
    assert cells["orig. fee"] == f"{api['lines'][0]['origination_fee']:,}" != "0" and cells["late fee"] == ""
    assert len(out.read_text().splitlines()) == len(api["lines"]) + 1
    assert missing.exit_code != 0 and "no loan 999" in " ".join(missing.stdout.split() + missing.stderr.split())
