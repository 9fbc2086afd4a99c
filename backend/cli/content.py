"""`loanchain cid FILE`: the CID a file would get in the content store, storing nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backend.content.cid import cid_of_file


def cid_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="File to hash.")],
) -> None:
    """Print the CIDv1 of FILE, as `ipfs add --cid-version=1 --raw-leaves` would give it."""
    typer.echo(cid_of_file(file))
