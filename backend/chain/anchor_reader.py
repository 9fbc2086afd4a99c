"""Read-only calls to DocumentAnchor: is a root anchored, does a proof hold, which tx did it.

The ABI fragment is embedded rather than read from artifacts/, so an auditor can verify a proof
file against any node (`--rpc-url`) with nothing but this package and the platform's published
DocumentAnchor address: no database, no compiled artifacts. tests/anchoring checks it against
the compiled ABI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError, TransactionNotFound, Web3Exception

from backend.chain.client import get_web3, node_failure
from backend.config import Settings
from backend.errors import ChainError, ChainUnavailable, ConfigurationError

_B32 = {"internalType": "bytes32", "type": "bytes32"}
_U64 = {"internalType": "uint64", "type": "uint64"}
_PROOF = [
    {**_B32, "name": "leaf"},
    {"internalType": "bytes32[]", "name": "proof", "type": "bytes32[]"},
    {**_B32, "name": "root"},
]

DOCUMENT_ANCHOR_READ_ABI: list[dict] = [
    {
        "type": "function", "name": "anchoredAt", "stateMutability": "view",
        "inputs": [{**_B32, "name": "root"}],
        "outputs": [{**_U64, "name": "blockNumber"}, {**_U64, "name": "timestamp"}],
    },
    {
        "type": "function", "name": "verify", "stateMutability": "pure", "inputs": _PROOF,
        "outputs": [{"internalType": "bool", "name": "", "type": "bool"}],
    },
    {
        "type": "function", "name": "verifyAnchored", "stateMutability": "view", "inputs": _PROOF,
        "outputs": [
            {"internalType": "bool", "name": "included", "type": "bool"},
            {**_U64, "name": "blockNumber"},
            {**_U64, "name": "timestamp"},
        ],
    },
    {
        "type": "function", "name": "hasRole", "stateMutability": "view",
        "inputs": [{**_B32, "name": "role"}, {"internalType": "address", "name": "account", "type": "address"}],
        "outputs": [{"internalType": "bool", "name": "", "type": "bool"}],
    },
    {
        "type": "event", "name": "Anchored", "anonymous": False,
        "inputs": [
            {**_B32, "name": "root", "indexed": True},
            {"internalType": "uint32", "name": "count", "type": "uint32", "indexed": False},
            {"internalType": "string", "name": "uri", "type": "string", "indexed": False},
            {"internalType": "address", "name": "anchorer", "type": "address", "indexed": True},
        ],
    },
]  # fmt: skip


ANCHORER_ROLE = Web3.keccak(text="ANCHORER_ROLE")


@dataclass(frozen=True)
class AnchorCheck:
    included: bool  # the proof leads from the leaf to the root
    block_number: int  # 0 when the root was never anchored
    timestamp: int

    @property
    def anchored(self) -> bool:
        return self.block_number > 0


@dataclass(frozen=True)
class AnchorEvent:
    root: str
    tx_hash: str
    block_number: int
    count: int
    uri: str
    anchorer: str


class AnchorReader:
    def __init__(self, w3: Web3, address: str, rpc_url: str) -> None:
        if not Web3.is_address(address):
            raise ConfigurationError(f"not a contract address: {address!r}")
        self.w3 = w3
        self.rpc_url = rpc_url
        self.address = Web3.to_checksum_address(address)
        self.contract = w3.eth.contract(address=self.address, abi=DOCUMENT_ANCHOR_READ_ABI)
        self._anchorers: dict[tuple[str, int], bool] = {}
        # What a verifier established this contract to be (backend/anchoring/verification.py), once checked.
        self.expected: Any = None

    @classmethod
    def for_settings(cls, settings: Settings, address: str | None = None, rpc_url: str | None = None) -> AnchorReader:
        """The deployed DocumentAnchor (or `address`) through settings' node (or `rpc_url`)."""
        if rpc_url:
            settings = settings.model_copy(update={"rpc_url": rpc_url})
        if address is None:
            from backend.chain.deploy import deployed_addresses

            address = deployed_addresses(settings).get("DocumentAnchor")
            if not address:
                raise ConfigurationError(
                    f"DocumentAnchor is not deployed on chain {settings.chain_id}: run `loanchain deploy`"
                )
        return cls(get_web3(settings), address, settings.rpc_url)

    def _call(self, what: str, fn):
        try:
            return fn()
        except (BadFunctionCallOutput, ContractLogicError) as exc:
            raise ChainError(f"{what} failed: no DocumentAnchor at {self.address}? ({exc})", address=self.address) from exc
        except (OSError, Web3Exception) as exc:
            raise self._unreachable(exc) from exc

    def _unreachable(self, exc: BaseException) -> ChainUnavailable:
        """Named by scheme, host and port (`where`): the URL's path or query may hold an API key."""
        from backend.db.migrate import where

        at = where(self.rpc_url)
        return ChainUnavailable(f"cannot reach the node at {at} ({node_failure(exc)})", rpc_url=at)

    def chain_id(self) -> int:
        return self._call("eth_chainId", lambda: self.w3.eth.chain_id)

    def has_code(self) -> bool:
        return len(self._call("eth_getCode", lambda: self.w3.eth.get_code(self.address))) > 0

    def code_hash(self) -> str:
        """keccak256 of the runtime code, 0x-hex (the deployment manifest's `codeHash`)."""
        return "0x" + Web3.keccak(self._call("eth_getCode", lambda: self.w3.eth.get_code(self.address))).hex()

    def latest_block(self) -> int:
        return self._call("eth_blockNumber", lambda: self.w3.eth.block_number)

    def created_in(self, block_number: int, tx_hash: str | None = None) -> bool | None:
        """Whether this contract was created in `block_number`, from the chain, not a manifest: by
        `tx_hash`'s receipt when given (it must name this contract as created, in that block),
        else by its code (none at the block before, some at it). None when the node cannot say
        (no such transaction, or old state pruned)."""
        if tx_hash:
            try:
                receipt = self.w3.eth.get_transaction_receipt(tx_hash)
            except TransactionNotFound:
                receipt = None
            except (OSError, Web3Exception, ValueError) as exc:
                raise self._unreachable(exc) from exc
            if receipt is not None:
                created = receipt.get("contractAddress")
                return bool(created and Web3.to_checksum_address(created) == self.address
                            and receipt["blockNumber"] == block_number and receipt.get("status", 1) == 1)  # fmt: skip
        if block_number < 1:
            return None
        try:
            before = self.w3.eth.get_code(self.address, block_identifier=block_number - 1)
            at = self.w3.eth.get_code(self.address, block_identifier=block_number)
        except Exception:  # pruned state, worded per client
            return None
        return len(before) == 0 and len(at) > 0

    def is_anchorer(self, account: str, block_number: int) -> bool:
        """Whether `account` held ANCHORER_ROLE at `block_number` (asked once per reader and pair):
        a key rotated out since keeps the roots it anchored while it held the role. A node that
        no longer holds that block's state (not an archive node) is asked about now instead."""
        key = (account, block_number)
        if key not in self._anchorers:
            has_role = self.contract.functions.hasRole(ANCHORER_ROLE, Web3.to_checksum_address(account))
            try:
                held = has_role.call(block_identifier=block_number)
            except Exception:  # pruned state: "missing trie node" and the like, worded per client
                held = self._call("hasRole", has_role.call)
            self._anchorers[key] = bool(held)
        return self._anchorers[key]

    def verify_anchored(self, leaf: bytes, proof: list[bytes], root: bytes) -> AnchorCheck:
        included, block, timestamp = self._call(
            "verifyAnchored", lambda: self.contract.functions.verifyAnchored(leaf, proof, root).call()
        )
        if block == 0:
            # Not anchored: verifyAnchored reports included=false then; ask the pure check.
            included = self._call("verify", lambda: self.contract.functions.verify(leaf, proof, root).call())
        return AnchorCheck(bool(included), int(block), int(timestamp))

    def anchored_at(self, root: bytes) -> tuple[int, int]:
        block, timestamp = self._call("anchoredAt", lambda: self.contract.functions.anchoredAt(root).call())
        return int(block), int(timestamp)

    def anchored_event(self, root: bytes, block_number: int) -> AnchorEvent | None:
        """The Anchored event that first recorded `root` (in `block_number`, from anchoredAt)."""
        logs = self._call(
            "eth_getLogs",
            lambda: self.contract.events.Anchored.get_logs(
                from_block=block_number, to_block=block_number, argument_filters={"root": root}
            ),
        )
        if not logs:
            return None
        return _event(logs[0])

    def anchored_events(self, root: bytes | None = None, from_block: int = 0, chunk: int = 10_000) -> list[AnchorEvent]:
        """Every Anchored event (for `root`, or all of them), in chain order, read in block ranges."""
        filters = {"root": root} if root is not None else None
        latest = self.latest_block()
        events = []
        for start in range(from_block, latest + 1, chunk):
            end = min(start + chunk - 1, latest)
            logs = self._call(
                "eth_getLogs",
                lambda s=start, e=end: self.contract.events.Anchored.get_logs(
                    from_block=s, to_block=e, argument_filters=filters
                ),
            )
            events += [_event(log) for log in logs]
        return events


def _event(log) -> AnchorEvent:
    return AnchorEvent(
        root="0x" + bytes(log["args"]["root"]).hex(),
        tx_hash=log["transactionHash"].to_0x_hex(),
        block_number=log["blockNumber"],
        count=log["args"]["count"],
        uri=log["args"]["uri"],
        anchorer=log["args"]["anchorer"],
    )
