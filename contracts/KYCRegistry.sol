// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IKYCRegistry} from "./interfaces/IKYCRegistry.sol";

/// @title KYCRegistry
/// @notice See {IKYCRegistry}. `level` and `expiresAt` share one slot, so `isVerified` costs a
///         single storage read.
contract KYCRegistry is IKYCRegistry, AccessControl {
    bytes32 public constant ATTESTOR_ROLE = keccak256("ATTESTOR_ROLE");

    mapping(address wallet => Attestation) private _attestations;

    constructor(address admin) {
        if (admin == address(0)) revert KYCRegistryZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ATTESTOR_ROLE, admin);
    }

    /// @inheritdoc IKYCRegistry
    function attest(address wallet, uint8 level, uint64 expiresAt, bytes32 commitment)
        external
        onlyRole(ATTESTOR_ROLE)
    {
        if (wallet == address(0)) revert KYCRegistryZeroAddress();
        if (level == 0) revert KYCRegistryInvalidLevel(level);
        if (expiresAt <= block.timestamp) revert KYCRegistryExpiryInPast(expiresAt, block.timestamp);
        if (commitment == bytes32(0)) revert KYCRegistryEmptyCommitment(wallet);
        _attestations[wallet] = Attestation(level, expiresAt, commitment);
        emit AttestationSet(wallet, level, expiresAt, commitment, msg.sender);
    }

    /// @inheritdoc IKYCRegistry
    function revoke(address wallet) external onlyRole(ATTESTOR_ROLE) {
        if (_attestations[wallet].level == 0) revert KYCRegistryNotAttested(wallet);
        delete _attestations[wallet];
        emit AttestationRevoked(wallet, msg.sender);
    }

    /// @inheritdoc IKYCRegistry
    function attestationOf(address wallet) external view returns (Attestation memory) {
        return _attestations[wallet];
    }

    /// @inheritdoc IKYCRegistry
    function isVerified(address wallet, uint8 minLevel) external view returns (bool) {
        Attestation storage a = _attestations[wallet];
        uint8 level = a.level;
        return level != 0 && level >= minLevel && a.expiresAt > block.timestamp;
    }
}
