"""Batched view calls: the same answers as one call at a time, in order, across batches, at a past
block too; a node that cannot be reached is a ChainUnavailable (503), as for single reads."""

from __future__ import annotations

import pytest

from backend.chain.client import READ_BATCH, contract_at, get_web3, read_many
from backend.chain.deploy import deployed_contract
from backend.errors import ChainUnavailable


def test_a_batched_read_answers_as_single_calls_do_in_order(chain_settings, deployment, accounts):
    token = deployed_contract(chain_settings, "MockStablecoin")
    holders = [a.address for a in accounts] * (READ_BATCH // len(accounts) + 2)  # more than one batch
    calls = [token.functions.balanceOf(holder) for holder in holders] + [token.functions.decimals()]
    answers = read_many(calls, "MockStablecoin")
    assert len(calls) > READ_BATCH and answers == [call.call() for call in calls]
    head = get_web3(chain_settings).eth.block_number
    assert read_many(calls[:3], "MockStablecoin", head) == answers[:3]  # at a given block
    assert read_many([], "MockStablecoin") == []


def test_an_unreachable_node_is_chain_unavailable(chain_settings, deployment):
    address = deployed_contract(chain_settings, "MockStablecoin").address
    away = chain_settings.model_copy(update={"rpc_url": "http://127.0.0.1:9"})
    token = contract_at(away, "MockStablecoin", address)
    with pytest.raises(ChainUnavailable, match="could not read MockStablecoin"):
        read_many([token.functions.decimals()], "MockStablecoin")
