"""An index made before the loan token's transfers were followed (before migration 0051), or under an
earlier rule of which to keep (`indexer.EARLIER_TOKEN_RULES`), brought up to date where it stands
instead of rebuilt from the deploy block.

A rebuild empties every projection first and refills them a range a round: on a long chain the book
reads empty for hours, and erasure (a borrower with an open loan is in no relationship, so erased at
once), the offers' limits per person and servicing all read it from the index meanwhile. Nothing but
the token's transfers is missing from such an index (or kept by another rule), so one round reads
them again: the disbursals folded from the events it holds, the onward transfers of the blocks it has
read fetched by topic as `index verify` reads them (`index_check.token_events`), and on a local chain
the events it kept of MockStablecoin as a platform contract (mints, approvals, repayments) dropped.
Every other row stays as it is. The logs are read before anything is written, and nothing is written
if the checkpoint's block left the chain meanwhile (the next round's reorg check takes it back first)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session
from web3 import Web3

from backend.chain import loan_token
from backend.chain.index_check import token_events
from backend.chain.models import ChainEvent, IndexerCheckpoint
from backend.chain.projection_models import DisbursalRow, TokenTransferRow
from backend.chain.projections import Disbursals, apply_all
from backend.config import Settings

if TYPE_CHECKING:  # the indexer imports this module when it needs it
    from backend.chain.indexer import Followed

log = logging.getLogger("loanchain.indexer")


def add_token_transfers(settings: Settings, w3: Web3, session: Session, cp: IndexerCheckpoint,
                        followed: Followed) -> None:  # fmt: skip
    """Bring an index of `followed`'s contracts at `cp`, made before the token was followed or under an
    earlier rule, to what the indexer keeps now, in this round's transaction; `cp` then carries today's
    fingerprint."""
    disbursed = list(session.scalars(select(ChainEvent).where(ChainEvent.contract == "LoanBook",
                                                              ChainEvent.event == "LoanDisbursed")
                                     .order_by(ChainEvent.block_number, ChainEvent.log_index)))  # fmt: skip
    onward = token_events(settings, followed, disbursed, followed.start_block, cp.block_number, known={})
    block = w3.eth.get_block(cp.block_number) if cp.block_hash is not None else None
    if block is not None and block["hash"].to_0x_hex() != cp.block_hash:
        log.info("chain changed while reading the loan token's transfers; retrying")
        return
    # Whatever the old index kept of the token (a local chain's MockStablecoin), and any earlier try.
    session.execute(delete(TokenTransferRow))
    session.execute(delete(DisbursalRow))
    token_rows = [ChainEvent.contract == loan_token.NAME]
    if followed.token is not None:
        token_rows.append(ChainEvent.address == followed.token)
    session.execute(delete(ChainEvent).where(or_(*token_rows)))
    session.flush()
    for ev in disbursed:
        Disbursals().apply(session, ev)
    for ev in onward:
        session.add(ev)
        session.flush()  # row projections reference the event id
        apply_all(session, ev)
    cp.deployment_hash = followed.deployment_hash
    log.warning("index upgraded in place: %s disbursals, %s onward transfers of the loan token up to block %s",
                len(disbursed), len(onward), cp.block_number)  # fmt: skip
