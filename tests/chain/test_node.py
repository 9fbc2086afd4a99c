import time

import pytest
from typer.testing import CliRunner

from backend.chain.deploy import deploy_all
from backend.chain.dev_faucet import advance_clock
from backend.chain.node import LocalNode, rpc_call
from backend.cli.main import app
from tests.conftest import free_port, make_settings


@pytest.mark.ganache
def test_ganache_keeps_its_state_across_restarts(tmp_path, artifacts):
    port = free_port()
    settings = make_settings(tmp_path, chain_port=port, rpc_url=f"http://127.0.0.1:{port}", chain_node="ganache")
    node = LocalNode(settings)
    status = node.start()
    try:
        assert status.kind == "ganache" and status.chain_id == 31337
        assert deploy_all(settings).deployed
        node.stop()
        node.start()
        assert deploy_all(settings).deployed == []
    finally:
        node.stop()


def _latest(settings) -> tuple[int, int]:
    block = rpc_call(settings.rpc_url, "eth_getBlockByNumber", ["latest", False])
    return int(block["number"], 16), int(block["timestamp"], 16)


def test_a_restart_keeps_the_chains_clock_where_an_advance_left_it(tmp_path):
    """`chain advance 31`, `chain down`, `chain up`: the next block comes after the last one, not
    31 days before it (Anvil's state file does not keep the clock's offset)."""
    port = free_port()
    settings = make_settings(tmp_path, chain_port=port, rpc_url=f"http://127.0.0.1:{port}")
    node = LocalNode(settings, kind="anvil")
    node.start()
    try:
        advance_clock(settings, 31 * 86_400)
        number, advanced = _latest(settings)
        assert advanced > time.time() + 30 * 86_400
        node.stop()
        node.start()
        assert _latest(settings) == (number, advanced)  # every block kept
        time.sleep(1.5)  # the clock runs on from there
        rpc_call(settings.rpc_url, "evm_mine", [])
        after, stamped = _latest(settings)
        assert after == number + 1 and advanced < stamped <= advanced + 60
    finally:
        node.stop()


def test_start_is_a_no_op_when_a_node_already_answers(anvil, chain_settings):
    before = int(rpc_call(chain_settings.rpc_url, "eth_blockNumber"), 16)
    status = LocalNode(chain_settings, kind="anvil", workdir=chain_settings.chain_dir).start()
    assert status.running and status.block == before


def test_cli_status_exits_non_zero_when_down(tmp_path, monkeypatch):
    port = free_port()
    monkeypatch.setenv("LOANCHAIN_RPC_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("LOANCHAIN_CHAIN_PORT", str(port))
    monkeypatch.setenv("LOANCHAIN_VAR_DIR", str(tmp_path))
    from backend.config import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["chain", "status"])
        assert result.exit_code == 1
        assert "down" in result.output
    finally:
        get_settings.cache_clear()
