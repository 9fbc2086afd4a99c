// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ILoanBook} from "./interfaces/ILoanBook.sol";
import {IRepaymentAgent} from "./interfaces/IRepaymentAgent.sol";

/// @title RepaymentAgent
/// @notice See {IRepaymentAgent}. Checks, then the event, then the transfers: the payer's money
///         passes through in one transaction and the agent's balance is zero after every call.
/// @dev LoanBook's asset must be a plain ERC-20, as LoanBook requires.
contract RepaymentAgent is IRepaymentAgent, EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant REPAYMENT_MANDATE_TYPEHASH = keccak256(
        "RepaymentMandate(address payer,address executor,uint256 loanId,uint128 maxPerPayment,uint40 expiry,uint256 salt)"
    );
    /// @notice How long before the oldest unpaid due date a payment may be made.
    uint256 public constant PAY_WINDOW = 3 days;

    ILoanBook public immutable loanBook;
    IERC20 public immutable asset;

    /// @inheritdoc IRepaymentAgent
    mapping(bytes32 mandateHash => bool) public cancelled;

    /// @param loanBook_ The LoanBook whose loans it pays.
    /// @param asset_ LoanBook's loan asset.
    constructor(ILoanBook loanBook_, IERC20 asset_) EIP712("RepaymentAgent", "1") {
        if (address(loanBook_) == address(0) || address(asset_) == address(0)) revert RepaymentAgentZeroAddress();
        address loanBookAsset = address(loanBook_.asset());
        if (loanBookAsset != address(asset_)) revert RepaymentAgentAssetMismatch(address(asset_), loanBookAsset);
        loanBook = loanBook_;
        asset = asset_;
        // Once, for good: the agent holds nothing between calls, so LoanBook can only ever take
        // what a payment brings in, in the same transaction; it saves an approval per payment.
        asset_.forceApprove(address(loanBook_), type(uint256).max);
    }

    /// @inheritdoc IRepaymentAgent
    function payWithMandate(RepaymentMandate calldata mandate, bytes calldata signature)
        external
        nonReentrant
        returns (uint256 paid)
    {
        bytes32 digest = _hashTypedDataV4(_hashMandateStruct(mandate));
        if (block.timestamp > mandate.expiry) revert RepaymentAgentExpired(digest, mandate.expiry);
        if (msg.sender != mandate.executor) revert RepaymentAgentWrongExecutor(digest, mandate.executor, msg.sender);
        if (cancelled[digest]) revert RepaymentAgentCancelled(digest);
        address payer = mandate.payer;
        if (!SignatureChecker.isValidSignatureNow(payer, digest, signature)) revert RepaymentAgentInvalidSignature(payer);
        uint256 loanId = mandate.loanId;
        // Non-zero for an Active loan only (for a Defaulted one, `amountDue` is what is left to
        // recover, which autopay must not pay).
        if (loanBook.defaultableAt(loanId) == 0) revert RepaymentAgentNotActive(loanId);
        // The payoff (the middle value) is not autopay's business: only what is due now is paid.
        // slither-disable-next-line unused-return
        (uint256 due,, uint256 dueDate) = loanBook.amountDue(loanId);
        if (due == 0) revert RepaymentAgentNothingDue(loanId);
        if (block.timestamp + PAY_WINDOW < dueDate) revert RepaymentAgentNotYetDue(loanId, dueDate);
        uint256 cap = mandate.maxPerPayment;
        if (cap == 0) revert RepaymentAgentZeroCap(digest);
        // Above the cap, the cap: LoanBook applies a part payment to the installments due, oldest
        // first, so it still never pays ahead of the schedule, and a payer who fell behind by more
        // than the cap is brought up to date over several payments instead of autopay stopping.
        uint256 amount = due < cap ? due : cap;

        emit PaidWithMandate(digest, payer, loanId, amount);
        // From the payer, not the caller: what the payer's signed mandate, checked above, is for.
        // slither-disable-next-line arbitrary-send-erc20
        asset.safeTransferFrom(payer, address(this), amount);
        // At most what is due now, which is exactly what LoanBook takes first (the installments due,
        // oldest first, then fees), so it takes it all; were it ever to take less, the rest goes
        // back: the agent keeps nothing.
        paid = loanBook.repay(loanId, amount);
        if (paid < amount) asset.safeTransfer(payer, amount - paid);
    }

    /// @inheritdoc IRepaymentAgent
    function cancelMandate(RepaymentMandate calldata mandate) external {
        if (msg.sender != mandate.payer) revert RepaymentAgentNotPayer(msg.sender, mandate.payer);
        bytes32 digest = _hashTypedDataV4(_hashMandateStruct(mandate));
        cancelled[digest] = true;
        emit MandateCancelled(digest, msg.sender);
    }

    /// @inheritdoc IRepaymentAgent
    function hashRepaymentMandate(RepaymentMandate calldata mandate) external view returns (bytes32) {
        return _hashTypedDataV4(_hashMandateStruct(mandate));
    }

    function _hashMandateStruct(RepaymentMandate calldata m) private pure returns (bytes32) {
        return keccak256(
            abi.encode(REPAYMENT_MANDATE_TYPEHASH, m.payer, m.executor, m.loanId, m.maxPerPayment, m.expiry, m.salt)
        );
    }
}
