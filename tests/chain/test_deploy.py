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


def test_a_new_loan_book_gets_a_new_reserve(chain_settings, snapshot, tmp_path):
    """ReserveFund pays cover to one LoanBook, set once: a LoanBook redeployed (here for a changed
    constructor argument) brings a new reserve bound to it, never one still paying the old book."""
    from backend.chain import deploy_plan

    settings = chain_settings.model_copy(update={"deployments_dir": tmp_path / "deployments"})
    first = deploy_all(settings)
    reserve = lambda report: report.manifest["contracts"]["ReserveFund"]["address"]  # noqa: E731
    assert deploy_all(settings).deployed == []  # unchanged: the pair is reused
    book = next(spec for spec in deploy_plan.CONTRACTS if spec.name == "LoanBook")
    longer_grace = ContractSpec("LoanBook", args=lambda ctx: [*book.args(ctx)[:4], 16 * 86_400, *book.args(ctx)[5:]])
    plan = [longer_grace if spec.name == "LoanBook" else spec for spec in deploy_plan.CONTRACTS]
    second = deploy_all(settings, plan=plan)
    assert {"ReserveFund", "LoanBook"} <= set(second.deployed) and reserve(second) != reserve(first)
    replaced = {entry["contract"]: entry["reason"] for entry in load_manifest(settings, 31337)["history"]}
    assert replaced["ReserveFund"] == "LoanBook is redeployed"
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url))
    abi = [{"type": "function", "name": "loanBook", "inputs": [], "outputs": [{"type": "address"}],
            "stateMutability": "view"}]  # fmt: skip
    for report in (first, second):
        bound = w3.eth.contract(address=reserve(report), abi=abi).functions.loanBook().call()
        assert bound == report.manifest["contracts"]["LoanBook"]["address"]


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
