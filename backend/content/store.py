"""The content store interface and the factory that picks a backend from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from backend.errors import ConfigurationError

if TYPE_CHECKING:
    from backend.config import Settings


@runtime_checkable
class ContentStore(Protocol):
    """Content-addressed bytes. Every backend yields the same CID for the same bytes
    (see `cid.py`), so a CID anchored on-chain does not depend on where content lives."""

    backend: str

    def put(self, data: bytes) -> str:
        """Store `data`, keep it (pinned), return its CID."""
        ...

    def get(self, cid: str) -> bytes:
        """The bytes of `cid`, re-hashed: ContentNotFound if absent, ContentIntegrityError if
        they do not hash to `cid`, InvalidCid if `cid` is not a CID this store produces."""
        ...

    def pin(self, cid: str) -> None:
        """Keep `cid` from garbage collection; ContentNotFound if it cannot be had."""
        ...

    def remove(self, cid: str) -> None:
        """Stop keeping `cid`: deleted here, or unpinned for the node's garbage collection. Nothing
        to do is no error (removal is retried until it is recorded)."""
        ...

    def collect_garbage(self) -> None:
        """Take the bytes of what was removed now (an IPFS node's unpinned blocks), once for many removals."""
        ...

    def has(self, cid: str) -> bool:
        """Whether this store keeps `cid` (stored here and pinned), without fetching it."""
        ...

    def health(self) -> dict[str, Any]:
        """{"ok": bool, "backend": str, ...; "error": str when not ok}. Never raises."""
        ...


def get_content_store(settings: Settings | None = None) -> ContentStore:
    if settings is None:
        from backend.config import get_settings

        settings = get_settings()
    # Imported here so the embedded default never pays for importing the IPFS client.
    if settings.content_store == "embedded":
        from backend.content.embedded import EmbeddedContentStore

        return EmbeddedContentStore(settings.content_dir)
    if settings.content_store == "ipfs":
        from backend.content.ipfs import IpfsContentStore

        return IpfsContentStore(settings.ipfs_api, timeout=settings.ipfs_timeout)
    raise ConfigurationError(
        f"unknown content_store {settings.content_store!r}", content_store=settings.content_store
    )
