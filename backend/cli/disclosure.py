"""`loanchain disclosure`: the public platform figures, as the API serves them."""

from __future__ import annotations

import typer

from backend.cli.output import cli_errors, console, print_json
from backend.config import get_settings


def disclosure_command(json_out: bool = typer.Option(False, "--json")) -> None:
    """Loans by status, principal originated / outstanding / repaid, defaults, reserve cover and
    net loss, from the chain index (run `loanchain index sync` first for fresh figures)."""
    from backend.db.session import session_scope
    from backend.disclosure.service import platform_disclosure

    with cli_errors(), session_scope(get_settings()) as session:
        report = platform_disclosure(session)
    if json_out:
        print_json(report.model_dump(mode="json"))
        return
    console.print(f"as of block {report.as_of_block}")
    console.print("loans: " + ", ".join(f"{k} {v}" for k, v in report.loans.model_dump().items()))
    console.print(
        f"principal originated {report.principal_originated:,}, outstanding {report.principal_outstanding:,}, "
        f"repaid {report.principal_repaid:,}; interest paid {report.interest_paid:,}"
    )
    d = report.defaults
    rate = "n/a" if report.net_loss_rate is None else f"{report.net_loss_rate:.2%}"
    console.print(f"defaults {d.count}: principal {d.principal_at_default:,}, reserve cover {d.reserve_cover:,}, "
                  f"recovered {d.recovered:,}, net loss {d.net_loss:,} ({rate} of originated)")  # fmt: skip
    m = report.market
    console.print(f"secondary market: {m.open_listings} open offers ({m.notes_offered:,} notes), {m.trades} trades, "
                  f"{m.notes_traded:,} notes for {m.volume:,}")  # fmt: skip
