"""Backup and restore of the platform's database (and the embedded content store), encrypted.

A backup is a logical dump: every table of the database's schema, row by row, as gzip-compressed
JSON lines inside the AES-256-GCM stream of `stream.py`, closed by a manifest of row counts and
SHA-256 digests. Being logical, it restores into SQLite or PostgreSQL whichever it came from, which
is also the way from a SQLite pilot to PostgreSQL.

KYC personal data is already ciphertext in the database (envelope encryption); a backup does not
contain the KYC master keys, so restoring it without them restores nothing readable. Keep the
backup key and the master keys apart from the backups.

The rest of the database (credit applications, check messages, blind indexes, offers...) is in the
clear inside the stream, so the whole stream is bound to the KYC master key active when the backup
was taken (format 2, `stream.py`): reading it needs the backup key and that master key. Retiring
the master key after erasures (`shredding.py`) so makes every copy of the older backups unreadable,
off-site copies included, not only their KYC columns. A format-1 backup (no `master_key` in its
header) opens with the backup key alone.

A backup does hold the wrapped data keys of records erased after it was taken, and the master key
still unwraps them: such a backup is not noise for an erased person until that master key is
deleted (`shredding.py`: within the backups' retention). Until then the erasure log beside the
keys is what keeps them erased: a restore re-applies it, and refuses to run on a host without it
unless told `without_erasure_log` (then every erasure made after the backup is undone, and must be
made again by hand).

Restore is all or nothing: into an empty database at the backup's schema revision (an older
release's backup: brought there, then upgraded, `revisions.py`), in one transaction, which rolls back
on the first chunk that fails to authenticate or the first row that does not match the manifest."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Table, TypeDecorator, delete, func, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from backend.anchoring.content_erasure import erased_cids, forget_removals, remove_quietly
from backend.audit import log as audit_log
from backend.audit.verify import RESTORED, restored_subject
from backend.backup.keys import (
    KeyCollector,
    blind_index_key_matches,
    check_restorable,
    keys_in,
    missing_master_keys,
    needed_by,
)
from backend.backup.revisions import check_known, columns_at, empty_at, is_head, tables_at
from backend.backup.stream import (
    BackupUnreadable,
    SealedWriter,
    StreamKeys,
    open_chunks,
    read_header,
)
from backend.chain.restore_reconcile import chain_position, hold_outbox
from backend.config import Settings
from backend.content.store import get_content_store
from backend.db import migrate
from backend.db.models import Base
from backend.db.session import begin_snapshot, get_engine, session_scope
from backend.errors import ConfigurationError, Conflict
from backend.identity.crypto.keyfile import decode_key, read_or_create_secret
from backend.identity.crypto.keyring import load_keyring
from backend.identity.kyc.erasure_replay import replay_erasures
from backend.identity.kyc.erasure_scope import settle_erasures
from backend.identity.kyc.erasures import (
    ErasureLog,
    ErasureLogUnusable,
    check_binding,
    ensure_erasure_log,
    erasure_log,
    read_log,
)
from backend.identity.tokens import end_all_sessions

FORMAT = 2  # 2: the stream is bound to the KYC master key named in the header (`master_key`)
# Tables a fresh migration seeds; a target holding only these seeds counts as empty.
SEEDED = {
    "audit_head": lambda rows: len(rows) == 1 and rows[0]["seq"] == 0,
    # migration 0038's cut-over of audit-logged notices: 0 on a database that never held one
    "meta": lambda rows: all((r["key"], r["value"]) == ("notices_audited_after_id", "0") for r in rows),
}
Progress = Callable[[int], None]


def backup_key(settings: Settings) -> bytes:
    if settings.backup_key is not None:
        return decode_key(settings.backup_key.get_secret_value())
    if not settings.is_local_chain:
        raise ConfigurationError("set LOANCHAIN_BACKUP_KEY (base64, 32 bytes) to make or read backups")
    return read_or_create_secret(settings.keys_dir / "backup.key")


def backup_keys(settings: Settings) -> StreamKeys:
    """The backup key, and the KYC master keys this host holds (read only for a backup that names one)."""
    return StreamKeys(backup_key(settings), lambda key_id: _held_master_key(settings, key_id))


def _held_master_key(settings: Settings, key_id: str) -> bytes | None:
    try:
        return load_keyring(settings).keys.get(key_id)
    except ConfigurationError:  # no keyring on this host at all
        return None


def _tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)  # parents before children: inserts never break a foreign key


def _open(path: Path) -> BinaryIO:
    """A backup file for reading; a missing file or a directory is one error, not a traceback."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise BackupUnreadable(f"cannot read the backup {path}: {exc.strerror or exc}", path=str(path)) from None


