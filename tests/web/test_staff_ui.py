"""Staff in the browser: an underwriter approves a referral, read with its application, after which
the borrower signs the offer; an auditor traces the new loan until every check passes, then its
borrower's address and its createLoan transaction; an admin reveals a flagged KYC record (audited),
told which wallet it duplicates, rejects it with its own reason and erases it; two admins each open
a record's ID document before approving it; an admin proposes a staff role, another admin confirms
it, and one revokes it; the aging table is shown. Each queue item's controls are found by their
accessible names."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from backend.chain.kyc_reader import is_verified
from backend.db.session import session_scope
from backend.identity.kyc.erasure_requests import schedule
from backend.identity.kyc.person_links import link as link_records
from backend.identity.kyc.relationship import AmlHold
from backend.identity.kyc.submission import submit
from backend.identity.models import KycDocumentView, KycPersonLink, KycReveal
from backend.identity.persons import borrower_wallets_of
from backend.identity.roles import grant_role
from backend.identity.schemas import KycCreate
from tests.identity.conftest import PNG, approve_with_documents, make_applicant, verify
from tests.identity.test_role_grants import SECOND_ADMIN
from tests.lending.test_offers import REFERRED
from tests.web.test_ui import _apply, _sign_in, _wait
from tests.web.test_ui_guards import _redraw

pytestmark = pytest.mark.slow  # browser journeys of tens of seconds (long files run first: tests/conftest.py)


def test_a_referral_reviewed_in_the_browser_becomes_a_loan_an_auditor_can_trace(page, server, wallet, world):
    settings = server.settings
    borrower, staff = world.investors[-1], world.admin  # the admin (configured) is also an underwriter here
    applicant = make_applicant(600)
    with session_scope(settings) as session:
        record_id = submit(session, settings, borrower.address, KycCreate(**applicant.form()), [PNG]).id
    assert approve_with_documents(settings, record_id, staff.address) == "approved"  # its ID document opened first
    twin = make_applicant(601, born=applicant.date_of_birth)
    twin.id_number = applicant.id_number  # the same person again from another wallet: held for review
    with session_scope(settings) as session:
        assert submit(session, settings, twin.account.address, KycCreate(**twin.form()), [PNG]).status == "needs_review"
    with session_scope(settings) as session:
        grant_role(session, staff.address, staff.address, "underwriter")
    _wait(lambda: is_verified(settings, borrower.address, 2), "the borrower's attestation")

    wallet.address = borrower.address
    _sign_in(page, borrower.address)
    expect(page.locator("#staff-section")).to_be_hidden()
    expect(page.locator("#staff-link")).to_be_hidden()
    _apply(page, REFERRED)
    expect(page.locator("#decision-outcome")).to_have_text("referred to an underwriter")
    expect(page.locator("#get-offer")).to_be_hidden()  # the referral is queued: there is nothing to ask for yet
    expect(page.locator("#decision-next")).to_contain_text("An underwriter reviews your application")

    wallet.address = staff.address
    _sign_in(page, staff.address)
    expect(page.locator("#staff-section")).to_be_visible()
    expect(page.locator("#staff-link")).to_be_visible()  # the section list names it, for staff only
    expect(page.locator("#decision")).to_be_hidden()  # nothing of the borrower's stays on screen
    flagged = page.locator("#kyc-queue > li")
    expect(flagged).to_have_count(1)
    # The flag names the wallet whose verified record has the same national ID, never the ID itself.
    expect(flagged.locator('li[data-flag="DUPLICATE_IDENTITY"]')).to_contain_text(f"on a record (of any status) of: {borrower.address}")
    expect(flagged).not_to_contain_text(twin.id_number)  # masked until an admin asks, with a reason
    what = f"KYC record {flagged.get_attribute('data-record')[:8]} of {twin.account.address}"
    reason = page.get_by_label(f"Reason for your decision on {what}")  # its own field, named after it
    reject = page.get_by_role("button", name=f"Reject {what}", exact=True)
    reject.click()  # no reason yet: the browser asks for one and nothing is sent
    assert reason.evaluate("e => e.validity.valueMissing")
    expect(flagged).to_have_count(1)
    page.get_by_role("button", name=f"Reveal the personal data of {what} (audited)").click()
    expect(flagged.locator(".revealed")).to_contain_text(f"{twin.form()['full_name']}, born {twin.date_of_birth}")
    expect(flagged.locator(".revealed")).to_contain_text(twin.id_number)
    reason.fill("second wallet of an already verified person")
    reject.click()
    expect(page.locator("#status")).to_contain_text("rejected.")
    expect(page.locator("#kyc-queue > li")).to_have_count(0)
    page.once("dialog", lambda dialog: dialog.accept())  # the admin erases the twin's data at once
    page.fill('#erase-form [name="wallet"]', twin.account.address)
    page.click("#erase-form button[type=submit]")
    expect(page.locator("#status")).to_contain_text(f"Erased 1 record of {twin.account.address}")
    referral = page.locator("#referrals > li")
    expect(referral).to_have_count(1)
    # What the underwriter approves: the amount, term and purpose, the declared income and debt, the decision's facts.
    expect(referral).to_contain_text(f"{REFERRED['amount']:,} mUSD over {REFERRED['term_months']} months for used car")
    expect(referral).to_contain_text(f"net income 2,000 to 3,500 mUSD a month, debt payments {REFERRED['monthly_debt_payments']} mUSD a month")
    expect(referral).to_contain_text("grade D, PD ")
    expect(referral).to_contain_text("debt service 0.")
    short = referral.get_attribute("data-decision")[:8]
    note = page.get_by_label(f"Reason for your verdict on referral {short}")
    note.fill("past delays were medical; income is stable")
    referral.evaluate("e => { e.dataset.drawn = 'before'; }")
    page.click("#refresh-loans")  # a redraw (the page's poll does the same) keeps what the underwriter typed
    expect(referral).not_to_have_attribute("data-drawn", "before")
    expect(note).to_have_value("past delays were medical; income is stable")
    page.get_by_role("button", name=f"Approve referral {short}", exact=True).click()
    expect(page.locator("#status")).to_contain_text(f"Referral {short}: approved.")
    expect(page.locator("#referrals > li")).to_have_count(0)

    wallet.address = borrower.address
    _sign_in(page, borrower.address)
    expect(page.locator("#decision-outcome")).to_have_text("referred, then approved by an underwriter")  # read back on sign-in
    page.click("#get-offer")
    expect(page.locator("#offer-state")).to_have_text("offered")
    page.click("#sign-offer")
    expect(page.locator("#offer-state")).to_contain_text("created: loan", timeout=90_000)
    loan_id = re.search(r"loan (\d+)", page.locator("#offer-state").inner_text()).group(1)

    wallet.address = staff.address
    _sign_in(page, staff.address)
    page.fill("#trace-what", loan_id)

    def consistent() -> bool:  # the agreement's anchor lands with the batcher's next round
        page.click("#trace")
        # Its answer, not the result a trace still under way has emptied: the button stays busy (and
        # disabled: a click waits for it) until the answer is shown. A fixed 500 ms read only traces
        # faster than that: on a loaded machine, none.
        expect(page.locator("#trace")).not_to_have_attribute("aria-busy", "true")
        return "consistent" in page.locator("#trace-result").inner_text() and "INCONSISTENT" not in page.locator(
            "#trace-result"
        ).inner_text()

    _wait(consistent, "a consistent trace")
    expect(page.locator("#ops-status")).to_contain_text("All parts up; chain block ")  # the platform's own state
    expect(page.locator("#ops-status")).to_contain_text("workers ok")
    # The fair-lending worker's check of the day: a handful of applicants, every band withheld, nothing flagged
    expect(page.locator("#fair-lending")).to_contain_text(re.compile(r"Fair lending, check of \d{4}-\d\d-\d\d over 90 days: no age band below"))
    expect(page.locator("#trace-checks li")).to_have_count(14)  # plans_match_audit_log joined the loan trace
    expect(page.locator("#trace-checks")).to_contain_text("plans match audit log: no hardship plans")
    expect(page.locator("#trace-checks")).not_to_contain_text("FAIL")
    created = page.locator("#trace-events li").first
    expect(created).to_contain_text(f"LoanBook.LoanCreated(loanId={loan_id}")
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]  # the terms JSON wraps
    expect(page.locator("#trace-checks")).to_contain_text(re.compile(r"borrower attested: KYCRegistry at block \d+: level 2 until \d{4}-\d\d-\d\d"))
    page.fill("#trace-what", borrower.address)  # the same borrower, seen as an address
    page.click("#trace")
    expect(page.locator("#trace-result")).to_contain_text(f"{borrower.address}: KYC level 2 on-chain; borrower in loans {loan_id};")
    expect(page.locator("#trace-result")).to_contain_text("; consistent")  # its index rows are the node's
    expect(page.locator("#trace-checks")).to_contain_text("ok events match chain: ")
    expect(page.locator("#trace-checks")).to_contain_text(re.compile(r"ok attestation matches chain: .* level 2 until \d{4}-"))
    expect(page.locator("#trace-events li")).to_have_count(1)  # LoanBook transactions naming it: createLoan
    create_tx = page.locator("#trace-events li").inner_text()[len("transaction "):]
    page.fill("#trace-what", create_tx)
    page.click("#trace")
    expect(page.locator("#trace-result")).to_contain_text(f"Transaction {create_tx}: consistent, ")
    expect(page.locator("#trace-checks li")).to_have_count(2)  # its receipt, and its logs as indexed
    expect(page.locator("#trace-result")).to_contain_text("sent by the platform (outbox offer:")
    expect(page.locator("#trace-events li").first).to_contain_text("LoanBook.LoanCreated")
    page.fill("#trace-what", "12abc")
    page.click("#trace")
    expect(page.locator("#status")).to_contain_text("Trace a loan id, a transaction hash")
    expect(page.locator("#aging tr")).to_have_count(5)
    expect(page.locator("#alerts")).to_contain_text("No alerts")  # transaction monitoring: nothing to review here


def test_a_staff_role_proposed_by_one_admin_is_confirmed_by_another_in_the_browser(page, server, wallet, world):
    """Maker-checker on staff roles: the proposer sees the grant waiting, without a Confirm of their
    own; another admin confirms it, and a revocation is immediate."""
    settings = server.settings
    proposer, checker, colleague = world.admin, world.investors[2], world.investors[1].address
    with session_scope(settings) as session:  # only a KYC-verified wallet is given a staff role
        assert submit(session, settings, colleague, KycCreate(**make_applicant(620).form()), []).status == "approved"
    with session_scope(settings) as session:
        grant_role(session, "ops:alice", checker.address, "admin")  # a second admin, by the operator

    wallet.address = proposer.address
    _sign_in(page, proposer.address)
    page.fill('#role-form [name="wallet"]', colleague)
    page.select_option('#role-form [name="role"]', "auditor")
    page.click('#role-form button[value="grant"]')
    expect(page.locator("#status")).to_contain_text(f"{colleague}: auditor proposed; another admin must confirm it by ")
    waiting = page.locator("#role-pending > li")
    expect(waiting).to_have_count(1)
    expect(waiting).to_contain_text(f"{colleague}: auditor, proposed by {proposer.address}, until ")
    expect(waiting).to_contain_text("you proposed it: another admin confirms it")
    confirm = page.get_by_role("button", name=f"Confirm the grant of auditor for {colleague}", exact=True)
    expect(confirm).to_have_count(0)
    expect(page.locator("#role-grants")).not_to_contain_text(colleague)

    wallet.address = checker.address
    _sign_in(page, checker.address)
    confirm.click()
    expect(page.locator("#status")).to_have_text(f"{colleague}: auditor granted; roles now auditor, investor.")
    expect(page.locator("#role-grants")).to_contain_text(
        f"{colleague}: auditor, granted by {proposer.address}, confirmed by {checker.address}")
    expect(page.locator("#role-pending")).to_contain_text("None: a grant proposed here waits")
    page.fill('#role-form [name="wallet"]', colleague)
    page.select_option('#role-form [name="role"]', "auditor")
    page.click('#role-form button[value="revoke"]')
    expect(page.locator("#status")).to_have_text(f"{colleague}: auditor revoked; roles now investor.")
    expect(page.locator("#role-grants")).not_to_contain_text(colleague)


def test_an_auditor_clears_or_escalates_a_monitoring_alert_in_the_browser(page, server, wallet, world):
    """Notes given to another wallet and partly handed back raise a round-trip alert; the admin sees
    it on the staff page and escalates it with a note, which the alert then shows."""
    giver, taker, unit = world.investors[0], world.investors[1], 10**6
    loan_id, _ = world.active_loan(investors=[giver, world.investors[2]])
    book = world.book.functions
    world.chain.tx(book.safeTransferFrom(giver.address, taker.address, loan_id, 100 * unit, b""), giver.address)
    world.chain.tx(book.safeTransferFrom(taker.address, giver.address, loan_id, 40 * unit, b""), taker.address)

    wallet.address = world.admin.address
    _sign_in(page, world.admin.address)
    alert = page.locator("#alerts li[data-alert]")

    def shown() -> bool:  # once the indexer has both transfers
        page.click("#refresh-loans")
        page.wait_for_timeout(300)
        return alert.count() == 1

    _wait(shown, "the round-trip alert")
    expect(alert).to_contain_text(f"round_trip, loan {loan_id}: notes of loan {loan_id} went from {giver.address}")
    named = f"alert round_trip {alert.get_attribute('data-alert')[:8]} on loan {loan_id}"  # each control names its alert
    note = alert.get_by_label(f"What you looked at and found, for {named}")
    note.click()
    page.keyboard.type("gift and partial return")
    # A refresh lands mid-note (the page polls): the list is drawn again, and the typing goes on
    # into the new field, caret and all, rather than into the one the refresh removed.
    page.evaluate("() => { document.querySelector('#alerts input').dataset.drawn = 'before';"
                  " document.querySelector('#refresh-loans').click(); }")  # fmt: skip
    page.wait_for_function("() => document.querySelector('#alerts input')?.dataset.drawn !== 'before'")
    page.keyboard.type(" between two wallets; asked both for their story")
    expect(note).to_have_value("gift and partial return between two wallets; asked both for their story")
    alert.get_by_role("button", name=f"Escalate {named}", exact=True).click()
    expect(page.locator("#status")).to_have_text(f"A{named[1:]}: escalated.")
    expect(page.locator("#alerts li")).to_contain_text(f"(escalated by {world.admin.address}: gift and partial return")
    expect(page.locator("#alerts button")).to_have_count(0)  # reviewed once, for good


def test_two_alerts_of_one_rule_about_no_loan_have_controls_named_apart(page, server, wallet, world):
    """A role granted and then revoked: two role_change alerts about no loan. Each one's note field
    and buttons carry its own accessible name (its short key), so escalating one by name reaches
    that one, and the other stays open."""
    from web3 import Web3

    role, book = Web3.keccak(text="PAUSER_ROLE"), world.book.functions
    world.chain.tx(book.grantRole(role, world.outsider.address), world.admin.address)
    world.chain.tx(book.revokeRole(role, world.outsider.address), world.admin.address)

    wallet.address = world.admin.address
    _sign_in(page, world.admin.address)
    alerts = page.locator("#alerts li[data-alert]")

    def shown() -> bool:  # once the indexer has both role events
        page.click("#refresh-loans")
        page.wait_for_timeout(300)
        return alerts.count() == 2

    _wait(shown, "the two role_change alerts")
    granted = page.locator("#alerts li[data-alert]", has_text="granted to")
    revoked = page.locator("#alerts li[data-alert]", has_text="revoked from")
    names = [f"alert role_change {item.get_attribute('data-alert')[:8]}" for item in (granted, revoked)]
    assert names[0] != names[1]
    for item, named in zip((granted, revoked), names, strict=True):
        for control in (f"Clear {named}", f"Escalate {named}"):  # one control of each name on the page, in its own alert
            expect(page.get_by_role("button", name=control, exact=True)).to_have_count(1)
            expect(item.get_by_role("button", name=control, exact=True)).to_have_count(1)
        expect(page.get_by_label(f"What you looked at and found, for {named}", exact=True)).to_have_count(1)
    page.get_by_label(f"What you looked at and found, for {names[1]}", exact=True).fill("the pauser left the team")
    page.get_by_role("button", name=f"Escalate {names[1]}", exact=True).click()
    expect(page.locator("#status")).to_have_text(f"A{names[1][1:]}: escalated.")
    expect(revoked).to_contain_text(f"(escalated by {world.admin.address}: the pauser left the team")
    expect(granted.get_by_role("button")).to_have_count(2)  # the other one is still open: Clear and Escalate


def test_a_duplicate_identity_is_cleared_by_two_admins_in_the_browser(page, server, wallet, world):
    settings = server.settings
    first, second = world.admin, world.investors[0]
    applicant = make_applicant(610)
    twin = make_applicant(611, born=applicant.date_of_birth)
    twin.id_number = applicant.id_number
    with session_scope(settings) as session:
        record_id = submit(session, settings, world.investors[1].address, KycCreate(**applicant.form()), [PNG]).id
    assert approve_with_documents(settings, record_id, first.address) == "approved"
    with session_scope(settings) as session:
        assert submit(session, settings, twin.account.address, KycCreate(**twin.form()), [PNG]).status == "needs_review"
        grant_role(session, first.address, second.address, "admin")

    wallet.address = first.address
    _sign_in(page, first.address)
    flagged = page.locator("#kyc-queue > li")
    what = f"KYC record {flagged.get_attribute('data-record')[:8]} of {twin.account.address}"
    page.get_by_label(f"Reason for your decision on {what}").fill("the same person's second wallet")
    approve = page.get_by_role("button", name=f"Approve {what}", exact=True)
    approve.click()  # its ID document not opened yet: refused, and the page says why
    expect(page.locator("#status")).to_contain_text("open each of this record's ID documents before approving it")
    page.get_by_role("button", name=f"Open ID document 1 of {what} (audited)", exact=True).click()
    expect(page.locator("#status")).to_contain_text(f"Opened ID document 1 of {what}.")
    expect(flagged.get_by_role("img", name=f"ID document 1 of {what}")).to_have_count(1)
    approve.click()
    expect(page.locator("#status")).to_contain_text("approved by you; a second admin must approve it too.")
    expect(flagged).to_contain_text("You approved it: waiting for a second admin.")
    expect(flagged.locator('li[data-flag="FIRST_APPROVAL"]')).to_contain_text(f"approved by {first.address}")
    expect(page.get_by_role("button", name=f"Approve {what}", exact=True)).to_have_count(0)

    wallet.address = second.address
    _sign_in(page, second.address)
    expect(flagged).not_to_contain_text("You approved it")
    page.get_by_role("button", name=f"Open ID document 1 of {what} (audited)", exact=True).click()  # each approver looks
    expect(page.locator("#status")).to_contain_text(f"Opened ID document 1 of {what}.")
    page.get_by_label(f"Reason for your decision on {what}").fill("agreed: the same person")
    page.get_by_role("button", name=f"Approve {what}", exact=True).click()
    expect(page.locator("#status")).to_contain_text("approved.")
    expect(page.locator("#kyc-queue > li")).to_have_count(0)


def test_a_referral_shows_the_wallets_other_applications_and_the_new_alerts_render_like_the_others(page, server, wallet,
                                                                                                     world):  # fmt: skip
    """The underwriter sees, in the referral itself, the applicant's application declined five days
    before and what it answered otherwise, and the one a week before from the person's second wallet
    (verified with the same national ID), each named by its wallet; the auditor sees the answers_changed alert naming both
    decisions, and a cycle of notes round three wallets, each with its own note and buttons."""
    from datetime import timedelta

    from backend.scoring.models import CreditDecision
    from backend.scoring.schemas import ApplicationCreate
    from backend.scoring.service import score_application
    from tests.audit.test_answers_changed import BETTER_OFF
    from tests.scoring.test_service import WORST

    settings, staff, shopper = server.settings, world.admin, world.investors[-1].address
    person, second_wallet = make_applicant(640), make_applicant(641).account.address
    with session_scope(settings) as session:
        grant_role(session, staff.address, staff.address, "underwriter")
        grant_role(session, staff.address, world.investors[4].address, "admin")
    verify(settings, shopper, person)  # then its second wallet, the same national ID: approved by two admins
    verify(settings, second_wallet, person, staff.address, world.investors[4].address)
    with session_scope(settings) as session:
        ids = []
        # A week before, from the person's other wallet, the answers the referral gives: declined on review.
        for days_ago, answers, by in ((7, BETTER_OFF, second_wallet), (5, {}, shopper), (0, BETTER_OFF, shopper)):
            made = score_application(session, ApplicationCreate(**{**WORST, "amount": 3400, **answers}), settings=settings,
                                     wallet=by)  # fmt: skip
            row = session.get(CreditDecision, made.id)
            row.created_at -= timedelta(days=days_ago)
            ids.append(row.id)
        elsewhere = session.get(CreditDecision, ids.pop(0))
        assert elsewhere.decision == "refer"
        elsewhere.review, elsewhere.reviewed_by, elsewhere.reviewed_at = "decline", world.admin.address, elsewhere.created_at
    a, c, d = world.investors[0], world.investors[2], world.investors[3]
    loan_id, _ = world.active_loan(investors=[a, world.investors[1]])
    for sender, recipient in ((a, c), (c, d), (d, a)):
        world.chain.tx(world.book.functions.safeTransferFrom(sender.address, recipient.address, loan_id, 10**6, b""),
                       sender.address)  # fmt: skip

    wallet.address = staff.address
    _sign_in(page, staff.address)
    referral = page.locator("#referrals > li")
    expect(referral).to_have_count(1)
    earlier = referral.locator(f'.other-applications li[data-other-decision="{ids[0]}"]')
    expect(earlier).to_contain_text(f"wallet {shopper}: decline, grade G; answered then: checking no current account, "
                                    "savings none, or not known")  # fmt: skip
    expect(referral).to_contain_text("from this wallet or another verified with its national ID")
    other = referral.locator(f'.other-applications li[data-other-decision="{elsewhere.id}"]')
    expect(other).to_contain_text(f"wallet {second_wallet}: refer, declined on review, grade ")
    expect(other).to_contain_text("the same answers")
    expect(referral.locator(".other-applications li")).to_have_count(2)
    alerts = page.locator("#alerts li[data-alert]")

    def shown() -> bool:  # once the indexer has the three transfers
        page.click("#refresh-loans")
        page.wait_for_timeout(300)
        return alerts.count() == 2

    _wait(shown, "the cycle and answers_changed alerts")
    changed = page.locator("#alerts li[data-alert]", has_text="answers_changed")
    expect(changed).to_contain_text(f"answers_changed: credit decision {ids[1]} (refer, grade D) of {shopper} followed "
                                    f"decision {ids[0]} (decline, grade G) of the same wallet")  # fmt: skip
    expect(changed).to_contain_text("with checking_account, savings answered otherwise")
    cycle = page.locator("#alerts li[data-alert]", has_text="cycle")
    expect(cycle).to_contain_text(f"cycle, loan {loan_id}: notes of loan {loan_id} went {a.address} -> {c.address} -> "
                                  f"{d.address} -> {a.address}")  # fmt: skip
    named = f"alert answers_changed {changed.get_attribute('data-alert')[:8]}"
    changed.get_by_label(f"What you looked at and found, for {named}").fill("asked for a payslip")
    changed.get_by_role("button", name=f"Escalate {named}", exact=True).click()
    expect(page.locator("#status")).to_have_text(f"A{named[1:]}: escalated.")
    expect(page.locator("#alerts li", has_text="answers_changed")).to_contain_text(
        f"(escalated by {staff.address}: asked for a payslip")
    named = f"alert cycle {cycle.get_attribute('data-alert')[:8]} on loan {loan_id}"
    expect(cycle.get_by_role("button", name=f"Clear {named}", exact=True)).to_have_count(1)


def test_a_shared_phone_is_named_by_wallet_and_kind_and_a_contact_given_since_holds_the_approval(page, server, wallet, world):
    """SHARED_CONTACT on the staff page: whose wallet, and what is shared, never the value; an approval
    that finds a contact given since by another person keeps the record in the queue, and says why."""
    settings = server.settings
    first, second, waiting, third = (make_applicant(620 + i) for i in range(4))
    second.phone = first.phone
    with session_scope(settings) as session:
        assert submit(session, settings, first.account.address, KycCreate(**first.form()), []).status == "approved"
    with session_scope(settings) as session:
        assert submit(session, settings, second.account.address, KycCreate(**second.form()), []).status == "needs_review"
    with session_scope(settings) as session:  # an ID document: waits for a person, nothing else flagged
        waiting_id = submit(session, settings, waiting.account.address, KycCreate(**waiting.form()), [PNG]).id

    wallet.address = world.admin.address
    _sign_in(page, world.admin.address)
    expect(page.locator("#kyc-queue > li")).to_have_count(2)
    flagged = page.locator("#kyc-queue > li").filter(has=page.locator('li[data-flag="SHARED_CONTACT"]'))
    expect(flagged.locator('li[data-flag="SHARED_CONTACT"]')).to_contain_text(f"shared with: {first.account.address} (phone)")
    expect(flagged).not_to_contain_text(first.phone[3:])  # the number stays masked
    what = f"KYC record {flagged.get_attribute('data-record')[:8]} of {second.account.address}"
    page.get_by_label(f"Reason for your decision on {what}").fill("her mother's phone, seen on a call")
    page.get_by_role("button", name=f"Approve {what}", exact=True).click()
    expect(page.locator("#status")).to_contain_text("approved.")
    expect(page.locator("#kyc-queue > li")).to_have_count(1)

    held = page.locator(f'#kyc-queue > li[data-record="{waiting_id}"]')
    what = f"KYC record {waiting_id[:8]} of {waiting.account.address}"
    page.get_by_role("button", name=f"Open ID document 1 of {what} (audited)", exact=True).click()
    expect(page.locator("#status")).to_contain_text(f"Opened ID document 1 of {what}.")
    third.email = waiting.email  # another person gives its e-mail while the page is open
    with session_scope(settings) as session:
        assert submit(session, settings, third.account.address, KycCreate(**third.form()), []).status == "needs_review"
    page.get_by_label(f"Reason for your decision on {what}").fill("the document shows this person")
    page.get_by_role("button", name=f"Approve {what}", exact=True).click()
    expect(page.locator("#status")).to_contain_text("not approved: another person gave its contact data since")
    expect(held.locator('li[data-flag="SHARED_CONTACT"]')).to_contain_text(f"shared with: {third.account.address} (email)")


def test_a_reviewer_links_a_second_identity_to_its_first_and_another_admin_confirms(page, server, wallet, world):
    """The staff page offers the same-person link on a SHARED_CONTACT record, per record shared with: one
    admin proposes it (the item then says it waits for a second admin), another confirms it."""
    settings = server.settings
    first, second = make_applicant(640), make_applicant(641)
    second.phone, second.email = first.phone, first.email  # one person, two documents
    with session_scope(settings) as session:
        first_id = submit(session, settings, first.account.address, KycCreate(**first.form()), []).id
    with session_scope(settings) as session:
        second_id = submit(session, settings, second.account.address, KycCreate(**second.form()), []).id

    wallet.address = world.admin.address
    _sign_in(page, world.admin.address)
    item = page.locator(f'#kyc-queue > li[data-record="{second_id}"]')
    what = f"KYC record {second_id[:8]} of {second.account.address}"
    other = f"record {first_id[:8]} of {first.account.address}"
    link = page.get_by_role("button", name=f"Same person as {other}, for {what}", exact=True)
    link.click()  # no reason given: the browser asks for one, nothing is sent
    with session_scope(settings) as session:
        assert session.scalar(select(func.count()).select_from(KycPersonLink)) == 0
    page.get_by_label(f"Reason for your decision on {what}").fill("the passport photo is the ID card's")
    link.click()
    expect(page.locator("#status")).to_have_text(f"KYC record {second_id[:8]}: proposed as the same person as {other}; "
                                                 "a second admin must confirm it.")  # fmt: skip
    expect(item.locator(f'[data-person-link="{first_id}"]')).to_have_text(
        f"You said it is the same person as {other}: waiting for a second admin.")
    expect(link).to_have_count(0)

    with session_scope(settings) as session:  # another admin confirms it
        link_records(session, settings, first_id, second_id, SECOND_ADMIN.address, "same face, same birth date")
    page.get_by_label(f"Reason for your decision on {what}").fill("a second document")
    page.get_by_role("button", name=f"Approve {what}", exact=True).click()
    expect(page.locator("#status")).to_contain_text("approved.")
    with session_scope(settings) as session:
        assert borrower_wallets_of(session, second.account.address) == {first.account.address, second.account.address}


def test_a_collection_wallet_alert_renders_with_its_review_controls_like_the_others(page, server, wallet, world):
    """Two borrowers (no KYC records here: each wallet a person of its own) pass most of their
    disbursals to one wallet: the auditor sees `collection_wallet` naming it, the loan and the other
    borrower's loan, with its note and buttons."""
    from web3 import Web3

    from tests.contracts.helpers import KYC_EXPIRY

    staff, second = world.admin, world.investors[0]
    mule = Web3.to_checksum_address("0x" + "ab" * 20)
    world.chain.tx(world.kyc.functions.attest(second.address, world.borrower_level, KYC_EXPIRY,
                                              Web3.keccak(text="ui-second-borrower")), staff.address)  # fmt: skip
    loans = []
    for borrower in (world.borrower, second):
        loan_id, _ = world.active_loan(borrower=borrower.address, borrower_key=borrower, investors=world.investors[2:5])
        world.chain.tx(world.token.functions.transfer(mule, 7_000 * 10**6), borrower.address)
        loans.append(loan_id)

    wallet.address = staff.address
    _sign_in(page, staff.address)
    alert = page.locator("#alerts li[data-alert]", has_text="collection_wallet")

    def shown() -> bool:  # once the indexer has the transfers
        page.click("#refresh-loans")
        page.wait_for_timeout(300)
        return alert.count() == 1

    _wait(shown, "the collection_wallet alert")
    expect(alert).to_contain_text(f"collection_wallet, loan {loans[1]}: {mule} received")
    expect(alert).to_contain_text(f"disbursals of loans {loans[0]} within 7 days from borrower wallets {world.borrower.address}")
    named = f"alert collection_wallet {alert.get_attribute('data-alert')[:8]} on loan {loans[1]}"
    expect(alert.get_by_label(f"What you looked at and found, for {named}")).to_have_count(1)
    expect(alert.get_by_role("button", name=f"Clear {named}", exact=True)).to_have_count(1)


