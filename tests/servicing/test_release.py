"""Release letters: once nothing more is owed (paid off, or settled by recoveries after a default)
the servicing worker issues the letter once, stores and anchors it and tells the borrower its CID;
the letter is what the chain says, so it is rebuilt byte for byte; only its borrower and staff
read it through the API, and not before the loan is settled."""

from __future__ import annotations

import json

from sqlalchemy import select
from typer.testing import CliRunner

from backend.anchoring.documents import document_hash
from backend.chain.projection_models import LoanRow
from backend.cli.main import app
from backend.config import get_settings
from backend.content.store import get_content_store
from backend.db.session import session_scope
from backend.servicing.models import ServicingNotice
from backend.servicing.service import servicing_step
from tests.anchoring.helpers import point_get_settings_at
from tests.contracts.helpers import events
from tests.identity.conftest import ADMIN, client_for, minted_bearer
from tests.servicing.conftest import index

DAY = 86_400


def _released(settings) -> list[tuple[int, str]]:
    with session_scope(settings) as session:
        return list(session.execute(select(ServicingNotice.loan_id, ServicingNotice.message)
                                    .where(ServicingNotice.kind == "released").order_by(ServicingNotice.loan_id)))  # fmt: skip


def test_a_loan_paid_off_gets_its_release_letter_once(servicing_settings, world, monkeypatch, tmp_path):
    settings, book = servicing_settings, world.book
    paid, start = world.active_loan()
    running, _ = world.active_loan(investors=world.investors[:2])
    world.chain.mine_at(start + 30 * DAY)
    world.repay(paid, book.functions.amountDue(paid).call()[0])
    now = world.w3.eth.get_block("latest")["timestamp"]
    receipt = world.repay(paid, book.functions.amountDue(paid).call()[1], at=now)  # paid off in that second
    index(settings)
    client, borrower = client_for(settings), minted_bearer(settings, world.borrower)
    early = client.get(f"/api/v1/loans/{paid}/release", headers=borrower)
    assert early.status_code == 409 and "not issued yet" in early.json()["detail"]

    servicing_step(settings)
    servicing_step(settings)  # once only
    ((loan_id, message),) = _released(settings)
    got = client.get(f"/api/v1/loans/{paid}/release", headers=borrower)
    assert got.status_code == 200, got.text
    release = got.json()
    letter = release["letter"]
    assert loan_id == paid and release["cid"] in message and release["outcome"] == "paid_in_full"
    assert (letter["loan_id"], letter["borrower"], letter["closing_tx"]) == (paid, world.borrower.address, receipt["transactionHash"].to_0x_hex())
    statement = client.get(f"/api/v1/loans/{paid}/statement", headers=borrower).json()
    assert (letter["paid"], letter["interest_paid"], letter["principal_paid"]) == (
        statement["paid"], statement["interest_paid"], statement["principal_paid"])  # fmt: skip
    assert letter["statement"].startswith(f"Loan {paid} is paid in full: nothing more is owed on it since ")
    stored = get_content_store(settings).get(release["cid"])
    assert document_hash(stored) == release["doc_hash"] and json.loads(stored) == letter
    verified = client.get(f"/api/v1/verify?cid={release['cid']}").json()  # anyone checks it
    assert verified["doc_hash"] == release["doc_hash"]

    assert client.get(f"/api/v1/loans/{paid}/release", headers=minted_bearer(settings, world.investors[0])).status_code == 403
    assert client.get(f"/api/v1/loans/{running}/release", headers=borrower).status_code == 409  # still owed
    assert client.get(f"/api/v1/loans/{paid}/release", headers=minted_bearer(settings, ADMIN)).json() == release

    runner = CliRunner()
    out = tmp_path / "letter.json"
    try:
        point_get_settings_at(monkeypatch, settings)
        cli = runner.invoke(app, ["loan", "release", str(paid), "--output", str(out), "--json"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert json.loads(cli.stdout) == release and document_hash(out.read_bytes()) == release["doc_hash"]


def test_a_loan_settled_after_its_default_gets_a_letter_that_says_so(servicing_settings, world):
    settings, book, chain = servicing_settings, world.book, world.chain
    loan_id, _ = world.active_loan()
    threshold = book.functions.defaultableAt(loan_id).call()
    (default,) = events(chain.tx(book.functions.markDefault(loan_id), world.admin.address, at=threshold + 1), book,
                        "LoanDefaulted")  # fmt: skip
    assert default["recoverable"] == default["debt"]  # the cover insures the investors, it pays no debt
    world.repay(loan_id, default["debt"] - default["cover"])  # the investors are whole: the reserve is not
    index(settings)
    servicing_step(settings)
    assert _released(settings) == []
    with session_scope(settings) as session:
        loan = session.get(LoanRow, loan_id)
        assert (loan.recoverable, loan.cover_recouped, loan.net_loss) == (default["cover"], 0, 0)
    client, borrower = client_for(settings), minted_bearer(settings, world.borrower)
    assert client.get(f"/api/v1/loans/{loan_id}/release", headers=borrower).status_code == 409
    world.repay(loan_id, book.functions.amountDue(loan_id).call()[1])  # the rest: the reserve's cover
    index(settings)
    servicing_step(settings)
    assert [loan for loan, _ in _released(settings)] == [loan_id]
    letter = client.get(f"/api/v1/loans/{loan_id}/release", headers=borrower).json()["letter"]
    assert letter["outcome"] == "settled_after_default" and letter["reserve_cover"] == default["cover"]
    assert letter["paid"] == default["debt"]  # the whole debt, the reserve's cover included
    # What the debt grew by at default, and what was recovered after it (LoanBook splits neither)
    assert letter["format"] == "loanchain.release/2" and letter["recovered"] == default["debt"] - letter["principal_paid"] - letter["interest_paid"] - letter["late_fees_paid"]
    assert letter["charged_at_default"] == default["debt"] - default["principalOutstanding"]
    assert " was declared in default on " in letter["statement"] and " is settled: " in letter["statement"]


def test_a_letter_issued_in_the_first_format_is_still_found(servicing_settings, world):
    from backend.anchoring.documents import anchor_document
    from backend.servicing.release import FORMAT_V1, letter, release_of

    settings, book = servicing_settings, world.book
    paid, _ = world.active_loan()
    now = world.w3.eth.get_block("latest")["timestamp"]
    world.repay(paid, book.functions.amountDue(paid).call()[1], at=now)  # paid off in that second
    index(settings)
    with session_scope(settings) as session:  # issued before /2 existed
        anchor_document(session, settings, letter(session, settings, session.get(LoanRow, paid), FORMAT_V1))
    with session_scope(settings) as session:
        found = release_of(session, settings, paid, viewer="", staff=True)
    assert found.letter["format"] == "loanchain.release/1" and "recovered" not in found.letter
