// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ILoanBook} from "./interfaces/ILoanBook.sol";
import {IReserveFund} from "./interfaces/IReserveFund.sol";

/// @title ReserveFund
/// @notice See {IReserveFund}. Its balance is simply its holding of `asset`: origination fees
///         arrive by plain transfer from LoanBook (logged there as `LoanDisbursed.originationFee`),
///         deposits through {deposit}, recouped cover by plain transfer from LoanBook (logged there
///         as `CoverRecouped`). Only the LoanBook, set once (and only to a LoanBook whose
///         `reserveFund` is this reserve), can take money out, and only to itself.
contract ReserveFund is IReserveFund, AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint256 public constant MAX_COVERAGE_RATIO_BPS = 10_000;

    IERC20 private immutable _asset;
    uint16 private _coverageRatioBps;
    /// @inheritdoc IReserveFund
    address public loanBook;

    constructor(address admin, IERC20 asset_, uint16 coverageRatioBps_) {
        if (admin == address(0) || address(asset_) == address(0)) revert ReserveFundZeroAddress();
        if (coverageRatioBps_ > MAX_COVERAGE_RATIO_BPS) {
            revert ReserveFundInvalidCoverageRatio(coverageRatioBps_, MAX_COVERAGE_RATIO_BPS);
        }
        _asset = asset_;
        _coverageRatioBps = coverageRatioBps_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        emit CoverageRatioSet(0, coverageRatioBps_);
    }

    /// @inheritdoc IReserveFund
    function asset() external view returns (IERC20) {
        return _asset;
    }

    /// @inheritdoc IReserveFund
    function balance() public view returns (uint256) {
        return _asset.balanceOf(address(this));
    }

    /// @inheritdoc IReserveFund
    function coverageRatioBps() external view returns (uint16) {
        return _coverageRatioBps;
    }

    /// @inheritdoc IReserveFund
    function coverageFor(uint256 outstandingPrincipal) external view returns (uint256) {
        uint256 wanted = (outstandingPrincipal * _coverageRatioBps) / MAX_COVERAGE_RATIO_BPS;
        uint256 available = balance();
        return wanted < available ? wanted : available;
    }

    /// @inheritdoc IReserveFund
    function deposit(uint256 amount) external nonReentrant {
        if (amount == 0) revert ReserveFundZeroAmount();
        emit Deposited(msg.sender, amount);
        _asset.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IReserveFund
    function cover(uint256 loanId, uint256 amount) external nonReentrant {
        address book = loanBook;
        if (msg.sender != book) revert ReserveFundNotLoanBook(msg.sender, book); // never zero
        if (amount == 0) revert ReserveFundZeroAmount();
        uint256 available = balance();
        if (amount > available) revert ReserveFundInsufficientBalance(amount, available);
        emit CoverPaid(loanId, book, amount);
        _asset.safeTransfer(book, amount);
    }

    /// @inheritdoc IReserveFund
    function setLoanBook(address loanBook_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (loanBook_ == address(0)) revert ReserveFundZeroAddress();
        address current = loanBook;
        if (current != address(0)) revert ReserveFundLoanBookAlreadySet(current);
        // Only a LoanBook that sends its fees here may draw cover: bound to any other address, the
        // admin could take the fees through `cover` (LoanBook also refuses to disburse into a
        // reserve not bound to it).
        address itsReserve = _reserveOf(loanBook_);
        if (itsReserve != address(this)) revert ReserveFundLoanBookMismatch(loanBook_, itsReserve);
        loanBook = loanBook_;
        emit LoanBookSet(loanBook_);
    }

    /// @dev The reserve `book` says it pays its fees to; zero for an account that cannot say (an EOA,
    ///      or a contract without `reserveFund()`), read with a plain staticcall so that the admin
    ///      gets {ReserveFundLoanBookMismatch} rather than an empty revert.
    function _reserveOf(address book) private view returns (address) {
        (bool ok, bytes memory answer) = book.staticcall(abi.encodeCall(ILoanBook.reserveFund, ()));
        return ok && answer.length == 32 ? abi.decode(answer, (address)) : address(0);
    }

    /// @inheritdoc IReserveFund
    function setCoverageRatio(uint16 bps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (bps > MAX_COVERAGE_RATIO_BPS) revert ReserveFundInvalidCoverageRatio(bps, MAX_COVERAGE_RATIO_BPS);
        uint16 previous = _coverageRatioBps;
        _coverageRatioBps = bps;
        emit CoverageRatioSet(previous, bps);
    }
}