# The KYC queue redrawn (as by the page's poll) after a reveal's or a document's answer came, before
# the page showed it: what it shows must reach the redrawn item, not the one the redraw replaced.
REDRAW_IN_FLIGHT = """() => {
  const plain = window.fetch;
  window.fetch = async (...args) => {
    const answer = await plain(...args);
    if (/\\/(reveal|documents\\/)/.test(String(args[0]))) {
      await (await import(new URL("staff.js", location.href))).refreshStaff();
    }
    return answer;
  };
}"""


def test_a_restricted_wallets_record_is_unmasked_only_for_a_purpose_the_aml_period_keeps_it_for(page, server, wallet, world):
    """While a wallet's erasure is scheduled (GDPR art. 18), the staff page's reveal and documents for
    *this review* are refused with the API's words; the admin picks *a fraud investigation* and both open."""
    settings, admin = server.settings, world.admin
    applicant = make_applicant(620)
    twin = make_applicant(621, born=applicant.date_of_birth)
    twin.id_number = applicant.id_number
    with session_scope(settings) as session:
        record_id = submit(session, settings, world.investors[1].address, KycCreate(**applicant.form()), [PNG]).id
    assert approve_with_documents(settings, record_id, admin.address) == "approved"
    with session_scope(settings) as session:
        flagged_id = submit(session, settings, twin.account.address, KycCreate(**twin.form()), [PNG]).id
        # As if its wallet held notes of an open loan: kept for the AML period, its processing restricted.
        schedule(session, twin.account.address, twin.account.address, AmlHold(None, None, holding=(1,)))

    wallet.address = admin.address
    _sign_in(page, admin.address)
    flagged = page.locator(f'#kyc-queue > li[data-record="{flagged_id}"]')
    what = f"KYC record {flagged_id[:8]} of {twin.account.address}"
    purpose = page.get_by_label(f"Purpose of a reveal or a document of {what}")
    expect(purpose).to_have_value("review")
    reveal = page.get_by_role("button", name=f"Reveal the personal data of {what} (audited)")
    document = page.get_by_role("button", name=f"Open ID document 1 of {what} (audited)", exact=True)
    for refused in (reveal, document):
        refused.click()
        expect(page.locator("#status")).to_contain_text("processing is restricted until then (GDPR art. 18), a reveal "
                                                        "only for fraud_investigation or legal_request")  # fmt: skip
    expect(flagged.locator(".revealed")).to_have_count(0)

    purpose.select_option("fraud_investigation")
    _redraw(page, "staff.js", "refreshStaff")  # the poll may land between the pick and the click: the pick stays
    expect(purpose).to_have_value("fraud_investigation")
    page.evaluate(REDRAW_IN_FLIGHT)  # ... or while the reveal or the document is on its way
    reveal.click()
    expect(flagged.locator(".revealed")).to_contain_text(twin.id_number)
    document.click()
    expect(flagged.get_by_role("img", name=f"ID document 1 of {what}")).to_have_count(1)
    # ... or just after: what was unmasked stays shown, not to be revealed (and audited) again
    _redraw(page, "staff.js", "refreshStaff")
    expect(flagged.locator(".revealed")).to_contain_text(twin.id_number)
    expect(flagged.get_by_role("img", name=f"ID document 1 of {what}")).to_have_count(1)
    with session_scope(settings) as session:
        assert session.scalar(select(func.count()).select_from(KycReveal).where(KycReveal.record_id == flagged_id)) == 1
        views = select(func.count()).select_from(KycDocumentView).where(KycDocumentView.record_id == flagged_id)
        assert session.scalar(views) == 1


