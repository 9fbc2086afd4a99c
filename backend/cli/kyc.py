"""`loanchain kyc ...`: master keys (rotate, retire, list), commitment proofs, the expiry sweep, re-indexing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from backend.cli.output import cli_errors, console, plain, print_json
from backend.config import get_settings

app = typer.Typer(no_args_is_help=True, help="KYC operations: master-key rotation, commitment proofs, expiry, re-indexing, retention.")




@app.command("keys")
def keys(json_out: bool = typer.Option(False, "--json")) -> None:
    """Master keys: which is active, and how many data keys (KYC records, case-log notes) each one wraps."""
    from backend.db.session import session_scope
    from backend.identity.crypto.keyring import load_keyring
    from backend.identity.crypto.rotation import keys_in_use

    settings = get_settings()
    with cli_errors():
        ring = load_keyring(settings)
        with session_scope(settings) as session:
            usage = keys_in_use(session)
    rows = [{"key_id": kid, "active": kid == ring.active_id, "data_keys": usage.get(kid, 0)} for kid in sorted(ring.keys)]
    rows += [{"key_id": kid, "active": False, "data_keys": n, "missing": True} for kid, n in usage.items() if kid not in ring.keys]
    if json_out:
        print_json({"source": ring.source, "keys": rows})
        return
    table = Table("key id", "active", "data keys", title=f"KYC master keys ({ring.source})")
    for row in rows:
        table.add_row(Text(row["key_id"]).append(" (missing!)" if row.get("missing") else "", style="red"),
                      "yes" if row["active"] else "", str(row["data_keys"]))  # fmt: skip
    console.print(table)


@app.command("rotate-key")
def rotate_key(
    new_key: bool = typer.Option(True, "--new-key/--no-new-key", help="Generate and activate a new key file first."),
    batch: int = typer.Option(500, min=1, help="Data keys per transaction."),
) -> None:
    """Re-wrap every data key (KYC records, case-log notes) under a new master key (nothing is decrypted).

    With keys in LOANCHAIN_KYC_MASTER_KEYS, put the new key first there and use --no-new-key.
    """
    from backend.backup.schedule import rotating_by_hand
    from backend.identity.crypto.keyring import add_master_key, load_keyring
    from backend.identity.crypto.rotation import rotate

    settings = get_settings()
    with cli_errors(), rotating_by_hand(settings):  # never beside the backup worker's own rotation
        if new_key:
            console.print(f"new active master key [bold]{plain(add_master_key(settings))}[/]", markup=True)
        ring = load_keyring(settings)
        with Progress(TextColumn("re-wrapping data keys"), BarColumn(), MofNCompleteColumn(), console=console) as bar:
            task = bar.add_task("rotate", total=None)
            report = rotate(settings, ring, batch=batch, progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"{report.rewrapped} data keys now wrapped under [bold]{plain(report.active_id)}[/]; {report.remaining} left",
                  markup=True)  # fmt: skip
    if report.unreadable:
        console.print(f"[yellow]{report.unreadable} data keys are under master keys the keyring lacks[/] (restored with "
                      "--allow-missing-keys): left as they are, unreadable until those keys are put back", markup=True)  # fmt: skip
    if report.remaining:
        raise typer.Exit(1)
    retired = sorted(set(ring.keys) - {ring.active_id})
    if retired:
        console.print("kept backups taken before this rotation still need the old keys: retire them once those "
                      f"backups have aged out, with: loanchain kyc retire-key {' '.join(retired)} (refused until then)")


@app.command("retire-key")
def retire_key(
    key_ids: Annotated[list[str], typer.Argument(help="Master key ids to delete.")],
    force: bool = typer.Option(False, "--force", help="Retire although kept backups still need the key: those "
                               "sealed under it can no longer be read at all, the others' KYC data after a restore"),
) -> None:  # fmt: skip
    """Delete old master keys; refused while any data key, or any kept backup, still needs one."""
    from backend.backup.retirement import retire_master_key

    settings = get_settings()
    with cli_errors():
        for key_id in key_ids:
            lost = retire_master_key(settings, key_id, force=force)
            console.print(f"retired {key_id}")
            if lost:
                console.print(f"[red]warning:[/] {plain(', '.join(lost))}: now unreadable if sealed under {plain(key_id)}, "
                              "else their KYC data is unreadable after a restore", markup=True)  # fmt: skip


@app.command("prove")
def prove(
    wallet: Annotated[str, typer.Argument(help="The wallet whose on-chain attestation to check.")],
    record_id: str = typer.Option(None, help="A specific record (default: the wallet's attested one)."),
    canonical_file: Path = typer.Option(None, exists=True, dir_okay=False, help="An exported canonical record (GET /api/v1/kyc/me/data)."),
    salt: str = typer.Option(None, help="The exported record's salt (hex), with --canonical-file."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Show that a KYC record matches WALLET's on-chain commitment: keccak256(salt || record)."""
    from backend.db.session import session_scope
    from backend.identity.kyc.proof import prove_export, prove_record

    settings = get_settings()
    with cli_errors():
        if canonical_file is not None:
            if not salt:
                raise typer.BadParameter("--salt is required with --canonical-file")
            proof = prove_export(settings, wallet, canonical_file.read_bytes(), salt)
        else:
            with session_scope(settings) as session:
                proof = prove_record(session, settings, wallet, record_id)
    result = {
        "wallet": proof.wallet,
        "record_id": proof.record_id,
        "computed_commitment": proof.computed,
        "onchain_commitment": proof.on_chain.commitment,
        "onchain_level": proof.on_chain.level,
        "onchain_expires_at": proof.on_chain.expires_at,
        "matches": proof.matches,
    }
    if json_out:
        print_json(result)
    else:
        for key, value in result.items():
            console.print(f"{key:>20}  {value}")
        console.print("[green]the record matches the on-chain commitment[/]" if proof.matches else "[red]no match[/]",
                      markup=True)  # fmt: skip
    if not proof.matches:
        raise typer.Exit(1)


