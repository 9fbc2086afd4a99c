"""LoanBook.createLoan: EIP-712 terms signed by borrower and underwriter (EOA or ERC-1271),
nonces, deadlines, term validation, KYC, pause; revokeNonce; hashLoanTerms."""

from __future__ import annotations

import json

from eth_account import Account

from backend.chain import loan_terms as lt
from tests.contracts.helpers import DAY, FUNDING, events, expect_revert

ZERO = "0x" + "00" * 20


def submit(world, terms, bsig, usig, sender=None):
    return world.book.functions.createLoan(terms.as_tuple(), bsig, usig), sender or world.outsider.address


def test_create_stores_the_loan_and_emits_the_terms(world, snapshot):
    terms = world.terms()
    bsig, usig = world.sign(terms, world.borrower), world.sign(terms, world.underwriter)
    fn, sender = submit(world, terms, bsig, usig)  # anyone may submit
    receipt = world.chain.tx(fn, sender)
    (ev,) = events(receipt, world.book, "LoanCreated")
    loan_id = ev["loanId"]
    assert loan_id == world.book.functions.loanCount().call()
    assert ev["borrower"] == terms.borrower and ev["underwriter"] == world.underwriter.address
    assert tuple(ev["terms"].values()) == terms.as_tuple()
    assert ev["installmentAmount"] == terms.installment_amount
    struct_hash = ev["termsHash"]
    loan = world.loan(loan_id)
    assert loan["status"] == FUNDING and loan["borrower"] == terms.borrower
    assert (loan["principal"], loan["funded"], loan["aprBps"], loan["installments"]) == (12_000 * 10**6, 0, 1200, 12)
    assert loan["installmentPeriod"] == 30 * DAY and loan["fundingDeadline"] == terms.funding_deadline
    assert loan["originationFeeBps"] == 100 and loan["termsHash"] == struct_hash
    assert loan["installmentAmount"] == lt.installment_amount(12_000 * 10**6, 1200, 30 * DAY, 12)
    assert world.book.functions.nonces(terms.borrower).call() == terms.nonce + 1
    # The next loan gets the next id.
    next_id, _ = world.create()
    assert next_id == loan_id + 1


def test_python_digest_matches_the_contract(world):
    terms = world.terms()
    on_chain = world.book.functions.hashLoanTerms(terms.as_tuple()).call()
    assert on_chain == lt.digest(terms, world.chain_id, world.book.address)
    assert world.book.functions.LOAN_TERMS_TYPEHASH().call() == world.w3.keccak(text=lt.TYPE_STRING)
    domain = world.book.functions.eip712Domain().call()
    assert tuple(domain[1:5]) == (lt.DOMAIN_NAME, lt.DOMAIN_VERSION, world.chain_id, world.book.address)
    # The recovered signer of a Python signature is the signer.
    sig = world.sign(terms, world.borrower)
    assert Account._recover_hash(on_chain, signature=sig) == world.borrower.address


def test_wrong_borrower_signer(world):
    terms = world.terms()
    fn, s = submit(world, terms, world.sign(terms, world.investors[0]), world.sign(terms, world.underwriter))
    expect_revert(world.chain, fn, s, "LoanBookInvalidBorrowerSignature", terms.borrower)


def test_underwriter_without_role(world):
    terms = world.terms()
    imposter = world.investors[0]
    fn, s = submit(world, terms, world.sign(terms, world.borrower), world.sign(terms, imposter))
    expect_revert(world.chain, fn, s, "LoanBookUnauthorizedUnderwriter", imposter.address)


def test_tampered_terms(world):
    terms = world.terms()
    bsig, usig = world.sign(terms, world.borrower), world.sign(terms, world.underwriter)
    fn, s = submit(world, terms.with_(principal=terms.principal + 1), bsig, usig)
    expect_revert(world.chain, fn, s, "LoanBookInvalidBorrowerSignature", terms.borrower)


def test_wrong_chain_id(world):
    terms = world.terms()
    other_chain = world.chain_id + 1
    bsig = lt.sign(terms, world.borrower, other_chain, world.book.address)
    usig = lt.sign(terms, world.underwriter, other_chain, world.book.address)
    fn, s = submit(world, terms, bsig, usig)
    expect_revert(world.chain, fn, s, "LoanBookInvalidBorrowerSignature", terms.borrower)


def test_wrong_verifying_contract(world):
    terms = world.terms()
    bsig = lt.sign(terms, world.borrower, world.chain_id, world.reserve.address)
    fn, s = submit(world, terms, bsig, world.sign(terms, world.underwriter))
    expect_revert(world.chain, fn, s, "LoanBookInvalidBorrowerSignature", terms.borrower)


