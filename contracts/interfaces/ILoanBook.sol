// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IKYCRegistry} from "./IKYCRegistry.sol";
import {IReserveFund} from "./IReserveFund.sol";

/// @title ILoanBook
/// @notice One contract holds every loan as a packed struct with a sequential id (Morpho Blue
///         style, no contract per loan). A loan's life:
///
///         1. Create: anyone submits terms signed (EIP-712) by the borrower and by an
///            UNDERWRITER_ROLE key. Signatures are checked with OZ SignatureChecker, so ERC-1271
///            wallets work. The borrower's sequential nonce prevents replay; the domain binds the
///            chain id and this contract. Status `Funding`.
///         2. Fund: KYC-verified investors fund any fractions until the principal is reached,
///            before the funding deadline. Each position is an ERC-1155 note, id = loan id,
///            1 note = 1 base unit of principal. Notes move only to verified wallets, and
///            never to the loan's own borrower (no self-funding). An investor may let agents
///            fund for it from its wallet ({setAuthorization}, {fundFor}), as the FundingAgent
///            does under the investor's signed mandates.
///         3. Disburse: once fully funded anyone disburses: principal minus the origination fee
///            goes to the borrower, the fee to the ReserveFund, which must be bound to this
///            LoanBook. Status `Active`.
///         4. Refund: not fully funded by the deadline, or fully funded but not disbursed
///            within `DISBURSEMENT_WINDOW` after it, the loan is `Cancelled` and investors take
///            their funds back (notes are burned).
///         5. Repay: anyone repays. Equal annuity installments, due every `installmentPeriod`
///            from disbursement. A payment goes to the installments due (interest, then
///            principal; the oldest unsettled one even ahead of its due date), then late fees,
///            then the installment whose period has started but that is not due yet; once no
///            installment is billed, the rest prepays principal. A payoff in full owes that
///            last installment's interest only for the days of its period begun. The loan closes
///            (`Repaid`) once the balance and the late fees are paid.
///         6. Claim: every payment is distributed pro rata to notes through a points-per-share
///            accumulator (Maple FundsDistributionToken); investors pull with {claim}. No loop
///            over investors anywhere: repay and claim cost the same for 1 or 1,000 investors.
///         7. Default: `defaultAfter` seconds past the oldest unpaid due date anyone may mark
///            the loan `Defaulted`; the ReserveFund covers outstanding principal up to its
///            balance and coverage ratio, paid to the investors at once. The borrower still owes
///            the whole debt: the cover insures the investors, it does not pay the borrower's
///            debt. Later payments (recoveries) go to the investors until they have recovered
///            `debt - cover`, then back to the ReserveFund until it has recouped its cover
///            (subrogation); only then is nothing owed.
///
///         Statuses only move forward: Funding -> Active -> Repaid | Defaulted, or
///         Funding -> Cancelled. Every transition and payment emits an event carrying enough to
///         rebuild the loan from events alone.
interface ILoanBook {
    // ------------------------------------------------------------------ types

    /// @notice Lifecycle status. `None` marks an id that was never created.
    enum LoanStatus {
        None,
        Funding,
        Active,
        Repaid,
        Defaulted,
        Cancelled
    }

    /// @notice The terms the borrower and the underwriter both sign (EIP-712 struct `LoanTerms`).
    /// @param borrower Wallet (EOA or ERC-1271 contract) that receives the principal.
    /// @param principal Amount lent, in base units of the loan asset.
    /// @param aprBps Nominal annual interest rate in basis points (365-day year).
    /// @param installments Number of equal installments.
    /// @param installmentPeriod Seconds between due dates; the first is due one period after
    ///        disbursement.
    /// @param fundingDeadline Last second at which the loan can be funded; at most
    ///        `MAX_FUNDING_WINDOW` after the loan's creation.
    /// @param originationFeeBps Fee withheld from the principal at disbursement, paid to the
    ///        ReserveFund.
    /// @param agreementHash Hash of the signed loan agreement document (anchored off-chain).
    /// @param decisionHash Commitment to the credit scoring decision behind the offer.
    /// @param nonce The borrower's current nonce (see `nonces`).
    /// @param deadline Last second at which the signatures may be used.
    struct LoanTerms {
        address borrower;
        uint128 principal;
        uint16 aprBps;
        uint16 installments;
        uint32 installmentPeriod;
        uint40 fundingDeadline;
        uint16 originationFeeBps;
        bytes32 agreementHash;
        bytes32 decisionHash;
        uint256 nonce;
        uint256 deadline;
    }


