"""backend/chain/errors.py decodes real revert data from the lending contracts by selector."""

from __future__ import annotations

import pytest
from eth_abi import encode
from web3 import Web3
from web3.exceptions import ContractCustomError

from backend.chain.errors import contract_revert_from, decode_revert, error_table, revert_data_of, selector_of
from backend.errors import ContractRevert

UNIT = 10**6


def test_every_lending_error_is_in_the_table(world, artifacts):
    table = error_table(world.chain.settings)
    for name in ("LoanBook", "KYCRegistry", "ReserveFund", "DocumentAnchor", "NoteMarket", "FundingAgent",
                 "RepaymentAgent"):
        for item in artifacts[name]["abi"]:
            if item["type"] == "error":
                assert table[selector_of(item)]["name"] == item["name"]


def test_decodes_a_revert_from_the_chain(world, snapshot):
    """Through web3.py's exception, as the backend outbox sees it."""
    loan_id, _ = world.create()
    remaining = 12_000 * UNIT
    with pytest.raises(ContractCustomError) as info:
        world.book.functions.fund(loan_id, remaining + 1).call({"from": world.investors[0].address})
    decoded = decode_revert(world.chain.settings, revert_data_of(info.value))
    assert decoded.name == "LoanBookOverfunded"
    assert decoded.args == {"loanId": loan_id, "amount": remaining + 1, "remaining": remaining}
    assert decoded.describe() == f"LoanBookOverfunded(loanId={loan_id}, amount={remaining + 1}, remaining={remaining})"
    revert = contract_revert_from(world.chain.settings, info.value, "fund")
    assert isinstance(revert, ContractRevert) and revert.error_name == "LoanBookOverfunded"
    assert revert.error_args["remaining"] == remaining and revert.status_code == 422


def test_decodes_enums_addresses_and_builtins(world):
    settings = world.chain.settings
    sel = "0x" + Web3.keccak(text="LoanBookNotFunding(uint256,uint8)")[:4].hex()
    decoded = decode_revert(settings, sel + encode(["uint256", "uint8"], [7, 2]).hex())
    assert (decoded.name, decoded.args) == ("LoanBookNotFunding", {"loanId": 7, "status": 2})
    sel = Web3.keccak(text="LoanBookRecipientNotVerified(address,uint8)")[:4]
    decoded = decode_revert(settings, sel + encode(["address", "uint8"], [world.outsider.address, 1]))
    assert decoded.args["recipient"].lower() == world.outsider.address.lower()
    error_string = Web3.keccak(text="Error(string)")[:4] + encode(["string"], ["nope"])
    assert decode_revert(settings, error_string).args == {"message": "nope"}
    panic = Web3.keccak(text="Panic(uint256)")[:4] + encode(["uint256"], [0x11])
    assert decode_revert(settings, panic).args == {"code": 0x11}
    assert decode_revert(settings, "0xdeadbeef").name == "UnknownError"
    assert decode_revert(settings, "0x") is None and decode_revert(settings, None) is None
