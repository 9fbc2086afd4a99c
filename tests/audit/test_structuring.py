"""The 2026-12-01 reviews' structuring and longer cycles, on a real chain index (Anvil, the indexer):
gifts of notes each under the large-gift threshold that reach it together within the window, from
one person to another (any wallet sharing a national ID), raise `structured_gifts`; notes going
round three or more wallets back to the first raise `cycle`. A near miss of each raises nothing:
gifts that stay under the threshold, or reach it only over more than the window, or move between
one person's own wallets; a ring longer than the hop bound, or closed after the window."""

from __future__ import annotations

import uuid

import pytest

from backend.audit.monitoring import alerts
from backend.chain.indexer import Indexer
from backend.db.session import session_scope
from backend.identity.models import KycRecord
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.contracts.helpers import DAY
from tests.identity.conftest import ADMIN

UNIT = 10**6  # no repayment yet: a note stands for one base unit of principal


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url, admin_wallets=[ADMIN.address],
                        monitoring_gift_threshold=1_000)  # fmt: skip


def _alerts(settings, **kw) -> list:
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        return alerts(session, settings, **kw)


def _person(settings, national_id: str, *wallets: str, status: str = "approved") -> None:
    """KYC records of one national ID (its blind index) on each wallet, as a verification leaves them
    (attested), or as a submission an admin did not approve leaves them (`status` another)."""
    with session_scope(settings) as session:
        for wallet in wallets:
            record_id = str(uuid.uuid4())
            session.add(KycRecord(id=record_id, wallet=wallet, status=status, level=1, id_type="national_id",
                                  blind_index=national_id, ciphertext=b"-", commitment="0x" + "00" * 32,
                                  attest_key=f"kyc:attest:{record_id}" if status == "approved" else None))  # fmt: skip


def _give(world, loan_id: int, sender, recipient, notes: int) -> str:  # noqa: F811
    receipt = world.chain.tx(world.book.functions.safeTransferFrom(sender.address, recipient.address, loan_id,
                                                                   notes * UNIT, b""), sender.address)  # fmt: skip
    return receipt["transactionHash"].to_0x_hex()


def test_gifts_each_under_the_threshold_from_one_person_to_another_are_flagged_together(settings, world):  # noqa: F811
    alice, alices_other, carol, dave = world.investors[:4]
    _person(settings, "id-alice", alice.address, alices_other.address)
    _person(settings, "id-carol", carol.address)
    loan_id, _ = world.active_loan(investors=[alice, alices_other])  # 6,000 notes each
    first = _give(world, loan_id, alice, carol, 400)
    _give(world, loan_id, alice, alices_other, 900)  # within one person: nothing changed hands
    second = _give(world, loan_id, alice, carol, 300)
    assert _alerts(settings) == []  # 700 so far: under 1,000
    third = _give(world, loan_id, alices_other, carol, 300)  # the same person's other wallet: 1,000 together
    (structured,) = _alerts(settings)
    assert structured.rule == "structured_gifts" and structured.loan_id == loan_id
    assert structured.tx_hashes == [first, second, third] and structured.amount == 1_000 * UNIT
    assert structured.wallets == [alice.address, alices_other.address, carol.address]
    assert "3 gifts of notes" in structured.detail and "each under the large-gift threshold" in structured.detail

    # The sum starts again after an alert: 999 more is a near miss; a gift at the threshold is large_gift's.
    _give(world, loan_id, alice, carol, 999)
    assert [a.key for a in _alerts(settings, rule="structured_gifts")] == [structured.key]  # stable across reads
    _give(world, loan_id, alice, dave, 1_000)
    assert sorted(a.rule for a in _alerts(settings)) == ["large_gift", "structured_gifts"]


def test_gifts_that_reach_the_threshold_only_over_more_than_the_window_are_not_flagged(settings, world):  # noqa: F811
    alice, bob = world.investors[:2]
    loan_id, start = world.active_loan(investors=[alice, bob])
    _give(world, loan_id, alice, bob, 600)
    world.chain.mine_at(start + 2 * DAY)
    _give(world, loan_id, alice, bob, 600)
    one_day = settings.model_copy(update={"monitoring_structuring_days": 1})
    assert _alerts(one_day, rule="structured_gifts") == []  # two days apart: a near miss
    (found,) = _alerts(settings, rule="structured_gifts")  # within the default 30 days: one run of 1,200
    assert found.amount == 1_200 * UNIT and found.wallets == [alice.address, bob.address]


def test_notes_going_round_three_wallets_raise_a_cycle_and_a_longer_ring_than_the_bound_does_not(settings, world):  # noqa: F811
    a, b, c, d, e = world.investors[:5]
    loan_id, start = world.active_loan(investors=[a, b])
    hops = [_give(world, loan_id, a, c, 100), _give(world, loan_id, c, d, 100), _give(world, loan_id, d, a, 90)]
    (cycle,) = _alerts(settings)  # not a round trip: no pair went there and back
    assert (cycle.rule, cycle.loan_id, cycle.wallets, cycle.tx_hashes) == ("cycle", loan_id, [a.address, c.address, d.address], hops)
    assert cycle.amount == 90 * UNIT and f"went {a.address} -> {c.address} -> {d.address} -> {a.address}" in cycle.detail

    # Five moves round five wallets (another loan's notes): past the default bound of four, flagged
    # only when the bound allows it.
    other, _ = world.active_loan(investors=[b, e])
    ring = [_give(world, other, b, c, 50), _give(world, other, c, d, 50), _give(world, other, d, e, 50),
            _give(world, other, e, a, 50), _give(world, other, a, b, 50)]  # fmt: skip
    assert [x.key for x in _alerts(settings, rule="cycle")] == [cycle.key]
    five = settings.model_copy(update={"monitoring_cycle_max_hops": 5})
    (longer,) = [x for x in _alerts(five, rule="cycle") if x.key != cycle.key]
    assert longer.tx_hashes == ring and longer.wallets == [b.address, c.address, d.address, e.address, a.address]

    # A ring closed after the window is a near miss.
    third, _ = world.active_loan(investors=[b, d])
    _give(world, third, b, d, 10)
    _give(world, third, d, e, 10)
    world.chain.mine_at(start + 2 * DAY)
    _give(world, third, e, b, 10)
    one_day = settings.model_copy(update={"monitoring_round_trip_days": 1})
    assert [x.key for x in _alerts(one_day, rule="cycle")] == [cycle.key]
    assert len(_alerts(settings, rule="cycle")) == 2  # within 30 days it is one


def test_a_recipient_who_typed_the_senders_national_id_is_not_the_senders_person(settings, world):  # noqa: F811
    """Anyone may type someone's ID number into a KYC form: a record no admin approved joins nobody,
    or a recipient would submit the sender's ID (rejected, or left waiting) and have every gift from
    the sender count as a move between one person's own wallets, unseen by this rule. A person is
    wallets verified with one national ID, as the borrower checks take it (`persons.borrower_wallets_of`)."""
    alice, carol = world.investors[:2]
    _person(settings, "id-bb-alice", alice.address)
    _person(settings, "id-cc-carol", carol.address)
    _person(settings, "id-bb-alice", carol.address, status="rejected")  # the smaller index, on carol's wallet
    loan_id, _ = world.active_loan(investors=[alice])
    gifts = [_give(world, loan_id, alice, carol, 600), _give(world, loan_id, alice, carol, 600)]
    (structured,) = _alerts(settings, rule="structured_gifts")
    assert structured.tx_hashes == gifts and structured.wallets == [alice.address, carol.address]