    /// @notice A loan as stored (8 slots; the comments give the slot).
    /// @dev `funded` is the notes outstanding: it grows with funding and shrinks with refunds.
    ///      `distributed` is everything paid to the loan's investors (repayments, cover,
    ///      recoveries) and `noteSupply` the notes it is spread over, fixed at disbursement.
    ///      While Active, `interestDue`/`principalDue` are what is left of the installment being
    ///      paid (both zero when none is billed); `lateFeesThrough` is the last installment whose
    ///      late fee has been assessed. After a default the servicing fields keep their value at
    ///      default, `coverPaid` is the reserve's cover and `recoverable` what the borrower still
    ///      owes (the whole debt at default, less recoveries): its first `recoverable - coverPaid`
    ///      is the investors', the last `min(recoverable, coverPaid)` the reserve's.
    struct Loan {
        // slot 0: identity and terms
        address borrower;
        LoanStatus status;
        uint16 aprBps;
        uint16 originationFeeBps;
        uint16 installments;
        uint40 fundingDeadline;
        // slot 1: funding
        uint128 principal;
        uint128 funded;
        // slot 2: schedule
        uint128 installmentAmount;
        uint32 installmentPeriod;
        uint40 startTime;
        uint16 installmentsPaid;
        uint16 lateFeesThrough;
        // slot 3 and 4: servicing balances
        uint128 principalOutstanding;
        uint128 interestDue;
        uint128 principalDue;
        uint128 feesDue;
        // slot 5: accumulator (points per share = ceil(distributed * 2^128 / noteSupply))
        uint128 distributed;
        uint128 noteSupply;
        // slot 6: EIP-712 struct hash of the signed terms
        bytes32 termsHash;
        // slot 7: default
        uint128 coverPaid;
        uint128 recoverable;
    }

    // ----------------------------------------------------------------- events

    /// @notice A loan was created from signed terms (-> Funding).
    event LoanCreated(
        uint256 indexed loanId,
        address indexed borrower,
        address indexed underwriter,
        bytes32 termsHash,
        uint256 installmentAmount,
        LoanTerms terms
    );

    /// @notice `investor` funded `amount`; `totalFunded` is the loan's funding so far.
    event LoanFunded(uint256 indexed loanId, address indexed investor, uint256 amount, uint256 totalFunded);

    /// @notice The principal was paid out (Funding -> Active); installment k is due at
    ///         `startTime + k * installmentPeriod`.
    event LoanDisbursed(
        uint256 indexed loanId, address indexed borrower, uint256 netAmount, uint256 originationFee, uint256 startTime
    );

    /// @notice The funding deadline passed before full funding, or the disbursement window after
    ///         it without a payout (Funding -> Cancelled). `funded` is what investors take back.
    event LoanCancelled(uint256 indexed loanId, uint256 funded);

    /// @notice `investor` took back `amount` from a cancelled loan; its notes were burned.
    event LoanRefunded(uint256 indexed loanId, address indexed investor, uint256 amount);

    /// @notice Late fees for installments up to `throughInstallment` were added to the debt.
    event LateFeeAssessed(uint256 indexed loanId, uint256 throughInstallment, uint256 amount);

    /// @notice A payment towards `installment` (1-based). `feePaid` is late fees paid by this
    ///         payment: fees are paid after the installments due, so they ride on the next event
    ///         of the transaction (the installment not yet due, or a {LoanPrepayment}), or on a
    ///         payment of fees alone (interest and principal zero, `installment` the oldest
    ///         unsettled one, or the last one once the balance is repaid).
    ///         `principalOutstanding` is the balance after it.
    event LoanPayment(
        uint256 indexed loanId,
        uint256 indexed installment,
        address indexed payer,
        uint256 feePaid,
        uint256 interestPaid,
        uint256 principalPaid,
        uint256 principalOutstanding
    );

    /// @notice Unscheduled principal paid ahead of the schedule.
    event LoanPrepayment(
        uint256 indexed loanId, address indexed payer, uint256 feePaid, uint256 principalPaid, uint256 principalOutstanding
    );

    /// @notice The balance reached zero (Active -> Repaid).
    event LoanRepaid(uint256 indexed loanId, uint256 installmentsPaid);

