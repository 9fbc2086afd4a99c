"""Acting for a wallet only while its identity stands, serialized with the wallet's erasure.

An erasure holds the wallet's lock from before its first read until it commits
(`lifecycle._hold_acceptances`: `offers.accept_lock` by name on PostgreSQL, SQLite's write lock). A
writer that must not act for an erased wallet (the mandate keeper queuing a `fundWithMandate`: the
chain's attestation stays valid until the erasure's revocation is mined, so the chain cannot tell)
takes the same lock in the transaction that writes, then reads the KYC records (`identified`):

- an erasure that committed first is seen (its records erased, or its request scheduled);
- one running now is waited for, then seen;
- one that begins after waits for the writer's commit and sees what it wrote (a funding in flight
  is a relationship: the erasure is scheduled, `relationship.py`).
No order leaves a window in which both go ahead. The market keeper's `matchOrders`, which delivers
notes to a bid's wallet, takes it too, and passes over a bidder whose identity is gone (`gone`)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.session import begin_write, lock_until_commit
from backend.identity.kyc.status import Status
from backend.identity.models import ErasureRequest, KycRecord
from backend.lending.offers import accept_lock


def hold_erasures(session: Session, wallets: Iterable[str], model: type) -> None:
    """Wait for, then keep out until the commit, an erasure of any of `wallets`: SQLite's write lock
    (a no-op UPDATE of `model`'s table) taken before anything is read, and on PostgreSQL each wallet's
    lock, in order (an acceptance takes several the same way: no two wait on each other)."""
    begin_write(session, model)
    for wallet in sorted({w.lower() for w in wallets}):
        lock_until_commit(session, accept_lock(wallet))


def identified(session: Session, wallets: Iterable[str]) -> set[str]:
    """Those of `wallets` the platform can still tie to a verified person: an approved KYC record not
    erased, and no erasure asked for (one scheduled restricts the wallet's processing to what the AML
    period keeps the data for). Read under `hold_erasures`, and afresh: not from the session's cache."""
    wallets = sorted(set(wallets))
    if not wallets:
        return set()
    approved = set(session.scalars(select(KycRecord.wallet).where(KycRecord.wallet.in_(wallets),
                                                                  KycRecord.status == Status.APPROVED,
                                                                  KycRecord.erased_at.is_(None))))  # fmt: skip
    restricted = set(session.scalars(select(ErasureRequest.open_for).where(ErasureRequest.open_for.in_(wallets))))
    return approved - restricted


def gone(session: Session, wallets: Iterable[str]) -> set[str]:
    """Those of `wallets` whose erasure was asked for (scheduled: processing restricted) or carried
    out (an erased record, and no approved one standing): read under `hold_erasures`. Only erasure
    counts here: whether a wallet is verified at all is the chain's attestation to say (the market
    checks its makers there), and a wallet of no KYC record here is not gone."""
    wallets = sorted(set(wallets))
    if not wallets:
        return set()
    restricted = set(session.scalars(select(ErasureRequest.open_for).where(ErasureRequest.open_for.in_(wallets))))
    erased = set(session.scalars(select(KycRecord.wallet).where(KycRecord.wallet.in_(wallets), KycRecord.erased_at.is_not(None))))
    return restricted | (erased - identified(session, erased))