def test_a_broken_hardship_plan_shows_in_collections_beside_the_line_to_propose_another(page, server, wallet, world):
    """A plan agreed, then not kept: the queue says by when it fell short, and staff may propose
    another. (The plan is written as agreed; its maker-checker is tests/servicing/test_hardship_plans.py's.)"""
    from backend.servicing.models import HardshipPlan

    day = 86_400
    loan_id, start = world.active_loan(investors=world.investors[2:5])
    world.chain.mine_at(start + 80 * day)  # 50 days late: in collections
    agreed = start + 40 * day  # its first period ended at 70 days with nothing paid
    with session_scope(server.settings) as session:
        session.add(HardshipPlan(loan_id=loan_id, installment_amount=100 * 10**6, period_days=30, periods=3,
                                 proposed_by=world.admin.address, proposed_at=agreed - day, decision="confirmed",
                                 decided_by=world.underwriter.address, decided_at=agreed))  # fmt: skip
    wallet.address = world.admin.address
    _sign_in(page, world.admin.address)
    case = page.locator(f'#collections li[data-collection="{loan_id}"]')

    def filed() -> bool:  # once the indexer has the loan and the servicing worker its lateness
        page.click("#refresh-loans")
        page.wait_for_timeout(300)
        return case.count() == 1

    _wait(filed, "the loan in the collections queue")
    expect(case.locator("p[data-plan]")).to_have_text(
        "Hardship plan broken: 3 payments of 100.00 mUSD every 30 days; by "
        f"{datetime.fromtimestamp(agreed + 30 * day, UTC):%Y-%m-%d} UTC less than it asked had been paid (0.00 mUSD paid "
        "since it started). Reminders and the default go ahead.")  # fmt: skip
    expect(case.get_by_role("button", name=f"Propose a hardship plan for loan {loan_id}")).to_have_count(1)
    wallet.address = world.borrower.address  # its borrower's page says the plan ended, and when
    _sign_in(page, world.borrower.address)
    expect(page.locator(f'tr[data-repayments="{loan_id}"] p[data-plan]')).to_have_text(
        f"Your hardship plan (3 payments of 100.00 mUSD every 30 days) ended on {datetime.fromtimestamp(agreed + 30 * day, UTC):%Y-%m-%d} "
        "UTC: less than it asked was paid by then. The loan's schedule applies again.")  # fmt: skip
