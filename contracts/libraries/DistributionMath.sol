// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title DistributionMath
/// @notice The pull-payment accumulator of Maple's FundsDistributionToken (after Roger Wu's
///         "scalable reward distribution"): with `distributed` paid so far over `supply` notes,
///         the points per share are `distributed * 2^128 / supply`; a holder's cumulative
///         entitlement is `(pointsPerShare * shares + correction) / 2^128`. Minting, burning or
///         moving shares adjusts the holders' corrections by `pointsPerShare * shares`, so what
///         was earned before stays with whoever earned it.
/// @dev Rounding. Points per share are recomputed from the cumulative `distributed` and rounded
///      UP (Maple's "remainder carry" todo, solved by never storing a rounded increment), then
///      each holder's entitlement is rounded DOWN. Hence:
///      - each holder who kept their notes gets at least `floor(distributed * shares / supply)`,
///        i.e. their exact share rounded down (an exact share is paid exactly);
///      - all holders together are entitled to `floor`s of values summing to
///        `pps * supply / 2^128 < distributed + supply / 2^128 <= distributed + 1` (supply is a
///        uint128), and a sum of floors of reals below `distributed + 1` is at most
///        `distributed`: the book can never owe more than it received, whatever the number of
///        distributions.
library DistributionMath {
    uint256 internal constant MAGNITUDE = 2 ** 128;

    /// @notice Points per share for `distributed` over `supply` shares, rounded up (0 if none).
    function pointsPerShare(uint256 distributed, uint256 supply) internal pure returns (uint256) {
        if (supply == 0) return 0;
        return Math.mulDiv(distributed, MAGNITUDE, supply, Math.Rounding.Ceil);
    }

    /// @notice The correction moved with `shares` shares at `pps` points per share.
    function correctionFor(uint256 pps, uint256 shares) internal pure returns (int256) {
        return SafeCast.toInt256(pps * shares);
    }

    /// @notice A holder's cumulative entitlement (claimed or not), rounded down.
    function accumulated(uint256 pps, uint256 shares, int256 correction) internal pure returns (uint256) {
        return SafeCast.toUint256(SafeCast.toInt256(pps * shares) + correction) / MAGNITUDE;
    }
}
