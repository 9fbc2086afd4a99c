"""KYCRegistry: attestations, revocation, expiry at call time, roles, every revert."""

from __future__ import annotations

from web3 import Web3

from tests.contracts.helpers import DAY, events, expect_revert

COMMITMENT = Web3.keccak(text="salt|kyc-record-hash")


def test_attest_stores_level_expiry_commitment_and_emits(world, snapshot):
    kyc, wallet = world.kyc, world.outsider.address
    expires = world.chain.now() + 365 * DAY
    receipt = world.chain.tx(kyc.functions.attest(wallet, 2, expires, COMMITMENT), world.admin.address)
    assert kyc.functions.attestationOf(wallet).call() == (2, expires, COMMITMENT)
    (ev,) = events(receipt, kyc, "AttestationSet")
    assert ev == {"wallet": wallet, "level": 2, "expiresAt": expires, "commitment": COMMITMENT,
                  "attestor": world.admin.address}  # fmt: skip
    assert kyc.functions.isVerified(wallet, 0).call()
    assert kyc.functions.isVerified(wallet, 2).call()
    assert not kyc.functions.isVerified(wallet, 3).call()


def test_attest_replaces_an_attestation(world, snapshot):
    kyc, wallet = world.kyc, world.outsider.address
    now = world.chain.now()
    world.chain.tx(kyc.functions.attest(wallet, 3, now + DAY, COMMITMENT), world.admin.address)
    other = Web3.keccak(text="another record")
    world.chain.tx(kyc.functions.attest(wallet, 1, now + 2 * DAY, other), world.admin.address)
    assert kyc.functions.attestationOf(wallet).call() == (1, now + 2 * DAY, other)


def test_is_verified_checks_expiry_at_call_time(world, snapshot):
    kyc, wallet = world.kyc, world.outsider.address
    expires = world.chain.now() + 10 * DAY
    world.chain.tx(kyc.functions.attest(wallet, 1, expires, COMMITMENT), world.admin.address)
    world.chain.mine_at(expires - 1)
    assert kyc.functions.isVerified(wallet, 1).call()
    world.chain.mine_at(expires)
    assert not kyc.functions.isVerified(wallet, 1).call()  # expired exactly at expiresAt
    assert kyc.functions.attestationOf(wallet).call()[0] == 1  # still stored, for the record


def test_unattested_wallet_is_not_verified_even_at_level_zero(world):
    assert not world.kyc.functions.isVerified(world.outsider.address, 0).call()
    assert world.kyc.functions.attestationOf(world.outsider.address).call() == (0, 0, b"\0" * 32)


def test_revoke_deletes_and_emits(world, snapshot):
    kyc, wallet = world.kyc, world.investors[0].address
    assert kyc.functions.isVerified(wallet, 1).call()
    receipt = world.chain.tx(kyc.functions.revoke(wallet), world.admin.address)
    assert events(receipt, kyc, "AttestationRevoked") == [{"wallet": wallet, "attestor": world.admin.address}]
    assert not kyc.functions.isVerified(wallet, 1).call()
    assert kyc.functions.attestationOf(wallet).call() == (0, 0, b"\0" * 32)


def test_attest_reverts(world):
    kyc, admin = world.kyc, world.admin.address
    now = world.chain.now()
    wallet = world.outsider.address
    expect_revert(world.chain, kyc.functions.attest("0x" + "00" * 20, 1, now + DAY, COMMITMENT), admin,
                  "KYCRegistryZeroAddress")  # fmt: skip
    expect_revert(world.chain, kyc.functions.attest(wallet, 0, now + DAY, COMMITMENT), admin,
                  "KYCRegistryInvalidLevel", 0)  # fmt: skip
    expect_revert(world.chain, kyc.functions.attest(wallet, 1, now + 100, COMMITMENT), admin,
                  "KYCRegistryExpiryInPast", now + 100, now + 100, at=now + 100)  # fmt: skip
    expect_revert(world.chain, kyc.functions.attest(wallet, 1, now + DAY, b"\0" * 32), admin,
                  "KYCRegistryEmptyCommitment", wallet)  # fmt: skip


def test_revoke_reverts_when_not_attested(world):
    expect_revert(world.chain, world.kyc.functions.revoke(world.outsider.address), world.admin.address,
                  "KYCRegistryNotAttested", world.outsider.address)  # fmt: skip


def test_only_attestors_write(world, snapshot):
    kyc = world.kyc
    role = kyc.functions.ATTESTOR_ROLE().call()
    stranger = world.outsider.address
    now = world.chain.now()
    expect_revert(world.chain, kyc.functions.attest(stranger, 1, now + DAY, COMMITMENT), stranger,
                  "AccessControlUnauthorizedAccount", stranger, role)  # fmt: skip
    expect_revert(world.chain, kyc.functions.revoke(world.investors[0].address), stranger,
                  "AccessControlUnauthorizedAccount", stranger, role)  # fmt: skip
    # The admin can grant the role to a dedicated attestor key.
    world.chain.tx(kyc.functions.grantRole(role, stranger), world.admin.address)
    world.chain.tx(kyc.functions.attest(stranger, 1, now + DAY, COMMITMENT), stranger)
    assert kyc.functions.isVerified(stranger, 1).call()


def test_constructor_rejects_zero_admin(world, artifacts):
    art = artifacts["KYCRegistry"]
    factory = world.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    expect_revert(world.chain, factory.constructor("0x" + "00" * 20), world.admin.address, "KYCRegistryZeroAddress")
