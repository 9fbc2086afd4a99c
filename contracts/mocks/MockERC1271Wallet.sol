// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ERC1155Holder} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Holder.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title MockERC1271Wallet
/// @notice A minimal smart-contract wallet for tests: it accepts a digest as signed when its
///         owner's ECDSA signature over it is valid (ERC-1271), holds ERC-1155 notes, and lets its
///         owner make calls (approve, fund, claim...) through {execute}. For local chains only.
contract MockERC1271Wallet is IERC1271, ERC1155Holder {
    /// @notice The EOA whose signatures this wallet accepts.
    address public immutable owner;

    /// @notice A call from someone other than the owner.
    error MockERC1271WalletNotOwner(address caller);

    constructor(address owner_) {
        owner = owner_;
    }

    /// @inheritdoc IERC1271
    function isValidSignature(bytes32 hash, bytes memory signature) external view returns (bytes4) {
        // The third value only qualifies `err`, which is all that matters here.
        // slither-disable-next-line unused-return
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && recovered == owner ? IERC1271.isValidSignature.selector : bytes4(0);
    }

    /// @notice Calls `target` with `data` as this wallet; bubbles up a revert.
    function execute(address target, bytes calldata data) external returns (bytes memory result) {
        if (msg.sender != owner) revert MockERC1271WalletNotOwner(msg.sender);
        bool ok;
        // slither-disable-next-line low-level-calls
        (ok, result) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(result, 0x20), mload(result))
            }
        }
    }
}
