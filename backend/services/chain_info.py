"""What a wallet or front end needs to talk to this deployment: chain id, contract addresses and
the loan token (from the deployment manifest and one read of LoanBook)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from backend.chain.deploy import deployed_addresses
from backend.chain.indexer import index_status
from backend.chain.loan_book import asset_symbol, loan_book_domain
from backend.config import Settings


class ChainInfoPublic(BaseModel):
    chain_id: int
    contracts: dict[str, str] = Field(description="Contract name -> address")
    asset: str = Field(description="The loan token (ERC-20)")
    asset_decimals: int
    asset_symbol: str = Field(description="The loan token's ERC-20 symbol, as amounts are shown (e.g. mUSD); "
                              "\"tokens\" if the token has none")  # fmt: skip


def chain_info(settings: Settings) -> ChainInfoPublic:
    domain = loan_book_domain(settings)
    return ChainInfoPublic(chain_id=domain.chain_id, contracts=deployed_addresses(settings), asset=domain.asset,
                           asset_decimals=domain.asset_decimals, asset_symbol=asset_symbol(settings, domain.asset))  # fmt: skip


class IndexPublic(BaseModel):
    indexed_block: int | None = Field(description="The latest block the chain index has read: lists and figures "
                                      "reflect the chain up to it")  # fmt: skip
    events: int


def index_position(settings: Settings) -> IndexPublic:
    status = index_status(settings, with_chain=False)  # the database alone: cheap enough to poll
    return IndexPublic(indexed_block=status.indexed, events=status.events)
