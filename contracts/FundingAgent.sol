// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IFundingAgent} from "./interfaces/IFundingAgent.sol";
import {ILoanBook} from "./interfaces/ILoanBook.sol";

/// @title FundingAgent
/// @notice See {IFundingAgent}. Checks, then effects, then the event, then LoanBook's funding
///         call; it never holds money or notes (LoanBook moves both straight between the investor
///         and the loan).
contract FundingAgent is IFundingAgent, EIP712, ReentrancyGuard {
    bytes32 public constant FUNDING_MANDATE_TYPEHASH = keccak256(
        "FundingMandate(address investor,address executor,uint128 perLoan,uint128 budget,uint16 minAprBps,"
        "uint16 maxAprBps,uint16 maxInstallments,uint32 maxTerm,uint40 expiry,uint256 salt)"
    );

    /// @inheritdoc IFundingAgent
    ILoanBook public immutable loanBook;

    /// @inheritdoc IFundingAgent
    mapping(bytes32 mandateHash => uint256) public mandateSpent;

    /// @inheritdoc IFundingAgent
    mapping(bytes32 mandateHash => mapping(uint256 loanId => uint256)) public mandateFunded;

    /// @inheritdoc IFundingAgent
    mapping(bytes32 mandateHash => bool) public mandateCancelled;

    /// @param loanBook_ The LoanBook whose loans it funds.
    constructor(ILoanBook loanBook_) EIP712("FundingAgent", "1") {
        if (address(loanBook_) == address(0)) revert FundingAgentZeroAddress();
        loanBook = loanBook_;
    }

    /// @inheritdoc IFundingAgent
    function fundWithMandate(uint256 loanId, uint256 amount, FundingMandate calldata mandate, bytes calldata signature)
        external
        nonReentrant
    {
        bytes32 digest = _hashTypedDataV4(_hashMandateStruct(mandate));
        if (block.timestamp > mandate.expiry) revert FundingAgentExpired(digest, mandate.expiry);
        if (msg.sender != mandate.executor) revert FundingAgentWrongExecutor(digest, mandate.executor, msg.sender);
        address investor = mandate.investor;
        if (!SignatureChecker.isValidSignatureNow(investor, digest, signature)) {
            revert FundingAgentInvalidSignature(investor);
        }
        ILoanBook.Loan memory l = loanBook.loan(loanId);
        // The term as well as the count: with periods of up to 366 days, few installments can
        // still make a long loan.
        uint256 term = uint256(l.installments) * l.installmentPeriod;
        if (
            l.aprBps < mandate.minAprBps || l.aprBps > mandate.maxAprBps || l.installments > mandate.maxInstallments
                || term > mandate.maxTerm
        ) revert FundingAgentTermsMismatch(digest, loanId, l.aprBps, l.installments, term);
        uint256 wouldHold = IERC1155(address(loanBook)).balanceOf(investor, loanId) + amount;
        if (wouldHold > mandate.perLoan) revert FundingAgentPerLoanExceeded(digest, loanId, wouldHold, mandate.perLoan);
        uint256 spent = mandateSpent[digest];
        // cannot underflow: spent only grows by amounts within the budget, or is set to it on cancel
        uint256 left;
        unchecked {
            left = mandate.budget - spent;
        }
        if (amount > left) revert FundingAgentBudgetExceeded(digest, amount, left);

        // cannot overflow: amount <= left = budget - spent
        unchecked {
            spent += amount;
        }
        mandateSpent[digest] = spent;
        // cannot overflow: at most what `spent` counts, which stays within the budget (a uint128)
        unchecked {
            mandateFunded[digest][loanId] += amount;
        }
        emit MandateUsed(digest, investor, loanId, amount, spent);
        // LoanBook applies every rule of funding to the investor and requires its authorization of
        // this agent; the money goes from the investor's wallet, the notes to the investor.
        loanBook.fundFor(loanId, investor, amount);
    }

    /// @inheritdoc IFundingAgent
    function cancelMandate(FundingMandate calldata mandate) external {
        if (msg.sender != mandate.investor) revert FundingAgentNotInvestor(msg.sender, mandate.investor);
        bytes32 digest = _hashTypedDataV4(_hashMandateStruct(mandate));
        mandateSpent[digest] = mandate.budget;
        mandateCancelled[digest] = true;
        emit MandateCancelled(digest, msg.sender);
    }

    /// @inheritdoc IFundingAgent
    function releaseFunding(FundingMandate calldata mandate, uint256 loanId) external {
        bytes32 digest = _hashTypedDataV4(_hashMandateStruct(mandate));
        // Cancelling set spent to the budget: giving some back would reopen a mandate ended for good.
        if (mandateCancelled[digest]) revert FundingAgentMandateIsCancelled(digest);
        uint256 amount = mandateFunded[digest][loanId];
        if (amount == 0) revert FundingAgentNothingToRelease(digest, loanId);
        ILoanBook.LoanStatus status = loanBook.loan(loanId).status;
        if (status != ILoanBook.LoanStatus.Cancelled) revert FundingAgentLoanNotCancelled(digest, loanId, status);
        address investor = mandate.investor;
        uint256 held = IERC1155(address(loanBook)).balanceOf(investor, loanId);
        if (held != 0) revert FundingAgentNotRefunded(digest, loanId, investor, held);

        mandateFunded[digest][loanId] = 0;
        uint256 spent = mandateSpent[digest];
        // cannot underflow: every amount recorded per loan was added to spent too, and spent is
        // lowered only here, by a record zeroed at once (cancelling, which raises it, ends releases)
        unchecked {
            spent -= amount;
        }
        mandateSpent[digest] = spent;
        emit MandateReleased(digest, investor, loanId, amount, spent);
    }

    /// @inheritdoc IFundingAgent
    function hashFundingMandate(FundingMandate calldata mandate) external view returns (bytes32) {
        return _hashTypedDataV4(_hashMandateStruct(mandate));
    }

    function _hashMandateStruct(FundingMandate calldata m) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                FUNDING_MANDATE_TYPEHASH,
                m.investor,
                m.executor,
                m.perLoan,
                m.budget,
                m.minAprBps,
                m.maxAprBps,
                m.maxInstallments,
                m.maxTerm,
                m.expiry,
                m.salt
            )
        );
    }
}
