"""The whole borrower and investor journey in a real browser (Debian chromium): sign in with the
wallet, pass KYC, apply, sign the loan terms (EIP-712), fund, pay out. Every signature and
transaction is a real one on the session chain; the API's own workers move the outbox and index."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eth_account import Account
from playwright.sync_api import expect
from sqlalchemy import select

from backend.chain.kyc_reader import is_verified
from backend.chain.projection_models import LoanRow
from backend.db.session import session_scope
from backend.disclosure.reports import month_of
from backend.identity.checks.national_id import IdType
from backend.identity.kyc import erasure_requests
from backend.identity.kyc.submission import submit
from backend.identity.models import KycRecord
from backend.identity.roles import grant_role
from backend.identity.schemas import KycCreate
from backend.lending import autopay
from backend.lending.autopay_schemas import AutopayDraftCreate, AutopaySign
from backend.scoring.grade_pd import priced_pd
from backend.scoring.models import CreditDecision
from tests.contracts.helpers import CANCELLED, REPAID
from tests.identity.conftest import PNG, approve_with_documents, make_applicant
from tests.lending.conftest import SAMPLE  # a first-time borrower's true credit history (the offer checks it)
from tests.lending.test_portfolio import _decision_hash

pytestmark = pytest.mark.slow  # browser journeys of tens of seconds (long files run first: tests/conftest.py)


def _wait(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _apply(page, application: dict) -> None:
    """Answers the application form (selects and inputs alike) and sends it."""
    for name, value in application.items():
        field = page.locator(f'#apply-form [name="{name}"]')
        field.select_option(value) if field.evaluate("e => e.tagName") == "SELECT" else field.fill(str(value))
    page.click("#apply-form button[type=submit]")


def _sign_in(page, address: str) -> None:
    page.click("#connect")  # the page says "Signing in…" before the click returns
    expect(page.locator("#status")).to_have_text("Signed in.")
    expect(page.locator("#who")).to_contain_text(address)


def _confirm(page, *says: str) -> None:
    """Money moves only once the in-page confirmation is accepted: check what it says, then say yes."""
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    for text in says:
        expect(dialog).to_contain_text(text)
    page.click("#confirm-yes")
    expect(dialog).to_be_hidden()


def _day(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")


def _loan_button(page, loan_id: int, action: str):
    button = page.locator(f'button[data-loan="{loan_id}"][data-action="{action}"]')

    def shown() -> bool:
        page.click("#refresh-loans")
        page.wait_for_timeout(300)
        return button.count() > 0

    _wait(shown, f"the {action} button of loan {loan_id}")
    return button


def test_borrower_and_investor_journey_in_the_browser(page, server, wallet, world):
    settings = server.settings
    borrower, investor = world.investors[-1], world.investors[0]
    expect(page.locator("#status")).not_to_have_class("error")
    expect(page.locator("#disclosure")).to_contain_text("net loss rate n/a")  # public, before any sign-in
    expect(page.locator("#disclosure-month")).to_contain_text("This month so far (since ")

    _sign_in(page, borrower.address)
    id_types = page.eval_on_selector_all('#kyc-form [name="id_type"] option', "options => options.map(o => o.value)")
    assert id_types == [t.value for t in IdType]  # every choice the page offers is one the API takes
    applicant = make_applicant(500)
    for name, value in applicant.form().items():
        field = page.locator(f'#kyc-form [name="{name}"]')
        field.select_option(value) if name == "id_type" else field.fill(value)
    page.set_input_files('#kyc-form [name="documents"]', files=[{"name": "id.png", "mimeType": "image/png", "buffer": PNG}])
    page.click("#kyc-form button[type=submit]")
    # With an ID document the record waits for a person: an admin opens the document, then approves.
    expect(page.locator("#kyc-status")).to_contain_text("needs_review (under review")
    expect(page.locator("#who")).to_contain_text("not verified yet")
    with session_scope(settings) as session:
        record_id = session.scalar(select(KycRecord.id).where(KycRecord.wallet == borrower.address))
    assert approve_with_documents(settings, record_id, world.admin.address) == "approved"
    page.click("#refresh-loans")
    expect(page.locator("#kyc-status")).to_contain_text("approved")
    expect(page.locator("#who")).to_contain_text("borrower")
    _wait(lambda: is_verified(settings, borrower.address, 2), "the KYC attestation on-chain")
    with page.expect_download() as download:  # the borrower's own data, in one file (GDPR art. 15 and 20)
        page.click("#kyc-export")
    mine = json.loads(Path(download.value.path()).read_text())
    assert download.value.suggested_filename == f"loanchain-my-data-{borrower.address}.json"
    assert mine["wallet"] == borrower.address and mine["records"][0]["data"]["data"]["full_name"] == applicant.full_name
    assert [d["content_base64"] for d in mine["records"][0]["documents"]] == [base64.b64encode(PNG).decode()]
    expect(page.locator("#status")).to_have_text("Your data was downloaded: keep the file safe, it holds your ID documents.")

    for name, value in SAMPLE.items():
        field = page.locator(f'#apply-form [name="{name}"]')
        field.select_option(value) if field.evaluate("e => e.tagName") == "SELECT" else field.fill(str(value))
    page.click("#apply-form button[type=submit]")
    expect(page.locator("#decision-outcome")).to_have_text("approved")
    # The decision's figures say what they are: the loan's interest rate, and an estimate with the fee.
    expect(page.locator("#decision-rate")).to_have_text("5.10%")  # grade A over 24 months: 5% + 3.91% x 5% x 365/720
    expect(page.locator("#decision-apr")).to_have_text("7.53%")
    expect(page.locator("#decision-fee")).to_have_text("2.53%")  # the reserve's claim at A's band top, once, from the payout
    expect(page.locator("#decision-apr-note")).to_contain_text("your offer states the exact APR (fee included)")
    expect(page.locator("#decision-reasons li")).not_to_have_count(0)
    expect(page.locator("#decision-reasons li").first).to_contain_text(re.compile(r"\(\d+ points\)$"))

    page.click("#get-offer")
    expect(page.locator("#offer-state")).to_have_text("offered")
    expect(page.locator("#offer-principal")).to_have_text("3,000.00 mUSD")
    # The cost of credit before signing: what the borrower receives and the APR with the fee in it.
    expect(page.locator("#offer-financed")).to_have_text(re.compile(r"^2,9\d\d\.\d\d mUSD$"))  # the fee comes off
    expect(page.locator("#offer-true-apr")).to_have_text(re.compile(r"^\d+\.\d\d%$"))
    expect(page.locator("#offer-aprc")).to_have_text(re.compile(r"^\d+\.\d\d%$"))
    # The fee as an amount, the period, when the first installment falls due and how long the offer stands.
    expect(page.locator("#offer-fee")).to_have_text(re.compile(r"^\d+\.\d\d mUSD \(\d+\.\d\d%\)$"))
    expect(page.locator("#offer-installments")).to_have_text(re.compile(r"^24 × [\d,]+\.\d\d mUSD, every 30 days$"))
    expect(page.locator("#offer-first-due")).to_have_text("30 days after the payout")
    for deadline in ("#offer-expires", "#offer-funding-deadline"):
        expect(page.locator(deadline)).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"))
    page.click("#agreement-details summary")
    expect(page.locator("#agreement-clauses li")).to_have_count(7)
    expect(page.locator("#agreement-clauses")).to_contain_text("prepay at any time without penalty")
    expect(page.locator("#agreement-servicing")).to_contain_text("Grace period 15 days, late fee 5.00%")
    page.click("#sign-offer")
    expect(page.locator("#offer-state")).to_contain_text("created: loan", timeout=90_000)
    loan_id = int(re.search(r"loan (\d+)", page.locator("#offer-state").inner_text()).group(1))
    assert world.loan(loan_id)["borrower"] == borrower.address
    expect(page.locator("#get-offer")).to_be_hidden()  # one decision, one loan: no offer to ask for again
    expect(page.locator("#decision-next")).to_contain_text(f"You accepted the offer of this decision: it is loan {loan_id}")
    row = page.locator(f'tr[data-loan="{loan_id}"]')
    _wait(lambda: (page.click("#refresh-loans"), page.wait_for_timeout(300), row.count() > 0)[-1], "the new loan")
    expect(row).to_contain_text("waiting for investors")  # no Fund button on one's own loan
    expect(row.locator('button[data-action="fund"]')).to_have_count(0)

    with session_scope(settings) as session:  # the investor passed KYC earlier (level 1, no document)
        submit(session, settings, investor.address, KycCreate(**make_applicant(501).form()), [])
    wallet.address = investor.address
    _sign_in(page, investor.address)
    _loan_button(page, loan_id, "fund")
    expect(page.locator(f'tr[data-loan="{loan_id}"] td').nth(2)).to_have_text("A")  # purpose: in the profile only (L5)
    expect(page.locator(f'tr[data-loan="{loan_id}"]')).not_to_contain_text("used car")
    page.click(f'button[data-loan="{loan_id}"][data-action="borrower"]')  # before funding: who borrows?
    profile = page.locator("#borrower-profile")  # in its own panel, not the one-line status
    expect(profile).to_contain_text(f"Loan {loan_id}'s borrower: grade A (PD ")
    expect(profile).to_contain_text("a used car, 24 months")
    expect(profile).to_contain_text("income 2,000 to 3,500 mUSD a month, employed, 4 to 7 years, housing: home owner")
    # Bands only, and reasons about facts shown anyway (privacy review M4).
    expect(profile).to_contain_text("debt payments under 20% of income (at most 35%)")
    expect(profile).to_contain_text("Lowered the score, of the facts shown: Amount of credit requested;")
    expect(profile).not_to_contain_text("guarantor")
    page.fill(f'input[data-loan="{loan_id}"]', "1000")
    page.click(f'button[data-loan="{loan_id}"][data-action="fund"]')
    _confirm(page, f"1,000.00 mUSD leaves your wallet for loan {loan_id} (grade A, interest rate ")
    expect(page.locator("#status")).to_have_text(f"Done: fund on loan {loan_id}.")
    page.fill('#plan-form [name="amount"]', "2000")  # the rest through the diversification plan
    page.click("#plan-form button[type=submit]")
    _confirm(page, f"2,000.00 mUSD into loan {loan_id}")
    expect(page.locator("#status")).to_have_text("Invested 2,000.00 mUSD in 1 loan.")
    assert world.loan(loan_id)["funded"] == world.loan(loan_id)["principal"]
    _wait(lambda: (page.click("#refresh-loans"), page.wait_for_timeout(300),
                   "exposure 3,000.00 mUSD" in page.locator("#portfolio-summary").inner_text())[-1], "the portfolio")
    expect(page.locator("#portfolio-warnings")).to_contain_text("at least 20")
    with session_scope(settings) as session:  # still funding: its PD now is its grade's, which priced it
        version, grade = session.execute(select(CreditDecision.model_version, CreditDecision.grade)
                                         .join(LoanRow, LoanRow.decision_hash == CreditDecision.decision_hash)
                                         .where(LoanRow.loan_id == loan_id).limit(1)).one()  # fmt: skip
    priced = priced_pd(version, grade)
    expect(page.locator(f'#positions tr[data-loan="{loan_id}"]')).to_contain_text(f"{priced * 100:.1f}%")

    wallet.address = borrower.address
    _sign_in(page, borrower.address)
    before = world.balance(borrower)
    _loan_button(page, loan_id, "disburse").click()
    expect(page.locator("#status")).to_have_text(f"Done: disburse on loan {loan_id}.")
    loan = world.loan(loan_id)
    assert loan["status"] == 2  # Active
    assert world.balance(borrower) - before == loan["principal"] - loan["principal"] * loan["originationFeeBps"] // 10_000
    repayments = page.locator(f'tr[data-repayments="{loan_id}"]')  # under the borrower's own active loan
    expect(repayments).to_contain_text("Nothing to pay now; next: installment 1 of 24, ")
    expect(repayments).to_contain_text(f", due {_day(loan['startTime'] + 30 * 86_400)} UTC")
    expect(page.locator(f'button[data-loan="{loan_id}"][data-action="repay"]')).to_be_disabled()  # nothing due yet
    repayments.locator("summary").first.click()
    expect(repayments.locator("tr")).to_have_count(25)  # the heading and the 24 installments agreed

    # Anyone checks the agreement against its on-chain anchor (the batcher anchors within a second),
    # and a file passed off as that agreement is caught.
    result = page.locator("#verify-result")

    def anchored() -> bool:
        page.click(f'button[data-loan="{loan_id}"][data-action="verify"]')
        page.wait_for_timeout(300)
        return result.get_attribute("data-status") == "verified"

    _wait(anchored, "the agreement's anchor")
    expect(result).to_contain_text("✔ VERIFIED")  # a mark and words, not colour alone
    expect(page.locator("#verify-details")).to_contain_text("Merkle root: 0x")
    expect(page.locator("#verify-details")).to_contain_text("confirmations (blocks on top of the anchor): ")
    expect(page.locator("#verify-proof")).to_be_visible()
    page.set_input_files("#verify-file", files=[{"name": "forged.json", "mimeType": "application/json", "buffer": b"{}"}])
    page.click("#verify-form button[type=submit]")
    expect(result).to_contain_text("✖ TAMPERED")
    expect(page.locator("#verify-proof")).to_be_hidden()

    # Fifty days on, nothing paid: the servicing worker files the loan for collections and tells the
    # borrower; staff see it in the collections queue. Days past due count each day begun, and the
    # workers' own transactions mine blocks after this one: a minute into the 50th day, it reads 20
    # days however many blocks follow within the day (at exactly 50 days, one more block read 21).
    world.chain.mine_at(loan["startTime"] + 49 * 86_400 + 60)

    def notified() -> bool:
        page.click("#refresh-loans")  # refreshes the signed-in wallet's notices too
        page.wait_for_timeout(300)
        return "more than 15 days late" in page.locator("#notices").inner_text()

    _wait(notified, "the late notice")
    wallet.address = world.admin.address
    _sign_in(page, world.admin.address)
    expect(page.locator("#collections")).to_contain_text(f"loan {loan_id} 16-30 days late, 20 days past due")
    case = page.locator(f'#collections li[data-collection="{loan_id}"]')  # staff log what the borrower said
    case.locator("select").select_option("promise_to_pay")
    case.locator(f'input[data-case="{loan_id}"]').fill("will pay it all on Friday")
    case.locator(f'input[data-case-amount="{loan_id}"]').fill("300")
    case.locator(f'input[data-case-days="{loan_id}"]').fill("5")
    case.locator('button[data-action="record-case"]').click()
    expect(page.locator("#status")).to_have_text(f"Loan {loan_id}: promise to pay recorded (promise pending).")
    expect(page.locator(f'#collections li[data-collection="{loan_id}"]')).to_contain_text(
        "promise to pay of 300.00 mUSD by ")  # fmt: skip
    # A hardship plan holds the default for months: one person proposes it, another confirms it.
    case = page.locator(f'#collections li[data-collection="{loan_id}"]')
    case.locator(f'input[data-plan-amount="{loan_id}"]').fill("100")
    case.locator(f'input[data-plan-days="{loan_id}"]').fill("30")
    case.locator(f'input[data-plan-periods="{loan_id}"]').fill("3")
    case.locator('button[data-action="propose-plan"]').click()
    terms = "3 payments of 100.00 mUSD every 30 days"
    expect(page.locator("#status")).to_have_text(f"Loan {loan_id}: hardship plan proposed ({terms}); another person confirms it.")
    expect(case.locator("p[data-plan]")).to_contain_text(f"Hardship plan proposed: {terms}, by {world.admin.address} "
                                                         "(you proposed it: another person confirms it)")  # fmt: skip
    expect(case.locator('p[data-plan] button[data-verdict="confirm"]')).to_have_count(0)  # only Withdraw
    expect(page.locator("#disclosure")).to_contain_text("1 loans 16+ days late")
    # No late installment settled yet: the roll rates are the stated prior.
    expect(page.locator("#disclosure")).to_contain_text("16-30 days late 50.00%, 31-120 days late 75.00%")
    # The rates that do not flatter a growing book stand beside those that do, and the figures resting on
    # the platform's word are named.
    expect(page.locator("#disclosure")).to_contain_text("a year of the average principal outstanding")
    expect(page.locator("#disclosure")).to_contain_text("No loan has run its whole term yet")
    expect(page.locator("#disclosure")).to_contain_text("From the platform's own records, not the chain")
    expect(page.locator("#disclosure")).to_contain_text("the largest loan's default would get ")
    page.locator("#disclosure-section summary", has_text="Vintages").click()  # the loan's month of disbursal
    expect(page.locator("#vintages tr").first).to_contain_text("0.00%")
    # The servicing worker published the loan's month by itself once the chain had passed its end;
    # its anchoring batch goes on-chain within the batch interval.
    reports = page.locator("#disclosure-reports")
    _wait(lambda: (page.click("#refresh-loans"), page.wait_for_timeout(300), "anchored: verify" in reports.text_content())[-1],
          "the monthly report, anchored")  # fmt: skip
    expect(reports).to_contain_text(f"{month_of(datetime.fromtimestamp(loan['startTime'], UTC))} (as of block")
    tape = page.request.get(page.locator("#loan-tape").evaluate("a => a.href"))
    assert tape.ok and tape.text().splitlines()[1].startswith(f"{loan_id},active,")  # the loan tape, public

    # An underwriter works the collections queue (oversight is the auditors' and admins') and confirms the plan.
    with session_scope(settings) as session:
        grant_role(session, world.admin.address, world.underwriter.address, "underwriter")
    wallet.address = world.underwriter.address
    _sign_in(page, world.underwriter.address)
    expect(page.locator("#oversight")).to_be_hidden()
    case = page.locator(f'#collections li[data-collection="{loan_id}"]')
    case.locator('p[data-plan] button[data-verdict="confirm"]').click()
    expect(page.locator("#status")).to_have_text(re.compile(
        rf"^Loan {loan_id}: hardship plan confirmed \({terms}\); its first period ends \d{{4}}-\d\d-\d\d UTC\.$"))
    expect(case.locator("p[data-plan]")).to_contain_text(
        f"Hardship plan on track: {terms}; 0.00 mUSD paid since it started, 100.00 mUSD due by ")
    expect(case.locator('input[data-plan-amount]')).to_have_count(0)  # one plan at a time

    # The borrower cannot erase its personal data while it owes the loan, and pays it off; the
    # investor erases its own.
    page.on("dialog", lambda dialog: dialog.accept())
    wallet.address = borrower.address
    _sign_in(page, borrower.address)
    agreed = f"Your hardship plan for loan {loan_id} is agreed: pay 100.00 every 30 days, 3 times"  # told in writing
    _wait(lambda: (page.click("#refresh-loans"), page.wait_for_timeout(300), agreed in page.locator("#notices").inner_text())[-1],
          "the hardship plan's notice")  # fmt: skip
    plan_line = page.locator(f'tr[data-repayments="{loan_id}"] p[data-plan]')  # and its loan's page says it too
    expect(plan_line).to_contain_text(re.compile(rf"^Hardship plan agreed \d{{4}}-\d\d-\d\d UTC: {terms}\. Pay 100\.00 mUSD more by "))
    expect(plan_line).to_contain_text("(0.00 mUSD paid since it started); it ends ")
    # The public disclosure holds the forbearance beside the lateness it would otherwise flatter.
    expect(page.locator("#disclosure")).to_contain_text("1 loans 16+ days late; 1 loan under a hardship plan kept so far (")
    expect(page.locator("#disclosure")).to_contain_text("of the principal outstanding, 1 of them 16+ days late)")
    expect(page.locator(f'tr[data-repayments="{loan_id}"]')).to_contain_text("Overdue: ")
    expect(page.locator(f'tr[data-repayments="{loan_id}"]')).to_contain_text("20 days late; installment 1 of 24 was due ")  # 19 days and minutes: the 20th day begun
    expect(page.locator("#apply-ledger")).to_contain_text("You have 1 open loan with us, taking ")  # the form starts from it
    page.uncheck('#notice-prefs input[name="sms"]')  # no text messages, thank you
    page.click('#notice-prefs button[type="submit"]')
    expect(page.locator("#status")).to_have_text("Notices: in the app, by e-mail.")
    assert page.locator('#apply-form input[name="existing_loans_with_us"]').input_value() == "1"
    page.locator(f'tr[data-repayments="{loan_id}"] summary').nth(1).click()  # the borrower asks for help
    page.fill(f'input[data-hardship="{loan_id}"]', "hours cut; can pay in full next month")
    # A redraw, as the poll makes one while the borrower types, leaves the form open with what was typed.
    page.evaluate('async () => { await (await import(new URL("loans.js", location.href))).refreshLoans(); }')
    expect(page.locator(f'input[data-hardship="{loan_id}"]')).to_have_value("hours cut; can pay in full next month")
    expect(page.locator(f'input[data-hardship="{loan_id}"]')).to_be_visible()
    page.click(f'button[data-loan="{loan_id}"][data-action="hardship"]')
    expect(page.locator("#status")).to_have_text(f"Loan {loan_id}: your request for help reached the lender's collections team.")
    page.fill(f'input[data-hardship="{loan_id}"]', "any news?")  # again before staff answered: refused, and told why
    page.click(f'button[data-loan="{loan_id}"][data-action="hardship"]')
    expect(page.locator("#status")).to_have_text(f"loan {loan_id}: your last request for hardship help is still waiting for the "
                                                 "collections team, who will answer it; you can ask again once they have")  # fmt: skip
    expect(page.locator("#status")).to_have_class("error")
    page.click("#kyc-erase")
    expect(page.locator("#status")).to_contain_text(f"open loans ({loan_id})")
    expect(page.locator("#status")).to_have_class("error")
    _loan_button(page, loan_id, "payoff").click()  # everything owed today, late fee included
    _confirm(page, f"everything owed on loan {loan_id} today, with no prepayment penalty")
    expect(page.locator("#status")).to_have_text(f"Done: payoff on loan {loan_id}.")
    assert world.loan(loan_id)["status"] == REPAID

    def statement() -> list[list[str]]:  # the borrower's own loan statement, downloaded
        with page.expect_download() as download:
            _loan_button(page, loan_id, "statement").click()
        return [row.split(",") for row in Path(download.value.path()).read_text().splitlines()]

    _wait(lambda: statement()[-1][3] == "paid_off", "the borrower's statement, paid off")
    kinds = [row[3] for row in statement()[1:]]
    assert kinds[0] == "disbursed" and "late_fee" in kinds and kinds[-1] == "paid_off"
    expect(page.locator("#status")).to_contain_text(f"Loan {loan_id}: received ")

    def released() -> bool:  # the servicing worker issues the release letter on its next pass
        # Looked at before clicking again: a click sent after an earlier one's answer showed the letter
        # was still in flight when the investor signed in, and its answer overwrote "Signed in."
        if "Your release letter is document" in page.locator("#status").inner_text():
            return True
        _loan_button(page, loan_id, "release").click()  # ignored while the last click's is in flight
        page.wait_for_timeout(300)
        return "Your release letter is document" in page.locator("#status").inner_text()

    _wait(released, "the release letter")
    # A click sent as the one before it answered is still in flight: its answer would overwrite "Signed in."
    page.wait_for_function("() => !document.querySelector('button[aria-busy=\"true\"]')")
    expect(page.locator("#status")).to_contain_text(f"Loan {loan_id} is paid in full: nothing more is owed on it since ")
    assert page.locator("#verify-cid").input_value() in page.locator("#status").inner_text()  # checked like any record
    wallet.address = investor.address
    _sign_in(page, investor.address)
    expect(page.locator("#portfolio-summary")).to_contain_text("to collect")
    before = world.balance(investor)
    page.click("#claim-all")
    expect(page.locator("#status")).to_contain_text("Collected ")
    assert world.balance(investor) > before and world.book.functions.claimableOf(loan_id, investor.address).call() == 0
    expect(page.locator("#claim-all-row")).to_be_hidden()

    def earned() -> list[list[str]]:  # what the notes earned, once the indexer has seen the payoff
        with page.expect_download() as download:
            page.click("#earnings-download")
        return [row.split(",") for row in Path(download.value.path()).read_text().splitlines()]

    _wait(lambda: any(row[4] == "payment" for row in earned()), "the investor's earnings")
    rows = earned()
    assert rows[0][:6] == ["date", "block_number", "tx_hash", "loan_id", "kind", "interest"]
    assert sum(int(row[5]) for row in rows[1:]) > 0  # interest earned, though the repayments were one claim
    expect(page.locator("#statement-summary")).to_contain_text("Earned: interest ")
    page.click("#kyc-erase")  # the investor held notes: anti-money-laundering law keeps its data five years more
    expect(page.locator("#status")).to_contain_text("Erasure scheduled: ")
    with session_scope(settings) as session:
        due = erasure_requests.scheduled_request(session, investor.address).erase_after
    assert due is not None and due.date() > datetime.now(UTC).date().replace(year=datetime.now(UTC).year + 4)
    expect(page.locator("#status")).to_have_text(f"Erasure scheduled: anti-money-laundering law keeps the data until {due:%Y-%m-%d}, "
                                                 "then it is erased automatically. Until then your data is used only for what "
                                                 "the law keeps it for.")  # fmt: skip
    expect(page.locator("#kyc-status")).to_contain_text(f"approved, on-chain confirmed; erasure scheduled: anti-money-laundering "
                                                        f"law keeps the data until {due:%Y-%m-%d}")  # fmt: skip
    expect(page.locator("#who")).to_contain_text("investor")  # it may still invest meanwhile
    expect(page.locator("#kyc-erase-row")).to_be_hidden()


def test_an_investor_takes_back_money_from_a_loan_that_did_not_fund(page, server, wallet, world):
    """The loan misses its funding deadline; the servicing worker cancels it through the outbox and
    the investor's page offers the refund, which the wallet sends."""
    settings, investor, unit = server.settings, world.investors[0], 10**6
    loan_id, _ = world.create()
    world.fund(loan_id, investor, 100 * unit)
    with session_scope(settings) as session:  # the investor passed KYC (level 1, no document)
        submit(session, settings, investor.address, KycCreate(**make_applicant(520).form()), [])
    world.chain.mine_at(world.loan(loan_id)["fundingDeadline"] + 1)
    _wait(lambda: world.loan(loan_id)["status"] == CANCELLED, "the servicing worker's cancel")

    wallet.address = investor.address
    _sign_in(page, investor.address)
    expect(page.locator("#portfolio-summary")).to_contain_text("100.00 mUSD to take back from loans that did not fund")
    statements = []  # the whole history is built for the year list at sign-in and with a statement, not on each redraw
    page.on("request", lambda r: statements.append(r.url) if "/portfolio/statement" in r.url else None)

    def told() -> bool:  # the servicing worker tells the note holder once the index shows the cancel
        page.click("#refresh-loans")
        page.wait_for_timeout(300)
        return f"Loan {loan_id} did not reach full funding" in page.locator("#notices").inner_text()

    _wait(told, "the investor's refund notice")
    expect(page.locator("#notices")).to_contain_text("Your 100.00 is not at risk")
    before = world.balance(investor)
    _loan_button(page, loan_id, "refund").click()
    expect(page.locator("#status")).to_have_text(f"Done: refund on loan {loan_id}.")
    assert world.balance(investor) == before + 100 * unit
    expect(page.locator(f'button[data-loan="{loan_id}"][data-action="refund"]')).to_have_count(0, timeout=10_000)

    assert statements == []  # several redraws (Refresh, the poll) since sign-in
    page.select_option("#statement-year", "all")  # the refund is indexed: the statement shows both movements
    with page.expect_download() as download:
        page.click("#statement-form button[value=statement]")
    rows = Path(download.value.path()).read_text().splitlines()
    assert rows[0].startswith("date,block_number,tx_hash,loan_id,kind,cash")
    assert [r.split(",")[4] for r in rows[1:]] == ["fund", "refund"]
    expect(page.locator("#statement-summary")).to_contain_text("2 movements: paid in 100.00 mUSD, taken back 100.00 mUSD")
    years = sorted({r[:4] for r in rows[1:]}, reverse=True)  # the chain's clock, not the calendar's: the wallet's years
    expect(page.locator("#statement-year option")).to_have_text(["all years", *years])


