"""What `loanchain deploy` (and `scripts/deploy.py`) deploys, in order, and how it is wired.

Roles on a local chain (see `chain/signers.py`): Anvil account 0 deploys and is admin, KYC
attestor, pauser and anchorer; account 1 is the underwriter whose EIP-712 countersignature
LoanBook requires. On other chains every role is the keystore deployer until the admin grants
them elsewhere.
"""

from __future__ import annotations

from backend.chain.deploy import ContractSpec, DeployContext, WiringStep
from backend.chain.deploy_params import (
    BORROWER_KYC_LEVEL,
    COVERAGE_RATIO_BPS,
    DEFAULT_AFTER,
    GRACE_PERIOD,
    INVESTOR_KYC_LEVEL,
    LATE_FEE_BPS,
    MIN_TICKET_TOKENS,
)
from backend.chain.signers import platform_account
from backend.chain.token_decimals import decimals_refused
from backend.errors import DeploymentError

# The parameters live in `deploy_params.py` (no imports, so brownie's venv reads them too):
# servicing terms are LoanBook constructor immutables (15-day grace, 5% late fee, default 120
# days past due); the minimum ticket, KYC levels and coverage ratio are admin-settable rules.


def _role(ctx: DeployContext, contract: str, role: str) -> bytes:
    return ctx.contract(contract).functions[role]().call()


def _has_role(ctx: DeployContext, contract: str, role: str, account: str) -> bool:
    return ctx.contract(contract).functions.hasRole(_role(ctx, contract, role), account).call()


def _grant(contract: str, role: str, account) -> WiringStep:
    """Grant `role` on `contract` to `account(ctx)`, unless it already holds it."""
    return WiringStep(
        f"{contract}: grant {role}",
        done=lambda ctx: _has_role(ctx, contract, role, account(ctx)),
        call=lambda ctx: ctx.contract(contract).functions.grantRole(_role(ctx, contract, role), account(ctx)),
    )


def _token(ctx: DeployContext) -> str:
    return ctx.addresses["MockStablecoin"]


def _exact_in_a_browser(ctx: DeployContext) -> None:
    """The configured loan token, refused before anything is deployed if its amounts would not stay
    exact in a browser (token_decimals.py); the local MockStablecoin has 6 decimals."""
    if why := decimals_refused(_decimals(ctx)):
        raise DeploymentError(f"LOANCHAIN_LOAN_TOKEN_ADDRESS: {why}")


def _decimals(ctx: DeployContext) -> int:
    # MockStablecoin's ABI serves for any ERC-20's `decimals()`.
    return int(ctx.contract("MockStablecoin").functions.decimals().call())


def _min_ticket(ctx: DeployContext) -> int:
    return MIN_TICKET_TOKENS * 10 ** _decimals(ctx)


def _underwriter(ctx: DeployContext) -> str:
    return platform_account(ctx.settings, "underwriter").address


def _attestor(ctx: DeployContext) -> str:
    return platform_account(ctx.settings, "attestor").address


def _anchorer(ctx: DeployContext) -> str:
    return platform_account(ctx.settings, "anchorer").address


CONTRACTS: list[ContractSpec] = [
    ContractSpec("MockStablecoin", local_only=True, external_setting="loan_token_address", check=_exact_in_a_browser),
    ContractSpec("DocumentAnchor", args=lambda ctx: [ctx.deployer.address]),
    ContractSpec("KYCRegistry", args=lambda ctx: [ctx.deployer.address]),
    # Bound to its LoanBook once and for good (`setLoanBook`), so it follows LoanBook: a new LoanBook
    # gets a new reserve, never one that pays cover to the old one.
    ContractSpec("ReserveFund", args=lambda ctx: [ctx.deployer.address, _token(ctx), COVERAGE_RATIO_BPS],
                 bound_to="LoanBook"),
    ContractSpec(
        "LoanBook",
        args=lambda ctx: [
            ctx.deployer.address,
            _token(ctx),
            ctx.addresses["KYCRegistry"],
            ctx.addresses["ReserveFund"],
            GRACE_PERIOD,
            LATE_FEE_BPS,
            DEFAULT_AFTER,
            _min_ticket(ctx),
        ],
    ),
    # The secondary market for LoanBook's notes (escrowless: it never holds notes or money).
    ContractSpec("NoteMarket", args=lambda ctx: [ctx.deployer.address, ctx.addresses["LoanBook"], _token(ctx)]),
    # Auto-invest: funds loans for an investor who authorized it, under its signed mandate (holds nothing).
    ContractSpec("FundingAgent", args=lambda ctx: [ctx.addresses["LoanBook"]]),
    # Autopay: pays installments from a payer's wallet under its signed mandate (holds nothing).
    ContractSpec("RepaymentAgent", args=lambda ctx: [ctx.addresses["LoanBook"], _token(ctx)]),
]

def _kyc_levels(ctx: DeployContext) -> tuple[int, int]:
    book = ctx.contract("LoanBook").functions
    return book.borrowerKycLevel().call(), book.investorKycLevel().call()


def _reserve_bound(ctx: DeployContext) -> bool:
    return ctx.contract("ReserveFund").functions.loanBook().call() == ctx.addresses["LoanBook"]


WIRING: list[WiringStep] = [
    # The reserve pays cover only to the LoanBook, set once.
    WiringStep("ReserveFund: pays cover to LoanBook (set once)", done=_reserve_bound,
               call=lambda ctx: ctx.contract("ReserveFund").functions.setLoanBook(ctx.addresses["LoanBook"])),
    _grant("LoanBook", "UNDERWRITER_ROLE", _underwriter),
    _grant("LoanBook", "PAUSER_ROLE", lambda ctx: ctx.deployer.address),
    _grant("KYCRegistry", "ATTESTOR_ROLE", _attestor),
    _grant("DocumentAnchor", "ANCHORER_ROLE", _anchorer),
    WiringStep(
        f"LoanBook: KYC levels {BORROWER_KYC_LEVEL} (borrowers) / {INVESTOR_KYC_LEVEL} (investors)",
        done=lambda ctx: _kyc_levels(ctx) == (BORROWER_KYC_LEVEL, INVESTOR_KYC_LEVEL),
        call=lambda ctx: ctx.contract("LoanBook").functions.setKycLevels(BORROWER_KYC_LEVEL, INVESTOR_KYC_LEVEL),
    ),
]
