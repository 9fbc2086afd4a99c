"""What the page does so a user neither loses money by one click nor sees what is not theirs: the
confirmation before money moves (with its fair-price warning), sessions renewed or ended plainly,
sign-out and a change of wallet that clear the page, actions offered only to wallets that may take
them, the user's own state redrawn without a Refresh, readable errors and a phone-sized page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from backend.db.session import session_scope
from backend.identity.kyc.submission import submit
from backend.identity.schemas import KycCreate
from tests.identity.conftest import make_applicant
from tests.lending.test_portfolio import _decision_hash
from tests.scoring.conftest import SAMPLE
from tests.web.test_ui import _confirm, _day, _loan_button, _sign_in, _wait

pytestmark = pytest.mark.slow  # browser journeys of tens of seconds (long files run first: tests/conftest.py)


def test_selling_far_below_the_fair_price_asks_first_warns_and_cancel_sends_nothing(page, server, wallet, world):
    """A holder of a scored loan's notes sees a bid at 60% of face; *Sell to bids* names the
    notes, the proceeds and the fair price, warns, and sends nothing until the user says yes."""
    seller, bidder, unit = world.investors[0], world.investors[1], 10**6
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]], decision_hash=_decision_hash(server.settings, SAMPLE))
    world.ready_for_market(bidder)
    world.place(bidder, "bid", loan_id, 100 * unit, 6_000)
    held, before = world.book.functions.balanceOf(seller.address, loan_id).call(), world.balance(seller)

    wallet.address = seller.address
    _sign_in(page, seller.address)
    exit_button = page.locator(f'#positions button[data-loan="{loan_id}"][data-action="sell-now"]')
    _wait(lambda: (page.click("#refresh-loans"), page.wait_for_timeout(300), exit_button.count() == 1)[-1], "the bid")
    exit_button.click()
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-cancel")).to_be_focused()  # the safe choice has the focus
    expect(dialog).to_contain_text(f"Sell 100.00 mUSD of notes of loan {loan_id}?")
    expect(dialog).to_contain_text("receive 60.00 mUSD, 60.00% of the principal outstanding on average, from 1 bid")
    expect(dialog).to_contain_text("Fair price ")
    expect(page.locator("#confirm-warning")).to_contain_text("Warning: you would sell ")
    expect(page.locator("#confirm-warning")).to_contain_text("below the fair price (we warn beyond 5%)")
    expect(page.locator("#confirm-yes")).to_have_text("Sell for 60.00 mUSD")
    page.click("#confirm-cancel")
    expect(dialog).to_be_hidden()
    expect(page.locator("#status")).to_have_text("Cancelled: nothing was sent.")
    assert world.book.functions.balanceOf(seller.address, loan_id).call() == held and world.balance(seller) == before

    exit_button.click()
    _confirm(page, "below the fair price")
    expect(page.locator("#status")).to_have_text(f"Sold 100.00 mUSD of notes of loan {loan_id} for 60.00 mUSD into 1 bid.")
    assert world.balance(seller) == before + 60 * unit


# The user signs out while the portfolio's answer is on its way: the answer comes once the page was
# cleared, as it did in a CI run where the page's 12 s poll was in flight at the sign-out click.
SIGN_OUT_IN_FLIGHT = """() => {
  const plain = window.fetch;
  let armed = true;
  window.fetch = async (...args) => {
    const answer = await plain(...args);
    if (armed && new URL(String(args[0]), location.href).pathname === "/api/v1/portfolio") {
      armed = false;
      document.getElementById("sign-out").click();
      while (document.getElementById("who").textContent !== "not signed in") await new Promise((r) => setTimeout(r, 50));
      window.answeredAfterSignOut = true;
    }
    return answer;
  };
}"""


def test_an_answer_on_its_way_when_the_user_signs_out_is_not_drawn(page, server, wallet, world):
    """Signing out clears the page, but an answer to a refresh sent before (the poll, a click) drew the
    previous user's portfolio back on it when it came after: "nothing of yours is left on this page"
    was untrue until the next refresh. Answers to requests sent for a session that has ended are
    dropped, without an error."""
    investor = world.investors[0]
    world.active_loan(investors=[investor, world.investors[1]])
    wallet.address = investor.address
    _sign_in(page, investor.address)
    expect(page.locator("#portfolio-summary")).to_contain_text("at risk")
    expect(page.locator("#positions tr")).not_to_have_count(0)
    page.evaluate(SIGN_OUT_IN_FLIGHT)
    page.click("#refresh-loans")
    page.wait_for_function("() => window.answeredAfterSignOut === true")
    page.wait_for_timeout(500)  # what the answer would draw, drawn by now
    expect(page.locator("#status")).to_have_text("Signed out: nothing of yours is left on this page.")
    expect(page.locator("#portfolio-summary")).to_have_text("Sign in to see your notes.")
    expect(page.locator("#positions tr")).to_have_count(0)


def test_a_session_is_renewed_then_ended_plainly_and_sign_out_or_another_wallet_clears_the_page(page, server, wallet, world):
    """Access tokens of 3 seconds: the page renews them with the refresh token; when that fails it
    says the session ended. Signing out, or another wallet signing in, leaves nothing of the first
    user. A wallet without KYC is told why it cannot fund; after KYC from the page, *Fund* comes by
    itself (no Refresh)."""
    server.settings.access_token_ttl = 3
    first, second = world.investors[0], world.investors[2]
    loan_id, _ = world.create()  # open for funding
    wallet.address = first.address
    _sign_in(page, first.address)
    page.select_option("#statement-year", "all")
    with page.expect_download():
        page.click("#statement-form button[value=statement]")
    expect(page.locator("#statement-summary")).to_contain_text("0 movements")

    # The page's own poll (every 12 s) may reach the expired token before the click does: either
    # renews it, and the user's click must not find a session ended.
    renewals = []
    page.on("request", lambda r: renewals.append(r.url) if r.url.endswith("/api/v1/auth/refresh") else None)
    page.wait_for_timeout(3_500)  # the access token has expired
    page.click("#refresh-loans")
    _wait(lambda: (page.wait_for_timeout(200), renewals)[-1], "the access token renewed")
    expect(page.locator("#status")).not_to_have_class("error")
    expect(page.locator("#who")).to_contain_text(first.address)

    page.route("**/api/v1/auth/refresh", lambda route: route.fulfill(
        status=401, content_type="application/json", body='{"error": "token_revoked", "detail": "revoked"}'))  # fmt: skip
    page.wait_for_timeout(3_500)
    # Whichever meets the refusal first, the poll or this click, ends the session with these words;
    # a click after the poll ended it would only clear them (any action clears an error shown).
    page.evaluate("() => { if (document.getElementById('sign-out').hidden === false) "
                  "document.getElementById('refresh-loans').click(); }")
    expect(page.locator("#status")).to_have_text("Your session ended: sign in again (Connect wallet and sign in).")
    expect(page.locator("#who")).to_have_text("not signed in")
    expect(page.locator("#sign-out")).to_be_hidden()
    expect(page.locator("#statement-summary")).to_be_empty()
    page.unroute("**/api/v1/auth/refresh")

    server.settings.access_token_ttl = 900
    _sign_in(page, first.address)
    with page.expect_download():
        page.click("#statement-form button[value=statement]")
    expect(page.locator("#statement-summary")).to_contain_text("0 movements")
    page.click("#sign-out")
    expect(page.locator("#status")).to_have_text("Signed out: nothing of yours is left on this page.")
    expect(page.locator("#who")).to_have_text("not signed in")
    expect(page.locator("#statement-summary")).to_be_empty()
    expect(page.locator("#portfolio-summary")).to_have_text("Sign in to see your notes.")

    _sign_in(page, first.address)  # and now another wallet on the same page
    with page.expect_download():
        page.click("#statement-form button[value=statement]")
    expect(page.locator("#statement-summary")).to_contain_text("0 movements")
    wallet.address = second.address
    _sign_in(page, second.address)
    expect(page.locator("#statement-summary")).to_be_empty()
    row = page.locator(f'tr[data-loan="{loan_id}"]')
    expect(row).to_contain_text("Verify your identity (step 1) to invest.")  # no Fund to revert on chain
    expect(row.locator('button[data-action="fund"]')).to_have_count(0)

    applicant = make_applicant(550)
    for name, value in applicant.form().items():
        field = page.locator(f'#kyc-form [name="{name}"]')
        field.select_option(value) if name == "id_type" else field.fill(value)
    page.click("#kyc-form button[type=submit]")
    expect(page.locator("#kyc-status")).to_contain_text("approved")
    assert page.locator('#kyc-form [name="full_name"]').input_value() == ""  # personal data cleared once sent
    expect(page.locator("#kyc-form")).to_be_hidden()
    fund = row.locator('button[data-action="fund"]')
    expect(fund).to_have_count(1, timeout=60_000)  # once on chain, without a Refresh
    expect(page.locator("#kyc-status")).to_contain_text("on-chain confirmed")
    page.fill(f'input[data-loan="{loan_id}"]', "999999")
    fund.click()
    expect(page.locator("#status")).to_contain_text(f"Loan {loan_id}: enter an amount in tokens, at most ")
    expect(page.locator("#confirm")).to_be_hidden()

    # An error FastAPI answers with a list of fields reads as words, not JSON.
    message = page.evaluate("""async () => {
      const { api } = await import(new URL("core.js", location.href));
      try { await api("/api/v1/portfolio/plan", { method: "POST", body: { amount: 0 } }); } catch (e) { return e.message; }
    }""")  # fmt: skip
    assert message == "amount: Input should be greater than 0"


def test_the_borrower_sees_its_loan_funded_without_a_refresh_and_what_is_due_when(page, server, wallet, world):
    """Investors fund the rest while the borrower's page is open: *Receive funds* comes by itself.
    Within the first period, the installment is the next payment with its due date, not money owed
    now. The page fits a phone."""
    borrower, unit = world.borrower, 10**6
    loan_id, _ = world.create()
    principal = world.loan(loan_id)["principal"]
    world.fund(loan_id, world.investors[0], principal // 2)
    wallet.address = borrower.address
    page.set_viewport_size({"width": 375, "height": 740})
    _sign_in(page, borrower.address)
    row = page.locator(f'tr[data-loan="{loan_id}"]')
    expect(row).to_contain_text("waiting for investors")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing pushes the page sideways
    assert page.locator(".topbar").bounding_box()["height"] < 200

    world.fund(loan_id, world.investors[1], principal - principal // 2)
    disburse = row.locator('button[data-action="disburse"]')
    expect(disburse).to_have_count(1, timeout=60_000)  # no Refresh clicked
    disburse.click()
    expect(page.locator("#status")).to_have_text(f"Done: disburse on loan {loan_id}.")
    repayments = page.locator(f'tr[data-repayments="{loan_id}"]')
    expect(repayments).to_contain_text("installment 1 of ", timeout=30_000)

    loan = world.loan(loan_id)
    due = loan["startTime"] + loan["installmentPeriod"]
    world.chain.mine_at(due - 10 * 86_400)  # ten days before the first installment falls due
    page.click("#refresh-loans")
    expect(repayments).to_contain_text(f"Next payment {loan['installmentAmount'] / unit:,.2f} mUSD, due ")
    expect(repayments).to_contain_text("(you may pay it now): installment 1 of ")  # named once, not twice
    # The due date is a UTC day and says so (review M5): west of UTC it ends the evening before.
    expect(repayments).to_contain_text(f"due {_day(due)} UTC (you may pay it now)")
    expect(repayments.locator("th").nth(1)).to_have_text("Due (UTC)")
    expect(repayments.locator("th").last).to_have_text("Paid?")  # review L1: no empty heading
    expect(repayments).not_to_contain_text("now); installment 1 of ")
    expect(repayments).not_to_contain_text("Overdue")
    repay = row.locator('button[data-action="repay"]')
    expect(repay).to_be_enabled()
    repay.click()
    _confirm(page, f"{loan['installmentAmount'] / unit:,.2f} mUSD leaves your wallet towards loan {loan_id}")
    expect(page.locator("#status")).to_have_text(f"Done: repay on loan {loan_id}.")
    assert world.loan(loan_id)["installmentsPaid"] == 1


def test_erasing_ones_data_on_an_old_session_asks_the_same_wallet_to_sign_in_again(page, server, wallet, world):
    """Step-up: the server refuses an old session (`fresh_sign_in_required`); the page has the wallet
    sign a new sign-in message and sends the erasure once more, but only as the same account."""
    server.settings.fresh_sign_in_max_age = 2
    server.settings.access_token_ttl = 3  # expired too when the erasure is asked: renewed first, then the step-up
    investor, other = world.investors[1], world.investors[2]
    with session_scope(server.settings) as session:
        submit(session, server.settings, investor.address, KycCreate(**make_applicant(502).form()), [])
    wallet.address = investor.address
    _sign_in(page, investor.address)
    page.on("dialog", lambda dialog: dialog.accept())  # "Erase your personal data?"
    renewals = []  # by the click, or by the page's 12 s poll should it reach the expired token first
    page.on("request", lambda r: renewals.append(r.url) if r.url.endswith("/api/v1/auth/refresh") else None)
    page.wait_for_timeout(3_500)  # the sign-in is no longer recent

    wallet.address = other.address  # the wallet now shows another account: it may not confirm
    page.click("#kyc-erase")
    _wait(lambda: (page.wait_for_timeout(200), renewals)[-1], "the access token renewed")
    expect(page.locator("#status")).to_have_text(f"Sign in again as {investor.address} to confirm (the wallet shows "
                                                 f"{other.address.lower()}).")  # fmt: skip
    expect(page.locator("#kyc-status")).not_to_contain_text("erased")

    wallet.address = investor.address
    with page.expect_request("**/api/v1/auth/login"):
        page.click("#kyc-erase")
    expect(page.locator("#status")).to_contain_text("Personal data erased (1 record)")
    expect(page.locator("#kyc-status")).to_contain_text("erased")
    expect(page.locator("#who")).to_contain_text(investor.address)


def _redraw(page, module: str, refresh: str) -> None:
    """A redraw as the poll or an earlier action's refresh would make it, now."""
    page.evaluate(f"""async () => {{ const m = await import(new URL("{module}", location.href)); await m.{refresh}(); }}""")


