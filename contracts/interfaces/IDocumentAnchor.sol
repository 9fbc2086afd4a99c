// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IDocumentAnchor
/// @notice Anchors Merkle roots of document hashes so anyone can later prove a document existed,
///         unaltered, no later than the anchoring block. Leaves use the OpenZeppelin
///         StandardMerkleTree encoding: `keccak256(bytes.concat(keccak256(abi.encode(docHash))))`.
interface IDocumentAnchor {
    /// @notice When a root was first anchored.
    struct Anchor {
        uint64 blockNumber;
        uint64 timestamp;
        uint32 count;
    }

    /// @notice Emitted the first time `root` is anchored.
    /// @param root Merkle root of `count` leaves.
    /// @param count Number of documents under the root.
    /// @param uri Where the batch manifest (leaves and proofs) can be fetched, e.g. `ipfs://<cid>`.
    /// @param anchorer The ANCHORER_ROLE account that sent it.
    event Anchored(bytes32 indexed root, uint32 count, string uri, address indexed anchorer);

    /// @notice A zero admin given to the constructor: nobody could ever anchor.
    error DocumentAnchorZeroAddress();
    /// @notice Anchoring the zero root, which no Merkle tree has.
    /// @param count The number of documents the batch claimed.
    error DocumentAnchorEmptyRoot(uint32 count);
    /// @notice Anchoring a root of no documents.
    /// @param root The root given with a count of 0.
    error DocumentAnchorEmptyBatch(bytes32 root);

    /// @notice Records `root`. Anchoring the same root again is a no-op that keeps the first anchor.
    /// @return isNew True when this call recorded the root.
    function anchor(bytes32 root, uint32 count, string calldata uri) external returns (bool isNew);

    /// @notice The first anchoring block and timestamp of `root` (zeros when never anchored).
    function anchoredAt(bytes32 root) external view returns (uint64 blockNumber, uint64 timestamp);

    /// @notice True when `leaf` is included under `root` by `proof` (sorted-pair hashing).
    function verify(bytes32 leaf, bytes32[] calldata proof, bytes32 root) external pure returns (bool);

    /// @notice `verify` plus the anchoring facts, in one call, for auditors' tools.
    function verifyAnchored(bytes32 leaf, bytes32[] calldata proof, bytes32 root)
        external
        view
        returns (bool included, uint64 blockNumber, uint64 timestamp);
}
