"""Use the API from a script instead of a browser wallet: sign in (EIP-4361), sign an offer's loan
terms (EIP-712) and send the wallet transactions the API prepares, all with a local key.

For a local chain and Anvil's public development keys only; a real wallet keeps its key to itself.

    .venv/bin/python docs/examples/wallet.py 3    # signs in as Anvil account 3 and prints who the API says it is
    .venv/bin/python docs/examples/wallet.py 3 http://127.0.0.1:8001    # another API than `make run`'s

The API is the second argument, else LOANCHAIN_API_URL, else 127.0.0.1 on LOANCHAIN_API_PORT (8000).

`tests/docs/test_wallet_example.py` runs these functions against the platform on a local chain."""

from __future__ import annotations

import os
import sys

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from web3 import Web3

MNEMONIC = "test test test test test test test test test test test junk"  # Anvil's: public, local chains only
LOCAL_CHAIN_IDS = (31337, 1337)  # Anvil, Ganache


def anvil_account(index: int) -> LocalAccount:
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def sign_in(api: httpx.Client, account: LocalAccount) -> dict[str, str]:
    """Sign-In with Ethereum: the API writes the message for the address, the wallet signs it."""
    message = api.get("/api/v1/auth/nonce", params={"address": account.address}).json()["message"]
    signature = account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    login = api.post("/api/v1/auth/login", json={"message": message, "signature": signature})
    login.raise_for_status()
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def accept_offer(api: httpx.Client, account: LocalAccount, headers: dict[str, str], offer: dict) -> dict:
    """Sign the offer's terms exactly as the API gives them (`typed_data`), and accept."""
    signature = Account.sign_typed_data(account.key, full_message=offer["typed_data"]).signature.to_0x_hex()
    accepted = api.post(f"/api/v1/offers/{offer['id']}/accept", json={"signature": signature}, headers=headers)
    accepted.raise_for_status()
    return accepted.json()


def send(w3: Web3, account: LocalAccount, transactions: list[dict]) -> list[str]:
    """Send, in order, the calls an API answer lists (`transactions`: approve first when needed)."""
    if w3.eth.chain_id not in LOCAL_CHAIN_IDS:  # Anvil's keys are public: never sign with them elsewhere
        raise RuntimeError(f"chain {w3.eth.chain_id} is not a local chain: this example signs with Anvil's public keys")
    sent = []
    for call in transactions:
        request = {"from": account.address, "to": Web3.to_checksum_address(call["to"]), "data": call["data"],
                   "value": int(call.get("value") or "0x0", 16), "chainId": w3.eth.chain_id,
                   "nonce": w3.eth.get_transaction_count(account.address)}  # fmt: skip
        request["gas"] = w3.eth.estimate_gas(request) * 5 // 4
        request["maxPriorityFeePerGas"] = w3.eth.max_priority_fee
        request["maxFeePerGas"] = 2 * w3.eth.get_block("latest")["baseFeePerGas"] + request["maxPriorityFeePerGas"]
        tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(request).raw_transaction)
        if w3.eth.wait_for_transaction_receipt(tx_hash)["status"] != 1:
            raise RuntimeError(f"{call['description']}: reverted ({tx_hash.to_0x_hex()})")
        sent.append(tx_hash.to_0x_hex())
    return sent


def api_url(argv: list[str], environ: dict[str, str]) -> str:
    if len(argv) > 2:
        return argv[2]
    return environ.get("LOANCHAIN_API_URL") or f"http://127.0.0.1:{environ.get('LOANCHAIN_API_PORT', '8000')}"


if __name__ == "__main__":
    with httpx.Client(base_url=api_url(sys.argv, dict(os.environ))) as api:
        me = anvil_account(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
        print(api.get("/api/v1/auth/me", headers=sign_in(api, me)).json())
