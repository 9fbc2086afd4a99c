"""Money mules on a real chain index (Anvil, the indexer): borrowers of two persons passing half or
more of their disbursals to one wallet within a week raise `collection_wallet`, as does a borrower
passing it to another person's investor wallet. Near misses raise nothing: one person's two
borrower wallets, a borrower's own other wallet, forwards under the share or after the window."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import update
from web3 import Web3

from backend.audit.monitoring import alerts
from backend.chain.indexer import Indexer
from backend.db.session import session_scope
from backend.identity.models import KycRecord
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.contracts.helpers import DAY, KYC_EXPIRY
from tests.identity.conftest import ADMIN

UNIT = 10**6
NET = 11_880 * UNIT  # the default terms: 12,000 lent, a 1% origination fee
MULE = Web3.to_checksum_address("0x" + "ab" * 20)  # a wallet the platform knows nothing of


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url, admin_wallets=[ADMIN.address])


def _alerts(settings, **kw) -> list:
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        return alerts(session, settings, rule="collection_wallet", **kw)


def _person(settings, national_id: str, *wallets: str) -> None:
    """Approved KYC records of one national ID (its blind index) on each wallet."""
    with session_scope(settings) as session:
        for wallet in wallets:
            session.add(KycRecord(id=str(uuid.uuid4()), wallet=wallet, status="approved", level=1, id_type="national_id",
                                  blind_index=national_id, ciphertext=b"-", commitment="0x" + "00" * 32,
                                  attest_key=f"kyc:attest:{uuid.uuid4()}"))  # fmt: skip


def _borrower(world, account) -> None:  # noqa: F811
    """An investor wallet verified at the borrowers' level too."""
    world.chain.tx(world.kyc.functions.attest(account.address, world.borrower_level, KYC_EXPIRY,
                                              Web3.keccak(text=f"borrower-{account.address}")), world.admin.address)  # fmt: skip


def _loan(world, borrower, funders) -> tuple[int, int]:  # noqa: F811
    return world.active_loan(borrower=borrower.address, borrower_key=borrower, investors=funders)


def _send(world, sender, to: str, amount: int, at: int | None = None) -> str:  # noqa: F811
    receipt = world.chain.tx(world.token.functions.transfer(to, amount), sender.address, at=at)
    return receipt["transactionHash"].to_0x_hex()


def _two_persons(settings, world):  # noqa: F811
    """Two borrower wallets of two persons, and wallets to fund their loans."""
    first, second = world.borrower, world.investors[0]
    _borrower(world, second)
    _person(settings, "id-first", first.address)
    _person(settings, "id-second", second.address)
    return first, second, world.investors[2:5]


def test_borrowers_of_two_persons_passing_their_disbursals_to_one_wallet_raise_it(settings, world):  # noqa: F811
    first, second, funders = _two_persons(settings, world)
    loan_a, _ = _loan(world, first, funders)
    to_mule = _send(world, first, MULE, 7_000 * UNIT)  # 59% of what it was lent
    assert _alerts(settings) == []  # one person so far: a borrower may pay anyone
    loan_b, _ = _loan(world, second, funders)
    part = _send(world, second, MULE, 3_000 * UNIT)
    rest = _send(world, second, MULE, 3_000 * UNIT)  # 6,000 together: 51%
    (alert,) = _alerts(settings)
    assert (alert.rule, alert.loan_id, alert.amount) == ("collection_wallet", loan_b, 6_000 * UNIT)
    assert alert.wallets == [MULE, second.address, first.address]
    assert alert.tx_hashes[1:] == [part, rest] and len(alert.tx_hashes) == 3  # the disbursal first
    assert f"received {6_000 * UNIT} of loan {loan_b}'s disbursal of {NET} (51%)" in alert.detail
    assert f"disbursals of loans {loan_a}" in alert.detail and first.address in alert.detail
    assert to_mule not in alert.tx_hashes and "id-" not in alert.detail  # wallets and loans, no personal data
    assert [a.key for a in _alerts(settings)] == [alert.key]  # stable across reads

    # A third loan passed to it is an alert of its own, even from the first person again.
    loan_c, _ = _loan(world, first, funders)
    _send(world, first, MULE, 6_000 * UNIT)
    alerts = _alerts(settings)  # by loan: two alerts in one second of chain time sort by their hashes
    assert sorted(a.loan_id for a in alerts) == [loan_b, loan_c]
    (newest,) = [a for a in alerts if a.loan_id == loan_c]
    assert newest.wallets == [MULE, first.address, second.address]


