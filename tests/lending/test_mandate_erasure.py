"""The mandate keeper and an erasure of the investor's wallet at the same instant, on SQLite and
PostgreSQL. The keeper reads the wallet's attestation on chain, which stays valid until the erasure's
revocation is mined: a `fundWithMandate` queued after the erasure committed would land in the name of
an investor whose identity is gone (AML: a funding no verified person stands behind). So money moves
for the wallet only if its erasure had not begun when the funding was queued: an erasure that commits
first leaves nothing queued (the keeper reads the KYC record under the erasure's lock, and the erasure
withdrew the mandate), and one that begins while a funding is being queued waits for it, then sees it
in flight and is scheduled, as for a funding queued before."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

import backend.lending.mandate_keeper as mandate_keeper
from backend.chain.models import Intent
from backend.chain.outbox import process_until_idle
from backend.db.session import session_factory, session_scope
from backend.identity.kyc.lifecycle import erase_wallet
from backend.identity.models import ErasureRequest, KycRecord
from backend.identity.schemas import ErasurePublic, ErasureScheduledPublic
from backend.lending.mandate_keeper import fund_by_mandates
from backend.lending.models import FundingMandateRow, MandateStatus
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.lending.conftest import loan_by_another
from tests.lending.test_mandates import UNIT, _keeper_pass, _under_mandate
from tests.lending.test_mandates import settings as settings  # noqa: F401  (the fixture)
from tests.lending.test_portfolio import _decision_hash
from tests.scoring.conftest import SAMPLE


def _fundings(settings) -> list[str]:
    with session_scope(settings) as session:
        return list(session.scalars(select(Intent.key).where(Intent.function == "fundWithMandate")))


def _mandate_status(settings, wallet: str) -> str:
    with session_scope(settings) as session:
        return session.scalar(select(FundingMandateRow.status).where(FundingMandateRow.wallet == wallet))


def _erased(settings, wallet: str) -> bool:
    with session_scope(settings) as session:
        return all(r.erased_at is not None for r in session.scalars(select(KycRecord).where(KycRecord.wallet == wallet)))


def _erase(settings, wallet: str):
    with session_scope(settings) as session:
        return erase_wallet(session, settings, wallet, wallet)


def test_an_erasure_committing_after_the_keeper_read_the_attestation_leaves_no_funding_queued(settings, world, monkeypatch):  # noqa: F811
    """The erasure commits between the keeper's read of the attestation (valid on chain: the revocation
    is only queued) and its enqueue: the keeper queues nothing for the erased wallet."""
    investor = world.investors[2]
    _under_mandate(settings, world, investor, 941)
    erasures: list = []
    real = mandate_keeper.is_verified

    def verified_then_erased(settings_, wallet, level):
        answer = real(settings_, wallet, level)
        if wallet == investor.address and not erasures:
            erasures.append(_erase(settings, wallet))
        return answer

    monkeypatch.setattr(mandate_keeper, "is_verified", verified_then_erased)
    with session_scope(settings) as session:
        assert fund_by_mandates(session, settings) == []
    (erased,) = erasures
    assert isinstance(erased, ErasurePublic) and erased.revocations, erased
    assert _fundings(settings) == []
    assert _mandate_status(settings, investor.address) == MandateStatus.CANCELLED  # withdrawn with the identity
    monkeypatch.undo()
    # Nor at any later pass, with the mandate in use all the same (a restore from a backup taken before
    # the erasure brings the row back; the erasure log's replay erases the record again).
    with session_scope(settings) as session:
        session.scalar(select(FundingMandateRow).where(FundingMandateRow.wallet == investor.address)).status = MandateStatus.ACTIVE
    assert _keeper_pass(settings) == [] and _fundings(settings) == []


def test_a_keeper_queuing_while_the_erasure_commits_waits_for_it_and_queues_nothing(settings, world):  # noqa: F811
    """The erasure's transaction is open (the wallet erased, its revocation queued, not committed) when the
    keeper comes to queue the wallet's funding: the keeper waits for the erasure, then queues nothing."""
    investor = world.investors[3]
    _under_mandate(settings, world, investor, 942)
    erasing = session_factory(settings)()
    assert isinstance(erase_wallet(erasing, settings, investor.address, investor.address), ErasurePublic)
    outcome: list = []

    def keep() -> None:
        try:
            with session_scope(settings) as session:
                outcome.append(fund_by_mandates(session, settings))
        except Exception as exc:  # noqa: BLE001 - the answer under test
            outcome.append(exc)

    keeper = threading.Thread(target=keep)
    keeper.start()
    time.sleep(1.5)  # the keeper's round has begun, and waits or has read
    erasing.commit()
    erasing.close()
    keeper.join(60)
    # Nothing either way: waiting for the erasure (a loaded machine may start the round after it committed).
    assert outcome == [[]], outcome
    assert _fundings(settings) == [] and _erased(settings, investor.address)


