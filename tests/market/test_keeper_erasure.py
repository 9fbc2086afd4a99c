"""The market keeper and an erasure of a bidder's wallet at the same instant, on SQLite and PostgreSQL.
The keeper checks the bidder's attestation on chain, which stays valid until the erasure's revocation
is mined: a `matchOrders` queued after the erasure committed would deliver notes to a wallet whose
identity is gone (AML: notes no verified person stands behind). So a match is queued only while the
bidder's erasure has not begun (read under the erasure's lock), and an erasure after the match was
queued sees the notes the wallet is buying and is scheduled, as for notes already held."""

from __future__ import annotations

from sqlalchemy import select

import backend.market.keeper as keeper
from backend.chain.indexer import Indexer
from backend.chain.models import Intent
from backend.chain.outbox import process_until_idle
from backend.db.session import session_scope
from backend.identity.kyc.lifecycle import erase_wallet
from backend.identity.schemas import ErasurePublic, ErasureScheduledPublic
from backend.market.keeper import match_crossed
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.identity.conftest import make_applicant, verify
from tests.market.test_keeper import UNIT, _maker, _pass


def _matches(settings) -> list[str]:
    with session_scope(settings) as session:
        return list(session.scalars(select(Intent.key).where(Intent.function == "matchOrders")))


def _erase(settings, wallet: str):
    with session_scope(settings) as session:
        return erase_wallet(session, settings, wallet, wallet)


def _crossed(settings, world, bidder_seed: int):  # noqa: F811
    """A listing crossed by a bid of a verified wallet that holds nothing yet; the loan and the bidder."""
    seller, bidder = world.investors[0], world.investors[2]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    verify(settings, bidder.address, make_applicant(bidder_seed))
    _maker(world, bidder, "bid", loan_id, UNIT, 9_800)
    _maker(world, seller, "ask", loan_id, UNIT, 9_500)
    Indexer().catch_up(settings)
    return loan_id, bidder


def test_a_bidder_erased_after_the_keeper_checked_its_attestation_gets_no_match(settings, world, monkeypatch):  # noqa: F811
    """The erasure commits between the keeper's checks against the chain (the attestation still valid:
    its revocation is only queued) and its enqueue: nothing is queued for the erased bidder, now or later."""
    loan_id, bidder = _crossed(settings, world, 951)
    erasures: list = []
    real = keeper.plan_matches

    def planned_then_erased(db, settings_, now):
        planned = real(db, settings_, now)
        assert [m.buyer for m in planned] == [bidder.address]
        erasures.append(_erase(settings, bidder.address))
        return planned

    monkeypatch.setattr(keeper, "plan_matches", planned_then_erased)
    assert _pass(settings) == []
    (erased,) = erasures
    assert isinstance(erased, ErasurePublic) and erased.revocations, erased  # no notes held: erased at once
    monkeypatch.undo()
    assert _pass(settings) == [] and _matches(settings) == []  # nor at the next pass
    assert world.book.functions.balanceOf(bidder.address, loan_id).call() == 0


def test_an_erasure_after_a_match_was_queued_is_scheduled_until_the_notes_are_repaid(settings, world):  # noqa: F811
    """The match is queued first: the bidder is buying notes, a relationship already, so its erasure is
    scheduled (not carried out), the notes it receives kept in the name of an identified investor."""
    loan_id, bidder = _crossed(settings, world, 952)
    with session_scope(settings) as session:
        (match,) = match_crossed(session, settings)
    assert match.buyer == bidder.address
    scheduled = _erase(settings, bidder.address)
    assert isinstance(scheduled, ErasureScheduledPublic), scheduled
    assert scheduled.erase_after is None and f"holds notes of loan {loan_id}" in scheduled.reason, scheduled
    process_until_idle(settings)  # mined, not indexed yet: still in flight for the relationship
    assert isinstance(_erase(settings, bidder.address), ErasureScheduledPublic)
    assert world.book.functions.balanceOf(bidder.address, loan_id).call() == UNIT
