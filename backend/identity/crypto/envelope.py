"""AES-256-GCM envelope encryption.

Each record gets a fresh 256-bit data key (DEK). The record's bytes are sealed with the DEK, and
the DEK is sealed ("wrapped") with a master key. Both seals carry associated data naming the
record, so a ciphertext or a wrapped key copied into another row fails authentication instead of
decrypting as someone else's data. Rotation re-wraps DEKs; the records themselves are untouched.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backend.errors import LoanchainError

NONCE_BYTES = 12
KEY_BYTES = 32
VERSION = b"\x01"  # leading byte of every sealed blob, so the format can evolve


class DecryptionFailed(LoanchainError, ValueError):
    """Wrong key, tampered bytes, or a blob that belongs to another record."""

    status_code = 500
    code = "decryption_failed"


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)  # random 96-bit nonces: safe, each DEK seals only a handful of blobs
    return VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def unseal(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != VERSION:
        raise DecryptionFailed("not a sealed blob")
    nonce, body = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, aad)
    except InvalidTag:
        raise DecryptionFailed("authentication failed: wrong key, tampered data, or another record's data") from None


def record_aad(record_id: str, part: str) -> bytes:
    """Associated data binding a blob to its record and its role in it (record, document, note)."""
    return f"loanchain/kyc/{part}/{record_id}".encode()


def wrap_aad(record_id: str, key_id: str) -> bytes:
    return f"loanchain/kyc/dek/{record_id}/{key_id}".encode()


def wrap_data_key(master: bytes, key_id: str, record_id: str, dek: bytes) -> bytes:
    return seal(master, dek, wrap_aad(record_id, key_id))


def unwrap_data_key(master: bytes, key_id: str, record_id: str, wrapped: bytes) -> bytes:
    return unseal(master, wrapped, wrap_aad(record_id, key_id))