def test_an_investor_sells_notes_to_another_on_the_secondary_market(page, server, wallet, world):
    """The seller offers all its notes of an active loan at 95% of the principal outstanding; another investor buys them
    from the market table; then the first bids for some back, raises its bid in place, and the
    second sells into the bid; both send real transactions from their own wallets."""
    seller, buyer = world.investors[0], world.investors[1]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    held = world.book.functions.balanceOf(seller.address, loan_id).call()
    with session_scope(server.settings) as session:  # the buyer passed KYC (level 1): the page offers it Buy
        submit(session, server.settings, buyer.address, KycCreate(**make_applicant(510).form()), [])

    wallet.address = seller.address
    _sign_in(page, seller.address)
    sell = page.locator(f'#positions button[data-loan="{loan_id}"][data-action="sell"]')

    def in_portfolio() -> bool:
        page.click("#refresh-loans")
        page.wait_for_timeout(300)
        return sell.count() == 1

    _wait(in_portfolio, "the position's Sell button")
    sell.click()  # fills in the offer form with the loan and all its notes
    expect(page.locator('#sell-form [name="loan_id"]')).to_have_value(str(loan_id))
    expect(page.locator('#sell-form [name="notes"]')).to_have_value(f"{held / 10**6:g}")
    page.fill('#sell-form [name="price"]', "95")
    expect(page.locator("#sell-form-quote")).to_contain_text("At 95.00% of the principal outstanding: ")  # the buyer's yield, as typed
    expect(page.locator("#sell-form-quote")).to_contain_text("the buyer's yield to maturity")
    page.click("#sell-form button[type=submit]")
    _confirm(page, "Anyone may buy them at 95.00% of the principal outstanding, for 30 days")
    expect(page.locator("#status")).to_have_text(f"Offered {held / 10**6:,.2f} mUSD of notes of loan {loan_id}.")

    def listed() -> bool:
        page.click("#refresh-loans")
        page.wait_for_timeout(300)
        return page.locator('#market button[data-action="delist"]').count() == 1  # the seller's own: withdraw

    _wait(listed, "the listing in the market table")
    headers = page.locator("#market-section table").first.locator("th").all_inner_texts()
    cells = page.locator("#market tr").first.locator("td").all_inner_texts()
    assert len(cells) == len(headers) and "Expected yield" in headers  # one cell per column
    assert cells[headers.index("Expected yield")] == "-"  # a loan made outside the platform's scoring: no PD
    # The seller's own row, with its Withdraw and Reprice controls, fits the page: nothing hidden sideways.
    assert page.evaluate("[...document.querySelectorAll('table')].every(t => t.scrollWidth <= t.clientWidth)")
    wallet.address = buyer.address
    _sign_in(page, buyer.address)
    before = world.balance(seller)
    page.locator('#market button[data-action="buy"]').click()
    _confirm(page, f"{held * 95 // 100 / 10**6:,.2f} mUSD leaves your wallet for {held / 10**6:,.2f} mUSD of notes of loan {loan_id}")
    expect(page.locator("#status")).to_contain_text(f"of notes of loan {loan_id} for {held * 95 // 100 / 10**6:,.2f} mUSD.")
    assert world.book.functions.balanceOf(buyer.address, loan_id).call() == held
    assert world.balance(seller) == before + held * 95 // 100

    def sold_out() -> bool:  # once the indexer has the trade, the listing leaves the table
        page.click("#refresh-loans")
        page.wait_for_timeout(300)
        return page.locator('#market button[data-action="buy"]').count() == 0

    _wait(sold_out, "the sold-out listing to leave the market table")

    # The other way round: the first seller bids to buy some back, and the holder sells into the bid.
    wallet.address = seller.address
    _sign_in(page, seller.address)
    page.fill('#bid-form [name="loan_id"]', str(loan_id))
    page.fill('#bid-form [name="notes"]', "1000")
    page.fill('#bid-form [name="price"]', "97")
    page.click("#bid-form button[type=submit]")
    _confirm(page, "Any holder may sell them to you at 97.00% of the principal outstanding, for 30 days: 970.00 mUSD would "
             "leave your wallet now")
    expect(page.locator("#status")).to_have_text(f"Bid for 1,000.00 mUSD of notes of loan {loan_id}.")
    expect(page.locator("#status")).to_be_in_viewport()  # seen where the bid was placed, far down the page

    def bid_shown() -> bool:
        page.click("#refresh-loans")
        page.wait_for_timeout(300)
        return page.locator('#bids button[data-action="cancel"]').count() == 1  # the bidder's own: cancel

    _wait(bid_shown, "the bid in the bids table")
    # The bidder raises its bid in place (the page sends repriceBid from the bidder's wallet).
    bid_id = page.locator("#bids tr").first.get_attribute("data-bid")
    page.fill(f'#bids input[data-reprice="{bid_id}"]', "97.5")
    page.click("#refresh-loans")  # a refresh landing mid-typing keeps what was typed
    page.wait_for_timeout(500)
    expect(page.locator(f'#bids input[data-reprice="{bid_id}"]')).to_have_value("97.5")
    page.click(f'#bids button[data-bid="{bid_id}"][data-action="reprice"]')
    expect(page.locator("#status")).to_have_text(f"Bid {bid_id} repriced to 97.50%.")
    assert world.market.functions.bidOf(int(bid_id)).call()[1] == 9_750

    def repriced() -> bool:
        page.click("#refresh-loans")
        page.wait_for_timeout(300)
        return page.locator(f'#bids tr[data-bid="{bid_id}"] td').nth(5).inner_text() == "97.50%"

    _wait(repriced, "the new price in the bids table")
    wallet.address = buyer.address
    _sign_in(page, buyer.address)
    before = world.balance(buyer)
    page.locator('#bids button[data-action="sell"]').click()
    _confirm(page, f"You give up 1,000.00 mUSD of notes of loan {loan_id} (face value) and receive 975.00 mUSD, 97.50% of the principal they stand for.")
    expect(page.locator("#status")).to_have_text(f"Sold 1,000.00 mUSD of notes of loan {loan_id} for 975.00 mUSD.")
    assert world.book.functions.balanceOf(seller.address, loan_id).call() == 1_000 * 10**6
    assert world.balance(buyer) == before + 975 * 10**6

    def filled() -> bool:
        page.click("#refresh-loans")
        page.wait_for_timeout(300)
        return page.locator("#bids tr").count() == 0

    _wait(filled, "the filled bid to leave the bids table")


