"""The loan token's transfers the index keeps: those out of a wallet that received a disbursal, from
its first disbursal on, to anything but a platform contract. Where a borrower sends the money it
was lent is what a mule or collection account shows (`collection_wallet`,
backend/audit/disbursal_rules.py); the rest of the token's traffic is not the platform's, and on a
real stablecoin it is most of a chain's (USDC moves on the order of a million times a day).

The token is the one LoanBook was deployed with, on every chain: MockStablecoin on a local one, the
token LOANCHAIN_LOAN_TOKEN_ADDRESS named elsewhere (not among the manifest's contracts). Its logs are
read by topic, `from` (topic 1) being one of the borrower wallets, never by the token's address
alone: that would fetch every transfer of the token in the range to keep a handful, more than a
hosted node returns for one `eth_getLogs` over an indexer batch. A filter names at most
SENDERS_PER_QUERY wallets, geth's bound on the values of one topic position (go-ethereum#29535),
so N borrower wallets cost ceil(N / 1,000) requests a range (measured on Anvil: README, *Chain
index*). A transfer into a platform contract (a repayment, an autopay pull) is left out after the
read: a filter cannot exclude a value, and LoanBook's own events already tell those; so is a transfer of
0, which anyone can log out of any wallet (a transferFrom of 0 needs no allowance).

Which transfers are kept depends only on the chain, not on how it is cut into ranges: a transfer
is kept when a `LoanDisbursed` to its sender comes before it (block, log index) and at most
TOKEN_FOLLOW_DAYS (30) before it, by the disbursal's `startTime` (its block's time) against the
transfer's block time. A rebuild and the indexer's rounds keep the same ones, and a reorg that takes a
disbursal away takes the transfers after it with it. Only what the monitoring reads is kept (its
windows are at most as long: `monitoring_collection_days`), so a range filters only the wallets
disbursed to within the window before it: the requests a range costs grow with the recent loans, not
with every wallet ever lent to, and a borrower's wallet is not watched for good."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence

from eth_utils import event_abi_to_log_topic
from web3 import Web3

from backend.config import TOKEN_FOLLOW_DAYS

NAME = "LoanToken"  # the contract name its events are indexed under, on every chain
SENDERS_PER_QUERY = 1_000
ZERO_ADDRESS = "0x" + "00" * 20
TRANSFER_EVENT: dict = {"type": "event", "anonymous": False, "name": "Transfer", "inputs": [
    {"indexed": True, "name": "from", "type": "address"},
    {"indexed": True, "name": "to", "type": "address"},
    {"indexed": False, "name": "value", "type": "uint256"}]}  # fmt: skip
TRANSFER_TOPIC = event_abi_to_log_topic(TRANSFER_EVENT)
DISBURSED_TOPIC = Web3.keccak(text="LoanDisbursed(uint256,address,uint256,uint256,uint256)")

FOLLOW_SECONDS = TOKEN_FOLLOW_DAYS * 86_400
Position = tuple[int, int]  # (block number, log index)
Disbursal = tuple[Position, int]  # where a LoanDisbursed is, and its startTime (its block's time)
GetLogs = Callable[[dict], list]  # an eth_getLogs of the range for this filter (address, topics)


def token_of(manifest: dict) -> str | None:
    """The ERC-20 the deployment's LoanBook lends in: its constructor's second argument (deploy_plan's
    `_token`), as the manifest records it; None before LoanBook is deployed."""
    book = manifest.get("contracts", {}).get("LoanBook")
    args = (book or {}).get("args") or []
    return Web3.to_checksum_address(args[1]) if len(args) > 1 and Web3.is_address(args[1]) else None


def _address_of_topic(topic) -> str:
    return Web3.to_checksum_address(bytes(topic)[-20:])


def topic_of(address: str) -> str:
    return "0x" + "00" * 12 + address[2:].lower()


def disbursals_in(logs: Iterable, book: str | None) -> dict[str, list[Disbursal]]:
    """Each borrower wallet's `LoanDisbursed` among these raw logs of LoanBook (at `book`), in chain order."""
    found: dict[str, list[Disbursal]] = defaultdict(list)
    for lg in sorted(logs, key=lambda x: (x["blockNumber"], x["logIndex"])):
        if book is None or Web3.to_checksum_address(lg["address"]) != book or len(lg["topics"]) < 3:
            continue
        if bytes(lg["topics"][0]) == DISBURSED_TOPIC:  # data: netAmount, originationFee, startTime
            start_time = int.from_bytes(bytes(lg["data"])[64:96], "big")
            found[_address_of_topic(lg["topics"][2])].append(((lg["blockNumber"], lg["logIndex"]), start_time))
    return dict(found)


def joined(*parts: Mapping[str, Sequence[Disbursal]]) -> dict[str, list[Disbursal]]:
    """Disbursals by wallet from parts in chain order (those before a range, then the range's)."""
    found: dict[str, list[Disbursal]] = defaultdict(list)
    for part in parts:
        for wallet, disbursals in part.items():
            found[wallet].extend(disbursals)
    return dict(found)


def borrower_transfers(get_logs: GetLogs, token: str, disbursals: Mapping[str, Sequence[Disbursal]],
                       platform: Iterable[str], time_of: Callable[[int], int]) -> list:  # fmt: skip
    """The token's Transfer logs of the range that the index keeps, given the `disbursals` to the
    wallets that may have sent them (every one within the follow window before the range, and the
    range's own), and `time_of` a block's number: out of a wallet at most FOLLOW_SECONDS after a
    disbursal to it that comes before them, into anything but a `platform` contract, the token itself
    or the zero address, of more than 0. ERC-20's transferFrom of 0 needs no allowance (OpenZeppelin's,
    USDC's), so a stranger could otherwise fill the index, the alerts' read and a range's eth_getLogs
    with logs out of any borrower's wallet."""
    left_out = {Web3.to_checksum_address(a) for a in platform} | {token, Web3.to_checksum_address(ZERO_ADDRESS)}
    senders, found = sorted(w for w, d in disbursals.items() if d), []
    for i in range(0, len(senders), SENDERS_PER_QUERY):
        chunk = [topic_of(w) for w in senders[i : i + SENDERS_PER_QUERY]]
        for lg in get_logs({"address": token, "topics": ["0x" + TRANSFER_TOPIC.hex(), chunk]}):
            if len(lg["topics"]) != 3 or bytes(lg["topics"][0]) != TRANSFER_TOPIC:
                continue  # an ERC-721-shaped Transfer (4 topics) is not this token's
            if not int.from_bytes(bytes(lg["data"]), "big"):
                continue  # 0 moved: a transferFrom of 0 needs no allowance, so anyone can log one for any wallet
            sender, recipient = _address_of_topic(lg["topics"][1]), _address_of_topic(lg["topics"][2])
            if recipient not in left_out and _followed(disbursals.get(sender, ()), lg, time_of):
                found.append(lg)
    return found


def _followed(disbursals: Sequence[Disbursal], lg, time_of: Callable[[int], int]) -> bool:
    """Whether the latest of its sender's disbursals before `lg` is at most FOLLOW_SECONDS older."""
    i = bisect.bisect_left([at for at, _ in disbursals], (lg["blockNumber"], lg["logIndex"]))
    return i > 0 and time_of(lg["blockNumber"]) - disbursals[i - 1][1] <= FOLLOW_SECONDS