def test_reused_nonce(world, snapshot):
    terms = world.terms()
    bsig, usig = world.sign(terms, world.borrower), world.sign(terms, world.underwriter)
    fn, s = submit(world, terms, bsig, usig)
    world.chain.tx(fn, s)
    expect_revert(world.chain, fn, s, "LoanBookInvalidNonce", terms.borrower, terms.nonce, terms.nonce + 1)


def test_a_second_offer_for_the_same_nonce_dies_with_the_first(world, snapshot):
    first, second = world.terms(), world.terms(apr_bps=900)
    assert first.nonce == second.nonce
    world.create(first)
    fn, s = submit(world, second, world.sign(second, world.borrower), world.sign(second, world.underwriter))
    expect_revert(world.chain, fn, s, "LoanBookInvalidNonce", second.borrower, second.nonce, second.nonce + 1)


def test_expired_deadline(world, snapshot):
    terms = world.terms()
    bsig, usig = world.sign(terms, world.borrower), world.sign(terms, world.underwriter)
    fn, s = submit(world, terms, bsig, usig)
    expect_revert(world.chain, fn, s, "LoanBookSignatureExpired", terms.deadline, terms.deadline + 1,
                  at=terms.deadline + 1)  # fmt: skip
    world.chain.tx(fn, s, at=terms.deadline)  # the deadline itself is still valid


def test_revoke_nonce_voids_signed_offers(world, snapshot):
    terms = world.terms()
    bsig, usig = world.sign(terms, world.borrower), world.sign(terms, world.underwriter)
    receipt = world.chain.tx(world.book.functions.revokeNonce(), world.borrower.address)
    assert events(receipt, world.book, "NonceRevoked") == [{"borrower": terms.borrower, "nonce": terms.nonce}]
    fn, s = submit(world, terms, bsig, usig)
    expect_revert(world.chain, fn, s, "LoanBookInvalidNonce", terms.borrower, terms.nonce, terms.nonce + 1)


def test_erc1271_wallet_borrower(world, snapshot):
    wallet = world.wallet.address  # owned by the borrower's key
    terms = world.terms(borrower=wallet)
    usig = world.sign(terms, world.underwriter)
    fn, s = submit(world, terms, world.sign(terms, world.investors[0]), usig)
    expect_revert(world.chain, fn, s, "LoanBookInvalidBorrowerSignature", wallet)
    fn, s = submit(world, terms, world.sign(terms, world.borrower), usig)
    receipt = world.chain.tx(fn, s)
    (ev,) = events(receipt, world.book, "LoanCreated")
    assert world.loan(ev["loanId"])["borrower"] == wallet


def test_erc1271_underwriter(world, snapshot):
    book, wallet = world.book, world.wallet.address
    world.chain.tx(book.functions.grantRole(book.functions.UNDERWRITER_ROLE().call(), wallet), world.admin.address)
    terms = world.terms()
    bsig = world.sign(terms, world.borrower)
    good = lt.contract_underwriter_signature(wallet, world.sign(terms, world.borrower))  # wallet owner signs
    bad = lt.contract_underwriter_signature(wallet, world.sign(terms, world.investors[1]))
    fn, s = submit(world, terms, bsig, bad)
    expect_revert(world.chain, fn, s, "LoanBookInvalidUnderwriterSignature", wallet)
    fn, s = submit(world, terms, bsig, good)
    (ev,) = events(world.chain.tx(fn, s), book, "LoanCreated")
    assert ev["underwriter"] == wallet


def test_malformed_underwriter_signatures(world):
    terms = world.terms()
    bsig = world.sign(terms, world.borrower)
    for usig in (b"", b"\x01" * 20, b"\x01" * 64 + b"\x05"):
        fn, s = submit(world, terms, bsig, usig)
        expect_revert(world.chain, fn, s, "LoanBookInvalidUnderwriterSignature", ZERO)
    # A contract-style signature naming an EOA: no code answers ERC-1271.
    fn, s = submit(world, terms, bsig, lt.contract_underwriter_signature(world.underwriter.address, b"\x01" * 65))
    expect_revert(world.chain, fn, s, "LoanBookInvalidUnderwriterSignature", world.underwriter.address)


def test_unverified_borrower(world):
    terms = world.terms(borrower=world.outsider.address)
    fn, s = submit(world, terms, world.sign(terms, world.outsider), world.sign(terms, world.underwriter))
    expect_revert(world.chain, fn, s, "LoanBookBorrowerNotVerified", world.outsider.address, world.borrower_level)


