from __future__ import annotations

import typer

from backend.chain.node import LocalNode
from backend.cli.output import console, plain, print_json
from backend.config import get_settings

app = typer.Typer(help="Manage the local development chain (npm Anvil by default, npm Ganache with --node).")

NodeOpt = typer.Option(None, "--node", help="anvil or ganache (default: settings.chain_node).")


@app.command("up")
def up(node: str = NodeOpt) -> None:
    """Start the local chain unless one already answers; its state persists under var/chain/."""
    status = LocalNode(get_settings(), kind=node).start()
    console.print(f"[green]chain up[/] {status.kind} at {plain(status.url)} (chain id {status.chain_id}, block {status.block})",
                  markup=True)  # fmt: skip


@app.command("down")
def down(node: str = NodeOpt) -> None:
    """Stop the chain started by `chain up`, saving its state."""
    stopped = LocalNode(get_settings(), kind=node).stop()
    console.print("[green]chain stopped[/]" if stopped else "no chain started by loanchain is running", markup=True)


@app.command("status")
def status(node: str = NodeOpt, json_out: bool = typer.Option(False, "--json")) -> None:
    """Whether the chain answers, with chain id and latest block."""
    st = LocalNode(get_settings(), kind=node).status()
    if json_out:
        print_json(st.__dict__)
    elif st.running:
        console.print(f"[green]up[/] {st.kind} {plain(st.url)} chain id {st.chain_id} block {st.block}", markup=True)
    else:
        console.print(f"[red]down[/] nothing answers at {plain(st.url)}", markup=True)
    if not st.running:
        raise typer.Exit(1)


@app.command("faucet")
def faucet(
    wallet: str = typer.Argument(..., help="The wallet to fund (e.g. your browser wallet's address)"),
    tokens: int = typer.Option(10_000, help="Whole loan tokens to mint (MockStablecoin)"),
    eth: int = typer.Option(10, help="Top the wallet's ETH up to at least this, for gas (never lowers it; 0: leave it)"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Local chains only: mint loan tokens to a wallet (through the outbox) and give it ETH for gas."""
    from backend.chain.dev_faucet import fund_wallet
    from backend.cli.output import cli_errors

    with cli_errors():
        report = fund_wallet(get_settings(), wallet, tokens, eth)
    if json_out:
        print_json(report.__dict__)
        return
    console.print(f"[green]funded[/] {plain(report.wallet)}: {report.token_balance / 10**report.decimals:,.2f} loan "
                  f"tokens, {report.eth_balance_wei / 10**18:g} ETH", markup=True)  # fmt: skip


@app.command("advance")
def advance(
    days: float = typer.Argument(..., min=0, help="Days to move the local chain's clock forward (e.g. 31 to reach a due date)"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Local chains only: move the clock forward and mine a block, to see due dates, grace periods,
    defaults and funding deadlines pass (the servicing worker acts on its next pass)."""
    from datetime import UTC, datetime

    from backend.chain.dev_faucet import advance_clock
    from backend.cli.output import cli_errors

    with cli_errors():
        now = advance_clock(get_settings(), round(days * 86_400))
    if json_out:
        print_json({"timestamp": now})
        return
    console.print(f"[green]chain clock[/] now {datetime.fromtimestamp(now, UTC):%Y-%m-%d %H:%M:%S} UTC", markup=True)