def test_the_platform_matches_a_crossed_book_and_tells_both_makers(page, server, wallet, world):
    """A listing placed straight on NoteMarket below a bid (around the API) is matched by the running
    platform on its own: the keeper worker queues the match, the outbox worker sends it, the indexer
    reads it, the servicing worker tells the seller, whose page shows the notice."""
    seller, bidder, unit = world.investors[0], world.investors[1], 10**6
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    world.ready_for_market(seller, bidder)
    world.place(bidder, "bid", loan_id, 10 * unit, 9_900)
    world.place(seller, "ask", loan_id, 10 * unit, 9_700)
    before = world.balance(seller)

    wallet.address = seller.address
    _sign_in(page, seller.address)

    def told() -> bool:
        page.click("#refresh-loans")  # refreshes the signed-in wallet's notices too
        page.wait_for_timeout(300)
        return "sold out" in page.locator("#notices").inner_text()

    _wait(told, "the seller's notice of the keeper's match")
    expect(page.locator("#notices")).to_contain_text(f"of notes of loan {loan_id} sold out: 10.00 of notes for 9.80")
    assert world.book.functions.balanceOf(bidder.address, loan_id).call() == 10 * unit
    assert world.balance(seller) == before + 10 * unit * (9_700 + 9_900) // 20_000
    expect(page.locator("#bids tr")).to_have_count(0)
    expect(page.locator("#market tr")).to_have_count(0)
    expect(page.locator("#trades tr").first).to_contain_text("matched")  # the public trade tape


