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
///         sooner.
///
///         A payment goes to the installments due (the oldest billed one, even ahead of its due
///         date, and every later one whose due date has come), then to late fees, then to the
///         installment billed but not yet due, then prepays principal. Fees never take money an
///         installment needs, so an installment paid in full on time is never late because of
///         an earlier fee (16 CFR 444.4). A payment that pays the loan off in full owes the
///         not-yet-due installment's interest only for the days of its period begun
///         ({payoffInterest}); one that falls short pays it the whole period's interest.
///
///         A late fee of `lateFeeBps` of what is unpaid of an installment (at most the
///         installment amount) is assessed once per installment still unsettled `gracePeriod`
///         after its due date; only installments the balance still needs have one (a prepaid
///         loan ends sooner and has fewer).
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
        uint256 lateFeeBps; // of what is unpaid of the installment, at most the installment amount
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

    /// @notice Assesses the late fees of every unsettled installment that became late since the
    ///         last assessment and that the balance still needs: the installments are walked as
    ///         they would be billed in turn, and the walk ends with the one that pays the balance
    ///         off. Each fee is `lateFeeBps` of what is unpaid of the installment (what it bills,
    ///         less what was paid towards it), at most of the installment amount. Every payment
    ///         assesses first, so what is unpaid now is what was unpaid when the grace period
    ///         ended. Returns the amount added to `feesDue`.
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
        State memory w = State(st.principalOutstanding, st.interestDue, st.principalDue, 0, st.installmentsPaid, 0);
        uint256 last = 0;
        for (uint256 k = w.installmentsPaid; k < through; k = w.installmentsPaid) {
            if (w.interestDue + w.principalDue == 0 && w.principalOutstanding > (through - k) * amount) {
                // None of these is billed yet (none part paid), and every installment but the
                // last repays less than `amount` of principal, so the balance outlasts all of
                // these but the last of them: each exists and bills at least `amount` (the last,
                // the rest of a balance above it). No need to walk them.
                assessed += (through - Math.max(k, from)) * Math.mulDiv(amount, s.lateFeeBps, BPS, Math.Rounding.Ceil);
                last = through;
                break;
            }
            // Its period has started (it is late), so `bill` bills it if the balance needs it.
            if (!bill(w, s, timestamp)) break;
            if (k >= from) {
                // Rounded up: to the investors.
                uint256 unpaid = Math.min(amount, w.interestDue + w.principalDue);
                assessed += Math.mulDiv(unpaid, s.lateFeeBps, BPS, Math.Rounding.Ceil);
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

    /// @notice The interest the billed installment owes at `timestamp` if the payment pays the
    ///         loan off in full. Before its due date: its interest for the days of its period
    ///         begun (each begun day counts, at most the period; rounded up, to the investors),
    ///         less what is already paid of its interest, never below zero (interest paid ahead is
    ///         not refunded). From its due date: all of it.
    function payoffInterest(State memory st, Schedule memory s, uint256 timestamp) internal pure returns (uint256) {
        uint256 unpaid = st.interestDue;
        uint256 due = dueDate(s, st.installmentsPaid + 1);
        if (unpaid == 0 || timestamp >= due) return unpaid;
        // Interest is paid before principal, so none of this installment's principal is paid yet:
        // the balance is the one it was billed on, and `billed` the interest it was billed.
        uint256 balance = st.principalOutstanding;
        uint256 billed = AmortizationMath.periodInterest(balance, s.aprBps, s.period);
        // timestamp > due - period, as the installment is billed: at least one second, so one day.
        uint256 elapsed = Math.min(Math.ceilDiv(timestamp + s.period - due, 1 days) * 1 days, s.period);
        uint256 earned = AmortizationMath.periodInterest(balance, s.aprBps, elapsed) + unpaid;
        return earned > billed ? earned - billed : 0;
    }

    /// @notice What brings the loan up to date and what closes it, at `timestamp`, in the order
    ///         {LoanBook.repay} pays. Mutates `st`.
    /// @return dueNow The installments due (the oldest unsettled one once its period has
    ///         started, so it can be paid ahead of its due date, and every later one whose due
    ///         date has come), then late fees; at most `payoff`. Not an installment that is billed
    ///         but not yet due when an older one is unsettled: from its period's start to its due
    ///         date it is only part of the payoff. Repaying exactly `dueNow` settles those
    ///         installments and the fees and nothing more.
    /// @return payoff What closes the loan: the installments due, fees, the installment billed but
    ///         not yet due with its interest for the days begun ({payoffInterest}), the rest of
    ///         the principal.
    function quote(State memory st, Schedule memory s, uint256 timestamp)
        internal
        pure
        returns (uint256 dueNow, uint256 payoff)
    {
        accrueLateFees(st, s, timestamp);
        uint256 total = st.feesDue;
        bool oldest = true;
        while (bill(st, s, timestamp)) {
            if (timestamp < dueDate(s, st.installmentsPaid + 1)) {
                // Billed, not due yet: the last one billed (the next period starts at its due date).
                payoff = total + payoffInterest(st, s, timestamp) + st.principalOutstanding;
                dueNow = oldest ? Math.min(total + st.interestDue + st.principalDue, payoff) : total;
                return (dueNow, payoff);
            }
            (uint256 interestPaid, uint256 principalPaid,) = payInstallment(st, type(uint256).max);
            total += interestPaid + principalPaid;
            oldest = false;
        }
        dueNow = total;
        payoff = total + st.principalOutstanding;
    }

    /// @notice What closes the loan at `timestamp` (see {quote}). Mutates `st`.
    function payoffAmount(State memory st, Schedule memory s, uint256 timestamp) internal pure returns (uint256 total) {
        (, total) = quote(st, s, timestamp);
    }
}
