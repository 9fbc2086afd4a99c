// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {AmortizationMath} from "./AmortizationMath.sol";

/// @title LoanServicing
/// @notice The repayment rules of an Active loan, as pure functions over a memory copy of its
///         state, so that {LoanBook.repay}, {LoanBook.markDefault} and the views share them.
///
///         Installment k (1-based) covers the period `(start + (k-1)*period, start + k*period]`
///         and is due at its end. It is *billed* lazily, at the first touch once its period has
///         started: interest `ceil(P * apr * period / (10_000 * 365 days))` on the principal
///         outstanding P at that moment, and principal `min(A - interest, P)` (the last
///         installment takes all of P). Installments are settled in order; installment k+1 is
///         billed only after k is settled, so missed installments accrue interest on the
///         scheduled balance. While no installment is billed (the next period has not started),
///         payments prepay principal: the installment amount stays fixed and the loan ends
///         sooner. A late fee of `lateFeeBps` of the installment amount is assessed once per
///         installment still unpaid `gracePeriod` after its due date; only installments the balance still needs have one (a prepaid loan ends
///         sooner and has fewer), and the loan's final installment, when it bills less than the
///         installment amount, pays the fee on what it bills.
library LoanServicing {
    uint256 internal constant BPS = 10_000;

    /// @notice Fixed facts of a loan's schedule.
    struct Schedule {
        uint256 startTime;
        uint256 period;
        uint256 installments;
        uint256 installmentAmount;
        uint256 aprBps;
        uint256 gracePeriod;
        uint256 lateFeeBps; // of the installment amount (or of a smaller final installment)
    }

    /// @notice The mutable servicing state.
    struct State {
        uint256 principalOutstanding;
        uint256 interestDue;
        uint256 principalDue;
        uint256 feesDue;
        uint256 installmentsPaid;
        uint256 lateFeesThrough;
    }

    /// @notice Due date of installment `k` (1-based).
    function dueDate(Schedule memory s, uint256 k) internal pure returns (uint256) {
        return s.startTime + k * s.period;
    }

    /// @notice How many installments were due more than the grace period before `timestamp`.
    function lateInstallments(Schedule memory s, uint256 timestamp) internal pure returns (uint256) {
        uint256 firstLateAt = s.startTime + s.gracePeriod; // installment k is late after firstLateAt + k*period
        if (timestamp <= firstLateAt + s.period) return 0;
        // Installment k is late iff timestamp > firstLateAt + k * period, i.e.
        // k <= (timestamp - firstLateAt - 1) / period.
        return Math.min((timestamp - firstLateAt - 1) / s.period, s.installments);
    }

    /// @notice Assesses the late fees of every unpaid installment that became late since the
    ///         last assessment and that the balance still needs: the installments are walked as
    ///         they would be billed in turn, and the walk ends with the one that pays the balance
    ///         off. Each fee is `lateFeeBps` of the installment amount, or of what the final
    ///         installment bills (what is left of it) when that is less. Returns the amount added
    ///         to `feesDue`.
    function accrueLateFees(State memory st, Schedule memory s, uint256 timestamp)
        internal
        pure
        returns (uint256 assessed)
    {
        uint256 through = lateInstallments(s, timestamp);
        // Installments up to `installmentsPaid` are settled, and up to `lateFeesThrough` assessed.
        uint256 from = Math.max(st.lateFeesThrough, st.installmentsPaid);
        if (through <= from) return 0;
        uint256 amount = s.installmentAmount;
        uint256 fee = Math.mulDiv(amount, s.lateFeeBps, BPS, Math.Rounding.Ceil); // rounded up: to the investors
        State memory w = State(st.principalOutstanding, st.interestDue, st.principalDue, 0, st.installmentsPaid, 0);
        uint256 last = 0;
        for (uint256 k = w.installmentsPaid; k < through; k = w.installmentsPaid) {
            if (w.principalOutstanding > (through - k) * amount) {
                // Every installment but the last repays less than `amount` of principal, so the
                // balance outlasts all of these but the last of them: each exists and bills at
                // least `amount` (the last, the rest of a balance above it). No need to walk them.
                assessed += (through - Math.max(k, from)) * fee;
                last = through;
                break;
            }
            // Its period has started (it is late), so `bill` bills it if the balance needs it.
            if (!bill(w, s, timestamp)) break;
            if (k >= from) {
                // The final installment (all the principal left is due) may bill less.
                uint256 base = w.principalDue == w.principalOutstanding
                    ? Math.min(amount, w.interestDue + w.principalDue)
                    : amount;
                assessed += Math.mulDiv(base, s.lateFeeBps, BPS, Math.Rounding.Ceil);
                last = k + 1;
            }
            payInstallment(w, type(uint256).max);
        }
        if (assessed != 0) {
            st.feesDue += assessed;
            st.lateFeesThrough = last;
        }
    }

    /// @notice Bills the current installment if its period has started and it is not billed yet.
    /// @return billed True when the current installment has dues to pay.
    function bill(State memory st, Schedule memory s, uint256 timestamp) internal pure returns (bool billed) {
        if (st.interestDue != 0 || st.principalDue != 0) return true;
        uint256 paid = st.installmentsPaid;
        uint256 balance = st.principalOutstanding;
        if (balance == 0 || paid >= s.installments) return false;
        if (timestamp <= s.startTime + paid * s.period) return false; // its period has not started
        uint256 interest = AmortizationMath.periodInterest(balance, s.aprBps, s.period);
        uint256 principalPart = 0; // when interest alone reaches the installment amount
        if (paid + 1 == s.installments) {
            principalPart = balance; // the last installment absorbs the remainder
        } else if (s.installmentAmount > interest) {
            // cannot underflow: checked just above
            unchecked {
                principalPart = Math.min(s.installmentAmount - interest, balance);
            }
        }
        st.interestDue = interest;
        st.principalDue = principalPart;
        // With balance > 0: interest >= 1 when apr > 0 (rounded up); at zero APR the
        // installment ceil(P/n) >= 1 makes principalPart >= 1. So billing always creates dues.
        return interest != 0 || principalPart != 0;
    }

    /// @notice Applies up to `amount` to the billed installment: interest first, then principal.
    /// @return interestPaid Interest part of the payment.
    /// @return principalPaid Principal part of the payment.
    /// @return settled True when the installment is now fully paid (and counted as paid).
    function payInstallment(State memory st, uint256 amount)
        internal
        pure
        returns (uint256 interestPaid, uint256 principalPaid, bool settled)
    {
        interestPaid = Math.min(amount, st.interestDue);
        // cannot underflow: interestPaid <= amount, interestPaid <= interestDue, and
        // principalPaid <= principalDue <= principalOutstanding (bill caps it at the balance)
        unchecked {
            st.interestDue -= interestPaid;
            principalPaid = Math.min(amount - interestPaid, st.principalDue);
            st.principalDue -= principalPaid;
            st.principalOutstanding -= principalPaid;
        }
        settled = st.interestDue == 0 && st.principalDue == 0;
        if (settled) ++st.installmentsPaid;
    }

    /// @notice What brings the loan up to date and what closes it, at `timestamp`. Mutates `st`
    ///         as if it were all paid.
    /// @return dueNow Fees, the oldest unsettled installment once its period has started (so it
    ///         can be paid ahead of its due date), and every later installment whose due date has
    ///         come. Not an installment that is billed but not yet due: from its period's start
    ///         to its due date it is only part of the payoff. Repaying exactly `dueNow` settles
    ///         those installments and nothing more, since {LoanBook.repay} pays in the same order.
    /// @return payoff What closes the loan: fees, every billed installment (with the interest of
    ///         a period that has started, as a repayment would charge it), the rest of the
    ///         principal.
    function quote(State memory st, Schedule memory s, uint256 timestamp)
        internal
        pure
        returns (uint256 dueNow, uint256 payoff)
    {
        accrueLateFees(st, s, timestamp);
        uint256 total = st.feesDue;
        dueNow = total;
        bool oldest = true;
        while (bill(st, s, timestamp)) {
            // Due dates only grow, so the installments due now are a prefix of the billed ones.
            bool due = oldest || timestamp >= dueDate(s, st.installmentsPaid + 1);
            (uint256 interestPaid, uint256 principalPaid,) = payInstallment(st, type(uint256).max);
            total += interestPaid + principalPaid;
            if (due) dueNow = total;
            oldest = false;
        }
        payoff = total + st.principalOutstanding;
    }

    /// @notice What closes the loan at `timestamp` (see {quote}). Mutates `st`.
    function payoffAmount(State memory st, Schedule memory s, uint256 timestamp) internal pure returns (uint256 total) {
        (, total) = quote(st, s, timestamp);
    }
}
