"""`loanchain roles ...`: staff roles from the operator's shell (= GET/POST /api/v1/admin/roles), for
the first underwriters and auditors before anyone signs in, or when the web page is not at hand.
Grants and revocations are audited under the actor named (`cli` by default)."""

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
        grants = [{"wallet": g.wallet, "role": g.role, "granted_by": g.granted_by, "granted_at": g.granted_at.isoformat()}
                  for g in list_grants(session)]  # fmt: skip
        configured = sorted(configured_admins(settings))
    if json_out:
        print_json({"grants": grants, "configured_admins": configured})
        return
    table = Table("wallet", "role", "granted by", "granted at")
    for g in grants:
        table.add_row(g["wallet"], g["role"], g["granted_by"], g["granted_at"])
    for wallet in configured:
        table.add_row(wallet, "admin", "configuration", "")
    console.print(table)


def _change(grant: bool, wallet: str, role: str, actor: str) -> None:
    from backend.db.session import session_scope
    from backend.identity.roles import checksum, grant_role, revoke_role, roles_of

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        wallet = checksum(wallet)
        changed = grant_role(session, actor, wallet, role) if grant else revoke_role(session, settings, actor, wallet, role)
        now = sorted(roles_of(session, settings, wallet))
    done = ("granted" if grant else "revoked") if changed else ("already held" if grant else "not held")
    console.print(f"{role} {done}; {wallet} now: {', '.join(now) or 'no roles'}")


@app.command("grant")
def grant_command(wallet: str, role: str = typer.Argument(help="admin, underwriter or auditor"), actor: str = ACTOR) -> None:
    """Grant a staff role to a wallet."""
    _change(True, wallet, role, actor)


@app.command("revoke")
def revoke_command(wallet: str, role: str = typer.Argument(help="admin, underwriter or auditor"), actor: str = ACTOR) -> None:
    """Revoke a staff role (not an admin by configuration: change LOANCHAIN_ADMIN_WALLETS)."""
    _change(False, wallet, role, actor)
