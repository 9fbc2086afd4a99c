// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IDocumentAnchor} from "./interfaces/IDocumentAnchor.sol";

/// @title DocumentAnchor
/// @notice See {IDocumentAnchor}. One storage slot per root; batching N documents under one
///         root divides the per-document cost by N.
contract DocumentAnchor is IDocumentAnchor, AccessControl {
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER_ROLE");

    mapping(bytes32 root => Anchor) private _anchors;

    /// @param admin Gets DEFAULT_ADMIN_ROLE and ANCHORER_ROLE.
    constructor(address admin) {
        if (admin == address(0)) revert DocumentAnchorZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ANCHORER_ROLE, admin);
    }

    /// @inheritdoc IDocumentAnchor
    function anchor(bytes32 root, uint32 count, string calldata uri)
        external
        onlyRole(ANCHORER_ROLE)
        returns (bool isNew)
    {
        if (root == bytes32(0)) revert DocumentAnchorEmptyRoot(count);
        if (count == 0) revert DocumentAnchorEmptyBatch(root);
        // Re-anchoring is idempotent so that a retried transaction can never move a timestamp.
        if (_anchors[root].blockNumber != 0) return false;
        _anchors[root] = Anchor(uint64(block.number), uint64(block.timestamp), count);
        emit Anchored(root, count, uri, msg.sender);
        return true;
    }

    /// @inheritdoc IDocumentAnchor
    function anchoredAt(bytes32 root) external view returns (uint64 blockNumber, uint64 timestamp) {
        Anchor storage a = _anchors[root];
        return (a.blockNumber, a.timestamp);
    }

    /// @inheritdoc IDocumentAnchor
    function verify(bytes32 leaf, bytes32[] calldata proof, bytes32 root) public pure returns (bool) {
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @inheritdoc IDocumentAnchor
    function verifyAnchored(bytes32 leaf, bytes32[] calldata proof, bytes32 root)
        external
        view
        returns (bool included, uint64 blockNumber, uint64 timestamp)
    {
        Anchor storage a = _anchors[root];
        return (a.blockNumber != 0 && verify(leaf, proof, root), a.blockNumber, a.timestamp);
    }
}
