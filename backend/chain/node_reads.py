"""What the health report asks of the node: which chain it serves, how far it is, and whether the
deployed contracts' code is what the manifest says."""

from __future__ import annotations

from backend.chain.client import get_web3
from backend.chain.deploy import code_hash
from backend.config import Settings


def chain_id_and_head(settings: Settings) -> tuple[int, int]:
    w3 = get_web3(settings)
    return w3.eth.chain_id, w3.eth.block_number


def code_hash_at(settings: Settings, address: str) -> str:
    return code_hash(get_web3(settings), address)
