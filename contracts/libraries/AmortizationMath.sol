// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title AmortizationMath
/// @notice Integer math for equal-installment (annuity) loans. Every rounding goes to the
///         investors' side: interest and installments round up; the last installment absorbs
///         whatever remains of the principal.
/// @dev The period rate is `aprBps * period / (10_000 * 365 days)`. Interest for one period is
///      computed exactly from that rational with a single rounding up; the installment uses a
///      27-decimal fixed-point rate and OZ `Math.mulDiv` (512-bit intermediates).
library AmortizationMath {
    uint256 internal constant BPS = 10_000;
    uint256 internal constant YEAR = 365 days;
    uint256 internal constant RAY = 1e27;

    /// @notice Interest for one period on `balance`, rounded up.
    function periodInterest(uint256 balance, uint256 aprBps, uint256 period) internal pure returns (uint256) {
        return Math.mulDiv(balance, aprBps * period, BPS * YEAR, Math.Rounding.Ceil);
    }

    /// @notice The period rate as a RAY (1e27 = 100%), rounded down.
    function periodRateRay(uint256 aprBps, uint256 period) internal pure returns (uint256) {
        return Math.mulDiv(aprBps * period, RAY, BPS * YEAR);
    }

    /// @notice The equal installment repaying `principal` over `installments` periods:
    ///         `P * r / (1 - (1 + r)^-n)`, rounded up; `ceil(P / n)` at zero interest.
    function installmentAmount(uint256 principal, uint256 aprBps, uint256 period, uint256 installments)
        internal
        pure
        returns (uint256 amount)
    {
        (amount,) = annuity(principal, aprBps, period, installments);
    }

    /// @notice The installment (as {installmentAmount}) and the principal the exact schedule's
    ///         first installment repays, `P * r / ((1 + r)^n - 1)`, rounded down (at zero
    ///         interest the whole installment is principal).
    function annuity(uint256 principal, uint256 aprBps, uint256 period, uint256 installments)
        internal
        pure
        returns (uint256 amount, uint256 firstPrincipal)
    {
        uint256 rate = periodRateRay(aprBps, period);
        if (rate == 0) {
            amount = Math.ceilDiv(principal, installments);
            return (amount, amount);
        }
        uint256 growth = rpow(RAY + rate, installments); // (1 + r)^n, > RAY since rate > 0
        // A = P * r * g / (g - 1); (g - RAY) > 0 because rate > 0 and installments >= 1.
        uint256 factor = Math.mulDiv(rate, growth, growth - RAY, Math.Rounding.Ceil);
        amount = Math.mulDiv(principal, factor, RAY, Math.Rounding.Ceil);
        firstPrincipal = Math.mulDiv(principal, rate, growth - RAY);
    }

    /// @notice `x^n` for a RAY `x`, by squaring, each product rounded down.
    function rpow(uint256 x, uint256 n) internal pure returns (uint256 z) {
        z = n % 2 != 0 ? x : RAY;
        for (n /= 2; n != 0; n /= 2) {
            x = Math.mulDiv(x, x, RAY);
            if (n % 2 != 0) z = Math.mulDiv(z, x, RAY);
        }
    }
}
