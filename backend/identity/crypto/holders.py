"""Rows that hold their own data key, wrapped under the KYC master keyring (envelope encryption).

A model opts in by subclassing `WrappedKeyHolder`: it declares nullable `key_id` and `wrapped_key`
columns and a `key_ref`, the string its wrapped key is bound to. Then `loanchain kyc rotate-key`
re-wraps its keys with the KYC records' (`rotation.py`), a retired master key is refused while any
of them still needs it, and erasing a wallet's personal data shreds the keys of the rows its
`about(wallet)` hook selects. A shredded row keeps its ciphertext: without the key it is noise
(in backups taken before, once the master key of that time is retired: `backend/backup/shredding.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement

from backend.db.base import Base
from backend.identity.crypto.envelope import new_data_key, seal, unseal, unwrap_data_key, wrap_data_key
from backend.identity.crypto.keyring import Keyring


class WrappedKeyHolder:
    if TYPE_CHECKING:  # each model maps its own columns; annotations here would be mapped too
        key_id: str | None
        wrapped_key: bytes | None

    @property
    def key_ref(self) -> str:
        """What the wrapped key is bound to (its associated data): unique across every holder."""
        raise NotImplementedError

    @classmethod
    def about(cls, wallet: str) -> ColumnElement[bool] | None:
        """Hook: the rows whose personal data concerns `wallet`, shredded when it is erased.
        None: this model's erasure is handled by its own domain (the KYC records)."""
        return None

    @property
    def shredded(self) -> bool:
        return self.wrapped_key is None


def key_holders() -> list[type[WrappedKeyHolder]]:
    """Every mapped model holding wrapped keys, in a stable order."""
    import backend.db.models  # noqa: F401  (registers every model with the mapper registry)

    found = {m.class_ for m in Base.registry.mappers if issubclass(m.class_, WrappedKeyHolder)}
    return sorted(found, key=lambda cls: cls.__name__)


def give_key(keyring: Keyring, holder: WrappedKeyHolder) -> bytes:
    """A fresh data key for `holder`, wrapped under the active master key; the key itself is
    returned to seal with and never stored in clear."""
    dek = new_data_key()
    _wrap(keyring, holder, dek)
    return dek


def holder_key(keyring: Keyring, holder: WrappedKeyHolder) -> bytes | None:
    """The holder's data key, or None once shredded."""
    if holder.key_id is None or holder.wrapped_key is None:
        return None
    return unwrap_data_key(keyring.key(holder.key_id), holder.key_id, holder.key_ref, holder.wrapped_key)


def seal_text(keyring: Keyring, holder: WrappedKeyHolder, text: str, aad: bytes) -> bytes:
    """`text` sealed under a fresh data key given to `holder` (a note kept beside a row)."""
    return seal(give_key(keyring, holder), text.encode(), aad)


def open_text(keyring: Keyring, holder: WrappedKeyHolder, sealed: bytes | None, aad: bytes) -> str | None:
    """What `seal_text` sealed, or None when there is nothing sealed or the key was shredded."""
    dek = holder_key(keyring, holder)
    return None if dek is None or sealed is None else unseal(dek, sealed, aad).decode()


def rewrapped(keyring: Keyring, holder: WrappedKeyHolder) -> tuple[str, bytes] | None:
    """The holder's key wrapped under the active master key, as (key id, wrapped key); None once
    shredded. Its ciphertexts are not touched."""
    dek = holder_key(keyring, holder)
    if dek is None:
        return None
    return keyring.active_id, wrap_data_key(keyring.active_key, keyring.active_id, holder.key_ref, dek)


def _wrap(keyring: Keyring, holder: WrappedKeyHolder, dek: bytes) -> None:
    holder.key_id, holder.wrapped_key = keyring.active_id, wrap_data_key(keyring.active_key, keyring.active_id, holder.key_ref, dek)


def shred(holder: WrappedKeyHolder) -> None:
    holder.key_id = holder.wrapped_key = None
