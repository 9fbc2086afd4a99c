"""`loanchain market ...`: the notes' secondary market as indexed (the same service as GET /api/v1/market)."""

from __future__ import annotations

import typer
from rich.table import Table

from backend.cli.output import cli_errors, console, print_json
from backend.config import get_settings

app = typer.Typer(no_args_is_help=True, help="The notes' secondary market (offers and bids) from the chain index.")


@app.command("offers")
def offers_command(
    loan_id: int | None = typer.Option(None, "--loan", min=1, help="Only this loan's notes"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Open offers of notes of active loans, cheapest against outstanding principal first (run
    `loanchain index sync` first for fresh data)."""
    from backend.db.session import session_scope
    from backend.market.service import open_listings

    with cli_errors(), session_scope(get_settings()) as session:
        listings = open_listings(session, loan_id)
    if json_out:
        print_json([listing.model_dump(mode="json") for listing in listings])
        return
    table = Table("listing", "loan", "grade", "APR", "notes", "price", "cost", "cost/outstanding", "seller",
                  title=f"open offers ({len(listings)})")  # fmt: skip
    for x in listings:
        ratio = "-" if x.price_to_outstanding is None else f"{x.price_to_outstanding:.1%}"
        table.add_row(str(x.listing_id), str(x.loan_id), x.grade or "-", f"{x.apr_bps / 100:.2f}%", f"{x.notes_left:,}",
                      f"{x.price_bps / 100:.2f}%", f"{x.cost:,}", ratio, x.seller)  # fmt: skip
    console.print(table)


@app.command("bids")
def bids_command(
    loan_id: int | None = typer.Option(None, "--loan", min=1, help="Only bids for this loan's notes"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Open bids for notes of active loans, the best paying against outstanding principal first (run
    `loanchain index sync` first for fresh data)."""
    from backend.db.session import session_scope
    from backend.market.service import open_bids

    with cli_errors(), session_scope(get_settings()) as session:
        bids = open_bids(session, loan_id)
    if json_out:
        print_json([bid.model_dump(mode="json") for bid in bids])
        return
    table = Table("bid", "loan", "grade", "APR", "notes", "price", "proceeds", "proceeds/outstanding", "bidder",
                  title=f"open bids ({len(bids)})")  # fmt: skip
    for x in bids:
        ratio = "-" if x.price_to_outstanding is None else f"{x.price_to_outstanding:.1%}"
        table.add_row(str(x.bid_id), str(x.loan_id), x.grade or "-", f"{x.apr_bps / 100:.2f}%", f"{x.notes_left:,}",
                      f"{x.price_bps / 100:.2f}%", f"{x.proceeds:,}", ratio, x.bidder)  # fmt: skip
    console.print(table)
