// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IRepaymentAgent
/// @notice Autopay without custody. A payer (the borrower, or anyone paying for it) signs a
///         repayment mandate once (EIP-712 struct `RepaymentMandate`, domain `RepaymentAgent`/`1`);
///         then the mandate's executor (the platform's keeper) alone may have the agent pay what
///         one loan's installments bill, as they fall due: in one transaction the agent takes the
///         amount due from the payer's wallet (the payer approved the agent), repays it to LoanBook
///         and keeps nothing. It never pays ahead of the schedule (only what `amountDue` bills, and
///         no sooner than `PAY_WINDOW` before the oldest unpaid due date), never more than the
///         mandate's cap per payment, never a loan that is not Active, and never after the
///         mandate's expiry or its cancellation by the payer. When more is due than the cap (a
///         payer who fell behind: installments and late fees), it pays the cap, which LoanBook
///         applies to the oldest installment first; the cap bounds each payment, not their number,
///         so the executor may pay again while anything is still due.
interface IRepaymentAgent {
    /// @param payer Wallet (EOA or ERC-1271 contract) the payments come from.
    /// @param executor The only account that may make payments under the mandate.
    /// @param loanId The loan it pays.
    /// @param maxPerPayment Most one payment may take: a payment of what is due, up to this (non-zero).
    /// @param expiry Last second at which it may be used.
    /// @param salt Any number: lets a payer sign a mandate like an earlier cancelled one.
    struct RepaymentMandate {
        address payer;
        address executor;
        uint256 loanId;
        uint128 maxPerPayment;
        uint40 expiry;
        uint256 salt;
    }

    /// @notice `amount` of loan `loanId` was paid from `payer` under the mandate `mandateHash`.
    event PaidWithMandate(bytes32 indexed mandateHash, address indexed payer, uint256 indexed loanId, uint256 amount);

    /// @notice The payer cancelled the mandate: nothing more may be paid under it.
    event MandateCancelled(bytes32 indexed mandateHash, address indexed payer);

    /// @notice A zero address given to the constructor.
    error RepaymentAgentZeroAddress();
    /// @notice The asset given is not LoanBook's loan asset.
    error RepaymentAgentAssetMismatch(address asset, address loanBookAsset);
    /// @notice The mandate's expiry has passed.
    error RepaymentAgentExpired(bytes32 mandateHash, uint256 expiry);
    /// @notice Called by another account than the mandate's executor.
    error RepaymentAgentWrongExecutor(bytes32 mandateHash, address executor, address caller);
    /// @notice The payer's signature does not match the mandate.
    error RepaymentAgentInvalidSignature(address payer);
    /// @notice The payer cancelled the mandate.
    error RepaymentAgentCancelled(bytes32 mandateHash);
    /// @notice Only the mandate's payer may cancel it.
    error RepaymentAgentNotPayer(address caller, address payer);
    /// @notice The loan is not Active.
    error RepaymentAgentNotActive(uint256 loanId);
    /// @notice Nothing is billed on the loan now.
    error RepaymentAgentNothingDue(uint256 loanId);
    /// @notice The oldest unpaid due date is more than `PAY_WINDOW` away.
    error RepaymentAgentNotYetDue(uint256 loanId, uint256 dueDate);
    /// @notice The mandate's cap per payment is zero: it could never pay anything.
    error RepaymentAgentZeroCap(bytes32 mandateHash);

    /// @notice Pays what loan `mandate.loanId` bills now (`amountDue`'s `dueNow`), up to
    ///         `mandate.maxPerPayment`, from `mandate.payer`'s wallet, under the mandate the payer
    ///         signed (`signature`, checked with SignatureChecker). Executor only. A payment capped
    ///         below what is due pays the installments due oldest first, then the late fees (LoanBook's
    ///         order), and leaves the rest due.
    /// @return paid What went from the payer to LoanBook.
    function payWithMandate(RepaymentMandate calldata mandate, bytes calldata signature) external returns (uint256 paid);

    /// @notice Ends `mandate` for good. Its payer only.
    function cancelMandate(RepaymentMandate calldata mandate) external;

    /// @notice The EIP-712 digest a payer signs for `mandate`; also the mandate's id.
    function hashRepaymentMandate(RepaymentMandate calldata mandate) external view returns (bytes32);

    /// @notice Whether the payer cancelled the mandate with digest `mandateHash`.
    function cancelled(bytes32 mandateHash) external view returns (bool);
}
