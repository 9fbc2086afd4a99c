"""`loanchain roles ...`: staff roles from the operator's shell (= GET/POST /api/v1/admin/roles), for
the first underwriters and auditors before anyone signs in, or when the web page is not at hand.
A grant here is direct, with no second admin and no KYC asked (the API's need both): whoever runs
this controls the server anyway. Grants and revocations are audited under the actor named (`cli`
by default)."""

from __future__ import annotations

import typer
from rich.table import Table

from backend.cli.output import cli_errors, console, print_json
from backend.config import get_settings

app = typer.Typer(no_args_is_help=True, help="Staff roles: list, grant and revoke admin, underwriter and auditor.")
ACTOR = typer.Option("cli", help="Who is acting, for the audit log.")


@app.command("list")
def list_command(json_out: bool = typer.Option(False, "--json")) -> None:
    """Granted roles (admins by configuration, LOANCHAIN_ADMIN_WALLETS, are listed apart)."""
    from backend.db.session import session_scope
    from backend.identity.roles import configured_admins, list_grants

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        grants = [g.model_dump(mode="json") for g in list_grants(session)]
        configured = sorted(configured_admins(settings))
    if json_out:
        print_json({"grants": grants, "configured_admins": configured})
        return
    table = Table("wallet", "role", "granted by", "confirmed by", "granted at")
    for g in grants:
        table.add_row(g["wallet"], g["role"], g["granted_by"], g["confirmed_by"] or "", g["granted_at"])
    for wallet in configured:
        table.add_row(wallet, "admin", "configuration", "", "")
    console.print(table)


def _change(grant: bool, wallet: str, role: str, actor: str) -> None:
    from backend.db.session import session_scope
    from backend.identity.roles import change_role

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        result = change_role(session, settings, actor, wallet, role, "grant" if grant else "revoke")
    done = ("granted" if grant else "revoked") if result.changed else ("already held" if grant else "not held")
    console.print(f"{role} {done}; {result.wallet} now: {', '.join(result.roles) or 'no roles'}")


@app.command("grant")
def grant_command(wallet: str, role: str = typer.Argument(help="admin, underwriter or auditor"), actor: str = ACTOR) -> None:
    """Grant a staff role to a wallet."""
    _change(True, wallet, role, actor)


@app.command("revoke")
def revoke_command(wallet: str, role: str = typer.Argument(help="admin, underwriter or auditor"), actor: str = ACTOR) -> None:
    """Revoke a staff role (not an admin by configuration: change LOANCHAIN_ADMIN_WALLETS)."""
    _change(False, wallet, role, actor)
