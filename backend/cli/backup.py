"""`loanchain backup create|verify|restore`: encrypted, authenticated backups of the database and
the embedded content store (see backend/backup/service.py for the format and the guarantees)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from backend.cli.output import cli_errors, console, print_json
from backend.config import get_settings

app = typer.Typer(no_args_is_help=True, help="Encrypted backups: create, verify, restore (all or nothing).")


def _progress(what: str, quiet: bool) -> Progress:
    return Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), console=console, disable=quiet)


@app.command("create")
def create_command(
    output: Path = typer.Argument(..., help="Where to write the backup file"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Back up every table (one consistent snapshot) and the embedded content store, encrypted
    with the backup key (LOANCHAIN_BACKUP_KEY)."""
    from backend.backup.service import create_backup, row_count

    with cli_errors():
        total = row_count(get_settings())
        with _progress("backing up rows", json_out) as bar:
            task = bar.add_task("rows", total=total)
            report = create_backup(get_settings(), output, progress=lambda n: bar.advance(task, n))
    if json_out:
        print_json(report.__dict__)
        return
    console.print(f"wrote {report.path}: {sum(report.tables.values())} rows in {len(report.tables)} tables, "
                  f"{report.blobs} content blobs, {report.bytes:,} bytes, schema {report.revision}")  # fmt: skip


def _read(command: str, path: Path, json_out: bool) -> None:
    from backend.backup.service import restore_backup, verify_backup

    run = restore_backup if command == "restore" else verify_backup
    with cli_errors(), _progress("restoring rows" if command == "restore" else "verifying rows", json_out) as bar:
        task = bar.add_task("rows", total=None)
        report = run(get_settings(), path, progress=lambda n: bar.advance(task, n))
    if json_out:
        print_json(report.__dict__)
        return
    verb = "restored" if report.restored else "verified (nothing written)"
    console.print(f"{path}: {verb}: {sum(report.tables.values())} rows in {len(report.tables)} tables, "
                  f"{report.blobs} content blobs, schema {report.revision}")  # fmt: skip


@app.command("verify")
def verify_command(path: Path, json_out: bool = typer.Option(False, "--json")) -> None:
    """Decrypt and check a backup against its manifest without writing anything."""
    _read("verify", path, json_out)


@app.command("restore")
def restore_command(path: Path, json_out: bool = typer.Option(False, "--json")) -> None:
    """Restore into an empty database migrated to the backup's schema revision (`loanchain db
    upgrade`); one transaction: a damaged backup or a non-empty database changes nothing."""
    _read("restore", path, json_out)