def test_an_investor_leaves_a_loan_in_one_click_into_the_best_bids(page, server, wallet, world):
    """Two investors bid for notes of a loan; a holder sees what the bids would pay now and sells
    into both from its portfolio, from its own wallet."""
    seller, unit = world.investors[0], 10**6
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    world.ready_for_market(world.investors[1], world.investors[2])
    world.place(world.investors[1], "bid", loan_id, 100 * unit, 9_900)
    world.place(world.investors[2], "bid", loan_id, 50 * unit, 9_600)
    before = world.balance(seller)

    wallet.address = seller.address
    _sign_in(page, seller.address)
    exit_button = page.locator(f'#positions button[data-loan="{loan_id}"][data-action="sell-now"]')

    def offered() -> bool:  # once the indexer has both bids
        page.click("#refresh-loans")
        page.wait_for_timeout(300)
        return exit_button.count() == 1 and "for 150.00 mUSD" in page.locator(f'#positions tr[data-loan="{loan_id}"]').inner_text()

    _wait(offered, "the bids' offer in the portfolio")
    expect(page.locator(f'#positions tr[data-loan="{loan_id}"]')).to_contain_text("147.00 mUSD for 150.00 mUSD")  # Bids now
    exit_button.click()
    _confirm(page, "receive 147.00 mUSD, 98.00% of the principal outstanding on average, from 2 bids", "No fair price is known for this loan")
    expect(page.locator("#status")).to_have_text(f"Sold 150.00 mUSD of notes of loan {loan_id} for 147.00 mUSD into 2 bids.")
    assert world.balance(seller) == before + 147 * unit