# The focused element, marked so that its replacement by a redraw can be told from it.
MARK_FOCUSED = "() => { document.activeElement.__beforeRedraw = true; }"
FOCUSED = """() => { const a = document.activeElement;
  return [a.tagName, a.dataset.loan ?? null, a.dataset.action ?? null, Boolean(a.__beforeRedraw), a.isConnected]; }"""


def test_a_redraw_keeps_the_keyboard_on_the_same_button_and_the_dialog_gives_it_back(page, server, wallet, world):
    """Review H2: a redraw of the loans table or the portfolio (the poll, an action's refresh) gives
    the focus to the focused button's replacement, not to <body>; the dialog, closed after such a
    redraw, gives it back to the replacement of the button that opened it."""
    investor = world.investors[0]
    held, _ = world.active_loan(investors=[investor, world.investors[3]])  # a position to sell
    open_loan, _ = world.create()
    with session_scope(server.settings) as session:  # the investor passed KYC (level 1, no document)
        submit(session, server.settings, investor.address, KycCreate(**make_applicant(512).form()), [])
    wallet.address = investor.address
    _sign_in(page, investor.address)
    fund = _loan_button(page, open_loan, "fund")
    sell = page.locator(f'#positions button[data-loan="{held}"][data-action="sell"]')
    _wait(lambda: (page.click("#refresh-loans"), page.wait_for_timeout(300), sell.count() == 1)[-1], "the position's Sell")

    page.focus(f'button[data-loan="{open_loan}"][data-action="verify"]')
    page.evaluate(MARK_FOCUSED)
    _redraw(page, "loans.js", "refreshLoans")
    assert page.evaluate(FOCUSED) == ["BUTTON", str(open_loan), "verify", False, True]

    sell.focus()
    page.evaluate(MARK_FOCUSED)
    _redraw(page, "portfolio.js", "refreshPortfolio")
    assert page.evaluate(FOCUSED) == ["BUTTON", str(held), "sell", False, True]

    page.fill(f'input[data-loan="{open_loan}"]', "25")
    fund.focus()
    page.evaluate(MARK_FOCUSED)
    page.keyboard.press("Enter")  # the keyboard user's click
    expect(page.locator("#confirm")).to_be_visible()
    _redraw(page, "loans.js", "refreshLoans")  # lands while the dialog is open
    page.keyboard.press("Escape")
    expect(page.locator("#status")).to_have_text("Cancelled: nothing was sent.")
    page.wait_for_function(f"""() => {{ const a = document.activeElement;
      return a.dataset.action === "fund" && a.dataset.loan === "{open_loan}" && !a.__beforeRedraw && !a.disabled; }}""")

    # Review L1: each row's button names the loan it acts on, and no column heading is left empty.
    for name in (f"Fund loan {open_loan}", f"Verify the agreement of loan {open_loan}", f"Borrower of loan {open_loan}",
                 f"Sell notes of loan {held}"):  # fmt: skip
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(1)
    expect(page.get_by_role("button", name="Verify", exact=True)).to_have_count(1)  # the Verify form's own, alone
    for section in ("#portfolio-section", "#market-section"):
        assert "" not in [text.strip() for text in page.locator(f"{section} thead th").all_inner_texts()]