def row_count(settings: Settings) -> int:
    """Rows a backup would hold now (for a progress bar's total)."""
    with get_engine(settings).connect() as conn:
        return _count(conn)


def _tables_of(conn: Connection, settings: Settings) -> list[Table]:
    """What a backup of this database holds: this release's tables, or, for a database this release has
    not upgraded yet, the ones it holds (`revisions.py`)."""
    return _tables() if is_head(conn, settings) else tables_at(conn)


def _count(conn: Connection, tables: list[Table] | None = None) -> int:
    return sum(conn.scalar(select(func.count()).select_from(t)) or 0 for t in (tables or _tables()))


def backup_rows(path: Path) -> int | None:
    """The rows a backup holds, from its header (for a progress bar's total while it is read);
    None for a backup written before the header said."""
    with _open(path) as source:
        rows = read_header(source)[0].get("rows")
    return rows if isinstance(rows, int) else None


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    return value


def _python_type(column) -> type | None:
    kind = column.type
    if isinstance(kind, TypeDecorator):  # e.g. UtcDateTime: what it stores decides the decoding
        kind = kind.impl_instance
    try:
        return kind.python_type
    except NotImplementedError:
        return None


def _decoder(table: Table, names: list[str]) -> Callable[[list], dict[str, Any]]:
    kinds = [_python_type(table.c[name]) for name in names]

    def decode(values: list) -> dict[str, Any]:
        row = {}
        for name, kind, value in zip(names, kinds, values, strict=True):
            if isinstance(value, str) and kind is datetime:
                value = datetime.fromisoformat(value)
            elif isinstance(value, str) and kind is date:
                value = date.fromisoformat(value)
            elif isinstance(value, str) and kind is bytes:
                value = base64.b64decode(value)
            row[name] = value
        return row

    return decode