def test_an_investor_sets_a_standing_instruction_and_funds_its_matches(page, server, wallet, world):
    """The investor says what it wants from the page; the servicing worker tells it of the loan
    that matches; one click funds it from the investor's own wallet."""
    settings, investor, unit = server.settings, world.investors[2], 10**6
    wanted, _ = world.create(apr_bps=1_500, installments=12)
    world.create(apr_bps=800, installments=12)  # pays too little
    with session_scope(settings) as session:  # the investor passed KYC (level 1, no document)
        submit(session, settings, investor.address, KycCreate(**make_applicant(530).form()), [])
    wallet.address = investor.address
    _sign_in(page, investor.address)
    expect(page.locator("#rule-summary")).to_have_text("No standing instruction.")

    page.fill("#rule-form [name=per_loan]", "150")
    page.fill("#rule-form [name=min_apr]", "10")
    page.click("#rule-form button[type=submit]")
    expect(page.locator("#rule-summary")).to_contain_text("Holding 150.00 mUSD per new loan, at least 10.00% APR; 1 loan matches now.")

    def told() -> bool:
        page.click("#refresh-loans")
        page.wait_for_timeout(300)
        return f"Loan {wanted} matches your standing instruction" in page.locator("#notices").inner_text()

    _wait(told, "the match notice")
    page.click("#rule-fund")
    _confirm(page, f"150.00 mUSD into loan {wanted} (interest rate 15.00%)")
    expect(page.locator("#status")).to_have_text("Invested 150.00 mUSD in 1 matching loan.")
    assert world.book.functions.balanceOf(investor.address, wanted).call() == 150 * unit
    _wait(lambda: (page.click("#refresh-loans"), page.wait_for_timeout(300),
                   "0 loans match now" in page.locator("#rule-summary").inner_text())[-1], "the match to be held")  # fmt: skip
    page.click("#rule-drop")
    expect(page.locator("#rule-summary")).to_have_text("No standing instruction.")


