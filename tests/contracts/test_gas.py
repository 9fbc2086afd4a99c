"""The gas bench on the session chain: every figure within its budget (gas is deterministic,
so this is a behaviour test), repay independent of the number of investors, and the chain left
as it was."""

from __future__ import annotations

import threading
import time

from backend.chain.bench.gas import KEYS, run_gas_bench


def test_gas_budgets(chain_settings, deployment, w3):
    block_before = w3.eth.block_number
    report = run_gas_bench(chain_settings, rpc_url=chain_settings.rpc_url)  # a chain of the suite's, nothing else uses it
    assert w3.eth.block_number == block_before  # reverted to where it started
    assert set(KEYS) <= set(report)
    assert report["createLoan"] <= 230_000
    assert report["fund_first"] <= 120_000 and report["fund"] <= 120_000
    assert report["repay"] <= 90_000
    assert abs(report["repay_investors_100"] - report["repay_investors_1"]) <= 0.01 * report["repay_investors_1"]
    assert report["repay_investors_10"] == report["repay"]
    assert report["claim"] <= 80_000
    assert report["anchor"] <= 60_000
    assert report["lifecycle_12x10"] <= 3_500_000
    assert report["market_list"] <= 140_000 and report["market_buy"] <= 170_000
    assert report["market_bid"] <= 140_000 and report["market_sell"] <= 170_000
    assert report["market_match"] <= 150_000
    assert report["fund_with_mandate"] <= 190_000  # a ticket the keeper funds under the investor's mandate, its per-loan record a fresh slot
    assert report["repay_with_mandate"] <= 150_000  # an installment the keeper pays by the borrower's autopay
    assert report["market_buy_vs_fund_ratio"] == round(report["market_buy"] / report["fund"], 3)
    assert all(report["within_budget"].values())
    # No repayment of the 12 costs more than the budget either, nor any ticket or claim.
    assert max(report["details"]["repay_each_installment"]) <= 90_000
    assert max(report["details"]["fund_each_ticket"]) <= 120_000
    assert max(report["details"]["claim_each_investor"]) <= 80_000
    assert report["baseline_per_loan_contract_deploy"] == 2_900_000
    assert report["lifecycle_vs_contract_deploy_ratio"] == round(report["lifecycle_12x10"] / 2_900_000, 3)


def test_every_contract_fits_eip170(artifacts):
    """EIP-170: no runtime code above 24,576 bytes (LoanBook is the one close to it)."""
    sizes = {name: len(art["deployedBytecode"]) // 2 - 1 for name, art in artifacts.items()}
    assert max(sizes.values()) <= 24_576, sizes


def test_the_bench_never_mines_on_a_chain_that_answers_unless_told_its_url(chain_settings, deployment, w3):
    """With `make run` up, the bench once snapshotted, mined on and reverted the platform's chain: its
    indexer saw a reorg. Now it measures on a temporary Anvil of its own, and the figures are a
    fresh chain's, the same as with no chain running."""
    start, seen, done = w3.eth.block_number, [], threading.Event()

    def watch() -> None:  # what the platform's indexer would see meanwhile
        while not done.is_set():
            seen.append(w3.eth.block_number)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        report = run_gas_bench(chain_settings)
    finally:
        done.set()
        watcher.join()
    assert len(seen) > 10 and set(seen) == {start}
    assert report["meta"]["chain"] == "anvil" and all(report["within_budget"].values())
