// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title DistributionMath
/// @notice The pull-payment accumulator of Maple's FundsDistributionToken (after Roger Wu's
///         "scalable reward distribution"): a distribution of `amount` over `supply` shares adds
///         `amount * 2^128 / supply` to the points per share; a holder's cumulative entitlement
///         is `(pointsPerShare * shares + correction) / 2^128`. Minting, burning or moving
///         shares adjusts the holders' corrections by `pointsPerShare * shares`, so what was
///         earned before stays with the holder who earned it.
/// @dev Each division rounds down, so the sum of entitlements never exceeds what was
///      distributed; a holder loses less than one base unit in total to rounding (the 2^128
///      magnitude makes the per-distribution loss negligible).
library DistributionMath {
    uint256 internal constant MAGNITUDE = 2 ** 128;

    /// @notice Points per share added by distributing `amount` over `supply` shares.
    function pointsPerShareIncrease(uint256 amount, uint256 supply) internal pure returns (uint256) {
        return (amount * MAGNITUDE) / supply;
    }

    /// @notice The correction moved with `shares` shares at `pointsPerShare`.
    function correctionFor(uint256 pointsPerShare, uint256 shares) internal pure returns (int256) {
        return SafeCast.toInt256(pointsPerShare * shares);
    }

    /// @notice A holder's cumulative entitlement (claimed or not).
    function accumulated(uint256 pointsPerShare, uint256 shares, int256 correction) internal pure returns (uint256) {
        return SafeCast.toUint256(SafeCast.toInt256(pointsPerShare * shares) + correction) / MAGNITUDE;
    }
}