def test_a_failing_or_unreachable_platform_reads_as_words(page, server):
    """Review M4: an error page that is not JSON, or no answer at all, is said in words in the status
    line, and the figures say they are unavailable rather than "loading…" for ever."""
    status = page.locator("#status")
    expect(page.locator("#disclosure")).not_to_have_text("loading…")
    page.route("**/api/v1/loans", lambda route: route.fulfill(
        status=502, content_type="text/html", body="<html><body><h1>502 Bad Gateway</h1></body></html>"))  # fmt: skip
    page.click("#refresh-loans")
    expect(status).to_have_text("The platform answered 502 Bad Gateway: try again in a moment.")
    expect(status).to_have_class("error")
    page.unroute("**/api/v1/loans")
    page.route("**/api/v1/loans", lambda route: route.abort())
    page.click("#refresh-loans")
    expect(status).to_have_text("The platform cannot be reached: check your connection and try again.")
    page.unroute("**/api/v1/loans")

    page.route("**/api/v1/disclosure", lambda route: route.abort())
    page.reload()
    expect(page.locator("#disclosure")).to_have_text("Figures unavailable right now.")
    expect(status).to_have_text("The platform cannot be reached: check your connection and try again.")


def test_the_rows_verify_says_its_verdict_and_takes_the_focus_to_it(page, server, world):
    """Review M3: the verdict of a row's *Verify* is said in the status line, in one line, and the
    focus moves to the result, itself a live region (the Verify form's own verdicts are announced)."""
    loan_id, _ = world.create()
    cid = "bafkrei" + "a" * 52
    page.route(re.compile(rf"/api/v1/loans/{loan_id}$"), lambda route: route.fulfill(json={"loan_id": loan_id, "agreement_cid": cid}))
    page.route(re.compile(r"/api/v1/verify\?cid="), lambda route: route.fulfill(json={
        "status": "verified", "reason": "the document matches its on-chain anchor", "cid": cid, "block_number": 7}))  # fmt: skip
    verify = page.locator(f'button[data-loan="{loan_id}"][data-action="verify"]')
    _wait(lambda: (page.click("#refresh-loans"), page.wait_for_timeout(300), verify.count() == 1)[-1], "the loan's row")
    verify.click()
    result = page.locator("#verify-result")
    expect(result).to_have_text("✔ VERIFIED: the document matches its on-chain anchor")
    expect(result).to_have_attribute("role", "status")
    expect(result).to_be_focused()
    expect(page.locator("#status")).to_have_text(f"Agreement of loan {loan_id}: ✔ VERIFIED: the document matches its on-chain anchor")


