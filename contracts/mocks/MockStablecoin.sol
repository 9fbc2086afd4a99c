// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title MockStablecoin
/// @notice A 6-decimal ERC-20 with an open faucet. For local chains only: `loanchain deploy`
///         refuses to deploy it anywhere else and takes the real token's address instead.
contract MockStablecoin is ERC20 {
    /// @notice The most one faucet call mints (1,000,000 units of 6 decimals).
    uint256 public constant FAUCET_LIMIT = 1_000_000e6;

    /// @notice A faucet request above FAUCET_LIMIT.
    error MockStablecoinFaucetLimit(uint256 requested, uint256 limit);

    constructor() ERC20("Mock USD", "mUSD") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Mints `amount` to `to`; anyone may call it, on a local chain.
    function faucet(address to, uint256 amount) external {
        if (amount > FAUCET_LIMIT) revert MockStablecoinFaucetLimit(amount, FAUCET_LIMIT);
        _mint(to, amount);
    }
}
