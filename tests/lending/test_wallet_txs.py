"""Wallet-ready transactions: the API builds the calls (approve first when the allowance is short),
the wallets send them, and the contract's state shows they did what they said. Bad requests are
4xx before any gas is spent."""

from __future__ import annotations

from backend.chain.client import get_web3
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.identity.conftest import minted_bearer
from tests.lending.conftest import created_loan, settle


def _prepare(client, headers, loan_id, **body):
    return client.post(f"/api/v1/loans/{loan_id}/transactions", json=body, headers=headers)


def _send(w3, sender, transactions) -> None:
    """Send from an Anvil-unlocked account or a local key, as a browser wallet would."""
    for tx in transactions:
        request = {"from": sender.address, "to": tx["to"], "data": tx["data"], "value": 0}
        if hasattr(sender, "key") and sender.address not in w3.eth.accounts:
            request |= {"nonce": w3.eth.get_transaction_count(sender.address), "chainId": w3.eth.chain_id,
                        "gas": 500_000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}  # fmt: skip
            tx_hash = w3.eth.send_raw_transaction(sender.sign_transaction(request).raw_transaction)
        else:
            tx_hash = w3.eth.send_transaction(request)
        assert w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1, tx["description"]


def test_investors_fund_the_borrower_repays_and_investors_claim(client, chain_identity_settings, borrower, approved, world):  # noqa: F811
    settings = chain_identity_settings
    w3 = get_web3(settings)
    loan_id = created_loan(client, settings, borrower, approved)["loan_id"]
    principal = world.loan(loan_id)["principal"]
    first, second = world.investors[:2]
    world.chain.tx(world.token.functions.approve(world.book.address, 0), first.address)  # no allowance yet
    h1, h2 = minted_bearer(settings, first), minted_bearer(settings, second)

    info = client.get("/api/v1/chain").json()
    assert info["contracts"]["LoanBook"] == world.book.address and info["asset_decimals"] == 6
    assert info["asset_symbol"] == "mUSD"  # amounts on the page carry it

    assert _prepare(client, h1, loan_id, action="fund").status_code == 422  # no amount
    too_much = _prepare(client, h1, loan_id, action="fund", amount=principal + 1)
    assert too_much.status_code == 422 and too_much.json()["context"]["remaining"] == principal
    # The message speaks tokens, as the user typed them; the base units stay in the context.
    assert f"at most {principal / 10**6:,.2f} tokens, what the loan still needs" in too_much.json()["detail"]
    too_little = _prepare(client, h1, loan_id, action="fund", amount=1)
    assert too_little.status_code == 422 and "minimum ticket" in too_little.json()["detail"]
    assert _prepare(client, h1, loan_id, action="repay").status_code == 409  # still funding
    assert _prepare(client, h1, 999, action="fund", amount=10).status_code == 404
    own = _prepare(client, borrower.headers, loan_id, action="fund", amount=principal)
    assert own.status_code == 403 and "self-funding" in own.json()["detail"]
    unverified = _prepare(client, minted_bearer(settings, world.outsider), loan_id, action="fund", amount=principal)
    assert unverified.status_code == 403 and "pass KYC first" in unverified.json()["detail"]  # before any gas is paid

    planned = _prepare(client, h1, loan_id, action="fund", amount=principal // 3).json()
    assert [t["to"] for t in planned["transactions"]] == [world.token.address, world.book.address]  # approve, fund
    tokens = f"{principal // 3 / 10**6:,.2f} tokens"  # what the wallet's prompt says, as the user typed it
    assert [t["description"] for t in planned["transactions"]] == [
        f"allow LoanBook to take up to {tokens} from your wallet", f"fund loan {loan_id} with {tokens}"]
    _send(w3, first, planned["transactions"])
    rest = _prepare(client, h2, loan_id, action="fund", amount=principal - principal // 3).json()
    assert len(rest["transactions"]) == 1  # enough allowance already: fund only
    _send(w3, second, rest["transactions"])
    assert world.loan(loan_id)["funded"] == principal
    assert _prepare(client, h1, loan_id, action="disburse").status_code == 409  # the index has not seen it yet
    settle(settings)
    payout = _prepare(client, borrower.headers, loan_id, action="disburse").json()
    _send(w3, second, payout["transactions"])  # anyone may trigger the payout; it goes to the borrower
    assert world.loan(loan_id)["status"] == 2  # Active
    settle(settings)

    w3.provider.make_request("anvil_setBalance", [borrower.account.address, hex(10**18)])
    nothing_due = _prepare(client, borrower.headers, loan_id, action="repay")
    assert nothing_due.status_code == 409 and "prepay" in nothing_due.json()["detail"]
    loan = world.loan(loan_id)
    world.chain.mine_at(loan["startTime"] + loan["installmentPeriod"])  # the first due date
    due = world.book.functions.amountDue(loan_id).call()
    over = _prepare(client, borrower.headers, loan_id, action="repay", amount=due[1] + 1)
    assert over.status_code == 422 and over.json()["context"]["payoff"] == due[1]
    repay = _prepare(client, borrower.headers, loan_id, action="repay").json()
    assert repay["amount"] == due[0] > 0 and repay["transactions"][0]["to"] == world.token.address
    _send(w3, borrower.account, repay["transactions"])
    assert world.loan(loan_id)["installmentsPaid"] == 1
    payoff = _prepare(client, borrower.headers, loan_id, action="payoff")  # the payout is spent: not enough
    owed = world.book.functions.amountDue(loan_id).call()[1]
    assert payoff.status_code == 409 and payoff.json()["context"]["amount"] == owed
    assert payoff.json()["detail"].endswith(f"less than the {owed / 10**6:,.2f} this needs")
    settle(settings)

    portfolio = client.get("/api/v1/portfolio", headers=h1).json()
    assert portfolio["claimable"] == world.book.functions.claimableOf(loan_id, first.address).call() > 0
    assert [p["claimable"] for p in portfolio["positions"]] == [portfolio["claimable"]]
    claim = _prepare(client, h1, loan_id, action="claim").json()
    assert claim["amount"] == world.book.functions.claimableOf(loan_id, first.address).call() > 0
    before = world.balance(first)
    _send(w3, first, claim["transactions"])
    assert world.balance(first) == before + claim["amount"]
    assert _prepare(client, h1, loan_id, action="claim").status_code == 409  # nothing left to claim
    assert client.post("/api/v1/portfolio/claim", headers=h1).status_code == 409

    everything = client.post("/api/v1/portfolio/claim", headers=h2).json()  # claimMany over the loans held
    assert everything["amount"] == world.book.functions.claimableOf(loan_id, second.address).call() > 0
    assert [t["to"] for t in everything["transactions"]] == [world.book.address]
    before = world.balance(second)
    _send(w3, second, everything["transactions"])
    assert world.balance(second) == before + everything["amount"]


def test_a_payoff_mined_days_after_its_quote_still_closes_the_loan(client, chain_identity_settings, borrower, approved, world):  # noqa: F811
    """A payoff owes the current installment's interest for the days begun, so its figure grows
    daily; one that arrived short would be a partial prepayment charged the whole period's interest.
    The transaction offers a few days' leeway, and LoanBook takes only what is owed when mined."""
    settings = chain_identity_settings
    w3 = get_web3(settings)
    loan_id = created_loan(client, settings, borrower, approved)["loan_id"]
    world.fund_equally(loan_id)
    world.chain.tx(world.book.functions.disburse(loan_id), world.investors[0].address)
    settle(settings)
    w3.provider.make_request("anvil_setBalance", [borrower.account.address, hex(10**18)])
    loan = world.loan(loan_id)
    world.chain.mine_at(loan["startTime"] + 3 * 86_400 + 60)  # four days of the first period begun
    quoted = world.book.functions.amountDue(loan_id).call()[1]
    world.chain.tx(world.token.functions.faucet(borrower.account.address, 2 * quoted), world.admin.address)
    planned = _prepare(client, borrower.headers, loan_id, action="payoff").json()
    assert planned["amount"] == quoted and "at most" in planned["transactions"][-1]["description"]
    before = world.balance(borrower.account)
    world.chain.set_next_timestamp(loan["startTime"] + 6 * 86_400 + 60)  # mined three days later
    _send(w3, borrower.account, planned["transactions"])
    owed_then = before - world.balance(borrower.account)
    assert world.loan(loan_id)["status"] == 3  # Repaid: not a partial prepayment
    assert quoted < owed_then < quoted + loan["principal"] * loan["aprBps"] * 4 // (10_000 * 365)
