// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IKYCRegistry
/// @notice On-chain KYC attestations (prior art: Goldfinch UID, Centrifuge Memberlist). An
///         ATTESTOR_ROLE account records, per wallet, a verification level, an expiry and a
///         commitment. The commitment is a salted hash of the off-chain KYC record: it lets an
///         auditor holding the record and its salt check which record backed an attestation,
///         and it reveals nothing to anyone else. No personal data is ever stored here.
interface IKYCRegistry {
    /// @notice One wallet's attestation. `level == 0` means none.
    /// @param level Verification level (1 = basic identity, higher = stronger checks).
    /// @param expiresAt Unix time after which the attestation no longer verifies.
    /// @param commitment Salted hash of the KYC record, e.g. keccak256(salt || recordHash).
    struct Attestation {
        uint8 level;
        uint64 expiresAt;
        bytes32 commitment;
    }

    /// @notice Emitted when `wallet` is attested, or its attestation replaced.
    event AttestationSet(
        address indexed wallet, uint8 level, uint64 expiresAt, bytes32 commitment, address indexed attestor
    );

    /// @notice Emitted when the attestation of `wallet` is revoked before its expiry.
    event AttestationRevoked(address indexed wallet, address indexed attestor);

    /// @notice The zero address cannot be attested.
    error KYCRegistryZeroAddress();
    /// @notice Level 0 means "not verified" and cannot be attested.
    error KYCRegistryInvalidLevel(uint8 level);
    /// @notice The expiry is not in the future.
    error KYCRegistryExpiryInPast(uint64 expiresAt, uint256 currentTime);
    /// @notice An attestation must commit to a KYC record.
    error KYCRegistryEmptyCommitment(address wallet);
    /// @notice Revoking a wallet that has no attestation.
    error KYCRegistryNotAttested(address wallet);

    /// @notice Records (or replaces) the attestation of `wallet`. ATTESTOR_ROLE only.
    /// @param wallet The verified wallet.
    /// @param level Verification level, at least 1.
    /// @param expiresAt Unix time after which `isVerified` turns false; must be in the future.
    /// @param commitment Salted hash of the KYC record; must not be zero.
    function attest(address wallet, uint8 level, uint64 expiresAt, bytes32 commitment) external;

    /// @notice Deletes the attestation of `wallet`. ATTESTOR_ROLE only.
    function revoke(address wallet) external;

    /// @notice The stored attestation of `wallet` (all zero when none), expired or not.
    function attestationOf(address wallet) external view returns (Attestation memory);

    /// @notice True when `wallet` holds an attestation of at least `minLevel` (and at least 1)
    ///         that has not expired at the current block's timestamp.
    function isVerified(address wallet, uint8 minLevel) external view returns (bool);
}
