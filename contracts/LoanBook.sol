// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {ILoanBook} from "./interfaces/ILoanBook.sol";
import {IKYCRegistry} from "./interfaces/IKYCRegistry.sol";
import {IReserveFund} from "./interfaces/IReserveFund.sol";
import {AmortizationMath} from "./libraries/AmortizationMath.sol";
import {DistributionMath} from "./libraries/DistributionMath.sol";
import {LoanServicing} from "./libraries/LoanServicing.sol";

/// @title LoanBook
/// @notice The core: every loan, its notes (ERC-1155, id = loan id) and its money. See
///         {ILoanBook} for the lifecycle. Math lives in `libraries/`; this contract does checks,
///         effects, events, then transfers, in that order, behind OZ ReentrancyGuard.
/// @dev The loan asset must be a plain ERC-20 (no fee on transfer, no rebasing): balances are
///      accounted by the amounts moved.
contract LoanBook is ILoanBook, ERC1155, AccessControl, EIP712, Nonces, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant UNDERWRITER_ROLE = keccak256("UNDERWRITER_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    bytes32 public constant LOAN_TERMS_TYPEHASH = keccak256(
        "LoanTerms(address borrower,uint128 principal,uint16 aprBps,uint16 installments,uint32 installmentPeriod,"
        "uint40 fundingDeadline,uint16 originationFeeBps,bytes32 agreementHash,bytes32 decisionHash,uint256 nonce,"
        "uint256 deadline)"
    );

    uint256 public constant MAX_APR_BPS = 10_000;
    uint256 public constant MAX_ORIGINATION_FEE_BPS = 1_000;
    uint256 public constant MAX_INSTALLMENTS = 360;
    uint256 public constant MIN_INSTALLMENT_PERIOD = 1 days;
    uint256 public constant MAX_INSTALLMENT_PERIOD = 366 days;
    uint256 public constant MAX_TERM = 40 * 365 days;
    /// @notice Longest funding window: a funding deadline at most this far past the creation.
    uint256 public constant MAX_FUNDING_WINDOW = 30 days;
    /// @notice How long past its funding deadline a fully funded loan waits to be disbursed
    ///         before anyone may cancel it, so its investors are never locked in by a payout
    ///         that cannot happen (a borrower no longer verified, or one the asset blocks).
    uint256 public constant DISBURSEMENT_WINDOW = 7 days;
    /// @notice The least principal, in base units, the exact schedule's first installment must
    ///         repay (`P * r / ((1 + r)^n - 1)`). Each installment's rounding (interest up, the
    ///         installment up once) moves the balance off the exact schedule by less than a unit,
    ///         and that error compounds at the loan's rate, so the balance left for the last
    ///         installment, and the interest paid on the lag, each stay below
    ///         `((1 + r)^n - 1) / r = P / firstPrincipal` units. With at least 10,000 units that is
    ///         under 1 bp of the principal, whatever the term and rate; below one unit the
    ///         installment and the interest round to the same amount and the schedule never
    ///         amortizes (interest only, the whole principal as a balloon). Loans without interest
    ///         are exempt: nothing compounds.
    uint256 public constant MIN_FIRST_PRINCIPAL = 10_000;
    uint256 private constant BPS = 10_000;

    /// @notice The ERC-20 every loan is denominated in.
    IERC20 public immutable asset;
    IKYCRegistry public immutable kycRegistry;
    IReserveFund public immutable reserveFund;
    /// @notice Seconds after a due date before a late fee is assessed.
    uint256 public immutable gracePeriod;
    /// @notice Late fee per late installment, in bps of what is unpaid of it (at most the
    ///         installment amount).
    uint256 public immutable lateFeeBps;
    /// @notice Seconds past the oldest unpaid due date after which a loan may be marked defaulted.
    uint256 public immutable defaultAfter;

    /// @notice Smallest ticket, except the one that completes a loan. Admin-settable.
    uint128 public minTicket;
    /// @notice KYC level a borrower needs at creation. Admin-settable.
    uint8 public borrowerKycLevel;
    /// @notice KYC level an investor needs to fund or receive notes. Admin-settable.
    uint8 public investorKycLevel;

    /// @inheritdoc ILoanBook
    uint256 public loanCount;

    mapping(uint256 loanId => Loan) private _loans;

    /// @dev One investor's accumulator position in one loan (Maple FundsDistributionToken).
    struct Position {
        int256 correction;
        uint256 withdrawn;
    }

    mapping(uint256 loanId => mapping(address investor => Position)) private _positions;

    /// @inheritdoc ILoanBook
    mapping(address investor => mapping(address agent => bool)) public isAuthorized;

    /// @param admin Receives DEFAULT_ADMIN_ROLE and PAUSER_ROLE.
    /// @param asset_ The loan currency.
    /// @param kycRegistry_ Where borrowers and investors are verified.
    /// @param reserveFund_ Receives origination fees, pays cover on default.
    /// @param gracePeriod_ Seconds after a due date before the late fee (e.g. 15 days).
    /// @param lateFeeBps_ Late fee in bps of the installment (e.g. 500 = 5%), at most 10_000.
    /// @param defaultAfter_ Seconds past due before default (e.g. 120 days), >= the grace period.
    /// @param minTicket_ Smallest funding ticket, in base units.
    constructor(
        address admin,
        IERC20 asset_,
        IKYCRegistry kycRegistry_,
        IReserveFund reserveFund_,
        uint256 gracePeriod_,
        uint256 lateFeeBps_,
        uint256 defaultAfter_,
        uint128 minTicket_
    ) ERC1155("") EIP712("LoanBook", "1") {
        if (
            admin == address(0) || address(asset_) == address(0) || address(kycRegistry_) == address(0)
                || address(reserveFund_) == address(0)
        ) revert LoanBookZeroAddress();
        address reserveAsset = address(reserveFund_.asset());
        if (reserveAsset != address(asset_)) revert LoanBookAssetMismatch(address(asset_), reserveAsset);
        if (gracePeriod_ > defaultAfter_ || lateFeeBps_ > BPS || defaultAfter_ > MAX_TERM) {
            revert LoanBookInvalidServicingParams(gracePeriod_, lateFeeBps_, defaultAfter_);
        }
        asset = asset_;
        kycRegistry = kycRegistry_;
        reserveFund = reserveFund_;
        gracePeriod = gracePeriod_;
        lateFeeBps = lateFeeBps_;
        defaultAfter = defaultAfter_;
        minTicket = minTicket_;
        borrowerKycLevel = 1;
        investorKycLevel = 1;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        emit MinTicketSet(0, minTicket_);
        emit KycLevelsSet(1, 1);
    }

    // ============================================================== lifecycle

    /// @inheritdoc ILoanBook
    function createLoan(LoanTerms calldata terms, bytes calldata borrowerSignature, bytes calldata underwriterSignature)
        external
        whenNotPaused
        returns (uint256 loanId)
    {
        (bytes32 structHash, address underwriter, uint256 installmentAmount) =
            _checkTerms(terms, borrowerSignature, underwriterSignature);
        loanId = _storeLoan(terms, structHash, installmentAmount);
        emit LoanCreated(loanId, terms.borrower, underwriter, structHash, installmentAmount, terms);
    }

    /// @inheritdoc ILoanBook
    function fund(uint256 loanId, uint256 amount) external whenNotPaused nonReentrant {
        _fund(loanId, msg.sender, amount);
    }

    /// @inheritdoc ILoanBook
    function fundFor(uint256 loanId, address investor, uint256 amount) external whenNotPaused nonReentrant {
        if (msg.sender != investor && !isAuthorized[investor][msg.sender]) {
            revert LoanBookUnauthorizedAgent(msg.sender, investor);
        }
        _fund(loanId, investor, amount);
    }

    /// @inheritdoc ILoanBook
    function setAuthorization(address agent, bool authorized) external {
        isAuthorized[msg.sender][agent] = authorized;
        emit AuthorizationSet(msg.sender, agent, authorized);
    }

    /// @inheritdoc ILoanBook
    function disburse(uint256 loanId) external whenNotPaused nonReentrant {
        Loan storage l = _loans[loanId];
        LoanStatus status = l.status;
        if (status != LoanStatus.Funding) revert LoanBookNotFunding(loanId, status);
        uint256 principal = l.principal;
        uint256 funded = l.funded;
        if (funded != principal) revert LoanBookNotFullyFunded(loanId, funded, principal);
        address borrower = l.borrower;
        // Checked again at the payout: an attestation revoked since creation (fraud found) stops it.
        uint8 level = borrowerKycLevel;
        if (!kycRegistry.isVerified(borrower, level)) revert LoanBookBorrowerNotVerified(borrower, level);
        // The fee goes only to a reserve that pays its cover to this book: bound elsewhere (or not
        // yet), whoever it is bound to could take the fees through `cover`.
        IReserveFund reserve = reserveFund;
        bytes4 loanBookSelector = IReserveFund.loanBook.selector;
        uint256 reserveBook;
        // `reserve.loanBook()` by hand: the high-level call's code-size check, revert bubbling and
        // decoding cost ~110 bytes more of the little room left under EIP-170. Only scratch space
        // is written. A reverting reserve reads as zero (its revert data also lands in scratch
        // space, hence `mul(ok, …)`); a short answer leaves the selector's word there; a word
        // with dirty high bits stays unequal to this address: each fails the check below.
        assembly ("memory-safe") {
            mstore(0, loanBookSelector)
            let ok := staticcall(gas(), reserve, 0, 4, 0, 32)
            reserveBook := mul(ok, mload(0))
        }
        if (reserveBook != uint160(address(this))) {
            revert LoanBookReserveNotBound(address(reserve), address(uint160(reserveBook)));
        }
        // Rounded down: the fee never takes more than its rate from the borrower.
        uint256 fee = (principal * l.originationFeeBps) / BPS;
        uint256 net;
        // cannot underflow: originationFeeBps <= MAX_ORIGINATION_FEE_BPS < BPS, so fee < principal
        unchecked {
            net = principal - fee;
        }

        l.status = LoanStatus.Active;
        l.startTime = uint40(block.timestamp);
        l.principalOutstanding = uint128(principal);
        // The notes outstanding, fixed from now on: nothing is minted or burned once Active.
        l.noteSupply = uint128(principal);
        emit LoanDisbursed(loanId, borrower, net, fee, block.timestamp);

        asset.safeTransfer(borrower, net);
        if (fee != 0) asset.safeTransfer(address(reserveFund), fee);
    }

    /// @inheritdoc ILoanBook
    function cancel(uint256 loanId) external {
        _cancel(loanId, _loans[loanId]);
    }

    /// @inheritdoc ILoanBook
    function refund(uint256 loanId) external nonReentrant returns (uint256 amount) {
        Loan storage l = _loans[loanId];
        LoanStatus status = l.status;
        if (status == LoanStatus.Funding) _cancel(loanId, l);
        else if (status != LoanStatus.Cancelled) revert LoanBookNotRefundable(loanId, status);
        amount = balanceOf(msg.sender, loanId);
        if (amount == 0) revert LoanBookNothingToRefund(loanId, msg.sender);

        // cannot underflow: `funded` is the total supply of the loan's notes, amount a balance
        unchecked {
            l.funded -= uint128(amount);
        }
        _burn(msg.sender, loanId, amount);
        emit LoanRefunded(loanId, msg.sender, amount);
        asset.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc ILoanBook
    function repay(uint256 loanId, uint256 amount) external nonReentrant returns (uint256 paid) {
        if (amount == 0) revert LoanBookZeroAmount(loanId);
        Loan storage l = _loans[loanId];
        LoanStatus status = l.status;
        uint256 toReserve = 0; // a recovery's part that repays the reserve's cover
        if (status == LoanStatus.Active) paid = _repayActive(loanId, l, amount);
        else if (status == LoanStatus.Defaulted) (paid, toReserve) = _recover(loanId, l, amount);
        else revert LoanBookNotRepayable(loanId, status);
        asset.safeTransferFrom(msg.sender, address(this), paid);
        if (toReserve != 0) asset.safeTransfer(address(reserveFund), toReserve);
    }

    /// @inheritdoc ILoanBook
    function markDefault(uint256 loanId) external nonReentrant {
        Loan storage l = _loans[loanId];
        LoanStatus status = l.status;
        if (status != LoanStatus.Active) revert LoanBookNotActive(loanId, status);
        uint256 threshold = _defaultableAt(l);
        if (block.timestamp <= threshold) revert LoanBookNotDefaultable(loanId, threshold);

        (LoanServicing.Schedule memory s, LoanServicing.State memory st) = _servicing(l);
        uint256 principalOutstanding = st.principalOutstanding;
        uint256 debt = LoanServicing.payoffAmount(st, s, block.timestamp);
        // At most principalOutstanding * ratio <= principalOutstanding <= debt: the reserve's claim
        // on the recoveries is the last `coverAmount` of the debt.
        uint256 coverAmount = reserveFund.coverageFor(principalOutstanding);

        l.status = LoanStatus.Defaulted;
        l.coverPaid = uint128(coverAmount);
        // The borrower still owes all of it: the cover insures the investors, not the borrower.
        l.recoverable = SafeCast.toUint128(debt);
        if (coverAmount != 0) _distribute(l, coverAmount);
        emit LoanDefaulted(loanId, msg.sender, principalOutstanding, debt, coverAmount, debt);
        if (coverAmount != 0) reserveFund.cover(loanId, coverAmount);
    }

    /// @inheritdoc ILoanBook
    function claim(uint256 loanId) external nonReentrant returns (uint256 amount) {
        amount = _settleClaim(loanId, msg.sender);
        if (amount == 0) revert LoanBookNothingToClaim(loanId, msg.sender);
        asset.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc ILoanBook
    function claimMany(uint256[] calldata loanIds) external nonReentrant returns (uint256 total) {
        uint256 n = loanIds.length;
        for (uint256 i; i < n; ++i) {
            total += _settleClaim(loanIds[i], msg.sender);
        }
        if (total == 0) revert LoanBookNothingToClaimMany(msg.sender, n);
        asset.safeTransfer(msg.sender, total);
    }

    /// @inheritdoc ILoanBook
    function revokeNonce() external {
        emit NonceRevoked(msg.sender, _useNonce(msg.sender));
    }

    // ================================================================== admin

    /// @notice Sets the minimum ticket. DEFAULT_ADMIN_ROLE only.
    function setMinTicket(uint128 newMinTicket) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uint128 previous = minTicket;
        minTicket = newMinTicket;
        emit MinTicketSet(previous, newMinTicket);
    }

    /// @notice Sets the KYC levels required of borrowers and investors. DEFAULT_ADMIN_ROLE only.
    function setKycLevels(uint8 borrowerLevel, uint8 investorLevel) external onlyRole(DEFAULT_ADMIN_ROLE) {
        borrowerKycLevel = borrowerLevel;
        investorKycLevel = investorLevel;
        emit KycLevelsSet(borrowerLevel, investorLevel);
    }

    /// @notice Stops creation, funding and disbursement. PAUSER_ROLE only.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes creation, funding and disbursement. PAUSER_ROLE only.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ================================================================== views

    /// @inheritdoc ILoanBook
    function loan(uint256 loanId) external view returns (Loan memory) {
        return _loans[loanId];
    }

    /// @inheritdoc ILoanBook
    function pointsPerShare(uint256 loanId) public view returns (uint256) {
        Loan storage l = _loans[loanId];
        return DistributionMath.pointsPerShare(l.distributed, l.noteSupply);
    }

    /// @inheritdoc ILoanBook
    function claimableOf(uint256 loanId, address investor) public view returns (uint256) {
        Position storage p = _positions[loanId][investor];
        return DistributionMath.accumulated(pointsPerShare(loanId), balanceOf(investor, loanId), p.correction)
            - p.withdrawn;
    }

    /// @inheritdoc ILoanBook
    function claimedOf(uint256 loanId, address investor) external view returns (uint256) {
        return _positions[loanId][investor].withdrawn;
    }

    /// @inheritdoc ILoanBook
    function amountDue(uint256 loanId) external view returns (uint256 dueNow, uint256 payoff, uint256 nextDueDate) {
        Loan storage l = _loans[loanId];
        if (l.status == LoanStatus.Active) {
            (LoanServicing.Schedule memory s, LoanServicing.State memory st) = _servicing(l);
            nextDueDate = LoanServicing.dueDate(s, st.installmentsPaid + 1);
            (dueNow, payoff) = LoanServicing.quote(st, s, block.timestamp);
        } else if (l.status == LoanStatus.Defaulted) {
            dueNow = payoff = l.recoverable;
        }
    }

    /// @inheritdoc ILoanBook
    function defaultableAt(uint256 loanId) external view returns (uint256) {
        Loan storage l = _loans[loanId];
        return l.status == LoanStatus.Active ? _defaultableAt(l) : 0;
    }

    /// @inheritdoc ILoanBook
    function hashLoanTerms(LoanTerms calldata terms) external view returns (bytes32) {
        return _hashTypedDataV4(_hashTermsStruct(terms));
    }

    /// @inheritdoc ERC1155
    function supportsInterface(bytes4 interfaceId) public view override(ERC1155, AccessControl) returns (bool) {
        return super.supportsInterface(interfaceId);
    }

    // =============================================================== internal

    /// @dev Notes move only to verified wallets other than the loan's borrower (mints are checked
    ///      in {fund}), and never once the loan is Cancelled: such a note is only a claim to its
    ///      refund, which nothing needs to move, and a unit sent to a mandate's investor would block
    ///      the FundingAgent's release. A transfer of 0 is refused: ERC-1155 needs no balance for
    ///      one, so anyone could log one from itself to any verified wallet for any loan, as many as
    ///      a block holds, and off-chain readers would have to tell them from real transfers.
    ///      Mints, burns and transfers move the accumulator correction
    ///      with the shares, so past distributions stay with whoever earned them.
    function _update(address from, address to, uint256[] memory ids, uint256[] memory values) internal override {
        bool isTransfer = from != address(0) && to != address(0);
        if (isTransfer) {
            uint8 level = investorKycLevel;
            if (!kycRegistry.isVerified(to, level)) revert LoanBookRecipientNotVerified(to, level);
        }
        uint256 n = ids.length;
        for (uint256 i; i < n; ++i) {
            uint256 id = ids[i];
            if (isTransfer) {
                if (values[i] == 0) revert LoanBookZeroAmount(id);
                Loan storage l = _loans[id];
                if (to == l.borrower) revert LoanBookBorrowerCannotInvest(id, to);
                if (l.status == LoanStatus.Cancelled) revert LoanBookCancelledNotes(id);
            }
            uint256 pps = pointsPerShare(id);
            if (pps == 0) continue; // nothing distributed yet: corrections stay zero
            int256 delta = DistributionMath.correctionFor(pps, values[i]);
            if (from != address(0)) _positions[id][from].correction += delta;
            if (to != address(0)) _positions[id][to].correction -= delta;
        }
        super._update(from, to, ids, values);
    }

    /// @dev The order of {LoanServicing}: the installments due, late fees, the installment billed
    ///      but not yet due, then principal. The fees a payment takes are reported on its next
    ///      event, or alone.
    function _repayActive(uint256 loanId, Loan storage l, uint256 amount) private returns (uint256 paid) {
        (LoanServicing.Schedule memory s, LoanServicing.State memory st) = _servicing(l);
        uint256 assessed = LoanServicing.accrueLateFees(st, s, block.timestamp);
        if (assessed != 0) emit LateFeeAssessed(loanId, st.lateFeesThrough, assessed);

        // Fees only once the installments due are paid: a fee never leaves an installment paid in
        // full on time short, to be charged a fee of its own (16 CFR 444.4).
        (uint256 left,) = _payInstallments(loanId, s, st, amount, 0);
        uint256 feePaid = st.feesDue < left ? st.feesDue : left;
        // cannot underflow: feePaid is the minimum of both
        unchecked {
            st.feesDue -= feePaid;
            left -= feePaid;
        }
        (left, feePaid) = _payInstallments(loanId, s, st, left, feePaid);
        // Nothing billed any more: what is left prepays principal.
        if (left != 0 && st.principalOutstanding != 0) {
            uint256 prepaid = st.principalOutstanding < left ? st.principalOutstanding : left;
            // cannot underflow: prepaid is the minimum of both
            unchecked {
                st.principalOutstanding -= prepaid;
                left -= prepaid;
            }
            emit LoanPrepayment(loanId, msg.sender, feePaid, prepaid, st.principalOutstanding);
            feePaid = 0;
        }
        if (feePaid != 0) {
            // The payment's rest went to late fees only: towards the oldest unsettled installment,
            // or the last one once the balance is repaid.
            uint256 towards = st.principalOutstanding != 0 ? st.installmentsPaid + 1 : st.installmentsPaid;
            emit LoanPayment(loanId, towards, msg.sender, feePaid, 0, 0, st.principalOutstanding);
        }
        // cannot underflow: left only decreases from amount
        unchecked {
            paid = amount - left;
        }

        // Every field below fits its type: each is bounded by the principal (uint128), by the
        // installment count (uint16), or, for fees, by installments * lateFee (checked cast).
        l.installmentsPaid = uint16(st.installmentsPaid);
        l.lateFeesThrough = uint16(st.lateFeesThrough);
        l.principalOutstanding = uint128(st.principalOutstanding);
        l.interestDue = SafeCast.toUint128(st.interestDue);
        l.principalDue = uint128(st.principalDue);
        l.feesDue = SafeCast.toUint128(st.feesDue);
        // Late fees left keep the loan open: it closes once nothing at all is owed.
        if (st.principalOutstanding == 0 && st.feesDue == 0) {
            l.status = LoanStatus.Repaid;
            emit LoanRepaid(loanId, st.installmentsPaid);
        }
        _distribute(l, paid);
    }

    /// @dev Pays billed installments, oldest first, while `left` lasts: the first one, even ahead
    ///      of its due date, and every later one whose due date has come. One not yet due owes only
    ///      its interest for the days begun ({LoanServicing.payoffInterest}) when `left` pays the
    ///      loan off. `feePaid` goes on the first event; returns what is left of both.
    function _payInstallments(
        uint256 loanId,
        LoanServicing.Schedule memory s,
        LoanServicing.State memory st,
        uint256 left,
        uint256 feePaid
    ) private returns (uint256, uint256) {
        uint256 oldest = st.installmentsPaid + 1;
        while (left != 0 && LoanServicing.bill(st, s, block.timestamp)) {
            uint256 installment = st.installmentsPaid + 1;
            if (block.timestamp < LoanServicing.dueDate(s, installment)) {
                if (installment != oldest) break; // fees first
                // Paying the loan off: no interest for the days of the period still to come.
                uint256 interest = LoanServicing.payoffInterest(st, s, block.timestamp);
                if (left >= interest + st.principalOutstanding + st.feesDue) st.interestDue = interest;
            }
            (uint256 interestPaid, uint256 principalPaid,) = LoanServicing.payInstallment(st, left);
            // cannot underflow: payInstallment never applies more than `left`
            unchecked {
                left -= interestPaid + principalPaid;
            }
            emit LoanPayment(
                loanId, installment, msg.sender, feePaid, interestPaid, principalPaid, st.principalOutstanding
            );
            feePaid = 0;
            if (st.installmentsPaid < installment) break; // not settled: `left` is spent
        }
        return (left, feePaid);
    }

    /// @dev A recovery: the investors' `debt - cover` first, then the reserve's cover; the
    ///      reserve's part is what the payment takes off `min(recoverable, coverPaid)`.
    function _recover(uint256 loanId, Loan storage l, uint256 amount)
        private
        returns (uint256 paid, uint256 toReserve)
    {
        uint256 recoverable = l.recoverable;
        if (recoverable == 0) revert LoanBookNothingOwed(loanId);
        paid = amount < recoverable ? amount : recoverable;
        uint256 left;
        // cannot underflow: paid <= recoverable
        unchecked {
            left = recoverable - paid;
        }
        uint256 cover = l.coverPaid;
        uint256 coverOutstanding = left < cover ? left : cover;
        // cannot underflow: min(recoverable, cover) >= min(left, cover) as recoverable >= left,
        // and toReserve <= paid, the difference of the two recoverables
        unchecked {
            toReserve = (recoverable < cover ? recoverable : cover) - coverOutstanding;
        }
        l.recoverable = uint128(left);
        if (paid != toReserve) _distribute(l, paid - toReserve);
        emit LoanRecovery(loanId, msg.sender, paid, left);
        if (toReserve != 0) emit CoverRecouped(loanId, toReserve, coverOutstanding);
    }

    /// @dev Spreads `amount` over the loan's notes (see {DistributionMath} for the rounding).
    function _distribute(Loan storage l, uint256 amount) private {
        l.distributed = SafeCast.toUint128(uint256(l.distributed) + amount);
    }

    function _settleClaim(uint256 loanId, address investor) private returns (uint256 amount) {
        amount = claimableOf(loanId, investor);
        if (amount != 0) {
            _positions[loanId][investor].withdrawn += amount;
            emit Claimed(loanId, investor, amount);
        }
    }

    function _cancel(uint256 loanId, Loan storage l) private {
        LoanStatus status = l.status;
        if (status != LoanStatus.Funding) revert LoanBookNotFunding(loanId, status);
        uint256 deadline = l.fundingDeadline;
        if (block.timestamp <= deadline) revert LoanBookFundingOpen(loanId, deadline);
        uint256 funded = l.funded;
        if (funded == l.principal) {
            // A fully funded loan is for disbursing; only once that has not happened within the
            // disbursement window do its investors get their exit.
            uint256 cancellableAfter = deadline + DISBURSEMENT_WINDOW;
            if (block.timestamp <= cancellableAfter) revert LoanBookFullyFunded(loanId, cancellableAfter);
        }
        l.status = LoanStatus.Cancelled;
        emit LoanCancelled(loanId, funded);
    }

    function _servicing(Loan storage l)
        private
        view
        returns (LoanServicing.Schedule memory s, LoanServicing.State memory st)
    {
        uint256 installmentAmount = l.installmentAmount;
        s = LoanServicing.Schedule({
            startTime: l.startTime,
            period: l.installmentPeriod,
            installments: l.installments,
            installmentAmount: installmentAmount,
            aprBps: l.aprBps,
            gracePeriod: gracePeriod,
            lateFeeBps: lateFeeBps
        });
        st = LoanServicing.State({
            principalOutstanding: l.principalOutstanding,
            interestDue: l.interestDue,
            principalDue: l.principalDue,
            feesDue: l.feesDue,
            installmentsPaid: l.installmentsPaid,
            lateFeesThrough: l.lateFeesThrough
        });
    }

    function _defaultableAt(Loan storage l) private view returns (uint256) {
        return uint256(l.startTime) + (uint256(l.installmentsPaid) + 1) * l.installmentPeriod + defaultAfter;
    }

    /// @dev {fund} for `investor`, who pays and receives the notes: checks, effects, event, then
    ///      the mint and the transfer.
    function _fund(uint256 loanId, address investor, uint256 amount) private {
        Loan storage l = _loans[loanId];
        LoanStatus status = l.status;
        if (status != LoanStatus.Funding) revert LoanBookNotFunding(loanId, status);
        uint256 deadline = l.fundingDeadline;
        if (block.timestamp > deadline) revert LoanBookFundingClosed(loanId, deadline);
        if (investor == l.borrower) revert LoanBookBorrowerCannotInvest(loanId, investor);
        if (amount == 0) revert LoanBookZeroAmount(loanId);
        uint256 funded = l.funded;
        uint256 remaining = l.principal - funded;
        if (amount > remaining) revert LoanBookOverfunded(loanId, amount, remaining);
        uint256 ticket = minTicket;
        if (amount < ticket && amount != remaining) revert LoanBookTicketTooSmall(loanId, amount, ticket);
        uint8 level = investorKycLevel;
        if (!kycRegistry.isVerified(investor, level)) revert LoanBookInvestorNotVerified(investor, level);

        // cannot overflow: amount <= remaining = principal - funded, so funded + amount <= principal
        unchecked {
            funded += amount;
        }
        l.funded = uint128(funded);
        emit LoanFunded(loanId, investor, amount, funded);
        _mint(investor, loanId, amount, "");
        asset.safeTransferFrom(investor, address(this), amount);
    }

    /// @dev Every check of {createLoan}: deadline, nonce, terms, borrower KYC, both signatures (by
    ///      two different wallets); and the terms' installment amount.
    function _checkTerms(LoanTerms calldata terms, bytes calldata borrowerSignature, bytes calldata underwriterSignature)
        private
        view
        returns (bytes32 structHash, address underwriter, uint256 installmentAmount)
    {
        if (block.timestamp > terms.deadline) revert LoanBookSignatureExpired(terms.deadline, block.timestamp);
        address borrower = terms.borrower;
        uint256 expectedNonce = nonces(borrower);
        if (terms.nonce != expectedNonce) revert LoanBookInvalidNonce(borrower, terms.nonce, expectedNonce);
        installmentAmount = _validateTerms(terms);
        uint8 level = borrowerKycLevel;
        if (!kycRegistry.isVerified(borrower, level)) revert LoanBookBorrowerNotVerified(borrower, level);
        structHash = _hashTermsStruct(terms);
        bytes32 digest = _hashTypedDataV4(structHash);
        if (!SignatureChecker.isValidSignatureNow(borrower, digest, borrowerSignature)) {
            revert LoanBookInvalidBorrowerSignature(borrower);
        }
        underwriter = _underwriterOf(digest, underwriterSignature);
        // One key on both sides: the underwriter's own wallet as the borrower, or a contract
        // borrower whose wallet accepts the underwriter's signature over the same digest as its
        // own (a wallet that wraps the digest first passes: see {LoanBookSelfUnderwritten}).
        if (
            underwriter == borrower
                || (borrower.code.length != 0
                    && SignatureChecker.isValidERC1271SignatureNow(borrower, digest, underwriterSignature))
        ) revert LoanBookSelfUnderwritten(borrower);
    }

    /// @dev The effects of {createLoan}: consume the nonce, write the new loan (4 fresh slots).
    function _storeLoan(LoanTerms calldata terms, bytes32 structHash, uint256 installmentAmount)
        private
        returns (uint256 loanId)
    {
        _useNonce(terms.borrower);
        // cannot overflow: a uint256 counter raised by one per loan created never reaches 2^256
        unchecked {
            loanId = ++loanCount;
        }
        Loan storage l = _loans[loanId];
        l.borrower = terms.borrower;
        l.status = LoanStatus.Funding;
        l.aprBps = terms.aprBps;
        l.originationFeeBps = terms.originationFeeBps;
        l.installments = terms.installments;
        l.fundingDeadline = terms.fundingDeadline;
        l.principal = terms.principal;
        l.installmentAmount = SafeCast.toUint128(installmentAmount); // <= principal * (1 + r), checked anyway
        l.installmentPeriod = terms.installmentPeriod;
        l.termsHash = structHash;
    }

    /// @dev Returns the installment amount, once the schedule is known to amortize.
    function _validateTerms(LoanTerms calldata terms) private view returns (uint256 installmentAmount) {
        if (terms.borrower == address(0)) revert LoanBookInvalidBorrower(terms.borrower);
        if (terms.principal == 0) revert LoanBookInvalidPrincipal(terms.principal);
        uint256 n = terms.installments;
        uint256 period = terms.installmentPeriod;
        if (
            n == 0 || n > MAX_INSTALLMENTS || period < MIN_INSTALLMENT_PERIOD || period > MAX_INSTALLMENT_PERIOD
                || n * period > MAX_TERM
        ) revert LoanBookInvalidSchedule(n, period);
        if (terms.aprBps > MAX_APR_BPS) revert LoanBookAprTooHigh(terms.aprBps, MAX_APR_BPS);
        uint256 firstPrincipal;
        (installmentAmount, firstPrincipal) = AmortizationMath.annuity(terms.principal, terms.aprBps, period, n);
        // Without interest nothing compounds: rounding can never leave more than a unit per installment.
        if (terms.aprBps != 0 && firstPrincipal < MIN_FIRST_PRINCIPAL) {
            revert LoanBookScheduleDoesNotAmortize(
                installmentAmount,
                AmortizationMath.periodInterest(terms.principal, terms.aprBps, period),
                firstPrincipal,
                MIN_FIRST_PRINCIPAL
            );
        }
        if (terms.originationFeeBps > MAX_ORIGINATION_FEE_BPS) {
            revert LoanBookFeeTooHigh(terms.originationFeeBps, MAX_ORIGINATION_FEE_BPS);
        }
        if (terms.fundingDeadline <= block.timestamp) {
            revert LoanBookInvalidFundingDeadline(terms.fundingDeadline, block.timestamp);
        }
        uint256 latest = block.timestamp + MAX_FUNDING_WINDOW;
        if (terms.fundingDeadline > latest) revert LoanBookFundingWindowTooLong(terms.fundingDeadline, latest);
    }

    function _hashTermsStruct(LoanTerms calldata t) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                LOAN_TERMS_TYPEHASH,
                t.borrower,
                t.principal,
                t.aprBps,
                t.installments,
                t.installmentPeriod,
                t.fundingDeadline,
                t.originationFeeBps,
                t.agreementHash,
                t.decisionHash,
                t.nonce,
                t.deadline
            )
        );
    }

    /// @dev The underwriter signature: 65 bytes = ECDSA by an EOA; otherwise the signer contract's
    ///      address (20 bytes) followed by its ERC-1271 signature.
    function _underwriterOf(bytes32 digest, bytes calldata signature) private view returns (address signer) {
        if (signature.length == 65) {
            // The third value only qualifies `err`, which is all that matters here.
            // slither-disable-next-line unused-return
            (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
            if (err != ECDSA.RecoverError.NoError) revert LoanBookInvalidUnderwriterSignature(address(0));
            signer = recovered;
        } else {
            if (signature.length <= 20) revert LoanBookInvalidUnderwriterSignature(address(0));
            signer = address(bytes20(signature[:20]));
            if (!SignatureChecker.isValidERC1271SignatureNow(signer, digest, signature[20:])) {
                revert LoanBookInvalidUnderwriterSignature(signer);
            }
        }
        if (!hasRole(UNDERWRITER_ROLE, signer)) revert LoanBookUnauthorizedUnderwriter(signer);
    }
}