def test_one_persons_borrowers_passing_money_to_one_wallet_or_to_their_own_is_not_flagged(settings, world):  # noqa: F811
    first, second, own = world.borrower, world.investors[0], world.investors[1]
    funders = world.investors[2:5]
    _borrower(world, second)
    _person(settings, "id-one", first.address, second.address, own.address)
    _loan(world, first, funders)
    _loan(world, second, funders)
    _send(world, first, MULE, 8_000 * UNIT)
    _send(world, second, MULE, 8_000 * UNIT)
    world.fund(world.create()[0], own, 1_000 * UNIT)  # `own` invests: still the borrower's own wallet
    _send(world, first, own.address, 2_000 * UNIT)
    _send(world, second, own.address, 9_000 * UNIT)
    assert _alerts(settings) == []

    # The same transfers are flagged once the second wallet is another person's.
    with session_scope(settings) as session:
        session.execute(update(KycRecord).where(KycRecord.wallet == second.address).values(blind_index="id-two"))
    flagged = {(a.wallets[0], a.wallets[1]) for a in _alerts(settings)}
    assert flagged == {(MULE, second.address), (own.address, second.address)}  # `own` invests: another's now


def test_forwards_under_the_share_or_after_the_window_are_not_flagged(settings, world):  # noqa: F811
    first, second, funders = _two_persons(settings, world)
    _loan(world, first, funders)
    _send(world, first, MULE, 5_000 * UNIT)  # 42%
    _, start = _loan(world, second, funders)
    _send(world, second, MULE, 5_900 * UNIT)  # 49.7%
    assert _alerts(settings) == []
    (lower,) = _alerts(settings.model_copy(update={"monitoring_collection_share": 0.4}))
    assert lower.amount == 5_900 * UNIT  # both forwards reach 40%

    _send(world, first, MULE, 2_000 * UNIT)  # 59% together: the first person's forward is made
    _send(world, second, MULE, 1_000 * UNIT, at=start + 8 * DAY)  # 58% together, the last after a week
    assert _alerts(settings) == []
    (late,) = _alerts(settings.model_copy(update={"monitoring_collection_days": 9}))
    assert late.amount == 6_900 * UNIT and late.wallets == [MULE, second.address, first.address]


def test_a_borrower_passing_its_disbursal_to_another_persons_investor_or_borrower_wallet_is_flagged(settings, world):  # noqa: F811
    borrower, investor = world.borrower, world.investors[2]
    _person(settings, "id-borrower", borrower.address)
    _person(settings, "id-investor", investor.address)
    loan_id, _ = _loan(world, borrower, world.investors[2:5])  # `investor` funded it
    sent = _send(world, borrower, investor.address, 6_000 * UNIT)
    (alert,) = _alerts(settings)
    assert (alert.loan_id, alert.wallets, alert.tx_hashes[-1]) == (loan_id, [investor.address, borrower.address], sent)
    assert f"an investor wallet on the platform, of another person (loans {loan_id})" in alert.detail

    # And to another person's borrower wallet: flagged as one, naming its loan.
    other = world.investors[0]
    _borrower(world, other)
    _person(settings, "id-other", other.address)
    others_loan, _ = _loan(world, other, world.investors[3:5])
    _send(world, borrower, other.address, 6_000 * UNIT)
    to_borrower = next(a for a in _alerts(settings) if a.wallets[0] == other.address)
    assert f"a borrower wallet on the platform, of another person (loans {others_loan})" in to_borrower.detail


COLLECTOR = Web3.to_checksum_address("0x" + "cd" * 20)  # the organiser's second wallet