def test_expired_kyc_borrower(world, snapshot):
    now = world.chain.now()
    level = world.borrower_level
    world.chain.tx(world.kyc.functions.attest(world.borrower.address, level, now + 100, b"\x01" * 32), world.admin.address)
    terms = world.terms()
    fn, s = submit(world, terms, world.sign(terms, world.borrower), world.sign(terms, world.underwriter))
    expect_revert(world.chain, fn, s, "LoanBookBorrowerNotVerified", world.borrower.address, level, at=now + 100)


def test_term_validation(world):
    now = world.chain.now()
    dummy = b"\x01" * 65
    cases = [
        (dict(borrower=ZERO), "LoanBookInvalidBorrower", (ZERO,)),
        (dict(principal=0), "LoanBookInvalidPrincipal", (0,)),
        (dict(installments=0), "LoanBookInvalidSchedule", (0, 30 * DAY)),
        (dict(installments=361), "LoanBookInvalidSchedule", (361, 30 * DAY)),
        (dict(installment_period=DAY - 1), "LoanBookInvalidSchedule", (12, DAY - 1)),
        (dict(installment_period=366 * DAY + 1), "LoanBookInvalidSchedule", (12, 366 * DAY + 1)),
        (dict(installments=360, installment_period=60 * DAY), "LoanBookInvalidSchedule", (360, 60 * DAY)),
        (dict(apr_bps=10_001), "LoanBookAprTooHigh", (10_001, 10_000)),
        (dict(origination_fee_bps=1_001), "LoanBookFeeTooHigh", (1_001, 1_000)),
        (dict(funding_deadline=now + 1), "LoanBookInvalidFundingDeadline", (now + 1, now + 1)),
        (dict(funding_deadline=now + 1 + 30 * DAY + 1), "LoanBookFundingWindowTooLong",
         (now + 1 + 30 * DAY + 1, now + 1 + 30 * DAY)),
    ]
    for overrides, name, args in cases:
        terms = world.terms(**overrides)
        fn, s = submit(world, terms, dummy, dummy)
        expect_revert(world.chain, fn, s, name, *args, at=now + 1)


def test_a_schedule_that_would_not_amortize_is_refused(world):
    """10,000 tokens at 100% APR over 360 monthly installments: the exact first principal portion
    is a fraction of a unit, so the installment and its interest round to the same amount and the
    whole principal would be left for the last installment. Refused before any signature check."""
    now, dummy = world.chain.now(), b"\x01" * 65
    for overrides in (dict(principal=10_000 * 10**6, apr_bps=10_000, installments=360),
                      dict(principal=1), dict(principal=1_000 * 10**6, apr_bps=10_000, installments=39,
                                              installment_period=366 * DAY)):  # fmt: skip
        terms = world.terms(**overrides)
        amount, first_principal = lt.annuity(terms.principal, terms.apr_bps, terms.installment_period, terms.installments)
        assert first_principal < lt.MIN_FIRST_PRINCIPAL == world.book.functions.MIN_FIRST_PRINCIPAL().call() == 10_000
        interest = lt.period_interest(terms.principal, terms.apr_bps, terms.installment_period)
        fn, s = submit(world, terms, dummy, dummy)
        expect_revert(world.chain, fn, s, "LoanBookScheduleDoesNotAmortize", amount, interest, first_principal,
                      10_000, at=now + 1)  # fmt: skip


def test_the_amortization_floor_is_exact(world, snapshot):
    """The least principal whose first installment repays 10,000 units is accepted, one unit less is not."""
    period, apr, n = 30 * DAY, 1_200, 12
    low, high = 1, 10**9
    while low < high:  # the least principal with a first principal portion of at least the floor
        mid = (low + high) // 2
        low, high = (mid + 1, high) if lt.annuity(mid, apr, period, n)[1] < lt.MIN_FIRST_PRINCIPAL else (low, mid)
    loan_id, _ = world.create(principal=low, apr_bps=apr, installments=n, installment_period=period)
    assert world.loan(loan_id)["installmentAmount"] == lt.installment_amount(low, apr, period, n)
    terms = world.terms(principal=low - 1, apr_bps=apr, installments=n, installment_period=period)
    fn, s = submit(world, terms, world.sign(terms, world.borrower), world.sign(terms, world.underwriter))
    expect_revert(world.chain, fn, s, "LoanBookScheduleDoesNotAmortize", firstPrincipal=lt.annuity(low - 1, apr, period, n)[1])


