"""`loanchain market ...`: the notes' secondary market as indexed (the same service as GET
/api/v1/market and GET /api/v1/market/bids)."""

from __future__ import annotations

import typer
from rich.table import Table

from backend.bounds import DB_ID_MAX
from backend.cli.output import cli_errors, console, print_json
from backend.config import get_settings

app = typer.Typer(no_args_is_help=True, help="The notes' secondary market (offers and bids) from the chain index.")

LOAN_OPTION = typer.Option(None, "--loan", min=1, max=DB_ID_MAX, help="Only this loan's notes")
JSON_OPTION = typer.Option(False, "--json")


def _show(orders: list, json_out: bool, title: str, key: str, money: str, maker: str) -> None:
    """One side of the book as JSON or as a table; `key`, `money` and `maker` name its own fields."""
    if json_out:
        print_json([order.model_dump(mode="json") for order in orders])
        return
    table = Table(key.removesuffix("_id"), "loan", "grade", "APR", "notes", "price", money, f"{money}/outstanding",
                  "yield to maturity", "expected yield", "fair price", maker, title=f"open {title} ({len(orders)})")  # fmt: skip
    for x in orders:
        ratio = "-" if x.price_to_outstanding is None else f"{x.price_to_outstanding:.1%}"
        ytm, expected = ("-" if y is None else f"{y:.2%}" for y in (x.yield_to_maturity, x.expected_yield))
        table.add_row(str(getattr(x, key)), str(x.loan_id), x.grade or "-", f"{x.apr_bps / 100:.2f}%",
                      f"{x.notes_left:,}", f"{x.price_bps / 100:.2f}%", f"{getattr(x, money):,}", ratio, ytm,
                      expected, "-" if x.fair_price_bps is None else f"{x.fair_price_bps / 100:.2f}%",
                      getattr(x, maker))  # fmt: skip
    console.print(table)


@app.command("offers")
def offers_command(loan_id: int | None = LOAN_OPTION, json_out: bool = JSON_OPTION) -> None:
    """Open offers of notes of active loans, cheapest against outstanding principal first (as fresh
    as the chain index: `make run`'s indexer keeps it within seconds; with the platform stopped,
    `loanchain index sync` catches it up)."""
    from backend.db.session import session_scope
    from backend.market.service import open_listings

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        listings = open_listings(session, settings, loan_id)
    _show(listings, json_out, "offers", "listing_id", "cost", "seller")


@app.command("bids")
def bids_command(loan_id: int | None = LOAN_OPTION, json_out: bool = JSON_OPTION) -> None:
    """Open bids for notes of active loans, the best paying against outstanding principal first (as
    fresh as the chain index: `make run`'s indexer keeps it within seconds; with the platform
    stopped, `loanchain index sync` catches it up)."""
    from backend.db.session import session_scope
    from backend.market.service import open_bids

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        bids = open_bids(session, settings, loan_id)
    _show(bids, json_out, "bids", "bid_id", "proceeds", "bidder")


@app.command("trades")
def trades_command(loan_id: int | None = LOAN_OPTION, limit: int = typer.Option(50, min=1, max=500),
                   json_out: bool = JSON_OPTION) -> None:  # fmt: skip
    """The trade tape: the latest trades of notes, newest first (as GET /api/v1/market/trades)."""
    from backend.db.session import session_scope
    from backend.market.book import trade_tape

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        tape = trade_tape(session, loan_id, limit)
    if json_out:
        print_json([trade.model_dump(mode="json") for trade in tape])
        return
    table = Table("block", "loan", "how", "notes", "cost", "price", "tx", title=f"latest trades ({len(tape)})")
    for t in tape:
        table.add_row(str(t.block_number), str(t.loan_id), t.how, f"{t.notes:,}", f"{t.cost:,}",
                      f"{t.price_bps / 100:.2f}%", t.tx_hash[:18] + "…")  # fmt: skip
    console.print(table)


@app.command("match")
def match_command(json_out: bool = JSON_OPTION) -> None:
    """Queue a NoteMarket.matchOrders for every crossed listing and bid (what the market-keeper
    worker does every `LOANCHAIN_MARKET_KEEPER_INTERVAL` seconds); the outbox worker sends them."""
    from backend.db.session import session_scope
    from backend.market.keeper import match_crossed

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        matches = match_crossed(session, settings)
    if json_out:
        print_json([{k: v for k, v in vars(m).items()} for m in matches])
        return
    table = Table("listing", "bid", "loan", "notes", "cost", "seller", "buyer", title=f"matches queued ({len(matches)})")
    for m in matches:
        table.add_row(str(m.listing_id), str(m.bid_id), str(m.loan_id), f"{m.notes:,}", f"{m.cost:,}", m.seller, m.buyer)
    console.print(table)
