// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title IReserveFund
/// @notice The risk reserve (the "guarantee"). It is fed by origination fees, which LoanBook
///         transfers to it at disbursement, and by voluntary deposits. When a loan defaults it
///         covers the outstanding principal up to its balance and a coverage ratio, paying only
///         to its LoanBook, which distributes the cover to the loan's investors and sends back
///         what the borrower repays of it later (`LoanBook.CoverRecouped`, a plain transfer, as
///         the fees). The LoanBook is set once ({setLoanBook}), only to a LoanBook that names this
///         reserve, and never changes: no role, the admin's included, can make the reserve pay
///         anyone else (and LoanBook disburses only into a reserve bound to it).
interface IReserveFund {
    /// @notice Emitted when someone tops the reserve up.
    event Deposited(address indexed from, uint256 amount);

    /// @notice Emitted when the reserve pays `amount` of cover for `loanId` to `loanBook`.
    event CoverPaid(uint256 indexed loanId, address indexed loanBook, uint256 amount);

    /// @notice Emitted once, when the admin binds the reserve to the LoanBook it pays cover to.
    event LoanBookSet(address indexed loanBook);

    /// @notice Emitted when the admin changes the coverage ratio.
    event CoverageRatioSet(uint16 previousBps, uint16 newBps);

    /// @notice A zero address where a contract is required.
    error ReserveFundZeroAddress();
    /// @notice A deposit or cover of zero.
    error ReserveFundZeroAmount();
    /// @notice A coverage ratio above 100%.
    error ReserveFundInvalidCoverageRatio(uint256 bps, uint256 maxBps);
    /// @notice A cover request above the reserve's balance.
    error ReserveFundInsufficientBalance(uint256 requested, uint256 available);
    /// @notice {cover} called by anyone but the reserve's LoanBook (zero until it is set).
    error ReserveFundNotLoanBook(address caller, address loanBook);
    /// @notice {setLoanBook} once the LoanBook is already set.
    error ReserveFundLoanBookAlreadySet(address loanBook);
    /// @notice {setLoanBook} with an address whose `reserveFund()` is not this reserve:
    ///         `itsReserve` is the one it names, zero when it names none (an EOA, or a contract
    ///         that is no LoanBook).
    error ReserveFundLoanBookMismatch(address loanBook, address itsReserve);

    /// @notice The ERC-20 the reserve holds (the loans' currency).
    function asset() external view returns (IERC20);

    /// @notice The LoanBook the reserve pays cover to (zero until {setLoanBook}).
    function loanBook() external view returns (address);

    /// @notice The reserve's balance of `asset`.
    function balance() external view returns (uint256);

    /// @notice Share of a defaulted loan's outstanding principal the reserve covers, in bps.
    function coverageRatioBps() external view returns (uint16);

    /// @notice What the reserve would pay now for a default with `outstandingPrincipal` left:
    ///         `min(outstandingPrincipal * coverageRatioBps / 10_000, balance())`, rounded down.
    function coverageFor(uint256 outstandingPrincipal) external view returns (uint256);

    /// @notice Pulls `amount` from the caller into the reserve (needs an ERC-20 allowance).
    function deposit(uint256 amount) external;

    /// @notice Pays `amount` of cover for `loanId` to the LoanBook, which alone may call; it
    ///         computes `amount` with {coverageFor}.
    function cover(uint256 loanId, uint256 amount) external;

    /// @notice Binds the reserve to the LoanBook it pays cover to, once and for good: a LoanBook
    ///         whose `reserveFund()` is this reserve, so it is deployed first and bound after.
    ///         DEFAULT_ADMIN_ROLE only.
    function setLoanBook(address loanBook_) external;

    /// @notice Sets the coverage ratio (at most 10_000). DEFAULT_ADMIN_ROLE only.
    function setCoverageRatio(uint16 bps) external;
}