def _line(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


# --- create --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupReport:
    path: str
    revision: str | None
    tables: dict[str, int]
    blobs: int
    bytes: int


def _content_blobs(settings: Settings, erased: set[str]) -> Iterator[tuple[str, bytes]]:
    if settings.content_store != "embedded" or not settings.content_dir.exists():
        return  # an IPFS node keeps (and pins) its own blocks
    for path in sorted(p for p in settings.content_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if path.name not in erased:  # bytes whose removal is still to come
            yield path.relative_to(settings.content_dir).as_posix(), path.read_bytes()


def _dump(conn: Connection, tables: list[Table], sink: Callable[[bytes], None], progress: Progress | None) -> dict[str, dict]:
    manifest = {}
    for table in tables:
        names = [c.name for c in table.columns]
        sink(_line({"table": table.name, "columns": names}))
        digest, count = hashlib.sha256(), 0
        for row in conn.execution_options(stream_results=True).execute(select(table).order_by(*table.primary_key.columns)):
            line = _line({"r": [_encode(v) for v in row]})
            digest.update(line)
            sink(line)
            count += 1
            if progress and count % 500 == 0:
                progress(500)
        if progress:
            progress(count % 500)
        manifest[table.name] = {"rows": count, "sha256": digest.hexdigest()}
    return manifest


def create_backup(settings: Settings, path: Path, progress: Progress | None = None) -> BackupReport:
    """Write an encrypted backup of the database (one consistent snapshot) and embedded content."""
    key = backup_key(settings)
    # Bound to the active master key: retired after erasures, it takes the whole backup with it.
    ring = load_keyring(settings)
    ensure_erasure_log(settings)  # from the first backup on, a host that lacks the log is a host it was not carried to
    engine = get_engine(settings)
    revision = migrate.current_revision(settings)
    if revision == migrate.head_revision(settings):  # read with this release's models; else once upgraded
        with session_scope(settings) as session:
            settle_erasures(session, settings)  # entries whose outcome was lost, read off the database
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # a directory made here is private
    partial = path.with_name(path.name + ".partial")
    # The chain's head, read before the snapshot begins: whatever the outbox signs after the snapshot
    # is mined in a later block, where a reconcile after a restore looks for it (restore_reconcile.py).
    header = {"format": FORMAT, "revision": revision, "dialect": engine.dialect.name,
              "created_at": datetime.now(UTC).isoformat(), "chain": chain_position(settings)}  # fmt: skip
    # REPEATABLE READ on PostgreSQL: every table from the same snapshot while writers go on.
    snapshot = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" else {}
    try:
        written = _write(settings, partial, key, (ring.active_id, ring.active_key), header, engine, snapshot, progress)
        partial.replace(path)  # a crash mid-backup never leaves a file that looks complete
        _sync_directory(path.parent)  # the rename itself survives a power loss
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    tables, blobs = written
    return BackupReport(str(path), revision, tables, blobs, path.stat().st_size)


def _write(settings: Settings, partial: Path, key: bytes, master: tuple[str, bytes], header: dict[str, Any], engine,
           snapshot: dict, progress: Progress | None) -> tuple[dict[str, int], int]:  # fmt: skip
    """The sealed backup into `partial`: owner-only from its creation (its clear header names row
    counts, times and key ids), and on disk, not in the page cache, before it is renamed."""
    partial.unlink(missing_ok=True)  # O_CREAT keeps an existing file's mode
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, engine.connect().execution_options(**snapshot) as conn:
        with conn.begin():
            begin_snapshot(conn)
            # Read after the snapshot began: an erasure commits only once its entry is written, so every
            # erasure the snapshot holds is in these lines. A restore refuses a log not beginning with them.
            binding = read_log(settings).binding()
            tables = _tables_of(conn, settings)
            # Counted in the dump's snapshot: the header (authenticated) gives readers their total.
            sealed = SealedWriter(out, key, {**header, "rows": _count(conn, tables), "erasure_log": binding,
                                             "keys": keys_in(conn)}, bound=master)  # fmt: skip
            zipped = gzip.GzipFile(fileobj=_Sink(sealed.write), mode="wb", mtime=0)
            manifest = _dump(conn, tables, zipped.write, progress)
            erased = erased_cids(conn)
        with zipped:
            blobs = 0
            for name, data in _content_blobs(settings, erased):
                zipped.write(_line({"blob": name, "data": base64.b64encode(data).decode()}))
                blobs += 1
            zipped.write(_line({"manifest": manifest, "blobs": blobs}))
        sealed.close()
        out.flush()
        os.fsync(out.fileno())
    return {t: m["rows"] for t, m in manifest.items()}, blobs


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Sink(io.RawIOBase):
    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._write(bytes(data))
        return len(data)


# --- read: verify and restore -------------------------------------------------------------


class _Plain(io.RawIOBase):
    """The decrypted plaintext as a file, chunk by authenticated chunk."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._rest = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._rest:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._rest = chunk
        n = min(len(buffer), len(self._rest))
        buffer[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n


def _records(source: BinaryIO, keys: StreamKeys) -> Iterator[dict[str, Any]]:
    try:
        with gzip.GzipFile(fileobj=io.BufferedReader(_Plain(open_chunks(source, keys)))) as lines:
            for line in lines:
                yield json.loads(line)
    except (OSError, EOFError, ValueError) as exc:
        if isinstance(exc, BackupUnreadable):
            raise
        raise BackupUnreadable(f"the backup's contents are damaged: {exc}") from None


@dataclass(frozen=True)
class RestoreReport:
    revision: str | None
    tables: dict[str, int]
    blobs: int
    restored: bool  # False for a verification only
    erasures_replayed: int = 0  # records and notes erased after the backup was taken, erased again
    erasures_skipped: tuple[str, ...] = ()  # erasures of unknown outcome that erasure's guards held off, why
    missing_master_keys: list[str] = field(default_factory=list)  # KYC data this host cannot read (keys.py)
    blind_index_key_matches: bool | None = None  # None: the backup's database never used the key
    outbox_held: int = 0  # intents restored unsent: the outbox holds until `loanchain outbox reconcile`
    # Tables whose columns differ from their revision's: this code cannot restore the backup (verify only).
    tables_not_restorable: list[str] = field(default_factory=list)
    upgraded_to: str | None = None  # an older release's backup: the revision its rows were migrated to


def _replay(source: BinaryIO, keys: StreamKeys, on_table, on_row, on_blob, progress: Progress | None) -> RestoreReport:
    """Walk the backup, checking every table against the manifest at the end; the callbacks act."""
    seen: dict[str, dict] = {}
    table, digest, count, blobs = None, None, 0, 0

    def close_table() -> None:
        if table is not None:
            seen[table] = {"rows": count, "sha256": digest.hexdigest()}
            if progress:
                progress(count % 500)

    for record in _records(source, keys):
        if "table" in record:
            close_table()
            table, names, digest, count = record["table"], record["columns"], hashlib.sha256(), 0
            on_table(table, names)
        elif "r" in record:
            digest.update(_line(record))
            on_row(record["r"])
            count += 1
            if progress and count % 500 == 0:
                progress(500)
        elif "blob" in record:
            on_blob(record["blob"], base64.b64decode(record["data"]))
            blobs += 1
        elif "manifest" in record:
            close_table()
            if seen != record["manifest"] or blobs != record["blobs"]:
                raise BackupUnreadable("the backup's contents do not match its manifest")
            return RestoreReport(None, {t: m["rows"] for t, m in seen.items()}, blobs, False)
    raise BackupUnreadable("the backup ends before its manifest")


def verify_backup(settings: Settings, path: Path, progress: Progress | None = None) -> RestoreReport:
    """Decrypt and check everything, writing nothing."""
    with _open(path) as source:
        header, _ = read_header(source)
    revision = header.get("revision")
    if revision == migrate.head_revision(settings):
        ours = {t.name: [c.name for c in t.columns] for t in _tables()}
    elif revision is not None and migrate.known_revision(settings, revision):
        ours = columns_at(settings, revision)  # restored at its revision, then upgraded
    else:
        ours = {}  # a later release's backup: not restorable by this one
    keys, differing = KeyCollector(), []

    def on_table(name: str, columns: list[str]) -> None:
        keys.on_table(name, columns)
        if ours.get(name) != columns:  # what restore would refuse (it inserts into the tables of its revision)
            differing.append(name)

    with _open(path) as source:
        report = _replay(source, backup_keys(settings), on_table, keys.on_row, lambda *_: None, progress)
    return RestoreReport(revision, report.tables, report.blobs, False,
                         missing_master_keys=missing_master_keys(settings, keys.needed),
                         blind_index_key_matches=blind_index_key_matches(settings, keys.needed),
                         tables_not_restorable=differing)  # fmt: skip


def _check_target(conn: Connection, revision: str | None, settings: Settings) -> None:
    """A database already at this release's revision, the backup's: it must hold nothing."""
    for table in _tables():
        if table.name in SEEDED:
            rows = [dict(r._mapping) for r in conn.execute(select(table))]
            if not SEEDED[table.name](rows):
                raise Conflict(f"restore needs an empty database: {table.name} holds data", table=table.name)
        elif conn.scalar(select(func.count()).select_from(table)):
            raise Conflict(f"restore needs an empty database: {table.name} holds rows", table=table.name)


def _reset_sequences(conn: Connection) -> None:
    """PostgreSQL serial columns continue after the restored ids, not from 1."""
    if conn.dialect.name != "postgresql":
        return
    for table in _tables():
        for column in table.primary_key.columns:
            if column.autoincrement is True or (column.autoincrement == "auto" and _python_type(column) is int):
                sequence = conn.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name})
                if sequence:
                    conn.execute(text(f"SELECT setval('{sequence}', COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"))


def _erasure_log_for(settings: Settings, header: dict[str, Any], without_erasure_log: bool) -> ErasureLog | None:
    """The host's erasure log, read whole and checked against the backup before anything is written."""
    if without_erasure_log:
        return None
    path = erasure_log(settings)
    log = read_log(settings)
    if log is None:
        raise Conflict(
            f"no erasure log at {path}: restoring without it would bring back the personal data of everyone erased "
            "after this backup was taken. Copy the log from where the master keys are kept (LOANCHAIN_KYC_ERASURE_LOG), "
            "or restore with --without-erasure-log and erase those people again",
            erasure_log=str(path),
        )  # fmt: skip
    if binding := header.get("erasure_log"):
        check_binding(log, binding)
    elif log.created_at and header.get("created_at") and log.created_at > datetime.fromisoformat(header["created_at"]):
        # A backup from before backups named their log: at least the log must be older than the backup.
        raise ErasureLogUnusable(
            f"the erasure log at {path} was started {log.created_at.isoformat()}, after this backup was taken "
            f"({header['created_at']}): it is not the log kept beside it. Copy that log from where the master keys are "
            "kept, or restore with --without-erasure-log and erase those people again", erasure_log=str(path),
        )  # fmt: skip
    return log


def authenticated_header(path: Path, keys: StreamKeys) -> dict[str, Any]:
    """The header, once the first chunk (sealed with the header as associated data) authenticates it."""
    with _open(path) as source:
        header, _ = read_header(source)
        source.seek(0)
        next(open_chunks(source, keys))
    return header


def _rows_of(path: Path, keys: StreamKeys) -> Iterator[dict[str, Any]]:
    with _open(path) as source:
        yield from _records(source, keys)


def restore_backup(settings: Settings, path: Path, progress: Progress | None = None,
                   without_erasure_log: bool = False, allow_missing_keys: bool = False) -> RestoreReport:  # fmt: skip
    """Restore into an empty database and re-apply the erasure log, in one transaction. Without the
    log (or with a log the backup was not taken beside), refused unless `without_erasure_log`:
    erasures made after the backup are then not re-applied. Refused too, before anything is written,
    without the keys the backup's data needs (`keys.py`)."""
    keys = backup_keys(settings)
    header = authenticated_header(path, keys)
    log = _erasure_log_for(settings, header, without_erasure_log)
    missing = check_restorable(settings, needed_by(header, lambda: _rows_of(path, keys)), allow_missing_keys)
    revision = header.get("revision")
    older = revision != migrate.head_revision(settings)
    check_known(settings, revision)
    engine = get_engine(settings)
    state: dict[str, Any] = {}
    store = get_content_store(settings) if settings.content_store == "embedded" else None

    with engine.begin() as conn, _open(path) as source:
        if older or migrate.current_revision(settings) != revision:
            # An empty database at another revision, or none: made anew at the backup's (an older release's
            # backup: its schema first, its rows into it, then this release's migrations on them).
            empty_at(conn, settings, revision, SEEDED)
        else:
            _check_target(conn, revision, settings)
        tables = {t.name: t for t in (tables_at(conn) if older else _tables())}
        for name in SEEDED:
            if name in tables:
                conn.execute(delete(tables[name]))

        def on_table(name: str, names: list[str]) -> None:
            flush()
            if name not in tables or [c.name for c in tables[name].columns] != names:
                raise BackupUnreadable(
                    f"table {name} in the backup does not match schema revision {revision} as this release's "
                    "migrations make it: the backup was not taken by a release of this platform", table=name,
                )  # fmt: skip
            state.update(table=tables[name], decode=_decoder(tables[name], names), batch=[])

        def on_row(values: list) -> None:
            state["batch"].append(state["decode"](values))
            if len(state["batch"]) >= 500:
                flush()

        def flush() -> None:
            if state.get("batch"):
                conn.execute(insert(state["table"]), state["batch"])
                state["batch"] = []

        def on_blob(name: str, data: bytes) -> None:
            flush()
            # Content-addressed: the bytes must hash to the name they were saved under.
            if store is not None and store.put(data) != name.rsplit("/", 1)[-1]:
                raise BackupUnreadable(f"content blob {name} does not hash to its CID")

        report = _replay(source, keys, on_table, on_row, on_blob, progress)
        flush()
        if older:
            migrate.upgrade_on(conn, settings)  # their data steps run on the restored rows
        _reset_sequences(conn)
        # The backup may predate erasures: the log beside the master keys says which, and they stay
        # erased. In the restore's transaction: if this fails, nothing was restored.
        replayed = None
        with Session(bind=conn) as session:
            backup_head = audit_log.head(session)
            if log is not None:
                replayed = replay_erasures(session, settings, log)
            # What the outbox had not sent at the backup may have been sent since, by the lost host.
            held = hold_outbox(session, header)
            # Sessions ended since the backup (sign-outs, reuse detection) would live again.
            end_all_sessions(session)
            # The entries after the backup's head are lost, and the heads anchored of them stay on chain:
            # `audit verify` names those anchors lost in this restore rather than tampering (RESTORED).
            audit_log.record(session, "system", RESTORED, restored_subject(backup_head.seq if backup_head else 0),
                             {"backup_created_at": header.get("created_at"), "backup_revision": revision})  # fmt: skip
            # The blobs written back include erased documents' (a backup older than their erasure, or
            # taken before their removal was recorded): each is removed again once this has committed.
            forget_removals(session)
            session.flush()
    remove_quietly(settings)
    return RestoreReport(revision, report.tables, report.blobs, True, replayed.erased if replayed else 0,
                         tuple(replayed.skipped) if replayed else (), missing_master_keys=missing,
                         outbox_held=held, upgraded_to=migrate.head_revision(settings) if older else None)  # fmt: skip
