"""One loan as the node has it, for a trace to hold the index against: LoanBook's stored loan
(`loan(id)`), the terms its `LoanCreated` log carries, their EIP-712 hashes recomputed here and by
the contract, and the loan's logs (backend/chain/index_check.py). Also the token balances a
platform contract's ledger is reconciled with."""

from __future__ import annotations

from dataclasses import dataclass, replace

from web3 import Web3

from backend.chain import loan_terms
from backend.chain.client import contract_at, get_web3, read_many, reading
from backend.chain.deploy import deployed_contract
from backend.chain.index_check import loan_events_on_chain
from backend.chain.loan_book import LoanBookDomain, loan_book_domain, struct_hash
from backend.chain.models import ChainEvent
from backend.chain.projection_models import LoanRow
from backend.chain.servicing_reader import STATUS_NAMES
from backend.config import Settings


@dataclass(frozen=True)
class ChainLoan:
    loan_id: int
    block: int  # the block the loan was read at
    stored: dict  # LoanBook.loan(id): the `Loan` struct by field name
    created: ChainEvent  # its LoanCreated log, from the node
    events: list[ChainEvent]  # every log the index files under the loan, from the node
    terms: loan_terms.LoanTerms
    domain: LoanBookDomain
    terms_hash_recomputed: str  # the EIP-712 struct hash of `terms`, computed here
    digest_on_chain: str  # LoanBook.hashLoanTerms(terms)
    digest_recomputed: str  # the same, computed here

    @property
    def status(self) -> str:
        return STATUS_NAMES[self.stored["status"]]

    def terms_problems(self) -> list[str]:
        """Where the chain's own records of the terms disagree: none, unless this code's EIP-712
        encoding has drifted from the contract's (or the node answers nonsense)."""
        problems = []
        if self.terms_hash_recomputed != self.stored["termsHash"]:
            problems.append(f"LoanCreated's terms hash to {self.terms_hash_recomputed}, LoanBook stores "
                            f"{self.stored['termsHash']}")  # fmt: skip
        if self.digest_on_chain != self.digest_recomputed:
            problems.append(f"hashLoanTerms gives {self.digest_on_chain}, this code {self.digest_recomputed}")
        t, s = self.terms, self.stored
        for name, signed, kept in (("borrower", t.borrower, s["borrower"]), ("principal", t.principal, s["principal"]),
                                   ("aprBps", t.apr_bps, s["aprBps"]), ("installments", t.installments, s["installments"]),
                                   ("installmentPeriod", t.installment_period, s["installmentPeriod"]),
                                   ("fundingDeadline", t.funding_deadline, s["fundingDeadline"]),
                                   ("originationFeeBps", t.origination_fee_bps, s["originationFeeBps"]),
                                   ("installmentAmount", int(self.created.args["installmentAmount"]),
                                    s["installmentAmount"])):  # fmt: skip
            if signed != kept:
                problems.append(f"{name}: LoanCreated {signed!r}, LoanBook.loan {kept!r}")
        return problems

    def as_row(self) -> dict:
        """What the index's `chain_loans` row must hold, field by field, read from the chain."""
        s, t, a = self.stored, self.terms, self.created.args
        return {
            "status": self.status, "borrower": s["borrower"], "underwriter": a["underwriter"],
            "terms_hash": s["termsHash"], "agreement_hash": "0x" + t.agreement_hash.hex(),
            "decision_hash": "0x" + t.decision_hash.hex(), "principal": s["principal"], "apr_bps": s["aprBps"],
            "installments": s["installments"], "installment_period": s["installmentPeriod"],
            "installment_amount": s["installmentAmount"], "funding_deadline": s["fundingDeadline"],
            "origination_fee_bps": s["originationFeeBps"], "funded": s["funded"], "start_time": s["startTime"] or None,
            "principal_outstanding": s["principalOutstanding"], "cover": s["coverPaid"], "recoverable": s["recoverable"],
            "created_block": self.created.block_number,
        }  # fmt: skip


