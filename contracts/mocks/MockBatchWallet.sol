// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC1155Holder} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Holder.sol";

/// @title MockBatchWallet
/// @notice A test-only batching wallet: its owner makes several calls in one transaction, as a Safe
///         or a collector's contract may (two recoveries of one loan, a purchase of notes and a gift
///         of them), so that the tests see what such a transaction leaves in the index. It holds
///         ERC-1155 notes. For local chains only.
contract MockBatchWallet is ERC1155Holder {
    /// @notice The EOA allowed to make calls through this wallet.
    address public immutable owner;

    /// @notice A call from someone other than the owner.
    error MockBatchWalletNotOwner(address caller);

    /// @notice `targets` and `data` are not one call each.
    error MockBatchWalletLengthMismatch(uint256 targets, uint256 data);

    constructor(address owner_) {
        owner = owner_;
    }

    /// @notice Calls each `targets[i]` with `data[i]` as this wallet, in order, in this one
    ///         transaction; bubbles up the first revert.
    function executeBatch(address[] calldata targets, bytes[] calldata data) external {
        if (msg.sender != owner) revert MockBatchWalletNotOwner(msg.sender);
        if (targets.length != data.length) revert MockBatchWalletLengthMismatch(targets.length, data.length);
        for (uint256 i = 0; i < targets.length; ++i) {
            // slither-disable-next-line low-level-calls,calls-loop
            (bool ok, bytes memory result) = targets[i].call(data[i]);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(result, 0x20), mload(result))
                }
            }
        }
    }
}
