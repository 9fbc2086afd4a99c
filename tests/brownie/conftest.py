"""Brownie's own contract tests (`brownie test`, from .venv-brownie). The main suite in tests/
covers the same contracts through web3.py; these prove the contracts also build, deploy and
behave under brownie's toolchain."""

import pytest
from eth_utils import keccak


@pytest.fixture(autouse=True)
def isolation(fn_isolation):
    pass


@pytest.fixture(scope="module")
def admin(accounts):
    return accounts[0]


@pytest.fixture(scope="module")
def anchor(DocumentAnchor, admin):
    return DocumentAnchor.deploy(admin, {"from": admin})


@pytest.fixture(scope="module")
def token(MockStablecoin, admin):
    return MockStablecoin.deploy({"from": admin})


def selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


def assert_reverts_with(signature: str, fn, *args):
    """Assert `fn(*args)` reverts with the custom error `signature`, e.g. "Foo(uint256)".

    Brownie's custom-error decoding has had bugs (eth-brownie/brownie#1108), so accept either
    its decoded name or the raw selector in the revert data."""
    from brownie.exceptions import VirtualMachineError

    with pytest.raises(VirtualMachineError) as info:
        fn(*args)
    err = info.value
    name = signature.split("(")[0]
    seen = f"{err.revert_msg} {getattr(err, 'revert_type', '')} {err}"
    assert name in seen or selector(signature)[2:] in seen, seen