def test_an_investor_lets_the_platform_fund_its_matches_under_a_signed_mandate(page, server, wallet, world):
    """The investor signs a funding mandate from the page once; the platform's keeper then funds
    the standing instruction's match from the investor's wallet, which sends nothing itself;
    withdrawn, the mandate is cancelled on chain and the agent's authorization taken back by the
    wallet."""
    settings, investor, unit = server.settings, world.investors[4], 10**6
    wanted, _ = world.create(decision_hash=_decision_hash(settings, SAMPLE))  # grade A, 12% APR, 12 installments
    ungraded, _ = world.create()  # decided elsewhere: no grade, no match
    with session_scope(settings) as session:  # the investor passed KYC (level 1, no document)
        submit(session, settings, investor.address, KycCreate(**make_applicant(540).form()), [])
    wallet.address = investor.address
    _sign_in(page, investor.address)
    expect(page.locator("#mandate-summary")).to_have_text("No funding mandate.")
    expect(page.locator("#mandate-withdraw")).to_be_hidden()

    page.fill("#rule-form [name=per_loan]", "100")
    page.fill("#rule-form [name=grades]", "A")
    page.click("#rule-form button[type=submit]")
    expect(page.locator("#rule-summary")).to_contain_text("Holding 100.00 mUSD per new loan of grade A")
    world.chain.tx(world.token.functions.approve(world.book.address, 0), investor.address)  # new to LoanBook
    sent = world.w3.eth.get_transaction_count(investor.address)
    page.fill("#mandate-form [name=budget]", "150")
    page.fill("#mandate-form [name=max_apr]", "20")
    page.click("#mandate-form button[type=submit]")
    expect(page.locator("#status")).to_contain_text("Mandate signed: the platform funds your matches, up to 150.00 mUSD in all, until ")
    summary = page.locator("#mandate-summary")
    expect(summary).to_contain_text("Mandate active until ")
    # The keeper may fund the match before the page's first draw: spent is read from the chain, the
    # loans from the index, which follows a moment later.
    expect(summary).to_contain_text(re.compile(r": (0\.00|100\.00) mUSD of 150\.00 mUSD spent on [01] loans?; at most 20\.00% APR\."))
    expect(page.locator("#mandate-withdraw")).to_be_visible()
    expect(page.locator("#mandate-form")).to_be_hidden()  # one mandate at a time
    mandate_hash = summary.get_attribute("data-mandate")

    def funded() -> bool:  # the keeper's pass, the outbox's send and the indexer's read
        page.click("#refresh-loans")
        page.wait_for_timeout(300)
        return "100.00 mUSD of 150.00 mUSD spent on 1 loan;" in summary.inner_text()

    _wait(funded, "the keeper's funding under the mandate", timeout=90)
    assert world.book.functions.balanceOf(investor.address, wanted).call() == 100 * unit
    assert world.book.functions.balanceOf(investor.address, ungraded).call() == 0
    assert world.token.functions.allowance(investor.address, world.book.address).call() == 50 * unit  # 150 approved
    # The wallet signed the mandate and sent the approval and the agent's authorization; the
    # funding itself it never sent.
    assert world.w3.eth.get_transaction_count(investor.address) == sent + 2
    assert world.book.functions.isAuthorized(investor.address, world.funding_agent.address).call()

    page.click("#mandate-withdraw")
    expect(page.locator("#status")).to_have_text("Mandate withdrawn and cancelled on chain: the platform funds nothing more with it.")
    expect(summary).to_have_text("Mandate withdrawn: it funded 100.00 mUSD in 1 loan.")
    expect(page.locator("#mandate-withdraw")).to_be_hidden()
    expect(page.locator("#mandate-form")).to_be_visible()  # free to sign a new one
    assert world.funding_agent.functions.mandateSpent(bytes.fromhex(mandate_hash[2:])).call() == 150 * unit  # refused from now on
    # The cancel and the authorization taken back, from the investor's wallet.
    assert world.w3.eth.get_transaction_count(investor.address) == sent + 4
    assert not world.book.functions.isAuthorized(investor.address, world.funding_agent.address).call()