def test_disbursals_passed_on_in_pieces_under_the_share_to_wallets_that_gather_from_other_persons_are_flagged(
        settings, world):  # noqa: F811
    """Review 2026-12-01: an organiser who has each mule pass the disbursal on in pieces, 49% to each of
    two wallets of theirs, raised nothing; the pieces to wallets that gathered a piece of another
    person's disbursal before now count together against the share."""
    first, second, third = world.borrower, world.investors[0], world.investors[1]
    funders = world.investors[2:5]
    _borrower(world, second)
    _borrower(world, third)
    for national_id, account in (("id-first", first), ("id-second", second), ("id-third", third)):
        _person(settings, national_id, account.address)
    loan_a, _ = _loan(world, first, funders)
    _send(world, first, MULE, 5_800 * UNIT)  # 49% to each
    _send(world, first, COLLECTOR, 5_800 * UNIT)
    assert _alerts(settings) == []  # one person so far
    loan_b, _ = _loan(world, second, funders)
    pieces = [_send(world, second, MULE, 5_800 * UNIT), _send(world, second, COLLECTOR, 1_000 * UNIT)]
    (alert,) = _alerts(settings)
    assert (alert.rule, alert.loan_id, alert.amount) == ("collection_wallet", loan_b, 6_800 * UNIT)
    assert alert.wallets == [MULE, COLLECTOR, second.address, first.address]
    assert alert.tx_hashes[1:] == pieces and len(alert.tx_hashes) == 3  # the disbursal first
    assert (f"{second.address} passed {6_800 * UNIT} of loan {loan_b}'s disbursal of {NET} (57%) on in pieces"
            in alert.detail)  # fmt: skip
    assert f"{MULE} ({5_800 * UNIT}) and {COLLECTOR} ({1_000 * UNIT})" in alert.detail
    assert f"pieces of the disbursals of loans {loan_a}" in alert.detail and "id-" not in alert.detail
    _send(world, second, COLLECTOR, 4_800 * UNIT)  # made already: the alert (its key) stays as it was
    assert [(a.key, a.amount) for a in _alerts(settings)] == [(alert.key, alert.amount)]

    # Pieces to such wallets that stay under the share together, or to a wallet nobody else paid, are not.
    _loan(world, third, funders)
    _send(world, third, MULE, 3_000 * UNIT)  # 25% to a gatherer
    _send(world, third, COLLECTOR, 2_900 * UNIT)  # 49.7% together
    _send(world, third, Web3.to_checksum_address("0x" + "ef" * 20), 6_000 * UNIT)  # a shop: nobody else's money
    assert [a.loan_id for a in _alerts(settings)] == [loan_b]
    # Pieces under `monitoring_collection_piece_share` do not make a gatherer: the first person's 49%
    # stays a piece at 0.4, not at 0.5, and then the second person's pieces count for nothing.
    assert [a.loan_id for a in _alerts(settings.model_copy(update={"monitoring_collection_piece_share": 0.4}))] == [loan_b]
    assert _alerts(settings.model_copy(update={"monitoring_collection_piece_share": 0.5})) == []


def test_a_loan_flagged_for_one_wallet_is_not_flagged_again_for_its_pieces(settings, world):  # noqa: F811
    first, second, funders = _two_persons(settings, world)
    _loan(world, first, funders)
    _send(world, first, MULE, 6_000 * UNIT)
    _send(world, first, COLLECTOR, 3_000 * UNIT)
    loan_b, _ = _loan(world, second, funders)
    _send(world, second, MULE, 6_000 * UNIT)  # a forward to a collection wallet: flagged as one
    _send(world, second, COLLECTOR, 3_000 * UNIT)
    (alert,) = _alerts(settings)
    assert (alert.loan_id, alert.wallets[0], alert.amount) == (loan_b, MULE, 6_000 * UNIT)


def test_the_window_is_no_longer_than_the_index_keeps_a_borrowers_transfers(tmp_path):
    from pydantic import ValidationError

    from backend.config import TOKEN_FOLLOW_DAYS
    from tests.conftest import make_settings

    assert make_settings(tmp_path, monitoring_collection_days=TOKEN_FOLLOW_DAYS).monitoring_collection_days == 30
    with pytest.raises(ValidationError, match="monitoring_collection_days"):
        make_settings(tmp_path, monitoring_collection_days=TOKEN_FOLLOW_DAYS + 1)
