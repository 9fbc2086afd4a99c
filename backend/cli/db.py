from __future__ import annotations

import typer

from backend.cli.output import console
from backend.config import get_settings
from backend.db import migrate

app = typer.Typer(help="Database migrations (Alembic).")


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (default head)."""
    settings = get_settings()
    migrate.upgrade(settings, revision)
    console.print(f"database at {migrate.current_revision(settings)}")


@app.command("current")
def current() -> None:
    """Show the applied revision and the head."""
    settings = get_settings()
    console.print(f"current {migrate.current_revision(settings)}  head {migrate.head_revision(settings)}")