LONG_STATUS = ("Your wallet is on chain 1 (Ethereum mainnet); this platform runs on chain 31337 (the local development "
               "chain). Switch your wallet to chain 31337 (the local development chain): nothing is signed or sent until then.")  # fmt: skip


def test_at_320_px_the_top_bar_covers_no_focused_control_and_a_report_line_wraps(page, server):
    """Review M1: the room kept above a control scrolled into view follows the sticky bar's height
    (a three-line status); review M2: a monthly report's CID wraps rather than widening the page."""
    page.route("**/api/v1/disclosure/reports", lambda route: route.fulfill(json=[{
        "period": "2026-11", "as_of_block": 1234, "cid": "bafkrei" + "b" * 52, "anchor_tx": "0x" + "c" * 64,
        "verify_url": "/api/v1/verify?cid=bafkrei" + "b" * 52}]))  # fmt: skip
    page.set_viewport_size({"width": 320, "height": 640})
    page.reload()
    expect(page.locator("#disclosure-reports li")).to_have_count(1)
    page.locator("#disclosure-section summary", has_text="Monthly reports").click()
    expect(page.locator("#disclosure-reports li")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320

    page.evaluate(f"""async () => {{ const {{ say }} = await import(new URL("core.js", location.href)); say({LONG_STATUS!r}, true); }}""")
    page.wait_for_function("""() => parseFloat(getComputedStyle(document.documentElement).scrollPaddingTop)
      >= document.querySelector(".topbar").getBoundingClientRect().height""")  # fmt: skip
    page.focus("#refresh-loans")
    page.evaluate("window.scrollBy(0, document.getElementById('refresh-loans').getBoundingClientRect().top)")  # under the bar
    page.keyboard.press("Shift+Tab")  # back to the apply form's button, above the window
    expect(page.locator("#apply-form button[type=submit]")).to_be_focused()
    top = page.evaluate("document.activeElement.getBoundingClientRect().top")
    assert top >= page.evaluate("document.querySelector('.topbar').getBoundingClientRect().bottom")


def test_an_error_is_marked_in_words_and_a_dust_amount_is_not_shown_as_nothing(page, server):
    """Review L2: an error in the status line is marked by a sign and a word, not its colour only;
    review L3: an amount that would round to 0.00 shows its own decimals."""
    expect(page.locator("#disclosure")).not_to_have_text("loading…")  # the platform (its token) is known
    shown = page.evaluate("""async () => {
      const { money, say } = await import(new URL("core.js", location.href));
      say("User rejected the request.", true);
      return [getComputedStyle(document.getElementById("status"), "::before").content, money(1234), money(0), money(3_000_000_000)];
    }""")  # fmt: skip
    assert shown == ['"⚠ Error: "', "0.001234 mUSD", "0.00 mUSD", "3,000.00 mUSD"]
