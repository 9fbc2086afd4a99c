// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ILoanBook} from "./ILoanBook.sol";

/// @title IFundingAgent
/// @notice Auto-invest without custody. An investor authorizes this agent on LoanBook once
///         ({ILoanBook-setAuthorization}) and signs a funding mandate (EIP-712 struct
///         `FundingMandate`, domain `FundingAgent`/`1`); then the mandate's executor (the
///         platform's keeper) alone may have the agent fund new loans for the investor within the
///         mandate's bounds, through {ILoanBook-fundFor}: the money goes from the investor's wallet
///         into the loan and the notes to the investor, never through the executor or the agent.
///         The agent enforces every bound of the mandate; LoanBook every rule of funding.
interface IFundingAgent {
    /// @param investor Wallet (EOA or ERC-1271 contract) that funds and receives the notes.
    /// @param executor The only account that may fund under the mandate (the platform's keeper).
    /// @param perLoan Most notes of one loan the investor may hold after a mandated funding.
    /// @param budget Most the mandate may fund in all.
    /// @param minAprBps Only loans paying at least this APR.
    /// @param maxAprBps Only loans paying at most this APR (a risk ceiling: APR rises with PD).
    /// @param maxInstallments Only loans of at most this many installments.
    /// @param maxTerm Only loans whose term (installments x installment period) is at most this
    ///        many seconds.
    /// @param expiry Last second at which the mandate may be used.
    /// @param salt Any number: lets an investor sign a mandate like an earlier cancelled one.
    struct FundingMandate {
        address investor;
        address executor;
        uint128 perLoan;
        uint128 budget;
        uint16 minAprBps;
        uint16 maxAprBps;
        uint16 maxInstallments;
        uint32 maxTerm;
        uint40 expiry;
        uint256 salt;
    }

    /// @notice `amount` of loan `loanId` was funded for `investor` under the mandate whose EIP-712
    ///         digest is `mandateHash`; `spent` is the mandate's total so far (LoanBook's
    ///         {ILoanBook-LoanFunded} with the investor follows).
    event MandateUsed(
        bytes32 indexed mandateHash, address indexed investor, uint256 indexed loanId, uint256 amount, uint256 spent
    );

    /// @notice The investor cancelled the mandate: nothing more may be funded under it.
    event MandateCancelled(bytes32 indexed mandateHash, address indexed investor);

    /// @notice The `amount` funded under the mandate `mandateHash` into loan `loanId`, a loan
    ///         cancelled and refunded to `investor`, counts against the budget no more; `spent` is
    ///         the mandate's total after it.
    event MandateReleased(
        bytes32 indexed mandateHash, address indexed investor, uint256 indexed loanId, uint256 amount, uint256 spent
    );

    /// @notice A zero address given to the constructor.
    error FundingAgentZeroAddress();
    /// @notice The mandate's expiry has passed.
    error FundingAgentExpired(bytes32 mandateHash, uint256 expiry);
    /// @notice Called by another account than the mandate's executor.
    error FundingAgentWrongExecutor(bytes32 mandateHash, address executor, address caller);
    /// @notice The investor's signature does not match the mandate.
    error FundingAgentInvalidSignature(address investor);
    /// @notice The loan's APR, installments or term (in seconds) fall outside what the mandate allows.
    error FundingAgentTermsMismatch(
        bytes32 mandateHash, uint256 loanId, uint256 aprBps, uint256 installments, uint256 term
    );
    /// @notice The investor would hold more notes of the loan than the mandate's `perLoan`.
    error FundingAgentPerLoanExceeded(bytes32 mandateHash, uint256 loanId, uint256 wouldHold, uint256 perLoan);
    /// @notice More than what is left of the mandate's budget (nothing, once cancelled).
    error FundingAgentBudgetExceeded(bytes32 mandateHash, uint256 amount, uint256 left);
    /// @notice Only the mandate's investor may cancel it.
    error FundingAgentNotInvestor(address caller, address investor);
    /// @notice Nothing funded under the mandate into the loan counts against its budget: never
    ///         funded, or released already.
    error FundingAgentNothingToRelease(bytes32 mandateHash, uint256 loanId);
    /// @notice The loan is not Cancelled (`status`): the money funded into it is still at stake.
    error FundingAgentLoanNotCancelled(bytes32 mandateHash, uint256 loanId, ILoanBook.LoanStatus status);
    /// @notice The investor still holds `held` notes of the cancelled loan: its refund is not yet taken.
    error FundingAgentNotRefunded(bytes32 mandateHash, uint256 loanId, address investor, uint256 held);
    /// @notice The investor cancelled the mandate: its budget stays spent.
    error FundingAgentMandateIsCancelled(bytes32 mandateHash);

    /// @notice Funds `amount` of loan `loanId` for `mandate.investor`, under the mandate the
    ///         investor signed (`signature`, checked with SignatureChecker): before its expiry, on a
    ///         loan whose APR, installments and term it allows, up to `perLoan` notes of the loan held
    ///         and its budget. Executor only. Every rule of {ILoanBook-fund} applies to the
    ///         investor, who must have approved LoanBook for the asset and authorized this agent.
    function fundWithMandate(uint256 loanId, uint256 amount, FundingMandate calldata mandate, bytes calldata signature)
        external;

    /// @notice Ends `mandate` for good: its whole budget counts as spent, and nothing is released
    ///         under it any more. Its investor only.
    function cancelMandate(FundingMandate calldata mandate) external;

    /// @notice Gives back to `mandate`'s budget what it funded into loan `loanId` once that loan
    ///         is Cancelled and the investor holds none of its notes (its refund taken, the money
    ///         back in its wallet; or the notes moved to another wallet while the loan was still
    ///         funding, which only loosens the investor's own cap). A Cancelled loan's notes no
    ///         longer move ({ILoanBook-LoanBookCancelledNotes}), so no one can hold a release back by
    ///         sending the investor some. Anyone may call (the platform's keeper does): it only restores
    ///         capacity the investor signed for. Cancelled alone is not enough: until the
    ///         investor pulls its refund from LoanBook, the money is neither invested nor in the
    ///         wallet the mandate funds from, and a budget given back then would overstate what the
    ///         mandate can really fund. Once per loan: the record is zeroed, a second call reverts
    ///         with {FundingAgentNothingToRelease}. Not after {cancelMandate}.
    function releaseFunding(FundingMandate calldata mandate, uint256 loanId) external;

    /// @notice The LoanBook whose loans it funds.
    function loanBook() external view returns (ILoanBook);

    /// @notice The EIP-712 digest an investor signs for `mandate`; also the mandate's id.
    function hashFundingMandate(FundingMandate calldata mandate) external view returns (bytes32);

    /// @notice What has been funded under the mandate with digest `mandateHash`, less what
    ///         {releaseFunding} gave back (its budget once cancelled).
    function mandateSpent(bytes32 mandateHash) external view returns (uint256);

    /// @notice What the mandate `mandateHash` funded into loan `loanId` and has not released.
    function mandateFunded(bytes32 mandateHash, uint256 loanId) external view returns (uint256);

    /// @notice Whether the investor cancelled the mandate `mandateHash` ({cancelMandate}).
    function mandateCancelled(bytes32 mandateHash) external view returns (bool);
}