def test_a_borrower_turns_autopay_on_and_the_platform_pays_an_installment_from_its_wallet(page, server, wallet, world):
    """The borrower turns autopay on for its active loan from the page: the wallet signs the
    repayment mandate and sends the agent's approval; in the last day before the first installment
    falls due the platform's keeper pays it from the borrower's wallet, which sends nothing itself;
    turned off, the mandate is cancelled on chain by the wallet."""
    borrower = world.borrower
    loan_id, start = world.active_loan()
    amount = world.loan(loan_id)["installmentAmount"]
    wallet.address = borrower.address
    _sign_in(page, borrower.address)
    line = page.locator(f'tr[data-repayments="{loan_id}"] p[data-autopay="{loan_id}"]')
    button = _loan_button(page, loan_id, "autopay")
    expect(button).to_have_text("Turn autopay on")
    expect(line).to_have_text("Autopay off: you pay each installment yourself.")
    sent = world.w3.eth.get_transaction_count(borrower.address)

    button.click()
    expect(page.locator("#status")).to_have_text(
        f"Autopay on for loan {loan_id}: each installment is paid from your wallet in the last day before it falls due, "
        f"up to {2 * amount / 10**6:,.2f} mUSD a payment.")  # fmt: skip
    expect(line).to_contain_text("Autopay on until ")
    expect(line).to_contain_text(f"up to {2 * amount / 10**6:,.2f} mUSD a payment: 0 payments made.")
    expect(line).not_to_contain_text("Note:")  # approved: the agent can take the installment
    expect(button).to_have_text("Turn autopay off")
    assert line.get_attribute("data-status") == "active"
    mandate_hash = line.get_attribute("data-mandate")
    assert world.w3.eth.get_transaction_count(borrower.address) == sent + 1  # the approval

    world.chain.mine_at(start + 29 * 86_400 + 43_200)  # half a day before the first installment falls due

    def paid() -> bool:  # the keeper's pass, the outbox's send and the indexer's read
        page.click("#refresh-loans")
        page.wait_for_timeout(300)
        return "1 payment made" in line.inner_text()

    _wait(paid, "the keeper's payment under the mandate", timeout=90)
    expect(line).to_contain_text(f"1 payment made, {amount / 10**6:,.2f} mUSD in all.")
    assert world.loan(loan_id)["installmentsPaid"] == 1
    assert world.w3.eth.get_transaction_count(borrower.address) == sent + 1  # the payment was not the wallet's

    button.click()
    expect(page.locator("#status")).to_have_text(  # the wallet's cancel is mined first: slow on a busy machine
        f"Autopay off for loan {loan_id}: withdrawn and cancelled on chain, the platform pays nothing more with it.",
        timeout=30_000)  # fmt: skip
    expect(line).to_have_text(f"Autopay off (withdrawn): 1 payment made, {amount / 10**6:,.2f} mUSD in all.")
    expect(button).to_have_text("Turn autopay on")  # free to turn it on again
    assert world.agent.functions.cancelled(bytes.fromhex(mandate_hash[2:])).call()
    assert world.w3.eth.get_transaction_count(borrower.address) == sent + 2  # the cancel, from the borrower's wallet