def loan_on_chain(settings: Settings, loan_id: int, through: int) -> ChainLoan | None:
    """The loan as the node has it at block `through`, or at its head when that is older (None when
    no LoanCreated for it is on chain by then)."""
    with reading("the chain's head"):
        block = min(through, get_web3(settings).eth.block_number)
    events = loan_events_on_chain(settings, loan_id, block)
    created = next((e for e in events if e.event == "LoanCreated" and e.contract == "LoanBook"), None)
    if created is None:
        return None
    domain = loan_book_domain(settings)
    t = created.args["terms"]
    terms = loan_terms.LoanTerms(
        borrower=t["borrower"], principal=int(t["principal"]), apr_bps=int(t["aprBps"]),
        installments=int(t["installments"]), installment_period=int(t["installmentPeriod"]),
        funding_deadline=int(t["fundingDeadline"]), origination_fee_bps=int(t["originationFeeBps"]),
        agreement_hash=t["agreementHash"], decision_hash=t["decisionHash"], nonce=int(t["nonce"]),
        deadline=int(t["deadline"]),
    )  # fmt: skip
    stored, digest = _stored(settings, loan_id, terms, block)
    return ChainLoan(
        loan_id=loan_id, block=block, stored=stored, created=created, events=events, terms=terms, domain=domain,
        terms_hash_recomputed=struct_hash(terms, domain), digest_on_chain=digest,
        digest_recomputed="0x" + loan_terms.digest(terms, domain.chain_id, domain.address).hex(),
    )  # fmt: skip


def _stored(settings: Settings, loan_id: int, terms: loan_terms.LoanTerms, block: int) -> tuple[dict, str]:
    """LoanBook.loan(id) by field name and LoanBook.hashLoanTerms(terms), both at `block` (one batch)."""
    book = deployed_contract(settings, "LoanBook")
    stored, digest = read_many([book.functions.loan(loan_id), book.functions.hashLoanTerms(terms.as_tuple())],
                               f"loan {loan_id} from LoanBook at block {block}", block)  # fmt: skip
    names = [c["name"] for c in book.get_function_by_name("loan").abi["outputs"][0]["components"]]
    return {n: ("0x" + bytes(v).hex() if isinstance(v, bytes) else v) for n, v in zip(names, stored)}, "0x" + bytes(digest).hex()


def loan_before(settings: Settings, chain: ChainLoan, block: int) -> ChainLoan | None:
    """The same loan as the node had it at an earlier `block` (the index's), as `loan_on_chain`
    would read it there, without reading its logs again: they are `chain`'s logs up to that block
    (the same logs a read up to there returns); LoanBook's stored loan and hashLoanTerms are read
    again at that block. None when LoanBook created it after `block`."""
    if block >= chain.block:
        return chain
    if chain.created.block_number > block:
        return None
    stored, digest = _stored(settings, chain.loan_id, chain.terms, block)
    return replace(chain, block=block, stored=stored, digest_on_chain=digest,
                   events=[e for e in chain.events if e.block_number <= block])  # fmt: skip


def row_differences(row: LoanRow, chain: ChainLoan) -> list[str]:
    """`field: index X, chain Y` for every field of the index's loan row that the chain contradicts."""
    return [f"{name}: index {getattr(row, name)!r}, chain {value!r}" for name, value in chain.as_row().items()
            if getattr(row, name) != value]  # fmt: skip


def token_balances(settings: Settings, holders: list[str], block: int) -> dict[str, int]:
    """Each holder's balance of LoanBook's asset at `block`."""
    book = deployed_contract(settings, "LoanBook")
    with reading("LoanBook's asset"):
        asset = book.functions.asset().call()
    token = contract_at(settings, "MockStablecoin", asset)  # any ERC-20 answers its balanceOf
    holders = [Web3.to_checksum_address(h) for h in holders]
    answers = read_many([token.functions.balanceOf(h) for h in holders], f"balances of {asset} at block {block}", block)
    return {h: int(b) for h, b in zip(holders, answers)}
