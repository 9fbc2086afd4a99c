"""`loanchain backup create|verify|restore`: encrypted, authenticated backups of the database and
the embedded content store (see backend/backup/service.py for the format and the guarantees)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from backend.cli.output import cli_errors, console, plain, print_json
from backend.config import get_settings

app = typer.Typer(no_args_is_help=True, help="Encrypted backups: create, list the scheduled ones, verify, restore (all or nothing).")


def _progress(what: str, quiet: bool) -> Progress:
    return Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), console=console, disable=quiet)


@app.command("create")
def create_command(
    output: Path | None = typer.Argument(None, help="Where to write the backup file; by default into the scheduled "
                                         "backups' directory, verified and rotated like theirs"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Back up every table (one consistent snapshot) and the embedded content store, encrypted
    with the backup key (LOANCHAIN_BACKUP_KEY)."""
    from backend.backup.schedule import take_backup
    from backend.backup.service import create_backup, row_count

    settings = get_settings()
    with cli_errors():
        total = row_count(settings)
        with _progress("backing up rows", json_out) as bar:
            task = bar.add_task("rows", total=total)

            def advance(rows: int) -> None:
                bar.advance(task, rows)

            if output is None:
                taken = take_backup(settings, progress=advance)
            else:
                report = create_backup(settings, output, progress=advance)
    if output is None:
        if json_out:
            print_json({"path": str(taken.path), "bytes": taken.bytes, "verified": True})
        else:
            console.print(f"wrote and verified {taken.path} ({taken.bytes:,} bytes)")
        return
    if json_out:
        print_json(report.__dict__)
        return
    console.print(f"wrote {report.path}: {sum(report.tables.values())} rows in {len(report.tables)} tables, "
                  f"{report.blobs} content blobs, {report.bytes:,} bytes, schema {report.revision}")  # fmt: skip


@app.command("list")
def list_command(json_out: bool = typer.Option(False, "--json")) -> None:
    """The scheduled backups kept (newest first), and whether the schedule is keeping up."""
    from backend.backup.schedule import backup_dir, backup_health, scheduled_backups

    settings = get_settings()
    kept = scheduled_backups(settings)
    health = backup_health(settings)
    if json_out:
        print_json({"directory": str(backup_dir(settings)), "health": health,
                    "backups": [{"file": b.path.name, "taken_at": b.taken_at.isoformat(), "bytes": b.bytes} for b in kept]})  # fmt: skip
        return
    table = Table("file", "taken at (UTC)", "bytes", title=f"{backup_dir(settings)}: {health['status']}")
    for b in kept:
        table.add_row(b.path.name, b.taken_at.strftime("%Y-%m-%d %H:%M:%S"), f"{b.bytes:,}")
    console.print(table)


def _read(command: str, path: Path, json_out: bool, without_erasure_log: bool = False, allow_missing_keys: bool = False) -> None:
    from backend.backup.service import backup_rows, restore_backup, verify_backup

    with cli_errors(), _progress("restoring rows" if command == "restore" else "verifying rows", json_out) as bar:
        task = bar.add_task("rows", total=backup_rows(path) if path.is_file() else None)

        def advance(rows: int) -> None:
            bar.advance(task, rows)

        if command == "restore":
            report = restore_backup(get_settings(), path, progress=advance, without_erasure_log=without_erasure_log,
                                        allow_missing_keys=allow_missing_keys)
        else:
            report = verify_backup(get_settings(), path, progress=advance)
    if json_out:
        print_json(report.__dict__)
        return
    verb = "restored" if report.restored else "verified (nothing written)"
    console.print(f"{path}: {verb}: {sum(report.tables.values())} rows in {len(report.tables)} tables, "
                  f"{report.blobs} content blobs, schema {report.revision}"
                  + (f", migrated to {report.upgraded_to}" if report.upgraded_to else "")
                  + (f"; {report.erasures_replayed} erased since, erased again" if report.erasures_replayed else ""))  # fmt: skip
    for skipped in report.erasures_skipped:
        console.print(f"[yellow]warning:[/] {plain(skipped)}", markup=True)
    if report.missing_master_keys:
        console.print(f"[red]warning:[/] the keyring lacks master keys {plain(', '.join(report.missing_master_keys))}: "
                      "the KYC data wrapped under them cannot be read", markup=True)  # fmt: skip
    if report.blind_index_key_matches is False:
        console.print("[red]warning:[/] this host's KYC blind-index key is not the one the backup's data was made under",
                      markup=True)  # fmt: skip
    if report.tables_not_restorable:
        console.print(f"[red]warning:[/] this release cannot restore it: tables {plain(', '.join(report.tables_not_restorable))} "
                      f"differ from schema revision {plain(str(report.revision))} as this release's migrations make it "
                      "(a later release's backup, or not this platform's)", markup=True)  # fmt: skip
    if report.outbox_held:
        console.print(f"[yellow]outbox held:[/] {report.outbox_held} intents were unsent in the backup and may have been "
                      "sent since: run `loanchain outbox reconcile` (nothing is sent until then)", markup=True)  # fmt: skip


@app.command("verify")
def verify_command(path: Path, json_out: bool = typer.Option(False, "--json")) -> None:
    """Decrypt and check a backup against its manifest without writing anything."""
    _read("verify", path, json_out)


@app.command("restore")
def restore_command(
    path: Path,
    json_out: bool = typer.Option(False, "--json"),
    without_erasure_log: bool = typer.Option(
        False, "--without-erasure-log",
        help="Restore although the erasure log (kept with the master keys) is missing: erasures made after the backup "
             "are NOT re-applied, so those people's personal data is live again until each is erased once more"),
    allow_missing_keys: bool = typer.Option(
        False, "--allow-missing-keys",
        help="Restore although the keyring lacks master keys the backup's KYC data is wrapped under: that data "
             "stays unreadable"),
) -> None:  # fmt: skip
    """Restore into an empty database, at any revision or none; an older release's backup is brought up to
    this release's schema. One transaction: a damaged backup or a non-empty database changes nothing. Then
    the erasure log is re-applied; without the log the restore is refused (see --without-erasure-log)."""
    _read("restore", path, json_out, without_erasure_log, allow_missing_keys)