@app.command("expire")
def expire() -> None:
    """Expire approved verifications past their date and queue revocation of their attestations."""
    from backend.db.session import session_scope
    from backend.identity.kyc.lifecycle import expire_due

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        expired = expire_due(session, settings)
    console.print(f"{len(expired)} verifications expired" + ("; revocations queued in the outbox" if expired else ""))


@app.command("reindex")
def reindex(
    batch: int = typer.Option(500, min=1, help="Records per transaction."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Bring passport records' blind indexes to the current formula (the document number alone: the
    nationality and birth date can be changed without breaking a check digit), and fill in every
    record's contact indexes (phone, e-mail, address: compared across persons, none before migration
    0044). The retention worker runs it once after an upgrade; again at will (it changes nothing then)."""
    from backend.identity.kyc.reindex import reindex_all

    settings = get_settings()
    with cli_errors():
        report = reindex_all(settings, batch=batch)
    if json_out:
        print_json({"checked": report.checked, "changed": report.changed, "unreadable": report.unreadable,
                    "contacts": report.contacts})  # fmt: skip
        return
    console.print(f"{report.checked} records checked, {report.changed} passport records re-indexed, "
                  f"{report.contacts} given contact indexes"
                  + (f", {report.unreadable} unreadable (data key gone)" if report.unreadable else ""))


@app.command("retention")
def retention(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what a round would erase, erase nothing."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """One round of the retention worker: erasure requests whose AML period has passed, wallets gone dormant
    (AML period over and nothing done since, or no activity for LOANCHAIN_RETENTION_INACTIVE_DAYS), then KYC
    records rejected or superseded and credit applications declined or never used past their retention
    period (each logged in the erasure log and audited)."""
    from backend.identity.kyc.retention import run_round

    settings = get_settings()
    with cli_errors():
        done = run_round(settings, dry_run=dry_run)
    if json_out:
        print_json(done.as_dict())
        return
    verb = "would erase" if dry_run else "erased"
    console.print(f"[bold]Retention round: {verb} data of {done.count} wallet(s)[/bold]")
    # A paragraph per wallet, not a table: a wallet and record ids wrapped inside narrow cells could
    # not be copied whole from an 80-column terminal.
    rows = [*((e, f"request {e.request}, AML period over") for e in done.requests),
            *((e, f"no activity since {e.last_activity[:10]}") for e in done.dormant),
            *((e, "retention period over") for e in done.retention)]  # fmt: skip
    for erased, why in rows:
        parts = [f"{label} {', '.join(ids)}" for label, ids in (
            ("KYC records", erased.records), ("blind index kept", erased.kept_index),
            ("applications", erased.decisions), ("offers", erased.offers)) if ids]  # fmt: skip
        console.print(f"{erased.wallet} ({why}): {'; '.join(parts) or 'nothing left'}", highlight=False)
