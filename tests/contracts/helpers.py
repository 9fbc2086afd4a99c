"""Small, fast helpers for contract tests: send transactions from the node's unlocked dev
accounts, assert exact custom errors, move chain time on Anvil or Ganache, read events."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import requests
from web3 import Web3

from backend.chain import loan_terms as lt
from backend.chain.errors import DecodedError, decode_revert, revert_data_of
from backend.config import Settings

DAY = 86_400
GAS = 3_000_000
MAX_UINT = 2**256 - 1
KYC_EXPIRY = 2**40  # far beyond any time jump a test makes

# ILoanBook.LoanStatus
NONE, FUNDING, ACTIVE, REPAID, DEFAULTED, CANCELLED = range(6)


class RpcError(RuntimeError):
    pass


class Chain:
    """One node (Anvil or Ganache) seen through web3 plus raw JSON-RPC for speed."""

    def __init__(self, w3: Web3, settings: Settings, kind: str = "anvil") -> None:
        self.w3 = w3
        self.settings = settings
        self.kind = kind
        self.url = settings.rpc_url
        self._session = requests.Session()
        self._id = 0

    # --- raw JSON-RPC ---------------------------------------------------------------------
    def rpc(self, method: str, params: list | None = None) -> Any:
        self._id += 1
        reply = self._session.post(self.url, json={"jsonrpc": "2.0", "id": self._id, "method": method,
                                                   "params": params or []}, timeout=60).json()  # fmt: skip
        if "error" in reply:
            raise RpcError(f"{method}: {reply['error']}")
        return reply["result"]

    def batch_raw(self, calls: list[tuple[str, list]]) -> list[dict]:
        """Several JSON-RPC calls in one HTTP request; the raw replies, in order."""
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        return sorted(self._session.post(self.url, json=payload, timeout=60).json(), key=lambda r: r["id"])

    def batch(self, calls: list[tuple[str, list]]) -> list[Any]:
        replies = self.batch_raw(calls)
        for r in replies:
            if "error" in r:
                raise RpcError(str(r["error"]))
        return [r["result"] for r in replies]

    def read(self, fns: list) -> list[Any]:
        """Many view calls in one JSON-RPC batch, decoded (single outputs unwrapped)."""
        return self.read_encoded([(fn.address, calldata(fn), output_types(fn)) for fn in fns])

    def read_encoded(self, calls: list[tuple[str, str, list[str]]]) -> list[Any]:
        """Like `read`, from pre-encoded (address, calldata, output types)."""
        raw = self.batch([("eth_call", [{"to": to, "data": data}, "latest"]) for to, data, _ in calls])
        results = []
        for (_, _, types), out in zip(calls, raw):
            values = _checksummed(self.w3.codec.decode(types, bytes.fromhex(out[2:])))
            results.append(values[0] if len(values) == 1 else values)
        return results

    def _timestamp_call(self, ts: int) -> tuple[str, list]:
        if self.kind == "anvil":
            return ("evm_setNextBlockTimestamp", [hex(ts)])
        # Ganache 7 has no evm_setNextBlockTimestamp: evm_setTime moves its clock so that the next
        # block is stamped `ts` (plus whatever wall time passes before it is mined).
        return ("evm_setTime", [ts * 1000])

    def snapshot(self) -> str:
        return self.rpc("evm_snapshot")

    def revert(self, snap: str) -> None:
        assert self.rpc("evm_revert", [snap]) is True

    # --- time -----------------------------------------------------------------------------
    def now(self) -> int:
        return int(self.rpc("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)

    def set_next_timestamp(self, ts: int) -> None:
        """The next block (and `pending` calls) get timestamp `ts` (Anvil exactly; Ganache to
        the second, via its clock)."""
        self.rpc(*self._timestamp_call(ts))

    def mine_at(self, ts: int) -> None:
        """Mine an empty block at `ts` (later calls against `latest` see that time)."""
        if self.kind == "anvil":
            self.set_next_timestamp(ts)
            self.rpc("evm_mine")
        else:
            self.rpc("evm_setTime", [ts * 1000])
            self.rpc("evm_mine", [{"timestamp": ts}])

    def travel(self, seconds: int) -> int:
        """Mine a block `seconds` after the latest one; returns its timestamp."""
        ts = self.now() + seconds
        self.mine_at(ts)
        return ts

    # --- transactions ---------------------------------------------------------------------
    def tx_as_contract(self, fn, contract: str):
        """Send `fn` from a contract's own address (Anvil impersonation): what a bug in that contract
        could make it do, for rules that must catch a call its code never makes."""
        self.rpc("anvil_impersonateAccount", [contract])
        self.rpc("anvil_setBalance", [contract, hex(10**18)])
        try:
            return self.tx(fn, contract)
        finally:
            self.rpc("anvil_stopImpersonatingAccount", [contract])

    def tx(self, fn, sender: str, at: int | None = None, gas: int = GAS):
        """Send `fn` from the unlocked `sender` (in the block at `at` if given) and return the
        receipt. Fails with the decoded custom error when the transaction reverts."""
        if not hasattr(fn, "address"):  # a constructor: let web3 build the deployment
            if at is not None:
                self.set_next_timestamp(at)
            receipt = self.w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender, "gas": gas}), timeout=60)
            assert receipt["status"] == 1, "deployment reverted"
            return receipt
        at = self._late(at)
        calls = [self._timestamp_call(at)] if at is not None else []
        calls.append(("eth_sendTransaction", [{"from": sender, "to": fn.address, "data": calldata(fn),
                                               "gas": hex(gas), "gasPrice": hex(self.gas_price)}]))  # fmt: skip
        reply = self.batch_raw(calls)[-1]
        if "error" in reply:  # Ganache may refuse a reverting transaction outright
            raise AssertionError(f"transaction reverted: {decode_revert(self.settings, _error_data(reply))}")
        receipt = self.w3.eth.wait_for_transaction_receipt(reply["result"], timeout=60, poll_latency=0.002)
        if receipt["status"] != 1:
            raise AssertionError(f"transaction reverted: {self.why(fn, sender)}")
        return receipt

    def send_as(self, fn, account, at: int | None = None, value: int = 0, to: str | None = None):
        """Sign locally with `account` (a LocalAccount the node does not hold) and send."""
        tx = {"nonce": self.w3.eth.get_transaction_count(account.address), "gas": GAS if fn else 21_000,
              "gasPrice": self.gas_price, "chainId": self.w3.eth.chain_id, "value": value}  # fmt: skip
        if fn is not None:
            tx.update(to=fn.address, data=fn._encode_transaction_data())
        else:
            tx["to"] = to
        at = self._late(at)
        if at is not None:
            self.set_next_timestamp(at)
        tx_hash = self.w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.002)
        if receipt["status"] != 1:
            raise AssertionError(f"transaction reverted: {self.why(fn, account.address) if fn else 'transfer'}")
        return receipt

    def _late(self, at: int | None) -> int | None:
        """A flake probe: with LOANCHAIN_TEST_LATE_TX=N, a transaction sent with no `at` is mined N
        seconds after the latest block, as on a loaded machine; a test that reads a time-dependent
        amount (a payoff, what is due) and sends it later then fails here every time."""
        late = int(os.environ.get("LOANCHAIN_TEST_LATE_TX", "0"))
        return self.now() + late if at is None and late and self.kind == "anvil" else at

    @cached_property
    def gas_price(self) -> int:
        # Fixed once: asking the node each time feeds our own bids back into its price oracle.
        latest = self.w3.eth.get_block("latest")
        return 2 * latest.get("baseFeePerGas", 10**9) + 10**9

    def why(self, fn, sender: str) -> DecodedError | str:
        try:
            fn.call({"from": sender}, block_identifier="latest")
        except Exception as exc:  # noqa: BLE001 - report whatever it was
            return self.decode(exc) or repr(exc)
        return "no revert when replayed"

    def decode(self, exc: BaseException) -> DecodedError | None:
        return decode_revert(self.settings, revert_data_of(exc))

    def revert_of(self, fn, sender: str, at: int | None = None) -> DecodedError:
        """The custom error `fn` reverts with, simulated on the next block (at `at` if given;
        on Ganache, against the latest block)."""
        call = {"from": sender, "gas": hex(GAS)}
        if hasattr(fn, "address"):
            call.update(to=fn.address, data=calldata(fn))
        else:  # a constructor: simulate the deployment
            call["data"] = fn.data_in_transaction
        calls = [self._timestamp_call(at)] if at is not None else []
        calls.append(("eth_call", [call, "pending" if self.kind == "anvil" else "latest"]))
        reply = self.batch_raw(calls)[-1]
        if "error" not in reply:
            raise AssertionError(f"{getattr(fn, 'fn_name', 'constructor')} did not revert")
        decoded = decode_revert(self.settings, _error_data(reply))
        assert decoded is not None, f"revert without data: {reply['error']}"
        return decoded


def _error_data(reply: dict) -> Any:
    data = reply["error"].get("data")
    if isinstance(data, dict):  # Ganache nests it
        data = data.get("data") or data.get("result")
    return data


_ENCODERS: dict[tuple[str, str], tuple[str, list[str], list[str]]] = {}


def calldata(fn) -> str:
    """0x calldata of a bound contract function (selector and input types cached per ABI entry)."""
    key = (fn.address, fn.abi_element_identifier if hasattr(fn, "abi_element_identifier") else fn.fn_name)
    entry = _ENCODERS.get(key)
    if entry is None:
        inputs = [_abi_type(i) for i in fn.abi["inputs"]]
        selector = Web3.keccak(text=f"{fn.abi['name']}({','.join(inputs)})")[:4].hex()
        entry = _ENCODERS[key] = (selector, inputs, [_abi_type(o) for o in fn.abi["outputs"]])
    selector, inputs, _ = entry
    return "0x" + selector.removeprefix("0x") + fn.w3.codec.encode(inputs, _normalize(fn.args, inputs)).hex()


def output_types(fn) -> list[str]:
    calldata(fn)
    key = (fn.address, fn.abi_element_identifier if hasattr(fn, "abi_element_identifier") else fn.fn_name)
    return _ENCODERS[key][2]


def _normalize(args, types: list[str]) -> list:
    out = []
    for value, kind in zip(args, types):
        if kind == "address" and isinstance(value, str):
            value = Web3.to_checksum_address(value)
        out.append(value)
    return out


def _abi_type(param: dict) -> str:
    kind = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + kind[len("tuple") :]
    return kind


def assert_error(decoded: DecodedError, name: str, *args: Any, **kwargs: Any) -> None:
    """`decoded` is custom error `name` with exactly these arguments (positional or by name)."""
    assert decoded.name == name, f"expected {name}, got {decoded.describe()}"
    values = [_norm(v) for v in decoded.args.values()]
    if args:
        assert values == [_norm(a) for a in args], f"{name} args {values} != {list(args)}"
    for key, value in kwargs.items():
        assert _norm(decoded.args[key]) == _norm(value), f"{name}.{key} = {decoded.args[key]} != {value}"


def _norm(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x"):
        return value.lower()
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return str(value)
    return value


def expect_revert(chain: Chain, fn, sender: str, name: str, *args: Any, at: int | None = None, **kwargs) -> None:
    assert_error(chain.revert_of(fn, sender, at=at), name, *args, **kwargs)


def events(receipt, contract, name: str) -> list[dict]:
    """Decoded `name` events of `contract` in `receipt`, addresses checksummed."""
    return [{k: _checksummed(v) for k, v in e["args"].items()}
            for e in contract.events[name]().process_receipt(receipt, errors=_DISCARD)]  # fmt: skip


def _checksummed(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
        return Web3.to_checksum_address(value)
    if isinstance(value, dict):
        return {k: _checksummed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_checksummed(v) for v in value)
    return value


try:  # web3 7
    from web3.logs import DISCARD as _DISCARD
except ImportError:  # pragma: no cover
    _DISCARD = None


# --- the deployed system with its actors ----------------------------------------------------


@dataclass
class World:
    chain: Chain
    token: Any
    kyc: Any
    reserve: Any
    book: Any
    anchor: Any
    admin: Any  # LocalAccount (Anvil account 0)
    underwriter: Any  # account 1
    borrower: Any  # account 2
    investors: list  # accounts 3..8, KYC-verified, funded, approved
    outsider: Any  # account 9, never verified
    chain_id: int
    borrower_level: int = 1  # LoanBook.borrowerKycLevel / investorKycLevel, read at set-up
    investor_level: int = 1
    market: Any = None  # NoteMarket, LoanBook's secondary market
    agent: Any = None  # RepaymentAgent (autopay)
    funding_agent: Any = None  # FundingAgent (auto-invest under funding mandates)
    _salt: int = field(default=0)

    @property
    def w3(self) -> Web3:
        return self.chain.w3

    def terms(self, **overrides: Any) -> lt.LoanTerms:
        """Default terms: 12 monthly installments of a 12,000-unit loan at 12% APR, 1% fee."""
        now = self.chain.now()
        borrower = overrides.pop("borrower", self.borrower.address)
        self._salt += 1
        values = dict(
            borrower=borrower,
            principal=12_000 * 10**6,
            apr_bps=1_200,
            installments=12,
            installment_period=30 * DAY,
            funding_deadline=now + 7 * DAY,
            origination_fee_bps=100,
            agreement_hash=Web3.keccak(text=f"agreement-{self._salt}"),
            decision_hash=Web3.keccak(text=f"decision-{self._salt}"),
            nonce=self.chain.read([self.book.functions.nonces(borrower)])[0],
            deadline=now + DAY,
        )
        values.update(overrides)
        return lt.LoanTerms(**values)

    def sign(self, terms: lt.LoanTerms, key) -> bytes:
        return lt.sign(terms, key, self.chain_id, self.book.address)

    def create(self, terms: lt.LoanTerms | None = None, borrower_key=None, underwriter_key=None, **overrides):
        """Create a loan; returns (loan id, receipt)."""
        terms = terms or self.terms(**overrides)
        bsig = self.sign(terms, borrower_key or self.borrower)
        usig = self.sign(terms, underwriter_key or self.underwriter)
        receipt = self.chain.tx(self.book.functions.createLoan(terms.as_tuple(), bsig, usig), self.admin.address)
        loan_id = events(receipt, self.book, "LoanCreated")[0]["loanId"]
        return loan_id, receipt

    def fund(self, loan_id: int, investor, amount: int, at: int | None = None):
        return self.chain.tx(self.book.functions.fund(loan_id, amount), _addr(investor), at=at)

    def fund_equally(self, loan_id: int, investors: list | None = None):
        investors = investors or self.investors
        principal = self.loan(loan_id)["principal"]
        share, rest = divmod(principal, len(investors))
        for i, inv in enumerate(investors):
            self.fund(loan_id, inv, share + (rest if i == len(investors) - 1 else 0))

    def active_loan(self, investors: list | None = None, **overrides) -> tuple[int, int]:
        """Create, fully fund and disburse; returns (loan id, disbursement time)."""
        loan_id, _ = self.create(**overrides)
        self.fund_equally(loan_id, investors)
        receipt = self.chain.tx(self.book.functions.disburse(loan_id), self.admin.address)
        return loan_id, self.w3.eth.get_block(receipt["blockNumber"])["timestamp"]

    def onboard(self, accounts: list, tokens: int) -> None:
        """Verify, fund (ETH and tokens) and approve extra local wallets."""
        for i, acct in enumerate(accounts):
            attest = self.kyc.functions.attest(acct.address, self.investor_level, KYC_EXPIRY,
                                               Web3.keccak(text=f"extra-{i}"))  # fmt: skip
            self.chain.tx(attest, self.admin.address)
            self.chain.tx(self.token.functions.faucet(acct.address, tokens), self.admin.address)
            self.chain.send_as(None, self.admin, value=10**18, to=acct.address)
            self.chain.send_as(self.token.functions.approve(self.book.address, MAX_UINT), acct)

    def loan(self, loan_id: int) -> dict:
        names = [c["name"] for c in self.book.get_function_by_name("loan").abi["outputs"][0]["components"]]
        return dict(zip(names, self.chain.read([self.book.functions.loan(loan_id)])[0]))

    def balance(self, who) -> int:
        return self.chain.read([self.token.functions.balanceOf(_addr(who))])[0]

    def ready_for_market(self, *wallets) -> None:
        """The wallets let NoteMarket move their notes (to sell) and take their loan token (to buy)."""
        for wallet in wallets:
            self.chain.tx(self.book.functions.setApprovalForAll(self.market.address, True), _addr(wallet))
            self.chain.tx(self.token.functions.approve(self.market.address, MAX_UINT), _addr(wallet))

    def place(self, wallet, side: str, loan_id: int, notes: int, price_bps: int, expires_at: int = 0) -> int:
        """A listing (`side` "ask") or a bid sent straight to NoteMarket by the wallet; its id."""
        fn, event, key = ("list", "Listed", "listingId") if side == "ask" else ("bid", "BidPlaced", "bidId")
        receipt = self.chain.tx(getattr(self.market.functions, fn)(loan_id, notes, price_bps, expires_at), _addr(wallet))
        return events(receipt, self.market, event)[0][key]

    def buy(self, listing_id: int, notes: int):
        """`NoteMarket.buy` limited to the cost quoted now (`costOf`), as the backend sends it."""
        return self.market.functions.buy(listing_id, notes, self.market.functions.costOf(listing_id, notes).call())

    def sell(self, bid_id: int, notes: int):
        """`NoteMarket.sell` with the proceeds quoted now (`proceedsOf`) as its floor, as the backend sends it."""
        return self.market.functions.sell(bid_id, notes, self.market.functions.proceedsOf(bid_id, notes).call())

    def repay(self, loan_id: int, amount: int, payer=None, at: int | None = None):
        return self.chain.tx(self.book.functions.repay(loan_id, amount), _addr(payer or self.borrower), at=at)


def _addr(who) -> str:
    return who if isinstance(who, str) else who.address


def batch_wallet(world: World, artifacts: dict, owner) -> Any:
    """A MockBatchWallet owned by `owner`: several calls in one transaction, as a Safe makes them."""
    art = artifacts["MockBatchWallet"]
    factory = world.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    receipt = world.chain.tx(factory.constructor(_addr(owner)), world.admin.address)
    return world.w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])


def in_one_transaction(wallet, *fns):
    """`wallet.executeBatch` of the bound contract functions `fns`, in order."""
    return wallet.functions.executeBatch([fn.address for fn in fns], [calldata(fn) for fn in fns])


__all__ = ["Chain", "World", "assert_error", "batch_wallet", "events", "expect_revert", "in_one_transaction"]
