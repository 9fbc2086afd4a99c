"""The wallet as the page meets it: on another network (nothing signed or sent until it switches),
missing altogether (said in words), and what the page says and clears as the user goes on."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from backend.db.session import session_scope
from backend.identity.kyc.submission import submit
from backend.identity.schemas import KycCreate
from tests.identity.conftest import make_applicant
from tests.scoring.conftest import SAMPLE
from tests.web.test_ui import _apply, _confirm, _loan_button, _sign_in, _wait

# The test wallet, made to report another chain (Ethereum mainnet) until the page asks it to switch;
# it records every request and lets the test fire `chainChanged` as a wallet does.
ELSEWHERE = """() => {
  const forward = window.ethereum.request;
  Object.assign(window, { __chain: "0x1", __canSwitch: false, __sent: [], __listeners: {} });
  window.ethereum.on = (event, listener) => { window.__listeners[event] = listener; };
  window.ethereum.request = async ({ method, params }) => {
    window.__sent.push({ method, params });
    if (method === "eth_chainId") return window.__chain;
    if (method === "wallet_switchEthereumChain") {
      if (!window.__canSwitch) throw Object.assign(new Error("User rejected the request."), { code: 4001 });
      window.__chain = params[0].chainId;
      return null;
    }
    return forward({ method, params });
  };
}"""


def _sent(page, method: str) -> list:
    return [r["params"] for r in page.evaluate("window.__sent") if r["method"] == method]


def test_a_wallet_on_another_chain_is_asked_to_switch_and_nothing_is_sent_until_it_does(page, server, wallet, world):
    borrower = world.borrower
    loan_id, _ = world.create()
    world.fund(loan_id, world.investors[0], world.loan(loan_id)["principal"])
    wallet.address = borrower.address
    page.evaluate(ELSEWHERE)
    refusal = ("Your wallet is on chain 1 (Ethereum mainnet); this platform runs on chain 31337 (the local development "
               "chain). Switch your wallet to chain 31337 (the local development chain): nothing is signed or sent until then.")  # fmt: skip

    page.click("#connect")  # the sign-in message is a signature too
    expect(page.locator("#status")).to_have_text(refusal, timeout=30_000)  # a cold server's first answers are slow
    expect(page.locator("#status")).to_have_class("error")
    assert _sent(page, "personal_sign") == [] and _sent(page, "wallet_switchEthereumChain") == [[{"chainId": "0x7a69"}]]

    page.evaluate("window.__chain = '0x7a69'")
    _sign_in(page, borrower.address)
    expect(page.locator("#connect")).to_have_text("Switch wallet")  # signed in: no second "sign in" offered
    page.evaluate("window.__chain = '0x1'")  # the user moves the wallet to mainnet: the page says so at once
    page.evaluate("window.__listeners.chainChanged('0x1')")
    expect(page.locator("#status")).to_have_text(refusal)
    disburse = page.locator(f'button[data-loan="{loan_id}"][data-action="disburse"]')
    expect(disburse).to_have_count(1, timeout=60_000)
    disburse.click()
    _wait(lambda: len(_sent(page, "wallet_switchEthereumChain")) == 2, "the page asking the wallet to switch")
    expect(page.locator("#status")).to_have_text(refusal)  # said again, once the wallet refused the switch
    assert _sent(page, "eth_sendTransaction") == []
    assert world.loan(loan_id)["status"] == 1  # still Funded: no payout sent to whatever sits at that address elsewhere

    page.evaluate("window.__canSwitch = true")  # a wallet that can switch is switched, then sends on this chain
    disburse.click()
    expect(page.locator("#status")).to_have_text(f"Done: disburse on loan {loan_id}.")
    assert world.loan(loan_id)["status"] == 2
    assert {tx[0]["chainId"] for tx in _sent(page, "eth_sendTransaction")} == {"0x7a69"}
    page.evaluate("window.__listeners.chainChanged('0x7a69')")
    expect(page.locator("#status")).to_have_text("Your wallet is back on chain 31337 (the local development chain).")


def test_without_a_browser_wallet_the_page_says_one_is_needed_and_where_to_go_instead(page, server):
    page.evaluate("delete window.ethereum")
    page.click("#connect")
    status = page.locator("#status")
    expect(status).to_have_text("No browser wallet found: install MetaMask or another EIP-1193 wallet to sign in here, "
                                "or sign with a local key instead (the README's \"Without a browser wallet\").")  # fmt: skip
    expect(status).to_have_class("error")


def test_a_visitor_without_a_wallet_is_told_how_to_sign_in_not_shown_an_error(page, server):
    page.context.add_init_script("delete window.ethereum")  # after the test wallet's script: no wallet at load
    page.reload()
    status = page.locator("#status")
    expect(status).to_contain_text("No browser wallet found")
    expect(status).not_to_have_class("error")
    expect(page.locator("#disclosure")).not_to_have_text("loading…")  # the figures load all the same


def test_a_failed_query_clears_the_last_answer_and_a_later_action_clears_the_old_error(page, server, wallet, world):
    result, details, status = page.locator("#verify-result"), page.locator("#verify-details"), page.locator("#status")
    page.set_input_files("#verify-file", files=[{"name": "x.json", "mimeType": "application/json", "buffer": b'{"a": 1}'}])
    page.click("#verify-form button[type=submit]")
    expect(details).not_to_be_empty(timeout=30_000)  # a cold server's first answers are slow
    first = result.inner_text()

    page.set_input_files("#verify-file", files=[])
    page.fill("#verify-cid", "hello")
    page.click("#verify-form button[type=submit]")
    expect(result).to_have_text(re.compile(r"^Not checked: .*hello"))  # the refusal, in place of the last verdict
    expect(details).to_be_empty()
    expect(status).to_have_class("error")
    page.fill("#verify-cid", "")
    page.set_input_files("#verify-file", files=[{"name": "x.json", "mimeType": "application/json", "buffer": b'{"a": 1}'}])
    page.click("#verify-form button[type=submit]")
    expect(result).to_have_text(first)
    expect(status).to_have_text("")  # the old error no longer stands
    expect(status).not_to_have_class("error")

    wallet.address = world.admin.address  # an admin traces an address, then a loan that is not there
    _sign_in(page, world.admin.address)
    page.fill("#trace-what", world.admin.address)
    page.click("#trace")
    expect(page.locator("#trace-result")).to_contain_text(f"{world.admin.address}: KYC level ")
    page.fill("#trace-what", "999")
    page.click("#trace")
    expect(page.locator("#trace-result")).to_have_text(re.compile(r"^No trace of 999: .*loan 999"))
    for part in ("#trace-checks", "#trace-events", "#trace-case-log"):
        expect(page.locator(part)).to_be_empty()


# The first answer of each closed question: the worst ones, which the form used to start on.
WORST = {"purpose": "new_car", "monthly_income_band": "under_500", "employment_length": "unemployed", "housing": "rent",
         "checking_account": "none", "savings": "none_or_unknown", "credit_history": "past_delays",
         "property": "none", "other_instalment_plans": "stores", "guarantor": "none"}  # fmt: skip


def test_the_application_starts_unanswered_a_decline_says_why_and_an_investor_is_told_how_to_borrow(page, server, wallet, world):
    investor = world.investors[1]
    with session_scope(server.settings) as session:  # KYC level 1: no ID document, so investing only
        submit(session, server.settings, investor.address, KycCreate(**make_applicant(503).form()), [])
    wallet.address = investor.address
    _sign_in(page, investor.address)
    income = page.locator('#apply-form [name="monthly_income_band"]')
    assert income.input_value() == ""  # no answer chosen for the applicant
    expect(income.locator("option").first).to_have_text("Choose…")
    expect(income.locator("option[value=under_500]")).to_have_text("Under 500 mUSD")
    expect(page.locator('#apply-form [name="employment_length"] option[value="7y_plus"]')).to_have_text("Employed, 7 years or more")
    page.click("#apply-form button[type=submit]")  # untouched: the browser asks for the answers, nothing is sent
    expect(page.locator("#decision")).to_be_hidden()
    assert income.evaluate("e => e.validity.valueMissing")

    _apply(page, WORST)
    expect(page.locator("#decision-outcome")).to_have_text("declined")
    expect(page.locator("#decision-price")).to_be_hidden()  # no "interest rate -" nor "up to -"
    expect(page.locator("#decision")).not_to_contain_text(" -")
    expect(page.locator("#decision-reasons li")).not_to_have_count(0)
    expect(page.locator("#decision-next")).to_contain_text("You may ask us to explain this decision")
    expect(page.locator("#get-offer")).to_be_hidden()

    _apply(page, SAMPLE)
    expect(page.locator("#decision-outcome")).to_have_text("approved")
    expect(page.locator("#decision-max")).to_have_text(re.compile(r"^[\d,]+ mUSD$"))
    expect(page.locator("#get-offer")).to_be_hidden()  # an offer is a borrower's, and the page says how to become one
    expect(page.locator("#decision-next")).to_have_text(
        "To get an offer, verify your identity with an ID document (step 1: upload it with the form): borrowing needs "
        "one, investing does not.")  # fmt: skip
    message = page.evaluate("""async () => {
      const { api } = await import(new URL("core.js", location.href));
      try { await api("/api/v1/offers", { method: "POST", body: { decision_id: "x" } }); } catch (e) { return e.message; }
    }""")  # fmt: skip
    assert message == "This needs a wallet verified as a borrower (verify your identity with an ID document, step 1)."


def test_a_refused_kyc_field_is_marked_beside_it_with_its_format_hinted(page, server, wallet, world):
    investor = world.investors[2]
    wallet.address = investor.address
    _sign_in(page, investor.address)
    phone = page.locator('#kyc-form [name="phone"]')
    expect(phone).to_have_attribute("placeholder", "+8613800138000")  # the format, before any refusal
    assert page.locator('#kyc-form [name="nationality"]').input_value() == ""  # no country chosen for the applicant
    for name, value in make_applicant(504).form().items():
        field = page.locator(f'#kyc-form [name="{name}"]')
        field.select_option(value) if name == "id_type" else field.fill("0123456789" if name == "phone" else value)
    page.click("#kyc-form button[type=submit]")
    expect(phone).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#phone-error")).to_contain_text("E.164")
    expect(phone).to_be_focused()
    expect(page.locator("#kyc-form [aria-invalid]")).to_have_count(1)  # only the field refused

    phone.fill(make_applicant(504).phone)
    page.click("#kyc-form button[type=submit]")
    expect(page.locator("#kyc-status")).to_contain_text("approved")
    expect(page.locator("#kyc-form .field-error")).to_have_count(0)


# The test wallet, made to record what the page shows when it first asks for a receipt: by then the
# transaction is sent, and the user waits for it to be mined.
AT_RECEIPT = """() => {
  const forward = window.ethereum.request;
  window.ethereum.request = async ({ method, params }) => {
    if (method === "eth_getTransactionReceipt" && !window.__atReceipt) {
      const fund = document.querySelector('button[data-action="fund"]');
      window.__atReceipt = { status: document.getElementById("status").textContent,
        busy: fund?.getAttribute("aria-busy") ?? null, disabled: fund?.disabled ?? null };
    }
    return forward({ method, params });
  };
}"""


def test_a_double_click_on_fund_asks_once_and_moves_the_money_once(page, server, wallet, world):
    """Review H1: the clicked button is busy (disabled, `aria-busy`) until its action settles, so a
    double click is one plan, one dialog and one fund; once sent, the page says it waits for the
    chain; a second dialog never opens over the first."""
    investor, unit = world.investors[0], 10**6
    loan_id, _ = world.create()
    with session_scope(server.settings) as session:  # the investor passed KYC (level 1, no document)
        submit(session, server.settings, investor.address, KycCreate(**make_applicant(511).form()), [])
    wallet.address = investor.address
    _sign_in(page, investor.address)
    fund = _loan_button(page, loan_id, "fund")
    plans = []
    page.on("request", lambda r: plans.append(r.url) if r.method == "POST" and r.url.endswith(f"/loans/{loan_id}/transactions") else None)
    page.evaluate(AT_RECEIPT)
    before = world.balance(investor)

    page.fill(f'input[data-loan="{loan_id}"]', "30")
    fund.dblclick()
    _confirm(page, f"30.00 mUSD leaves your wallet for loan {loan_id}")
    expect(page.locator("#status")).to_have_text(f"Done: fund on loan {loan_id}.")
    expect(fund).to_be_enabled()  # free again once the action has settled
    expect(fund).not_to_have_attribute("aria-busy", "true")
    assert len(plans) == 1
    assert before - world.balance(investor) == 30 * unit  # once, not twice
    assert world.book.functions.balanceOf(investor.address, loan_id).call() == 30 * unit
    assert page.evaluate("window.__atReceipt") == {
        "status": "Sent: waiting for the transaction to be mined…", "busy": "true", "disabled": True}

    opened = page.evaluate("""async () => {
      const { confirmPlan } = await import(new URL("core.js", location.href));
      const first = confirmPlan({ title: "One", lines: [], yes: "Yes" });
      const second = confirmPlan({ title: "Two", lines: [], yes: "Yes" }).then(() => "opened", (e) => e.message);
      const title = document.getElementById("confirm-title").textContent;
      document.getElementById("confirm").close();
      await first;
      return [await second, title];
    }""")  # fmt: skip
    assert opened == ["A confirmation is already open: answer it first.", "One"]


# The page's 12 s poll switched off: what changes on screen after an action is the action's own redraw.
NO_POLL = """(() => {
  const every = window.setInterval;
  window.setInterval = (fn, ms, ...args) => (ms === 12000 ? 0 : every(fn, ms, ...args));
})();"""


def test_collect_all_redraws_the_loans_table_once_the_claim_is_indexed(page, server, wallet, world):
    """Review M6: after *Collect all repayments* the row's *Claim* button and the collect row go,
    without a Refresh or the poll: nothing invites a second claim."""
    investor = world.investors[0]
    loan_id, _ = world.active_loan(investors=[investor, world.investors[3]])
    world.repay(loan_id, world.loan(loan_id)["installmentAmount"])
    page.context.add_init_script(NO_POLL)
    page.reload()
    wallet.address = investor.address
    _sign_in(page, investor.address)
    claim = _loan_button(page, loan_id, "claim")
    expect(page.locator("#claim-all-row")).to_be_visible()

    page.click("#claim-all")
    expect(page.locator("#status")).to_contain_text("Collected ")
    assert world.book.functions.claimableOf(loan_id, investor.address).call() == 0
    expect(claim).to_have_count(0)
    expect(page.locator("#claim-all-row")).to_be_hidden()