    /// @notice The loan was marked defaulted (Active -> Defaulted). `debt` is what closing the
    ///         loan would have cost at that moment; `cover` came from the ReserveFund and went to
    ///         the investors; `recoverable` is what the borrower still owes: the whole `debt`
    ///         (recoveries repay the investors' `debt - cover` first, then the reserve's cover).
    event LoanDefaulted(
        uint256 indexed loanId,
        address indexed caller,
        uint256 principalOutstanding,
        uint256 debt,
        uint256 cover,
        uint256 recoverable
    );

    /// @notice A payment on a defaulted loan: `amount` is what the payer paid, `recoverableLeft`
    ///         what the borrower still owes. Distributed to the investors, except the part a
    ///         {CoverRecouped} in the same transaction sends back to the ReserveFund.
    event LoanRecovery(uint256 indexed loanId, address indexed payer, uint256 amount, uint256 recoverableLeft);

    /// @notice `amount` of a recovery went back to the ReserveFund, which paid the loan's cover:
    ///         the investors have recovered `debt - cover`, so the rest repays the reserve
    ///         (subrogation). `coverOutstanding` is the cover the reserve has still to recoup.
    event CoverRecouped(uint256 indexed loanId, uint256 amount, uint256 coverOutstanding);

    /// @notice `investor` withdrew `amount` of their distributed funds.
    event Claimed(uint256 indexed loanId, address indexed investor, uint256 amount);

    /// @notice The borrower voided every offer signed with `nonce`.
    event NonceRevoked(address indexed borrower, uint256 nonce);

    /// @notice `investor` let `agent` fund loans on its behalf ({fundFor}), or took that back.
    event AuthorizationSet(address indexed investor, address indexed agent, bool authorized);

    /// @notice The admin changed the smallest ticket (`setMinTicket`) from `previous` to `current`.
    event MinTicketSet(uint256 previous, uint256 current);
    /// @notice The admin changed the KYC levels borrowers and investors need (`setKycLevels`).
    event KycLevelsSet(uint8 borrowerLevel, uint8 investorLevel);

    // ----------------------------------------------------------------- errors