def test_a_borrower_renews_autopay_in_its_last_week_from_the_page(page, server, wallet, world):
    """Autopay ending within the week says so on the page and offers a renewal: the wallet signs a
    new mandate, which takes over at once."""
    settings, borrower = server.settings, world.borrower
    loan_id, _ = world.active_loan()

    def indexed() -> bool:  # by the server's indexer, as far as its disbursal
        with session_scope(settings) as session:
            loan = session.get(LoanRow, loan_id)
            return loan is not None and loan.status == "active"

    _wait(indexed, "the active loan in the index")
    with session_scope(settings) as session:  # autopay given earlier, for 5 days only
        draft = autopay.draft_autopay(session, settings, borrower.address, loan_id, AutopayDraftCreate(days=5))
    signature = "0x" + bytes(Account.sign_typed_data(borrower.key, full_message=draft.typed_data).signature).hex()
    with session_scope(settings) as session:
        autopay.sign_autopay(session, settings, borrower.address, loan_id,
                             AutopaySign(mandate=draft.mandate, signature=signature))  # fmt: skip
    wallet.address = borrower.address
    _sign_in(page, borrower.address)
    line = page.locator(f'tr[data-repayments="{loan_id}"] p[data-autopay="{loan_id}"]')
    expect(line).to_contain_text("It ends within the week: renew it to keep paying automatically.")
    assert line.get_attribute("data-mandate") == draft.mandate_hash

    _loan_button(page, loan_id, "autopay-renew").click()
    expect(page.locator("#status")).to_contain_text(f"Autopay on for loan {loan_id}")
    expect(line).not_to_contain_text("It ends within the week")
    renewed = line.get_attribute("data-mandate")
    assert renewed != draft.mandate_hash and line.get_attribute("data-status") == "active"
    expect(_loan_button(page, loan_id, "autopay")).to_have_text("Turn autopay off")
