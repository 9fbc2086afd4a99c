"""Deploy and wire every loanchain contract.

Two ways to run the same plan:
- `python scripts/deploy.py` (or `loanchain deploy`): the backend's idempotent deployer, which
  writes `deployments/<chainId>.json`;
- `brownie run scripts/deploy.py --network loanchain-dev`: brownie's containers and accounts,
  with the parameters of `backend/chain/deploy_params.py` (a module with no dependencies, so
  brownie's own venv can import it).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _in_brownie() -> bool:
    try:
        from brownie import network
    except ImportError:
        return False
    return network.is_connected()


def deploy_with_brownie() -> dict:
    from brownie import (
        DocumentAnchor,
        FundingAgent,
        KYCRegistry,
        LoanBook,
        MockStablecoin,
        NoteMarket,
        RepaymentAgent,
        ReserveFund,
        accounts,
    )

    from backend.chain import deploy_params as p

    admin, underwriter = accounts[0], accounts[1]
    tx = {"from": admin}
    token = MockStablecoin.deploy(tx)
    anchor = DocumentAnchor.deploy(admin, tx)
    kyc = KYCRegistry.deploy(admin, tx)
    reserve = ReserveFund.deploy(admin, token, p.COVERAGE_RATIO_BPS, tx)
    book = LoanBook.deploy(
        admin, token, kyc, reserve, p.GRACE_PERIOD, p.LATE_FEE_BPS, p.DEFAULT_AFTER,
        p.MIN_TICKET_TOKENS * 10 ** token.decimals(), tx,
    )  # fmt: skip
    reserve.setLoanBook(book, tx)
    book.grantRole(book.UNDERWRITER_ROLE(), underwriter, tx)
    book.grantRole(book.PAUSER_ROLE(), admin, tx)
    book.setKycLevels(p.BORROWER_KYC_LEVEL, p.INVESTOR_KYC_LEVEL, tx)
    market = NoteMarket.deploy(admin, book, token, tx)
    funding_agent = FundingAgent.deploy(book, tx)
    agent = RepaymentAgent.deploy(book, token, tx)
    addresses = {c._name: c.address for c in (token, anchor, kyc, reserve, book, market, funding_agent, agent)}
    for name, address in addresses.items():
        print(f"{name:<16} {address}")
    return addresses


def deploy_with_backend() -> dict:
    from backend.chain.compiler import compile_contracts
    from backend.chain.deploy import deploy_all
    from backend.config import get_settings

    settings = get_settings()
    compile_contracts(settings)
    report = deploy_all(settings)
    for name, entry in report.manifest["contracts"].items():
        print(f"{name:<16} {entry['address']}  {'deployed' if name in report.deployed else 'unchanged'}")
    return {name: entry["address"] for name, entry in report.manifest["contracts"].items()}


def main() -> dict:
    return deploy_with_brownie() if _in_brownie() else deploy_with_backend()


if __name__ == "__main__":
    main()