    /// @notice A zero address given to the constructor.
    error LoanBookZeroAddress();
    /// @notice The ReserveFund holds another asset than the loans': its cover and the fees and
    ///         recoveries sent to it would be in different tokens.
    error LoanBookAssetMismatch(address asset, address reserveAsset);
    /// @notice Servicing parameters out of range (grace must not exceed the default threshold,
    ///         the late fee must not exceed 100%).
    error LoanBookInvalidServicingParams(uint256 gracePeriod, uint256 lateFeeBps, uint256 defaultAfter);
    /// @notice The signatures' deadline has passed.
    error LoanBookSignatureExpired(uint256 deadline, uint256 currentTime);
    /// @notice The terms' nonce is not the borrower's current nonce.
    error LoanBookInvalidNonce(address borrower, uint256 nonce, uint256 expected);
    /// @notice The borrower lacks a valid KYC attestation of the required level (at creation, or
    ///         at disbursement).
    error LoanBookBorrowerNotVerified(address borrower, uint8 minLevel);
    /// @notice The borrower's signature does not match the terms.
    error LoanBookInvalidBorrowerSignature(address borrower);
    /// @notice The underwriter signature is malformed or, for a contract signer, rejected.
    error LoanBookInvalidUnderwriterSignature(address signer);
    /// @notice The underwriter signature is valid but its signer lacks UNDERWRITER_ROLE.
    error LoanBookUnauthorizedUnderwriter(address signer);
    /// @notice The underwriter signature is the borrower's own: the countersignature puts a second
    ///         key between a borrower and the investors' money, so it must come from another key.
    ///         Refused: a borrower that also holds UNDERWRITER_ROLE, and a contract borrower whose
    ///         wallet accepts the underwriter's signature as its own (ERC-1271 over the same digest,
    ///         as a minimal wallet owned by the underwriter's key does).
    /// @dev The limit: on-chain code cannot see a contract wallet's keys. A wallet that wraps the
    ///      digest before checking its owner's signature (Safe's `SafeMessage`, for one) needs a
    ///      signature over another message, so one underwriter key owning such a wallet still
    ///      passes. The KYC attestor must refuse contract-wallet borrowers owned by staff or
    ///      platform keys.
    error LoanBookSelfUnderwritten(address borrower);
    /// @notice The borrower is the zero address.
    error LoanBookInvalidBorrower(address borrower);
    /// @notice A zero principal.
    error LoanBookInvalidPrincipal(uint256 principal);
    /// @notice Installments, period or total term out of range.
    error LoanBookInvalidSchedule(uint256 installments, uint256 installmentPeriod);
    /// @notice APR above `MAX_APR_BPS`.
    error LoanBookAprTooHigh(uint256 aprBps, uint256 maxBps);
    /// @notice An interest-bearing schedule whose first installment would repay less than
    ///         `minFirstPrincipal` base units of principal (exactly, before rounding): interest
    ///         would take (almost) the whole installment and rounding would drift the principal
    ///         into a balloon (see `MIN_FIRST_PRINCIPAL`). Shorten it, lower the APR or raise the
    ///         principal.
    error LoanBookScheduleDoesNotAmortize(
        uint256 installmentAmount, uint256 firstInterest, uint256 firstPrincipal, uint256 minFirstPrincipal
    );
    /// @notice Origination fee above `MAX_ORIGINATION_FEE_BPS`.
    error LoanBookFeeTooHigh(uint256 feeBps, uint256 maxBps);
    /// @notice The funding deadline is not in the future.
    error LoanBookInvalidFundingDeadline(uint256 fundingDeadline, uint256 currentTime);
    /// @notice The funding deadline is past `latest`, `MAX_FUNDING_WINDOW` from now: investors'
    ///         money is not held for a loan that may never start.
    error LoanBookFundingWindowTooLong(uint256 fundingDeadline, uint256 latest);
    /// @notice A zero amount: a funding, a payment or a transfer of notes of 0 (`loanId` is the
    ///         notes' loan).
    error LoanBookZeroAmount(uint256 loanId);
    /// @notice The loan is not in `Funding` (status `None` means an unknown id).
    error LoanBookNotFunding(uint256 loanId, LoanStatus status);
    /// @notice The loan is not `Active`.
    error LoanBookNotActive(uint256 loanId, LoanStatus status);
    /// @notice Repay on a loan that is neither Active nor Defaulted.
    error LoanBookNotRepayable(uint256 loanId, LoanStatus status);
    /// @notice Refund on a loan that is neither Cancelled nor cancellable.
    error LoanBookNotRefundable(uint256 loanId, LoanStatus status);
    /// @notice Funding after the funding deadline.
    error LoanBookFundingClosed(uint256 loanId, uint256 fundingDeadline);
    /// @notice Cancelling before the funding deadline.
    error LoanBookFundingOpen(uint256 loanId, uint256 fundingDeadline);
    /// @notice Cancelling a fully funded loan before its disbursement window ends: until
    ///         `cancellableAfter` (funding deadline + `DISBURSEMENT_WINDOW`, inclusive) it can only
    ///         be disbursed.
    error LoanBookFullyFunded(uint256 loanId, uint256 cancellableAfter);
    /// @notice The investor is not KYC-verified at the required level.
    error LoanBookInvestorNotVerified(address investor, uint8 minLevel);
    /// @notice The loan's own borrower tried to fund it or to receive its notes: self-funding
    ///         would let a borrower dress up its own money as investor demand.
    error LoanBookBorrowerCannotInvest(uint256 loanId, address borrower);
    /// @notice A transfer of notes of a Cancelled loan (mints and refunds' burns are not
    ///         transfers): such a note is only a claim to its refund, which its holder takes with
    ///         {refund}, so nothing needs to move it, and a note sent to a wallet could block
    ///         whatever waits for that wallet to hold none (the FundingAgent's release).
    error LoanBookCancelledNotes(uint256 loanId);
    /// @notice A note transfer to a wallet that is not KYC-verified.
    error LoanBookRecipientNotVerified(address recipient, uint8 minLevel);
    /// @notice Funding more than what is left to fund.
    error LoanBookOverfunded(uint256 loanId, uint256 amount, uint256 remaining);
    /// @notice A ticket below the minimum that does not complete the loan either.
    error LoanBookTicketTooSmall(uint256 loanId, uint256 amount, uint256 minTicket);
    /// @notice Disbursing a loan that is not fully funded.
    error LoanBookNotFullyFunded(uint256 loanId, uint256 funded, uint256 principal);
    /// @notice Disbursing while `reserve` is not bound to this LoanBook (its `loanBook()` is
    ///         `reserveLoanBook`, zero until the admin binds it): the fee would go to a reserve
    ///         whose cover goes elsewhere.
    error LoanBookReserveNotBound(address reserve, address reserveLoanBook);
    /// @notice Marking a default before `defaultableAt` (exclusive).
    error LoanBookNotDefaultable(uint256 loanId, uint256 defaultableAt);
    /// @notice A recovery on a defaulted loan with nothing left to recover.
    error LoanBookNothingOwed(uint256 loanId);
    /// @notice Claiming when nothing is claimable.
    error LoanBookNothingToClaim(uint256 loanId, address investor);
    /// @notice `claimMany` found nothing claimable in any of `loanCount` loans.
    error LoanBookNothingToClaimMany(address investor, uint256 loanCount);
    /// @notice Refunding without notes of the loan.
    error LoanBookNothingToRefund(uint256 loanId, address investor);
    /// @notice {fundFor} by an account the investor has not authorized.
    error LoanBookUnauthorizedAgent(address caller, address investor);

