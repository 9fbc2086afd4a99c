"""Gas benchmark of the lending contracts: runs each operation on a local chain and reports the
gas its transaction used (receipt `gasUsed`, after refunds).

It starts a temporary Anvil on a free port with a throwaway workdir and manifest, whatever else
runs: the chain `make run` serves is the platform's, and blocks mined then reverted there read to
its indexer as a reorg (an outbox transaction sent meanwhile would be rolled back), while the state
it holds (a warm reserve slot) would change the figures. Only when given a chain's URL does it use
that chain (deploying there if needed, and reverting every bench transaction afterwards with
evm_snapshot/evm_revert): for a chain nothing else uses, as the test suite's. The actors are fresh
wallets derived from fixed seeds, so the figures do not depend on what the chain did before:
gas is deterministic, and the result is the same on every run.

Scenario (amounts in the 6-decimal MockStablecoin):
- loan A: 12,000 tokens, 12% APR, 12 monthly installments, 1% fee, 10 investors of 1,200.
  `createLoan` (a new borrower's first loan), `fund_first` (its first ticket), `fund` (the most
  expensive later ticket), `disburse`, `repay` (installment 1, on time), 11 more repayments,
  then each investor's single `claim` at the end. `lifecycle_12x10` is the sum of all 35
  transactions.
- loans B and D: the same loan with 1 and 100 investors, repaying installment 1 (B's under its
  borrower's autopay mandate, by the keeper through the RepaymentAgent: `repay_with_mandate`,
  against D's `repay`).
- loan E: 6 installments paid, then `markDefault` 120 days past due (the reserve covers). Its last
  ticket is funded by the platform's keeper through the FundingAgent, under the investor's signed
  mandate (`fund_with_mandate`, against `fund`: the price of funding without the investor's own
  transaction).
- `anchor`: one new Merkle root with an `ipfs://` URI.

The book already holds other money (a partly funded loan), as it always does in service, so no
figure includes the one-off cost of the book's first token balance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from backend.chain import loan_terms as lt
from backend.chain import mandates as fm
from backend.chain import repayment_mandates as rm
from backend.chain.bench.throwaway import throwaway_anvil
from backend.chain.compiler import compile_contracts, load_artifact
from backend.chain.errors import decode_revert, revert_data_of
from backend.chain.node import is_up, rpc_call
from backend.chain.signers import dev_account
from backend.config import Settings
from backend.errors import ChainError, ChainUnavailable, ConfigurationError

DAY = 86_400
UNIT = 10**6
MAX_UINT = 2**256 - 1
TX_GAS = 3_000_000

# TrueFi measured a full loan-contract deployment at 2.9M gas and an EIP-1167 clone at 515k:
# the per-loan cost of the "one contract per loan" design LoanBook replaces.
BASELINE_PER_LOAN_CONTRACT_DEPLOY = 2_900_000
BASELINE_PER_LOAN_CLONE_DEPLOY = 515_000

BUDGETS = {
    "createLoan": 230_000,
    "fund_first": 120_000,
    "fund": 120_000,
    "repay": 90_000,
    "claim": 80_000,
    "anchor": 60_000,
    "lifecycle_12x10": 3_500_000,
    "market_list": 140_000,
    "market_buy": 170_000,
    "market_bid": 140_000,
    "market_sell": 170_000,
    "market_match": 150_000,
    "fund_with_mandate": 190_000,
    "repay_with_mandate": 150_000,
}

KEYS = [
    "createLoan", "fund_first", "fund", "disburse", "repay", "repay_investors_1", "repay_investors_10",
    "repay_investors_100", "claim", "markDefault", "anchor", "lifecycle_12x10", "market_list", "market_buy",
    "market_bid", "market_sell", "market_match", "fund_with_mandate", "repay_with_mandate",
]  # fmt: skip


def _wallet(label: str) -> LocalAccount:
    return Account.from_key(keccak(text=f"loanchain-gas-bench/{label}"))


@dataclass
class _Bench:
    settings: Settings
    w3: Web3
    kind: str  # anvil | ganache
    addresses: dict[str, str]
    admin: LocalAccount = field(default_factory=lambda: dev_account(0))
    underwriter: LocalAccount = field(default_factory=lambda: dev_account(1))
    _nonces: dict[str, int] = field(default_factory=dict)

    def contract(self, name: str):
        return self.w3.eth.contract(address=self.addresses[name], abi=load_artifact(self.settings, name)["abi"])

    # --- chain control ----------------------------------------------------------------------
    def rpc(self, method: str, params: list | None = None) -> Any:
        return rpc_call(self.settings.rpc_url, method, params or [], timeout=60)

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def at(self, ts: int) -> None:
        """Stamp the next block with `ts`."""
        if self.kind == "anvil":
            self.rpc("evm_setNextBlockTimestamp", [hex(ts)])
        else:  # Ganache has no evm_setNextBlockTimestamp; evm_setTime moves its clock
            self.rpc("evm_setTime", [ts * 1000])

    # --- transactions -------------------------------------------------------------------------
    def _nonce(self, address: str) -> int:
        nonce = self._nonces.get(address)
        if nonce is None:
            nonce = self.w3.eth.get_transaction_count(address, "pending")
        self._nonces[address] = nonce + 1
        return nonce

    def _tx(self, fn, sender: LocalAccount) -> dict:
        return {"to": fn.address, "data": fn._encode_transaction_data(), "nonce": self._nonce(sender.address),
                "gas": TX_GAS, "gasPrice": self.gas_price, "chainId": self.chain_id, "value": 0}  # fmt: skip

    def send(self, fn, sender: LocalAccount, at: int | None = None) -> int:
        """Sign and send `fn` from `sender`; returns gasUsed. Raises with the decoded error."""
        return self._send_raw(self._tx(fn, sender), sender, fn, at)

    def send_many(self, calls: list[tuple[Any, LocalAccount]]) -> None:
        """Set-up transactions: sent back to back, receipts checked together at the end."""
        hashes = []
        for fn, sender in calls:
            tx = self._tx(fn, sender) if fn is not None else sender  # (None, tx dict) for ETH
            signer = self.admin if fn is None else sender
            hashes.append(self.w3.eth.send_raw_transaction(signer.sign_transaction(tx).raw_transaction))
        for tx_hash in hashes:
            if self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)["status"] != 1:
                raise ChainError(f"gas bench set-up transaction {tx_hash.hex()} reverted")

    def eth_transfer(self, to: str, value: int) -> dict:
        return {"to": to, "value": value, "nonce": self._nonce(self.admin.address), "gas": 21_000,
                "gasPrice": self.gas_price, "chainId": self.chain_id}  # fmt: skip

    def _send_raw(self, tx: dict, sender: LocalAccount, fn, at: int | None) -> int:
        if at is not None:
            self.at(at)
        signed = sender.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120, poll_latency=0.01)
        if receipt["status"] != 1:
            reason = "?"
            if fn is not None:
                try:
                    fn.call({"from": sender.address}, block_identifier=receipt["blockNumber"] - 1)
                except Exception as exc:  # noqa: BLE001 - any revert: decode what we can
                    decoded = decode_revert(self.settings, revert_data_of(exc))
                    reason = decoded.describe() if decoded else repr(exc)
            raise ChainError(f"gas bench transaction reverted: {reason}")
        return int(receipt["gasUsed"])

    # --- actors -----------------------------------------------------------------------------
    def onboard(self, wallets: list[LocalAccount], tokens: int, level: int) -> None:
        """KYC-attest at `level`, fund with ETH and tokens, and approve the book, for each wallet."""
        kyc, token, book = self.contract("KYCRegistry"), self.contract("MockStablecoin"), self.contract("LoanBook")
        expiry = self.now() + 3650 * DAY
        calls: list[tuple[Any, Any]] = []
        for w in wallets:
            calls.append((kyc.functions.attest(w.address, level, expiry, keccak(text=f"bench-kyc/{w.address}")),
                          self.admin))  # fmt: skip
            calls.append((None, self.eth_transfer(w.address, 10**18)))
            calls.append((token.functions.faucet(w.address, tokens), self.admin))
        self.send_many(calls)
        self.send_many([(token.functions.approve(book.address, MAX_UINT), w) for w in wallets])

    def create_loan(self, borrower: LocalAccount, label: str, principal: int, installments: int = 12) -> tuple[int, int]:
        """Returns (loan id, gas)."""
        book = self.contract("LoanBook")
        now = self.now()
        terms = lt.LoanTerms(
            borrower=borrower.address, principal=principal, apr_bps=1_200, installments=installments,
            installment_period=30 * DAY, funding_deadline=now + 14 * DAY, origination_fee_bps=100,
            agreement_hash=keccak(text=f"agreement/{label}"), decision_hash=keccak(text=f"decision/{label}"),
            nonce=book.functions.nonces(borrower.address).call(), deadline=now + DAY,
        )  # fmt: skip
        bsig = lt.sign(terms, borrower, self.chain_id, book.address)
        usig = lt.sign(terms, self.underwriter, self.chain_id, book.address)
        loan_id = book.functions.loanCount().call() + 1
        gas = self.send(book.functions.createLoan(terms.as_tuple(), bsig, usig), self.admin)
        return loan_id, gas

    def fund_all(self, loan_id: int, investors: list[LocalAccount], ticket: int, measure: bool = True) -> list[int]:
        book = self.contract("LoanBook")
        if not measure:
            self.send_many([(book.functions.fund(loan_id, ticket), inv) for inv in investors])
            return []
        return [self.send(book.functions.fund(loan_id, ticket), inv) for inv in investors]

    @cached_property
    def chain_id(self) -> int:
        return self.w3.eth.chain_id

    @cached_property
    def gas_price(self) -> int:
        # Generous and fixed: Anvil's and Ganache's base fees stay far below it.
        return max(self.w3.eth.gas_price * 2, 10**9)


def _scenario(b: _Bench) -> dict[str, Any]:
    book, anchor = b.contract("LoanBook"), b.contract("DocumentAnchor")
    principal = 12_000 * UNIT
    borrowers = [_wallet(f"borrower-{i}") for i in range(5)]
    investors = [_wallet(f"investor-{i}") for i in range(100)]
    b.onboard(borrowers, 100_000 * UNIT, book.functions.borrowerKycLevel().call())
    b.onboard(investors, 20_000 * UNIT, book.functions.investorKycLevel().call())

    # The book holds other money, as in service: a partly funded loan.
    warm_id, _ = b.create_loan(borrowers[4], "warm-up", principal)
    b.fund_all(warm_id, investors[:1], 100 * UNIT)

    # Loan A: 10 investors, the full lifecycle.
    a_id, create_gas = b.create_loan(borrowers[0], "A", principal)
    fund_gas = b.fund_all(a_id, investors[:10], principal // 10)
    disburse_gas = b.send(book.functions.disburse(a_id), b.admin)
    loan = _loan(book, a_id)
    start, amount = loan["startTime"], loan["installmentAmount"]
    repay_gas = []
    for k in range(1, 13):
        # The last installment absorbs the rounding remainder: offer more, the book takes what is owed.
        pay = amount if k < 12 else 2 * amount
        repay_gas.append(b.send(book.functions.repay(a_id, pay), borrowers[0], at=start + k * 30 * DAY - DAY))
    if _loan(book, a_id)["status"] != 3:  # Repaid
        raise ChainError("gas bench: loan A did not close after 12 installments")
    claim_gas = [b.send(book.functions.claim(a_id), inv) for inv in investors[:10]]
    lifecycle = create_gas + sum(fund_gas) + disburse_gas + sum(repay_gas) + sum(claim_gas)

    # Loans B (1 investor) and D (100 investors): installment 1 on time, same amount as A's.
    b_id, _ = b.create_loan(borrowers[1], "B", principal)
    b.fund_all(b_id, investors[10:11], principal)
    b.send(book.functions.disburse(b_id), b.admin)
    b_start = _loan(book, b_id)["startTime"]
    repay_1 = b.send(book.functions.repay(b_id, amount), borrowers[1], at=b_start + 29 * DAY)
    # Installment 2 of B by autopay: the borrower approved the agent and signed a mandate once.
    agent = b.contract("RepaymentAgent")
    b.send(b.contract("MockStablecoin").functions.approve(agent.address, MAX_UINT), borrowers[1])
    autopay = rm.RepaymentMandate(payer=borrowers[1].address, executor=b.admin.address, loan_id=b_id,
                                  max_per_payment=2 * amount, expiry=b_start + 400 * DAY, salt=1)  # fmt: skip
    autopay_signature = rm.sign(autopay, borrowers[1], b.chain_id, agent.address)
    autopay_gas = b.send(agent.functions.payWithMandate(autopay.as_tuple(), autopay_signature), b.admin,
                         at=b_start + 59 * DAY)  # fmt: skip

    d_id, _ = b.create_loan(borrowers[2], "D", principal)
    b.fund_all(d_id, investors, principal // 100, measure=False)
    b.send(book.functions.disburse(d_id), b.admin)
    d_start = _loan(book, d_id)["startTime"]
    repay_100 = b.send(book.functions.repay(d_id, amount), borrowers[2], at=d_start + 29 * DAY)

    # The secondary market on loan D (active, repaid once): one holder lists part of its notes and
    # another holder buys them, the usual case (a buyer already in the loan has a position to correct).
    market = b.contract("NoteMarket")
    seller, buyer = investors[50], investors[99]
    b.send(book.functions.setApprovalForAll(market.address, True), seller)
    b.send(b.contract("MockStablecoin").functions.approve(market.address, MAX_UINT), buyer)
    list_gas = b.send(market.functions.list(d_id, 60 * UNIT, 9_800, 0), seller)
    listing_id = market.functions.listingCount().call()
    quoted = market.functions.costOf(listing_id, 30 * UNIT).call()  # the buyer's limit: the cost it was quoted
    buy_gas = b.send(market.functions.buy(listing_id, 30 * UNIT, quoted), buyer)
    # The other side: a holder bids for more notes and the same seller sells into the bid.
    bidder = investors[98]
    b.send(b.contract("MockStablecoin").functions.approve(market.address, MAX_UINT), bidder)
    bid_gas = b.send(market.functions.bid(d_id, 60 * UNIT, 9_900, 0), bidder)
    bid_id = market.functions.bidCount().call()
    quoted = market.functions.proceedsOf(bid_id, 30 * UNIT).call()  # the seller's floor: the proceeds it was quoted
    sell_gas = b.send(market.functions.sell(bid_id, 30 * UNIT, quoted), seller)
    # The rest of the listing (98%) and of the bid (99%) cross: a keeper matches part of each. (At equal
    # prices a match needs notes whose cost is whole, which loan D's principal outstanding rarely leaves.)
    match_call = market.functions.matchOrders(market.functions.listingCount().call(), market.functions.bidCount().call(),
                                              20 * UNIT)  # fmt: skip
    match_gas = b.send(match_call, b.admin)

    # Loan E: 6 installments paid, then default 120 days after installment 7 fell due.
    e_id, _ = b.create_loan(borrowers[3], "E", principal)
    b.fund_all(e_id, investors[20:29], principal // 10)
    mandate = fm.FundingMandate(investor=investors[29].address, executor=b.admin.address, per_loan=principal,
                                budget=principal, min_apr_bps=0, max_apr_bps=10_000, max_installments=360,
                                max_term=40 * 365 * DAY, expiry=b.now() + 365 * DAY, salt=1)  # fmt: skip
    funding_agent = b.contract("FundingAgent")
    b.send(book.functions.setAuthorization(funding_agent.address, True), investors[29])  # once per investor
    signature = fm.sign(mandate, investors[29], b.chain_id, funding_agent.address)
    mandate_gas = b.send(funding_agent.functions.fundWithMandate(e_id, principal // 10, mandate.as_tuple(), signature),
                         b.admin)  # fmt: skip
    b.send(book.functions.disburse(e_id), b.admin)
    e_start = _loan(book, e_id)["startTime"]
    for k in range(1, 7):
        b.send(book.functions.repay(e_id, amount), borrowers[3], at=e_start + k * 30 * DAY - DAY)
    default_at = book.functions.defaultableAt(e_id).call() + 1
    default_gas = b.send(book.functions.markDefault(e_id), b.admin, at=default_at)

    root = keccak(text="loanchain-gas-bench/merkle-root")
    anchor_gas = b.send(
        anchor.functions.anchor(root, 64, "ipfs://bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"), b.admin
    )

    return {
        "createLoan": create_gas,
        "fund_first": fund_gas[0],
        "fund": max(fund_gas[1:]),
        "disburse": disburse_gas,
        "repay": repay_gas[0],
        "repay_investors_1": repay_1,
        "repay_investors_10": repay_gas[0],
        "repay_investors_100": repay_100,
        "claim": claim_gas[0],
        "markDefault": default_gas,
        "anchor": anchor_gas,
        "lifecycle_12x10": lifecycle,
        "market_list": list_gas,
        "market_buy": buy_gas,
        "market_bid": bid_gas,
        "market_sell": sell_gas,
        "market_match": match_gas,
        "fund_with_mandate": mandate_gas,
        "repay_with_mandate": autopay_gas,
        "_details": {
            "repay_each_installment": repay_gas,
            "fund_each_ticket": fund_gas,
            "claim_each_investor": claim_gas,
        },
    }


def _loan(book, loan_id: int) -> dict[str, Any]:
    names = [c["name"] for c in book.get_function_by_name("loan").abi["outputs"][0]["components"]]
    return dict(zip(names, book.functions.loan(loan_id).call()))


def _report(gas: dict[str, Any], kind: str, settings: Settings) -> dict[str, Any]:
    details = gas.pop("_details")
    report: dict[str, Any] = {key: gas[key] for key in KEYS}
    report["baseline_per_loan_contract_deploy"] = BASELINE_PER_LOAN_CONTRACT_DEPLOY
    report["baseline_per_loan_clone_deploy"] = BASELINE_PER_LOAN_CLONE_DEPLOY
    # A whole 12-installment, 10-investor loan life against the deployment alone of a per-loan
    # contract (before that contract does any work).
    report["lifecycle_vs_contract_deploy_ratio"] = round(gas["lifecycle_12x10"] / BASELINE_PER_LOAN_CONTRACT_DEPLOY, 3)
    report["createLoan_vs_contract_deploy_ratio"] = round(gas["createLoan"] / BASELINE_PER_LOAN_CONTRACT_DEPLOY, 4)
    report["createLoan_vs_clone_deploy_ratio"] = round(gas["createLoan"] / BASELINE_PER_LOAN_CLONE_DEPLOY, 4)
    # A note bought on the market against a ticket funded at origination: the price of liquidity.
    report["market_buy_vs_fund_ratio"] = round(gas["market_buy"] / gas["fund"], 3)
    # A ticket the keeper funds under the investor's mandate against one the investor sends itself.
    report["fund_with_mandate_vs_fund_ratio"] = round(gas["fund_with_mandate"] / gas["fund"], 3)
    # An installment paid by autopay (agent: pull, approve, repay) against one the borrower sends.
    report["repay_with_mandate_vs_repay_ratio"] = round(gas["repay_with_mandate"] / gas["repay"], 3)
    report["repay_100_vs_1_pct"] = round(100 * (gas["repay_investors_100"] - gas["repay_investors_1"])
                                         / gas["repay_investors_1"], 3)  # fmt: skip
    report["budgets"] = BUDGETS
    checks = {key: gas[key] <= limit for key, limit in BUDGETS.items()}
    checks["repay_100_within_1pct_of_1"] = abs(report["repay_100_vs_1_pct"]) <= 1.0
    report["within_budget"] = checks
    report["details"] = details
    report["meta"] = {
        "chain": kind,
        "solc": settings.solc_version,
        "evm_version": settings.evm_version,
        "optimizer_runs": settings.optimizer_runs,
        "note": "gasUsed of each transaction receipt (after refunds); lifecycle = create + 10 fund + "
        "disburse + 12 repay + 10 claim",
    }
    return report


def _client_kind(settings: Settings) -> str:
    version = str(rpc_call(settings.rpc_url, "web3_clientVersion")).lower()
    return "ganache" if "ganache" in version else "anvil"


def _run_on(settings: Settings) -> dict[str, Any]:
    from backend.chain.deploy import deploy_all

    if not settings.is_local_chain:
        raise ConfigurationError("the gas bench runs on a local chain only (it mints test tokens)")
    compile_contracts(settings)
    report = deploy_all(settings)  # idempotent: reuses what is deployed; kept after the bench
    addresses = {name: entry["address"] for name, entry in report.manifest["contracts"].items()}
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 120}))
    kind = _client_kind(settings)
    snap = rpc_call(settings.rpc_url, "evm_snapshot")
    try:
        gas = _scenario(_Bench(settings, w3, kind, addresses))
    finally:
        rpc_call(settings.rpc_url, "evm_revert", [snap])
    return _report(gas, kind, settings)


def run_gas_bench(settings: Settings, rpc_url: str | None = None) -> dict[str, Any]:
    """Gas per operation (see the module docstring): on a temporary Anvil, or on the chain at
    `rpc_url` (snapshotted and reverted), which must then answer."""
    if rpc_url is not None:
        if not is_up(rpc_url):
            from backend.db.migrate import where

            raise ChainUnavailable(f"no chain answers at {where(rpc_url)}")
        return _run_on(settings.model_copy(update={"rpc_url": rpc_url}))
    with throwaway_anvil(settings, "loanchain-gas-") as (temp, _):
        return _run_on(temp)