def test_an_erasure_while_the_keeper_queues_a_funding_waits_for_it_and_is_scheduled(settings, world):  # noqa: F811
    """The keeper's transaction is open (the wallet's `fundWithMandate` queued, not committed) when an
    erasure of the wallet begins: it must not read the wallet as investing nothing and erase it, the
    funding landing after. It waits for the keeper, then sees the funding in flight: scheduled."""
    investor = world.investors[4]
    _, _, loan_id = _under_mandate(settings, world, investor, 943)
    keeping = session_factory(settings)()
    (funding,) = fund_by_mandates(keeping, settings)
    outcome: list = []

    def erase() -> None:
        try:
            outcome.append(_erase(settings, investor.address))
        except Exception as exc:  # noqa: BLE001 - the answer under test
            outcome.append(exc)

    eraser = threading.Thread(target=erase)
    eraser.start()
    time.sleep(1.5)  # the erasure has begun, and waits or has read
    keeping.commit()
    keeping.close()
    eraser.join(60)
    (answer,) = outcome
    assert isinstance(answer, ErasureScheduledPublic) and f"loan {loan_id}" in answer.reason, answer
    assert _fundings(settings) == [funding.key] and not _erased(settings, investor.address)
    # Scheduled, the wallet's processing is restricted: its mandate is withdrawn and the funding, not
    # yet signed, never goes out (one already signed would land, within the relationship kept).
    assert _mandate_status(settings, investor.address) == MandateStatus.CANCELLED
    with session_scope(settings) as session:
        assert session.scalar(select(Intent.error_name).where(Intent.key == funding.key)) == "Withdrawn"


def test_the_keeper_funds_nothing_more_for_a_wallet_whose_erasure_is_scheduled(settings, world):  # noqa: F811
    """An investor holding notes asks for erasure: scheduled for the end of the AML period after its
    relationship, its processing restricted meanwhile. The keeper funds no new loan for it: each
    funding would open the relationship again and push the erasure it asked for further off."""
    investor = world.investors[5]
    client, headers, loan_id = _under_mandate(settings, world, investor, 944)
    assert _keeper_pass(settings) == [(loan_id, 300 * UNIT)]
    scheduled = _erase(settings, investor.address)
    assert isinstance(scheduled, ErasureScheduledPublic), scheduled
    assert _mandate_status(settings, investor.address) == MandateStatus.CANCELLED  # withdrawn with the request
    # Nor is a new one drafted: it would look active and never fund.
    draft = client.post("/api/v1/portfolio/rule/mandate/draft", json={"budget": 1_000 * UNIT}, headers=headers)
    assert draft.status_code == 409 and "erasure is scheduled or done: no new funding mandate" in draft.json()["detail"]
    # A mandate in use all the same (signed again after the request): the keeper reads the request itself.
    with session_scope(settings) as session:
        session.scalar(select(FundingMandateRow).where(FundingMandateRow.wallet == investor.address)).status = MandateStatus.ACTIVE
    loan_by_another(world, decision_hash=_decision_hash(settings, SAMPLE), apr_bps=1_500, installments=12)
    assert _keeper_pass(settings) == []
    process_until_idle(settings)
    assert len(_fundings(settings)) == 1
    with session_scope(settings) as session:
        assert session.scalar(select(ErasureRequest.status).where(ErasureRequest.wallet == investor.address)) == "scheduled"