    // -------------------------------------------------------------- lifecycle

    /// @notice Creates a loan from `terms` signed by the borrower and an underwriter.
    /// @dev Anyone may submit. Reverts when paused. `borrowerSignature` is checked with
    ///      SignatureChecker against `terms.borrower` (ECDSA or ERC-1271).
    ///      `underwriterSignature` is either a 65-byte ECDSA signature, whose signer must hold
    ///      UNDERWRITER_ROLE, or `abi.encodePacked(underwriterContract, erc1271Signature)`; the
    ///      underwriter is never the borrower, nor signs for a contract borrower
    ///      ({LoanBookSelfUnderwritten}, which states the limit of that check).
    ///      Consumes the borrower's nonce: every other offer signed with it becomes void.
    /// @return loanId The new loan's id (sequential, from 1).
    function createLoan(LoanTerms calldata terms, bytes calldata borrowerSignature, bytes calldata underwriterSignature)
        external
        returns (uint256 loanId);

    /// @notice Funds `amount` of loan `loanId` and mints as many notes to the caller. The caller
    ///         must be KYC-verified, must not be the loan's borrower, and must have approved the
    ///         asset. A ticket below `minTicket` is accepted only when it completes the loan.
    ///         Reverts when paused.
    function fund(uint256 loanId, uint256 amount) external;

    /// @notice {fund} on behalf of `investor`, by the investor or an agent it authorized
    ///         ({setAuthorization}): the asset moves from the investor's wallet (which must have
    ///         approved this contract) into the loan and the notes are minted to the investor.
    ///         Every rule of {fund} applies to the investor. Reverts when paused.
    /// @dev How an auto-invest agent (FundingAgent) funds within a mandate the investor signed,
    ///      while LoanBook keeps no knowledge of mandates.
    function fundFor(uint256 loanId, address investor, uint256 amount) external;

    /// @notice Lets `agent` fund loans for the caller through {fundFor}, or stops it. Allowed
    ///         while paused, so an investor can always take an authorization back.
    function setAuthorization(address agent, bool authorized) external;

    /// @notice Pays out a fully funded loan: principal minus fee to the borrower, the fee to the
    ///         ReserveFund; starts the schedule. The borrower must still hold a valid KYC
    ///         attestation of `borrowerKycLevel` (an attestation revoked since creation stops the
    ///         payout), and the ReserveFund must be bound to this LoanBook
    ///         ({LoanBookReserveNotBound}). Anyone may call. Reverts when paused.
    function disburse(uint256 loanId) external;

    /// @notice Cancels a loan still in Funding once its funding deadline has passed without full
    ///         funding, or, fully funded, once `DISBURSEMENT_WINDOW` past the deadline has passed
    ///         without a payout (it may still be disbursed until someone cancels it). Anyone may
    ///         call.
    function cancel(uint256 loanId) external;

    /// @notice Returns the caller's funding of a cancelled (or cancellable) loan and burns their
    ///         notes; cancels the loan first if needed. Open while paused.
    /// @return amount What was returned.
    function refund(uint256 loanId) external returns (uint256 amount);

