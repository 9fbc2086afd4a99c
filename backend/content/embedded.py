"""The default content store: one file per CID under a directory, no daemon needed."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from backend.content.cid import cid_of, parse_cid
from backend.errors import ContentIntegrityError, ContentNotFound


class EmbeddedContentStore:
    backend = "embedded"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_of(self, cid: str) -> Path:
        parse_cid(cid)  # also guarantees the CID is a safe file name
        # Sharded by the next-to-last two characters, like IPFS' flatfs: the leading
        # characters of a CID are its version/codec prefix and would not spread files out.
        return self.root / cid[-3:-1] / cid

    def put(self, data: bytes) -> str:
        cid = cid_of(data)
        path = self.path_of(cid)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename so a reader never sees a half-written file. Rewriting an existing
        # CID is harmless (same bytes) and repairs a damaged copy.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return cid

    def get(self, cid: str) -> bytes:
        path = self.path_of(cid)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ContentNotFound(f"no content for {cid}", cid=cid) from None
        actual = cid_of(data)
        if actual != cid:
            raise ContentIntegrityError(f"stored content of {cid} hashes to {actual}", cid=cid, actual=actual)
        return data

    def pin(self, cid: str) -> None:
        # Nothing here is ever garbage-collected: every stored CID is pinned already.
        if not self.has(cid):
            raise ContentNotFound(f"no content for {cid}", cid=cid)

    def remove(self, cid: str) -> None:
        self.path_of(cid).unlink(missing_ok=True)

    def collect_garbage(self) -> None:
        pass  # a removed file is gone already

    def has(self, cid: str) -> bool:
        return self.path_of(cid).is_file()

    def health(self) -> dict[str, Any]:
        status: dict[str, Any] = {"ok": True, "backend": self.backend, "path": str(self.root)}
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise PermissionError(f"{self.root} is not writable")
        except Exception as exc:  # health reports, it does not raise
            status.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        return status