def test_limits_are_accepted(world, snapshot):
    # 100% APR, 10% fee, 360 monthly installments, one-day and one-year periods all work; so does a
    # single unit lent without interest.
    for overrides in (dict(apr_bps=10_000, origination_fee_bps=1_000), dict(installments=360),
                      dict(installment_period=DAY), dict(installments=40, installment_period=365 * DAY),
                      dict(apr_bps=0), dict(principal=1, apr_bps=0)):  # fmt: skip
        loan_id, _ = world.create(**overrides)
        terms_installment = world.loan(loan_id)["installmentAmount"]
        t = world.terms(**overrides)
        assert terms_installment == t.installment_amount


def test_a_funding_window_of_max_funding_window_is_accepted(world, snapshot):
    assert world.book.functions.MAX_FUNDING_WINDOW().call() == 30 * DAY
    at = world.chain.now() + 1
    terms = world.terms(funding_deadline=at + 30 * DAY)
    fn, s = submit(world, terms, world.sign(terms, world.borrower), world.sign(terms, world.underwriter))
    world.chain.tx(fn, s, at=at)
    assert world.loan(world.book.functions.loanCount().call())["fundingDeadline"] == at + 30 * DAY


def test_paused_creation(world, snapshot):
    world.chain.tx(world.book.functions.pause(), world.admin.address)
    terms = world.terms()
    fn, s = submit(world, terms, world.sign(terms, world.borrower), world.sign(terms, world.underwriter))
    expect_revert(world.chain, fn, s, "EnforcedPause")


def test_wallet_signature_via_eth_sign_typed_data_v4(world, snapshot):
    """The JSON document `loan_terms.typed_data` is what a browser wallet signs (Anvil signs it
    for its unlocked accounts exactly as MetaMask would)."""
    terms = world.terms()
    document = lt.typed_data(terms, world.chain_id, world.book.address)
    bsig = bytes.fromhex(world.chain.rpc("eth_signTypedData_v4", [world.borrower.address, json.dumps(document)])[2:])
    assert bsig == world.sign(terms, world.borrower)
    loan_id, _ = world.create(terms)
    assert world.loan(loan_id)["borrower"] == world.borrower.address


def test_an_underwriter_cannot_countersign_its_own_loan(world, snapshot):
    """The audit's L-2: a verified borrower that also holds UNDERWRITER_ROLE signed its terms as both
    parties. The two signatures are there to put a second key between a borrower and investors'
    money, so the underwriter must be another wallet."""
    book, me = world.book, world.borrower
    world.chain.tx(book.functions.grantRole(book.functions.UNDERWRITER_ROLE().call(), me.address), world.admin.address)
    terms = world.terms()
    fn, s = submit(world, terms, world.sign(terms, me), world.sign(terms, me))
    expect_revert(world.chain, fn, s, "LoanBookSelfUnderwritten", me.address)
    fn, s = submit(world, terms, world.sign(terms, me), world.sign(terms, world.underwriter))
    assert events(world.chain.tx(fn, s), book, "LoanCreated")[0]["underwriter"] == world.underwriter.address


def test_an_underwriter_cannot_countersign_for_a_contract_wallet_its_key_owns(world, snapshot):
    """The review's L-1: the check above compared addresses, so an underwriter key that owns a
    smart wallet (one that checks its owner's signature over the raw digest, as MockERC1271Wallet)
    signed as both parties with the wallet as the borrower. Now a contract borrower whose wallet
    accepts the underwriter's signature is refused too. (A wallet that wraps the digest first, as
    Safe does, still passes: the limit stated in `LoanBookSelfUnderwritten`'s NatSpec.)"""
    book, owner, wallet = world.book, world.borrower, world.wallet.address  # the wallet's owner key
    world.chain.tx(book.functions.grantRole(book.functions.UNDERWRITER_ROLE().call(), owner.address),
                   world.admin.address)  # fmt: skip
    terms = world.terms(borrower=wallet)
    signature = world.sign(terms, owner)  # one key, one signature, on both sides
    fn, s = submit(world, terms, signature, signature)
    expect_revert(world.chain, fn, s, "LoanBookSelfUnderwritten", wallet)
    # The same wallet, countersigned by another key, borrows as before.
    fn, s = submit(world, terms, signature, world.sign(terms, world.underwriter))
    created = events(world.chain.tx(fn, s), book, "LoanCreated")[0]
    assert (created["borrower"], created["underwriter"]) == (wallet, world.underwriter.address)
