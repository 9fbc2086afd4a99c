"""The indexer on a chain of its own with the full platform in use: events and projections,
resumable checkpoints, confirmation depth, and reorgs (the index after a depth-3 reorg equals
a fresh rebuild from the chain)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from web3 import Web3

from backend.chain.client import get_web3
from backend.chain.deploy import deploy_all
from backend.chain.index_check import verify_index
from backend.chain.indexer import Indexer, index_at, index_status, rebuild
from backend.chain.models import ChainEvent, IndexerCheckpoint
from backend.chain.node import LocalNode, rpc_call
from backend.chain.projection_models import (
    AnchorRow,
    AttestationRow,
    DisbursalRow,
    EventSubjectRow,
    FundingRow,
    LoanRow,
    MarketListingRow,
    MarketTradeRow,
    NoteBalanceRow,
    NoteTransferRow,
    RepaymentRow,
    TokenTransferRow,
)
from backend.db.session import session_scope
from backend.errors import ChainError
from tests.chain.conftest import with_db
from tests.conftest import free_port, make_settings
from tests.contracts.conftest import build_world
from tests.contracts.helpers import KYC_EXPIRY, Chain, events

PROJECTIONS = (
    AnchorRow, AttestationRow, LoanRow, FundingRow, RepaymentRow, NoteBalanceRow, NoteTransferRow, EventSubjectRow,
    MarketListingRow, MarketTradeRow, DisbursalRow, TokenTransferRow,
)  # fmt: skip


@pytest.fixture(scope="module")
def world_chain(tmp_path_factory, artifacts):
    base = tmp_path_factory.mktemp("indexer")
    port = free_port()
    settings = make_settings(base, chain_port=port, rpc_url=f"http://127.0.0.1:{port}")
    node = LocalNode(settings, kind="anvil")
    node.start()
    report = deploy_all(settings)
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 60}))
    contracts = {n: w3.eth.contract(address=e["address"], abi=artifacts[n]["abi"]) for n, e in report.manifest["contracts"].items()}
    world = build_world(Chain(w3, settings), contracts, artifacts)
    yield settings, world
    node.stop(hard=True)


@pytest.fixture
def indexed(world_chain, tmp_path):
    """(settings with an empty index database, world); the chain is reverted afterwards."""
    settings, world = world_chain
    snap = world.chain.snapshot()
    yield with_db(settings, f"sqlite:///{tmp_path / 'index.db'}", var_dir=tmp_path / "var"), world
    world.chain.revert(snap)


@pytest.fixture
def indexed_any_db(world_chain, tmp_path, database_url):
    """`indexed` on SQLite and on PostgreSQL."""
    settings, world = world_chain
    snap = world.chain.snapshot()
    yield with_db(settings, database_url, var_dir=tmp_path / "var"), world
    world.chain.revert(snap)


def index_state(settings) -> dict:
    """Everything the index holds, without surrogate ids: equal states mean equal indexes."""
    with session_scope(settings) as session:
        return state_in(session)


def state_in(session) -> dict:
    state = {
        "events": sorted(
            (e.block_number, e.block_hash, e.tx_hash, e.log_index, e.contract, e.event, json.dumps(e.args, sort_keys=True))
            for e in session.scalars(select(ChainEvent))
        )
    }
    for model in PROJECTIONS:
        columns = [c.key for c in model.__table__.columns if c.key not in ("event_id", "id")]  # surrogate keys
        rows = (tuple(getattr(r, c) for c in columns) for r in session.scalars(select(model)))
        state[model.__tablename__] = sorted(rows, key=repr)  # repr: some columns hold None
    cp = session.get(IndexerCheckpoint, "main")
    state["checkpoint"] = (cp.block_number, cp.block_hash)
    return state


def _anchor_tx(world, root: bytes, uri: str) -> dict:
    data = world.anchor.encode_abi("anchor", args=[root, 1, uri])
    return {"from": world.admin.address, "to": world.anchor.address, "data": data, "gas": hex(300_000)}


def test_a_reorg_between_reading_the_logs_and_the_headers_is_noticed(indexed, monkeypatch):
    """The range's logs are read, then its headers. A reorg in between that replaces blocks which
    had none of our logs with blocks that have some passes the other checks (the start's parent is
    unchanged, every fetched log's block still matches): the round must give up, not checkpoint
    the new chain's hash without its logs."""
    settings, world = indexed
    Indexer().catch_up(settings)
    for _ in range(3):
        rpc_call(settings.rpc_url, "evm_mine")  # empty blocks the next round indexes
    root = Web3.keccak(text="lost-in-the-race")
    w3 = get_web3(settings)  # the indexer's own client
    real_get_logs = w3.eth.get_logs
    fired = []

    def get_logs_then_reorg(params):
        logs = real_get_logs(params)
        if not fired:
            fired.append(True)
            rpc_call(settings.rpc_url, "anvil_reorg", [2, [[_anchor_tx(world, root, "ipfs://x"), 1]]])
        return logs

    monkeypatch.setattr(w3.eth, "get_logs", get_logs_then_reorg)
    Indexer().catch_up(settings)
    monkeypatch.undo()
    Indexer().catch_up(settings)
    assert fired
    on_chain = world.anchor.events.Anchored().get_logs(from_block=0, argument_filters={"root": root})
    assert len(on_chain) == 1
    with session_scope(settings) as session:
        assert session.get(AnchorRow, "0x" + root.hex()) is not None
    assert verify_index(settings).ok


def test_events_feed_the_projections(indexed):
    settings, world = indexed
    chain, book = world.chain, world.book
    loan_id, disbursed_at = world.active_loan()
    # In the disbursement's second no installment period has started, so this is a prepayment
    # whatever the machine's load (one second later it would be a billed payment).
    world.repay(loan_id, 1_000 * 10**6, at=disbursed_at)
    a, b = world.investors[0], world.investors[1]
    chain.tx(book.functions.safeTransferFrom(a.address, b.address, loan_id, 500 * 10**6, b""), a.address)
    root = Web3.keccak(text="batch-1")
    chain.tx(world.anchor.functions.anchor(root, 7, "ipfs://batch-1"), world.admin.address)
    chain.tx(world.kyc.functions.revoke(world.investors[5].address), world.admin.address)
    market, c = world.market, world.investors[2]  # b sells 300 notes on the market, c buys 100
    chain.tx(book.functions.setApprovalForAll(market.address, True), b.address)
    chain.tx(market.functions.list(loan_id, 300 * 10**6, 9_000, 0), b.address)
    chain.tx(world.token.functions.approve(market.address, 2**256 - 1), c.address)
    cost = market.functions.costOf(1, 100 * 10**6).call()  # 90% of what the notes stand for after the prepayment
    chain.tx(world.buy(1, 100 * 10**6), c.address)

    Indexer().catch_up(settings)

    on_chain = world.loan(loan_id)
    with session_scope(settings) as session:
        loan = session.get(LoanRow, loan_id)
        assert (loan.status, loan.borrower, loan.funded) == ("active", world.borrower.address, on_chain["principal"])
        assert loan.principal_outstanding == on_chain["principalOutstanding"]
        assert loan.principal_paid == on_chain["principal"] - on_chain["principalOutstanding"]
        fundings = session.scalars(select(FundingRow).where(FundingRow.loan_id == loan_id)).all()
        assert len(fundings) == 6 and sum(f.amount for f in fundings) == on_chain["principal"]
        (repayment,) = session.scalars(select(RepaymentRow).where(RepaymentRow.loan_id == loan_id)).all()
        assert repayment.kind == "prepayment" and repayment.payer == world.borrower.address
        for investor in world.investors:
            row = session.get(NoteBalanceRow, (loan_id, investor.address))
            assert (row.balance if row else 0) == book.functions.balanceOf(investor.address, loan_id).call()
        anchor = session.get(AnchorRow, "0x" + root.hex())
        assert (anchor.count, anchor.uri, anchor.anchorer) == (7, "ipfs://batch-1", world.admin.address)
        assert anchor.timestamp == world.w3.eth.get_block(anchor.block_number)["timestamp"]
        revoked = session.get(AttestationRow, world.investors[5].address)
        assert revoked.revoked and revoked.level == 1
        active = session.get(AttestationRow, world.investors[0].address)
        assert not active.revoked and active.expires_at == KYC_EXPIRY
        listing = session.get(MarketListingRow, 1)
        assert (listing.seller, listing.notes_listed, listing.notes_left, listing.status) == (b.address, 300 * 10**6, 200 * 10**6, "open")
        (trade,) = session.scalars(select(MarketTradeRow)).all()
        assert (trade.seller, trade.buyer, trade.notes, trade.cost) == (b.address, c.address, 100 * 10**6, cost)
        moves = {(t.sender, t.recipient, t.amount) for t in session.scalars(select(NoteTransferRow))}
        assert moves == {(a.address, b.address, 500 * 10**6), (b.address, c.address, 100 * 10**6)}
        about = set(session.scalars(select(EventSubjectRow.tx_hash).where(EventSubjectRow.address == c.address)))
        assert trade.tx_hash in about
    assert index_state(settings) == _rebuilt(settings)  # every projection, the new ones too, rebuilds the same


def test_role_and_pause_events_of_every_platform_contract_are_indexed(indexed):
    """Who may move money or stop the platform is in the index, whatever a contract's own ABI lists."""
    from eth_utils import event_abi_to_log_topic

    from backend.chain.indexer import GOVERNANCE_EVENTS, followed_contracts

    settings, world = indexed
    governance = {event_abi_to_log_topic(e) for e in GOVERNANCE_EVENTS}
    followed = followed_contracts(settings).by_address.values()
    assert {name for name, topics in followed if governance <= set(topics)} == {name for name, _ in followed}

    role = Web3.keccak(text="DEFAULT_ADMIN_ROLE")  # any role id: ReserveFund's admin grants what it is asked
    outsider, admin = world.outsider.address, world.admin.address
    world.chain.tx(world.reserve.functions.grantRole(role, outsider), admin)
    world.chain.tx(world.reserve.functions.revokeRole(role, outsider), admin)
    world.chain.tx(world.market.functions.pause(), admin)
    world.chain.tx(world.market.functions.unpause(), admin)
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        rows = session.scalars(select(ChainEvent).where(
            ChainEvent.event.in_(("RoleGranted", "RoleRevoked", "Paused", "Unpaused")))).all()  # fmt: skip
    seen = {(e.contract, e.event, e.args.get("account")) for e in rows}
    assert {("ReserveFund", "RoleGranted", outsider), ("ReserveFund", "RoleRevoked", outsider),
            ("NoteMarket", "Paused", admin), ("NoteMarket", "Unpaused", admin)} <= seen  # fmt: skip
    # The deployment's own grants too, from each contract with roles (its constructor's, the wiring's).
    assert {c for c, event, _ in seen if event == "RoleGranted"} >= {"DocumentAnchor", "KYCRegistry", "LoanBook",
                                                                      "ReserveFund", "NoteMarket"}  # fmt: skip
    assert next(e for e in rows if e.event == "RoleGranted" and e.args["account"] == outsider).args["role"] == "0x" + role.hex()


def test_checkpoint_resumes_without_duplicates(indexed):
    settings, world = indexed
    indexer = Indexer()
    indexer.catch_up(settings)
    first = index_status(settings)
    assert first.lag == 0 and first.indexed == world.w3.eth.block_number
    world.chain.tx(world.anchor.functions.anchor(Web3.keccak(text="later"), 1, "u"), world.admin.address)
    assert Indexer().run_once(settings) == 1  # a new instance resumes from the checkpoint
    assert Indexer().run_once(settings) == 0
    with session_scope(settings) as session:
        assert session.scalar(select(func.count()).select_from(ChainEvent)) == first.events + 1
    assert index_state(settings) == _rebuilt(settings)


def test_confirmation_depth_holds_back_recent_blocks(indexed):
    settings, world = indexed
    deep = settings.model_copy(update={"confirmations": 2})
    Indexer().catch_up(deep)
    status = index_status(deep)
    assert status.indexed == world.w3.eth.block_number - 2 and status.lag == 0


def _rebuilt(settings) -> dict:
    rebuild(settings)
    return index_state(settings)


@pytest.mark.parametrize("window", [64, 2], ids=["ancestor-found", "beyond-window-rebuilds"])
def test_depth_3_reorg_matches_a_fresh_rebuild(indexed, window):
    settings, world = indexed
    settings = settings.model_copy(update={"indexer_reorg_window": window})
    chain = world.chain
    loan_id, _ = world.create()
    world.fund(loan_id, world.investors[0], 2_000 * 10**6)
    # The last three blocks, which the reorg will replace:
    doomed_root = Web3.keccak(text="doomed")
    chain.tx(world.anchor.functions.anchor(doomed_root, 1, "ipfs://doomed"), world.admin.address)
    world.fund(loan_id, world.investors[1], 3_000 * 10**6)
    chain.tx(world.kyc.functions.revoke(world.investors[2].address), world.admin.address)
    indexer = Indexer()
    indexer.catch_up(settings)
    before = index_state(settings)
    with session_scope(settings) as session:
        assert session.get(LoanRow, loan_id).funded == 5_000 * 10**6
        assert session.get(AnchorRow, "0x" + doomed_root.hex()) is not None

    head = world.w3.eth.block_number
    survivor = Web3.keccak(text="survivor")
    rpc_call(settings.rpc_url, "anvil_reorg", [3, [[_anchor_tx(world, survivor, "ipfs://survivor"), 1]]])
    assert world.w3.eth.block_number == head and world.loan(loan_id)["funded"] == 2_000 * 10**6

    indexer.catch_up(settings)
    after = index_state(settings)
    assert after != before
    with session_scope(settings) as session:
        assert session.get(IndexerCheckpoint, "main").reorgs == 1
        assert session.get(AnchorRow, "0x" + doomed_root.hex()) is None
        assert session.get(AnchorRow, "0x" + survivor.hex()) is not None
        assert session.get(LoanRow, loan_id).funded == 2_000 * 10**6
        assert session.get(NoteBalanceRow, (loan_id, world.investors[1].address)) is None
        assert not session.get(AttestationRow, world.investors[2].address).revoked
    assert after == _rebuilt(settings)


def test_a_loans_on_chain_decision_hash_leads_back_to_its_credit_decision(indexed):
    """Score an application, sign loan terms carrying the decision hash, create the loan on
    chain, index it: the proof for the hash names the loan, and the replay verifies."""
    from backend.scoring.schemas import ApplicationCreate
    from backend.scoring.service import prove_decision, score_application
    from tests.scoring.conftest import SAMPLE

    settings, world = indexed
    with session_scope(settings) as session:
        decision = score_application(session, ApplicationCreate(**SAMPLE), settings=settings, wallet=world.borrower.address)
    quote, term = decision.quote, SAMPLE["term_months"]
    loan_id, created = world.create(decision_hash=bytes.fromhex(decision.decision_hash[2:]),
                                    principal=SAMPLE["amount"] * 10**6, apr_bps=quote.interest_apr_bps,
                                    installments=term, origination_fee_bps=quote.origination_fee_bps)  # fmt: skip
    other, _ = world.create(decision_hash=bytes.fromhex(decision.decision_hash[2:]))  # its hash, not its terms
    world.fund(loan_id, world.investors[0], 1_000 * 10**6)  # a later event on the loan
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        proof = prove_decision(session, decision.decision_hash, asset_decimals=6)
    assert [loan.loan_id for loan in proof.loans] == [loan_id, other] and not proof.verified
    assert proof.loans[0].matches_decision and not proof.loans[1].matches_decision
    assert [d.split(":")[0] for d in proof.loans[1].differences] == ["principal", "installments", "apr_bps",
                                                                     "origination_fee_bps"]  # fmt: skip
    assert proof.hash_intact and proof.reproduced  # the decision itself is sound
    assert proof.loans[0].borrower == world.borrower.address  # read from the LoanCreated event
    # The transaction whose signed terms carry the hash, not the last one that touched the loan.
    assert (proof.loans[0].block_number, proof.loans[0].tx_hash) == (created["blockNumber"], created["transactionHash"].to_0x_hex())


def test_the_index_at_an_earlier_block_is_the_index_then_and_leaves_it_as_it_is(indexed):
    """`index_at` (monthly reports read through it) takes every projection back to a block, as a
    rebuild up to that block would leave it, and undoes itself."""
    settings, world = indexed
    loan_id, _ = world.active_loan()
    Indexer().catch_up(settings)
    then = index_state(settings)
    world.repay(loan_id, 1_000 * 10**6)
    world.ready_for_market(world.investors[0])
    world.place(world.investors[0], "ask", loan_id, 100 * 10**6, 9_500)
    world.active_loan(investors=world.investors[:2])
    Indexer().catch_up(settings)
    now = index_state(settings)
    assert now["events"][: len(then["events"])] == then["events"] and len(now["events"]) > len(then["events"])

    with session_scope(settings) as session:
        with index_at(session, *then["checkpoint"]):
            assert state_in(session) == then
        assert state_in(session) == now  # in the same transaction, once the block is left
        with pytest.raises(ChainError, match="has not reached"), index_at(session, now["checkpoint"][0] + 1, "0x"):
            pass
    assert index_state(settings) == now


def test_a_default_and_the_recoveries_that_repay_the_investors_then_the_reserve(indexed):
    """The index follows LoanBook's subrogation: what the borrower still owes is the whole debt,
    recoveries past `debt - cover` are the reserve's (CoverRecouped), and the reserve's figures
    count them back in."""
    from backend.disclosure.reserve import reserve_figures

    settings, world = indexed
    chain, book = world.chain, world.book
    loan_id, _ = world.active_loan()
    at = book.functions.defaultableAt(loan_id).call() + 1
    (default,) = events(chain.tx(book.functions.markDefault(loan_id), world.admin.address, at=at), book, "LoanDefaulted")
    debt, cover = default["debt"], default["cover"]
    world.repay(loan_id, debt - cover + 100)  # the investors whole, 100 units back to the reserve
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        loan = session.get(LoanRow, loan_id)
        assert (loan.status, loan.recovered, loan.recoverable) == ("defaulted", debt - cover + 100, cover - 100)
        assert (loan.cover_recouped, loan.recovered_by_investors, loan.net_loss) == (100, debt - cover, 0)
        (recouped,) = session.scalars(select(ChainEvent).where(ChainEvent.event == "CoverRecouped")).all()
        assert recouped.args == {"loanId": loan_id, "amount": 100, "coverOutstanding": cover - 100}
        assert session.scalar(select(EventSubjectRow.loan_id).where(EventSubjectRow.event_id == recouped.id)) == loan_id
        reserve = reserve_figures(session, active=[])
        assert reserve.cover_recouped == 100 and reserve.cover_paid == cover
        assert reserve.balance == world.reserve.functions.balance().call()
    assert index_state(settings) == _rebuilt(settings)


class _Behind:
    """The same chain seen through a node `lag` blocks behind (a load-balanced RPC's lagging
    backend, a fail-over node still syncing): later blocks are not found."""

    def __init__(self, w3, lag: int) -> None:
        self._w3, self.eth, self.lag = w3, self, lag

    @property
    def block_number(self) -> int:
        return self._w3.eth.block_number - self.lag

    def get_block(self, n, *args, **kwargs):
        from web3.exceptions import BlockNotFound

        if isinstance(n, int) and n > self.block_number:
            raise BlockNotFound(f"block {n} not found")
        return self._w3.eth.get_block(n, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._w3.eth, name)


@pytest.mark.parametrize("lag", [100, 5], ids=["behind-the-reorg-window", "within-it"])
def test_a_node_that_is_only_behind_is_waited_for_not_taken_for_a_reorg(indexed, monkeypatch, lag):
    """review-ops M1: the checkpoint's block is 'not found' because the node has not reached it,
    not because it was replaced; the index stays whole, no reorg is counted, and it goes on once
    the node has caught up."""
    from backend.chain import indexer as indexer_module

    settings, world = indexed
    rpc_call(settings.rpc_url, "anvil_mine", [hex(150)])
    Indexer().catch_up(settings)
    before = index_state(settings)
    assert before["events"]
    real = indexer_module.get_web3
    monkeypatch.setattr(indexer_module, "get_web3", lambda s: _Behind(real(s), lag))
    assert Indexer().run_once(settings) == 0
    assert index_state(settings) == before
    with session_scope(settings) as session:
        assert session.get(IndexerCheckpoint, "main").reorgs == 0
    monkeypatch.setattr(indexer_module, "get_web3", real)  # caught up
    rpc_call(settings.rpc_url, "anvil_mine", [hex(2)])
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        assert session.get(IndexerCheckpoint, "main").reorgs == 0
    assert index_state(settings)["events"] == before["events"]


MULE, ELSEWHERE = (Web3.to_checksum_address("0x" + byte * 20) for byte in ("ab", "cd"))
UNIT = 10**6


def _send(world, sender, to: str, amount: int) -> str:
    return world.chain.tx(world.token.functions.transfer(to, amount), sender.address)["transactionHash"].to_0x_hex()


def _onward(settings) -> list[tuple]:
    with session_scope(settings) as session:
        return [(r.sender, r.recipient, r.amount, r.tx_hash)
                for r in session.scalars(select(TokenTransferRow).order_by(TokenTransferRow.block_number))]  # fmt: skip


def test_only_the_loan_tokens_transfers_out_of_disbursed_wallets_are_indexed_whatever_the_ranges(indexed, monkeypatch):
    """The token is followed as the loan token, not as a platform contract: of its logs the index keeps
    a borrower wallet's transfers from its first disbursal on, to anything but a platform contract.
    The same rows whatever the indexer's ranges and however many senders one filter names."""
    from backend.chain import loan_token

    settings, world = indexed
    borrower, investor = world.borrower, world.investors[0]
    _send(world, borrower, MULE, 1 * UNIT)  # before its first disbursal: not needed
    loan_id, _ = world.active_loan()
    onward = _send(world, borrower, MULE, 5_000 * UNIT)
    world.repay(loan_id, 100 * UNIT)  # into LoanBook: its LoanPayment tells it
    _send(world, investor, MULE, 7 * UNIT)  # no borrower's
    later = _send(world, borrower, ELSEWHERE, 3 * UNIT)
    Indexer().catch_up(settings)
    assert _onward(settings) == [(borrower.address, MULE, 5_000 * UNIT, onward), (borrower.address, ELSEWHERE, 3 * UNIT, later)]
    with session_scope(settings) as session:
        names = set(session.scalars(select(ChainEvent.contract).distinct()))
        (disbursal,) = session.scalars(select(DisbursalRow)).all()
    assert "MockStablecoin" not in names and "LoanToken" in names  # no faucet mint, approval or repayment of it
    assert (disbursal.loan_id, disbursal.borrower, disbursal.net_amount) == (loan_id, borrower.address, 11_880 * UNIT)
    assert verify_index(settings).ok  # the check reads the same logs from the node
    whole = index_state(settings)

    # One block a range: the disbursal's range never holds the transfer before it.
    assert _rebuilt(settings.model_copy(update={"indexer_batch_blocks": 1})) == whole
    # One sender a filter: a second borrower wallet takes a second request.
    other = world.investors[1]
    world.chain.tx(world.kyc.functions.attest(other.address, world.borrower_level, KYC_EXPIRY, Web3.keccak(text="b2")),
                   world.admin.address)  # fmt: skip
    second, _ = world.active_loan(borrower=other.address, borrower_key=other, investors=world.investors[2:4])
    from_other = _send(world, other, MULE, 6_000 * UNIT)
    monkeypatch.setattr(loan_token, "SENDERS_PER_QUERY", 1)
    Indexer().catch_up(settings)
    assert _onward(settings)[-1] == (other.address, MULE, 6_000 * UNIT, from_other)
    assert _rebuilt(settings) == index_state(settings)


def test_a_wallets_transfers_are_followed_for_30_days_after_each_disbursal_and_no_longer(indexed, monkeypatch):
    """Only what the monitoring reads is kept: a borrower's onward transfers within TOKEN_FOLLOW_DAYS of a
    disbursal to it. Once past, no range's filter names the wallet (before, every wallet ever lent to
    cost its share of a request each range, for good, and was watched as long) until it borrows again.
    The same rows whatever the ranges, and `index verify` keeps the same ones."""
    from backend.chain import indexer as indexer_module
    from backend.chain import loan_token

    settings, world = indexed
    borrower = world.borrower
    world.active_loan()
    within = _send(world, borrower, MULE, 10 * UNIT)
    Indexer().catch_up(settings)
    world.chain.travel(loan_token.FOLLOW_SECONDS - 60)
    last_day = _send(world, borrower, MULE, 11 * UNIT)  # still within: the window is up to 30 days
    world.chain.travel(120)
    _send(world, borrower, MULE, 20 * UNIT)  # past it: read in the range (the wallet was within it), not kept
    Indexer().catch_up(settings)

    _send(world, borrower, ELSEWHERE, 30 * UNIT)
    queries = []
    real = indexer_module.read_logs
    monkeypatch.setattr(indexer_module, "read_logs", lambda w3, q, a, b: queries.append(q) or real(w3, q, a, b))
    Indexer().catch_up(settings)
    transfer_topic = "0x" + loan_token.TRANSFER_TOPIC.hex()
    assert queries and not [q for q in queries if transfer_topic in (q.get("topics") or [])], "the wallet is still followed"
    monkeypatch.setattr(indexer_module, "read_logs", real)

    world.active_loan()  # it borrows again: followed again from this disbursal
    again = _send(world, borrower, ELSEWHERE, 40 * UNIT)
    Indexer().catch_up(settings)
    assert _onward(settings) == [(borrower.address, MULE, 10 * UNIT, within), (borrower.address, MULE, 11 * UNIT, last_day),
                                 (borrower.address, ELSEWHERE, 40 * UNIT, again)]  # fmt: skip
    assert verify_index(settings).ok  # the check reads the same logs and keeps the same ones
    whole = index_state(settings)
    assert _rebuilt(settings.model_copy(update={"indexer_batch_blocks": 1})) == whole
    assert _rebuilt(settings) == whole


def test_a_reorg_takes_the_onward_transfers_with_it_as_a_rebuild_would(indexed):
    settings, world = indexed
    borrower = world.borrower
    world.active_loan()
    _send(world, borrower, MULE, 4_000 * UNIT)
    _send(world, borrower, MULE, 2_000 * UNIT)
    indexer = Indexer()
    indexer.catch_up(settings)
    assert [r[2] for r in _onward(settings)] == [4_000 * UNIT, 2_000 * UNIT]

    data = world.token.encode_abi("transfer", args=[ELSEWHERE, 9 * UNIT])
    replacement = {"from": borrower.address, "to": world.token.address, "data": data, "gas": hex(100_000)}
    rpc_call(settings.rpc_url, "anvil_reorg", [1, [[replacement, 0]]])  # the 2,000 is gone, 9 sent elsewhere
    indexer.catch_up(settings)
    assert [(r[1], r[2]) for r in _onward(settings)] == [(MULE, 4_000 * UNIT), (ELSEWHERE, 9 * UNIT)]
    with session_scope(settings) as session:
        assert session.get(IndexerCheckpoint, "main").reorgs == 1
    assert index_state(settings) == _rebuilt(settings)


def _as_indexed_before_0051(settings, monkeypatch) -> None:
    """The index the code before migration 0051 left: MockStablecoin followed as a platform contract
    (its mints, approvals and transfers all indexed), no disbursals nor onward transfers, and the
    deployment's fingerprint the contracts' names and addresses alone."""
    import hashlib

    from backend.chain import indexer as indexer_module
    from backend.chain import loan_token
    from backend.chain.deploy import load_manifest

    with monkeypatch.context() as patched:
        patched.setattr(loan_token, "token_of", lambda manifest: None)  # the token is just another contract
        Indexer().catch_up(settings)
        assert indexer_module.followed_contracts(settings).token is None
    manifest = load_manifest(settings, settings.chain_id)
    contracts = sorted((Web3.to_checksum_address(e["address"]), name) for name, e in manifest["contracts"].items())
    legacy = hashlib.sha256("|".join(f"{name}:{address}" for address, name in contracts).encode()).hexdigest()
    with session_scope(settings) as session:
        session.execute(DisbursalRow.__table__.delete())  # no such table before 0051: created empty
        session.get(IndexerCheckpoint, "main").deployment_hash = legacy


def test_an_index_made_before_the_token_was_followed_is_upgraded_in_place_never_emptied(indexed_any_db, monkeypatch):
    """Upgrading past migration 0051 adds the onward transfers of the blocks already indexed in one
    round and keeps every other row: a rebuild from the deploy block would show an empty book for as
    long as it takes (hours on a long chain), and erasure, offers and servicing read the book from the
    index (a borrower with an open loan found in no relationship is erased at once)."""
    settings, world = indexed_any_db
    borrower = world.borrower
    loan_id, _ = world.active_loan()
    onward = _send(world, borrower, MULE, 5_000 * UNIT)
    _as_indexed_before_0051(settings, monkeypatch)
    with session_scope(settings) as session:
        loans_before = session.scalar(select(func.count()).select_from(LoanRow))
        kept_ids = set(session.scalars(select(ChainEvent.id).where(ChainEvent.contract == "LoanBook")))
    assert loans_before and not _onward(settings)

    world.chain.travel(60)  # a block the old index has not read
    one_block = settings.model_copy(update={"indexer_batch_blocks": 1})
    Indexer().run_once(one_block)  # the first round after the upgrade
    with session_scope(settings) as session:
        assert session.scalar(select(func.count()).select_from(LoanRow)) == loans_before
        assert kept_ids <= set(session.scalars(select(ChainEvent.id)))  # the rows kept, not written again
        assert not session.scalars(select(ChainEvent).where(ChainEvent.contract == "MockStablecoin")).first()
        (disbursal,) = session.scalars(select(DisbursalRow)).all()
    assert disbursal.loan_id == loan_id
    assert _onward(settings) == [(borrower.address, MULE, 5_000 * UNIT, onward)]
    Indexer().catch_up(settings)
    assert verify_index(settings).ok
    assert index_state(settings) == _rebuilt(settings)


def test_a_zero_value_transfer_anyone_can_make_out_of_a_borrower_wallet_is_not_indexed(indexed):
    """ERC-20's transferFrom of 0 needs no allowance (OpenZeppelin, USDC alike): anyone can emit
    Transfer(borrower -> anywhere, 0) for any borrower wallet, at the cost of gas alone, as address
    poisoning does. It moves no money; kept, it would let a stranger fill the index, the alerts' read of
    every onward transfer and one indexer range's eth_getLogs (past what a hosted node returns) at will."""
    settings, world = indexed
    borrower, stranger = world.borrower, world.investors[3]
    world.active_loan()
    for _ in range(3):
        world.chain.tx(world.token.functions.transferFrom(borrower.address, MULE, 0), stranger.address)
    onward = _send(world, borrower, ELSEWHERE, 2 * UNIT)
    Indexer().catch_up(settings)
    assert _onward(settings) == [(borrower.address, ELSEWHERE, 2 * UNIT, onward)]
    assert verify_index(settings).ok  # the check keeps the same ones

    # An index made under the rule before (transfers of 0 kept) has its transfers read again in place.
    from backend.chain.indexer import followed_contracts

    with session_scope(settings) as session:
        session.execute(TokenTransferRow.__table__.delete())
        session.execute(ChainEvent.__table__.delete().where(ChainEvent.contract == "LoanToken"))
        session.get(IndexerCheckpoint, "main").deployment_hash = followed_contracts(settings).earlier_hashes[1]
        loans = session.scalar(select(func.count()).select_from(LoanRow))
    Indexer().run_once(settings)
    with session_scope(settings) as session:
        assert session.scalar(select(func.count()).select_from(LoanRow)) == loans
    assert _onward(settings) == [(borrower.address, ELSEWHERE, 2 * UNIT, onward)]
    assert index_state(settings) == _rebuilt(settings)


def test_a_read_the_node_refuses_is_split_not_retried_whole_forever(indexed, monkeypatch):
    """Hosted nodes refuse an eth_getLogs whose answer is over their cap (10,000 logs, say). How many
    logs a range holds is not the platform's to choose: the loan token's read names up to 1,000 borrower
    wallets whose traffic is theirs, and anyone can log note transfers of 0 on LoanBook. One range
    over the cap failed every round, the index stalled for everyone. Both reads are halved while the
    node refuses them, down to one block, as `index verify`'s are."""
    from web3.exceptions import Web3RPCError

    settings, world = indexed
    borrower = world.borrower
    world.active_loan()
    sent = [_send(world, borrower, MULE, k * UNIT) for k in (1, 2, 3)]
    w3 = get_web3(settings)
    real = w3.eth.get_logs

    def capped(query):  # a node that answers one block's logs, or one log of more blocks
        found = real(query)
        if query["toBlock"] > query["fromBlock"] and len(found) > 1:
            raise Web3RPCError("query returned more than 1 results")
        return found

    monkeypatch.setattr(w3.eth, "get_logs", capped)
    Indexer().catch_up(settings)
    monkeypatch.undo()
    assert [r[3] for r in _onward(settings)] == sent
    assert index_state(settings) == _rebuilt(settings)


def _in_one_block(world, calls: list[tuple]) -> int:
    """Send `(fn, sender)` calls unmined, then mine them together: the block's number."""
    w3, url = world.chain.w3, world.chain.settings.rpc_url
    rpc_call(url, "evm_setAutomine", [False])
    try:
        sent = [fn.transact({"from": sender, "gas": 300_000}) for fn, sender in calls]
        rpc_call(url, "evm_mine", [])
    finally:
        rpc_call(url, "evm_setAutomine", [True])
    receipts = [w3.eth.get_transaction_receipt(h) for h in sent]
    assert all(r["status"] == 1 for r in receipts) and len({r["blockNumber"] for r in receipts}) == 1
    return receipts[0]["blockNumber"]


@pytest.mark.parametrize("block_receipts", [True, False], ids=["eth_getBlockReceipts", "receipt-per-transaction"])
def test_a_block_whose_logs_the_node_refuses_even_alone_is_read_from_its_receipts(indexed, monkeypatch, block_receipts):
    """Halving stops at one block: a block holding more logs than the node's cap (anyone can fill one
    with token transfers of 0 out of a borrower's wallet, or note transfers of 0 on a LoanBook deployed
    before it refused them) was
    refused every round, the index stalled for everyone until an operator found another node. That
    block is read from its receipts, sifted as eth_getLogs sifts, by the indexer, `index verify`
    and a loan's trace alike; a node without eth_getBlockReceipts is asked per transaction."""
    from web3.exceptions import MethodUnavailable, Web3RPCError

    from backend.chain.index_check import loan_events_on_chain

    settings, world = indexed
    borrower, stranger, holder, other = world.borrower, world.outsider, world.investors[0], world.investors[1]
    loan_id, _ = world.active_loan(investors=world.investors[:2])
    book, token = world.book.functions, world.token.functions
    number = _in_one_block(world, [
        (token.transfer(MULE, 1 * UNIT), borrower.address),
        (book.safeTransferFrom(other.address, world.investors[5].address, loan_id, 1, b""), other.address),
        (token.transfer(ELSEWHERE, 2 * UNIT), borrower.address),
        (token.transferFrom(borrower.address, MULE, 0), stranger.address),
        (book.safeTransferFrom(holder.address, world.investors[2].address, loan_id, 1, b""), holder.address),
        (token.transferFrom(borrower.address, ELSEWHERE, 0), stranger.address),
    ])  # fmt: skip
    expected = _rebuilt(settings)
    trace = [(e.block_number, e.log_index, e.event) for e in loan_events_on_chain(settings, loan_id, number)]
    w3 = get_web3(settings)
    real = w3.eth.get_logs

    def capped(query):  # a node that answers at most one log, whatever the range
        found = real(query)
        if len(found) > 1:
            raise Web3RPCError("query returned more than 1 results")
        return found

    def no_block_receipts(_block):
        raise MethodUnavailable("the method eth_getBlockReceipts does not exist/is not available")

    monkeypatch.setattr(w3.eth, "get_logs", capped)
    if not block_receipts:
        monkeypatch.setattr(w3.eth, "get_block_receipts", no_block_receipts)
    assert _rebuilt(settings) == expected
    onward = {(r[1], r[2]) for r in _onward(settings) if r[0] == borrower.address}
    assert onward >= {(MULE, UNIT), (ELSEWHERE, 2 * UNIT)}
    assert verify_index(settings).ok
    assert [(e.block_number, e.log_index, e.event) for e in loan_events_on_chain(settings, loan_id, number)] == trace
    assert any(n == number for n, _, _ in trace)  # the loan's filtered read crossed the block too


def test_a_blocks_receipts_are_sifted_as_the_node_sifts_its_logs(indexed):
    """`block_logs` stands in for eth_getLogs on one block: the same filter, the same answer, for
    the shapes of filter the platform's reads use and those around them."""
    from backend.chain.block_logs import block_logs, matches

    settings, world = indexed
    loan_id, _ = world.active_loan(investors=world.investors[:2])
    _send(world, world.borrower, MULE, UNIT)
    w3 = get_web3(settings)
    everything = w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest"})
    book, token = world.book.address, world.token.address
    topic0 = {lg["topics"][0].to_0x_hex() for lg in everything if lg["topics"]}
    signatures = ("Transfer(address,address,uint256)", "TransferSingle(address,address,address,uint256,uint256)")
    transfer, single = (Web3.keccak(text=t).to_0x_hex() for t in signatures)
    borrower = "0x" + "00" * 12 + world.borrower.address[2:].lower()
    filters = [
        {}, {"address": book}, {"address": [book, token]}, {"topics": [transfer]},
        {"topics": [[transfer, single]]}, {"topics": [sorted(topic0)[:3]]}, {"topics": [None, borrower]},
        {"address": token, "topics": [transfer, [borrower]]}, {"address": token, "topics": [transfer, None, borrower]},
        {"topics": [None, None, None, None]}, {"topics": [None, None, None]}, {"address": [], "topics": []},
        {"topics": [[], borrower]},
    ]  # fmt: skip
    blocks = sorted({lg["blockNumber"] for lg in everything})
    for query in filters:
        answer = w3.eth.get_logs({**query, "fromBlock": 0, "toBlock": "latest"})
        node = [(lg["blockNumber"], lg["logIndex"]) for lg in answer]
        sifted = [(lg["blockNumber"], lg["logIndex"]) for lg in everything if matches(query, lg)]
        assert sifted == node, query
        assert [(n, lg["logIndex"]) for n in blocks for lg in block_logs(w3, n, query)] == node, query


def test_a_note_transfer_of_0_on_a_loan_book_deployed_before_it_was_refused_names_nobody():
    """ERC-1155's safeTransferFrom of 0 needs no balance: on a LoanBook deployed before LoanBook refused
    it (`LoanBookZeroAmount`, tests/contracts/test_loan_book_servicing.py), any address could log
    TransferSingle(itself -> any verified wallet, any loan, 0). It moves no note. Indexed as one, it put
    a wallet that never invested into a business relationship (notes transferred to it) and moved the
    relationship's end, so the AML period's, to the stranger's latest log. Such events name nobody
    and make no note transfer; a batch names only the loans whose notes it moves."""
    from backend.chain.projections import NoteTransfers, event_subjects

    stranger, victim = "0x" + "ab" * 20, "0x" + "cd" * 20
    single = ChainEvent(contract="LoanBook", event="TransferSingle",
                        args={"operator": stranger, "from": stranger, "to": victim, "id": 4, "value": 0})  # fmt: skip
    batch = ChainEvent(contract="LoanBook", event="TransferBatch",
                       args={"operator": stranger, "from": stranger, "to": victim, "ids": [4, 7], "values": [0, 3]})  # fmt: skip
    assert event_subjects(single) == (set(), set())
    assert event_subjects(batch) == ({7}, {stranger, victim})
    rows = []
    session = type("Rows", (), {"add": staticmethod(rows.append)})()  # what NoteTransfers adds
    for ev in (single, batch):
        NoteTransfers().apply(session, ev)
    assert [(r.loan_id, r.sender, r.recipient, r.amount) for r in rows] == [(7, stranger, victim, 3)]