    /// @notice Pays up to `amount` towards loan `loanId` from the caller (anyone may pay).
    ///         Active: the interest and principal of the installments due (the oldest unsettled
    ///         one once its period has started, and every later one whose due date has come),
    ///         then late fees, then the installment whose period has started but that is not due
    ///         yet, which owes its interest only for the days of its period begun when the payment
    ///         pays the loan off (a payment short of that pays its whole period's interest); the
    ///         rest prepays principal. The loan is `Repaid` once balance and fees are paid. Defaulted: a
    ///         recovery, up to what is recoverable: to the investors until they have recovered
    ///         `debt - cover`, then to the ReserveFund until its cover is recouped. Never takes
    ///         more than is owed. Open while paused.
    /// @return paid What was taken from the caller (distributed to the investors, but for the
    ///         part a recovery sends back to the ReserveFund).
    function repay(uint256 loanId, uint256 amount) external returns (uint256 paid);

    /// @notice Marks an Active loan defaulted once `block.timestamp` is past `defaultableAt`
    ///         (oldest unpaid due date + `defaultAfter`). Anyone may call. Draws the reserve's
    ///         cover and distributes it to the investors.
    function markDefault(uint256 loanId) external;

    /// @notice Withdraws everything the caller can claim on `loanId`. Open while paused.
    function claim(uint256 loanId) external returns (uint256 amount);

    /// @notice {claim} over several loans with one transfer. Reverts if nothing is claimable.
    function claimMany(uint256[] calldata loanIds) external returns (uint256 total);

    /// @notice Voids every offer signed with the caller's current nonce.
    function revokeNonce() external;

    // ------------------------------------------------------------------ views

    /// @notice Number of loans created; ids run from 1 to `loanCount`.
    function loanCount() external view returns (uint256);

    /// @notice The ERC-20 every loan is denominated in.
    function asset() external view returns (IERC20);

    /// @notice The stored loan (all zero for an unknown id).
    function loan(uint256 loanId) external view returns (Loan memory);

    /// @notice The ReserveFund that takes the origination fees and pays cover on default. It must
    ///         be bound to this LoanBook (`IReserveFund.loanBook`) before any loan is disbursed.
    function reserveFund() external view returns (IReserveFund);

    /// @notice The registry whose attestations decide who may fund a loan or receive its notes.
    function kycRegistry() external view returns (IKYCRegistry);

    /// @notice The KYC level a wallet needs to fund a loan or receive notes (admin-settable).
    function investorKycLevel() external view returns (uint8);

    /// @notice The accumulator's points per note (scaled by 2^128).
    function pointsPerShare(uint256 loanId) external view returns (uint256);

    /// @notice What `investor` can claim on `loanId` now.
    function claimableOf(uint256 loanId, address investor) external view returns (uint256);

    /// @notice What `investor` has claimed on `loanId` so far (this wallet only).
    function claimedOf(uint256 loanId, address investor) external view returns (uint256);

    /// @notice For an Active loan at the current block time: `dueNow` is what brings it up to
    ///         date (the oldest unsettled installment once its period has started, every later
    ///         installment whose due date has come, but never one not yet due, and late fees; at
    ///         most `payoff`), `payoff` closes it (the installment of the period begun with its
    ///         interest for the days begun, each begun day counted), and `nextDueDate` is the
    ///         oldest unpaid due date. Repaying `dueNow` settles exactly the installments and fees
    ///         it counts; repaying `payoff` in the same block closes the loan (it holds until
    ///         the next day of the period begins, a due date comes or a late fee is assessed). Late fees left once every installment is paid keep the
    ///         loan Active: then `dueNow == payoff` is the fees and `nextDueDate` is one period
    ///         after the last installment's due date. For a Defaulted loan both amounts are what
    ///         the borrower still owes (`recoverable`). Zero otherwise.
    function amountDue(uint256 loanId) external view returns (uint256 dueNow, uint256 payoff, uint256 nextDueDate);

    /// @notice The time after which {markDefault} succeeds (0 unless Active).
    function defaultableAt(uint256 loanId) external view returns (uint256);

    /// @notice The EIP-712 digest both parties sign for `terms` on this chain and contract.
    function hashLoanTerms(LoanTerms calldata terms) external view returns (bytes32);

    /// @notice Whether `investor` lets `agent` fund loans on its behalf ({fundFor}).
    function isAuthorized(address investor, address agent) external view returns (bool);
}
