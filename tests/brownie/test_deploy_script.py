"""`brownie run scripts/deploy.py` deploys and wires the same system `loanchain deploy` does."""

import importlib.util
from pathlib import Path

from brownie import LoanBook, ReserveFund, accounts

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "deploy.py"


def load_script():
    spec = importlib.util.spec_from_file_location("deploy_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_deploy_script_wires_roles_and_kyc_levels():
    addresses = load_script().main()
    assert set(addresses) == {"MockStablecoin", "DocumentAnchor", "KYCRegistry", "ReserveFund", "LoanBook", "NoteMarket",
                              "FundingAgent", "RepaymentAgent"}
    book, reserve = LoanBook.at(addresses["LoanBook"]), ReserveFund.at(addresses["ReserveFund"])
    assert reserve.loanBook() == book
    assert book.hasRole(book.UNDERWRITER_ROLE(), accounts[1])
    assert int(book.borrowerKycLevel()) == 2 and int(book.investorKycLevel()) == 1
