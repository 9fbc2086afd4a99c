import json

from web3 import Web3

from backend.chain.deploy import ContractSpec, deploy_all, load_manifest
from backend.chain.node import LocalNode
from tests.conftest import free_port, make_settings


def test_second_deploy_reuses_everything(deployment, chain_settings, w3):
    again = deploy_all(chain_settings)
    assert again.deployed == []
    assert set(again.reused) == set(deployment.manifest["contracts"])
    for name, entry in again.manifest["contracts"].items():
        assert w3.eth.get_code(entry["address"]) != b"", name


def test_manifest_records_address_block_tx_and_artifact_hash(deployment, artifacts):
    manifest = json.loads(deployment.manifest_path.read_text())
    assert manifest["chainId"] == 31337
    for name, entry in manifest["contracts"].items():
        assert Web3.is_checksum_address(entry["address"])
        assert entry["block"] >= 1 and entry["txHash"].startswith("0x")
        assert entry["artifactHash"] == artifacts[name]["artifactHash"]


def test_changed_bytecode_is_redeployed_and_recorded(chain_settings, snapshot, artifacts, tmp_path):
    settings = chain_settings.model_copy(update={"deployments_dir": tmp_path / "deployments"})
    plan = [ContractSpec("DocumentAnchor", args=lambda ctx: [ctx.deployer.address])]
    first = deploy_all(settings, plan=plan, wiring=[])
    # A different constructor argument changes the fingerprint just as new bytecode does.
    changed = [ContractSpec("DocumentAnchor", args=lambda ctx: ["0x000000000000000000000000000000000000dEaD"])]
    second = deploy_all(settings, plan=changed, wiring=[])
    assert second.deployed == ["DocumentAnchor"]
    history = load_manifest(settings, 31337)["history"]
    assert history[-1]["contract"] == "DocumentAnchor"
    assert history[-1]["replaced"]["address"] == first.manifest["contracts"]["DocumentAnchor"]["address"]
    assert "changed" in history[-1]["reason"]


def test_restarted_chain_keeps_the_deployment(tmp_path, artifacts):
    port = free_port()
    settings = make_settings(tmp_path, chain_port=port, rpc_url=f"http://127.0.0.1:{port}")
    node = LocalNode(settings, kind="anvil")
    node.start()
    try:
        first = deploy_all(settings)
        assert first.deployed
        node.stop()  # SIGTERM: anvil writes its state file
        assert not node.status().running
        node.start()
        second = deploy_all(settings)
        assert second.deployed == [] and set(second.reused) == set(first.deployed)
    finally:
        node.stop()
