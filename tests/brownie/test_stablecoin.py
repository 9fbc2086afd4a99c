from conftest import assert_reverts_with


def test_faucet_mints_six_decimal_units(token, accounts):
    token.faucet(accounts[3], 1_000 * 10**6, {"from": accounts[3]})
    assert token.decimals() == 6
    assert token.balanceOf(accounts[3]) == 1_000 * 10**6


def test_faucet_limit(token, accounts):
    assert_reverts_with(
        "MockStablecoinFaucetLimit(uint256,uint256)", token.faucet, accounts[3], 1_000_001 * 10**6, {"from": accounts[3]}
    )
    assert token.balanceOf(accounts[3]) == 0
