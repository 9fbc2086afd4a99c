"""Who is behind a wallet, for separation of duties (maker-checker, four eyes).

A wallet is cheap, so the rules compare persons: a wallet's person is the national IDs its KYC
records name, by their blind index (never the number), together with the wallet itself. Two
wallets are the same person when these share anything: one wallet, or one national ID. A wallet
without KYC (an admin by configuration, staff the operator granted by CLI) is a person of its own.

Every record counts, whatever its status, as long as it is not erased: a wallet that applied with
someone's ID (even if rejected for it) must not be the one to decide that someone's records. Links
are not followed further (wallet A shares an ID with B, B another with C: A and C are not joined),
so that an applicant who submits several people's IDs cannot tie those people together and stop
them deciding each other's work.

A borrower's person (`borrower_wallets_of`, `same_borrower_person`: the ledger checks, self-funding,
notes) is narrower: only records that were approved count, on both sides. Those checks are about
money, and their answers (the person's loans, a refusal naming the rule) would otherwise tell
whoever typed someone's ID number into a KYC form what that someone borrowed. It is wider in one
way: two national IDs that two admins linked as one person (a passport beside a national ID sharing a
phone: `kyc/person_links.py`), both approved, are one borrower's. A link is followed one step, from
the wallet's own verified IDs, as IDs are: A linked to B and B to C does not join A and C, since no
reviewer compared A with C (a family's shared phone would chain relatives into one debtor), and a
person's person stays the same from either side (a third identity is linked to the first itself)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from eth_utils import is_address, to_checksum_address
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from backend.db.chunks import chunks
from backend.identity.kyc.status import Status
from backend.identity.models import KycPersonLink, KycRecord, utcnow


def checksummed(wallet: str) -> str:
    """A wallet as erasure and the KYC records name it: checksummed when it is an address."""
    return to_checksum_address(wallet) if is_address(wallet) else wallet


def person_of(session: Session, wallet: str) -> frozenset[str]:
    """The wallet and the national IDs its records name, with those two admins linked to them as the
    same person (`linked_indexes`, one step): a second identity of an admin's own, once linked, is the
    admin's own for the four-eyes rules too."""
    wallet = checksummed(wallet)
    indexes = set(session.scalars(select(KycRecord.blind_index).distinct()
                                  .where(KycRecord.wallet == wallet, KycRecord.blind_index.is_not(None))))  # fmt: skip
    return frozenset({f"wallet:{wallet.lower()}", *(f"id:{index}" for index in _with_links(session, indexes))})


def person_of_record(session: Session, record: KycRecord) -> frozenset[str]:
    """The person a KYC record is about: its own national ID (and those linked to it) as well as its wallet's."""
    if record.blind_index is None:
        return person_of(session, record.wallet)
    return person_of(session, record.wallet) | {f"id:{index}" for index in _with_links(session, {record.blind_index})}


def _with_links(session: Session, indexes: set[str]) -> set[str]:
    # Approved or not: the four eyes count a person's records whatever their status, and a link two
    # admins confirmed before the second identity's approval must keep its holder off that approval.
    return indexes | {index for pair in linked_indexes(session, indexes, approved=False) for index in pair}


def wallets_of(session: Session, wallet: str) -> frozenset[str]:
    """The wallets of `wallet`'s person (checksummed, itself included): those whose records share a
    national ID with its own, by the same rule as `person_of`."""
    wallet = checksummed(wallet)
    own = select(KycRecord.blind_index).where(KycRecord.wallet == wallet, KycRecord.blind_index.is_not(None))
    others = session.scalars(select(KycRecord.wallet).distinct().where(KycRecord.blind_index.in_(own)))
    return frozenset({wallet, *map(checksummed, others)})


def shared_wallets(session: Session) -> dict[str, frozenset[str]]:
    """Each wallet (lowercased) that shares a national ID with another, with the wallets of its
    person by `wallets_of`'s rule (lowercased, itself included); a wallet not in it is a person of
    its own. For monitoring rules that compare a person's acts across all of them: one read of only
    the records whose national ID more than one wallet holds, so it costs what the shared IDs do,
    not the whole register, and checksums nothing (lowercase is one wallet however spelt)."""
    shared = (select(KycRecord.blind_index).where(KycRecord.blind_index.is_not(None)).group_by(KycRecord.blind_index)
              .having(func.count(func.distinct(func.lower(KycRecord.wallet))) > 1))  # fmt: skip
    pairs = [(wallet.lower(), index) for wallet, index in session.execute(
        select(KycRecord.wallet, KycRecord.blind_index).distinct().where(KycRecord.blind_index.in_(shared)))]  # fmt: skip
    holders: dict[str, set[str]] = defaultdict(set)
    for wallet, index in pairs:
        holders[index].add(wallet)
    found: dict[str, set[str]] = defaultdict(set)
    for wallet, index in pairs:
        found[wallet] |= holders[index]
    return {wallet: frozenset(of) for wallet, of in found.items()}


def wallets_of_each(session: Session, wallets: Iterable[str]) -> dict[str, frozenset[str]]:
    """`wallets_of` for many wallets (keyed checksummed) in one read (`shared_wallets`)."""
    shared = shared_wallets(session)
    return {wallet: frozenset({wallet, *map(checksummed, shared.get(wallet.lower(), ()))})
            for wallet in {checksummed(w) for w in wallets}}  # fmt: skip


_VERIFIED = (KycRecord.blind_index.is_not(None), KycRecord.attest_key.is_not(None))  # attested: approved once


def borrower_wallets_of(session: Session, wallet: str) -> frozenset[str]:
    """The wallets of `wallet`'s person as a borrower (checksummed, itself included): those verified
    with a national ID it was verified with, each at some time (approved then, whatever the record's
    status now: an expired, renewed or withdrawn verification keeps its wallet in the person, whose
    loans it took while verified). Narrower than `wallets_of` on purpose: anyone may type someone's
    ID number into a KYC form, and a record no admin approved would otherwise show that someone's
    loans with us to the typist (GET /offers/borrowing, the offer's refusals) and count the typist's
    own loans as theirs. Wider by the confirmed same-person links of those IDs, one step (`linked_indexes`)."""
    wallet = checksummed(wallet)
    own = set(session.scalars(select(KycRecord.blind_index).distinct().where(KycRecord.wallet == wallet, *_VERIFIED)))
    indexes = own | {index for pair in linked_indexes(session, own) for index in pair}
    others = session.scalars(select(KycRecord.wallet).distinct().where(KycRecord.blind_index.in_(indexes), *_VERIFIED))
    return frozenset({wallet, *map(checksummed, others)})


def linked_indexes(session: Session, indexes: Iterable[str], approved: bool = True) -> list[tuple[str, str]]:
    """The confirmed same-person links touching one of these national IDs (blind indexes), as pairs
    of the two records' IDs, both records not erased (an erased record has none) and, for a borrower's
    person (`approved`), both approved once. The four eyes (`person_of`) take a link whatever the
    records' status, as they take the records themselves: two admins said whose the second identity is."""
    indexes = set(indexes)
    if not indexes:
        return []
    a, b = aliased(KycRecord), aliased(KycRecord)
    verified = (a.attest_key.is_not(None), b.attest_key.is_not(None)) if approved else ()
    found: set[tuple[str, str]] = set()
    for some in chunks(indexes):  # bounded lists: a page of referrals may name many IDs
        found |= set(session.execute(
            select(a.blind_index, b.blind_index).select_from(KycPersonLink)
            .join(a, a.id == KycPersonLink.record_a).join(b, b.id == KycPersonLink.record_b)
            .where(KycPersonLink.confirmed_by.is_not(None), *verified, a.erased_at.is_(None), b.erased_at.is_(None),
                   a.blind_index.is_not(None), b.blind_index.is_not(None),
                   or_(a.blind_index.in_(some), b.blind_index.in_(some)))).tuples())  # fmt: skip
    return sorted(found)


def borrower_wallets_of_each(session: Session, wallets: Iterable[str]) -> dict[str, frozenset[str]]:
    """`borrower_wallets_of` for many wallets (keyed as given) in three reads, not three a wallet: their
    approved-once national IDs, the confirmed links of those, then the (wallet, national ID) pairs of
    approved-once records of any of them (a page of referrals, each shown its person's other applications)."""
    given = {w: checksummed(w) for w in wallets}
    if not given:
        return {}
    own: dict[str, set[str]] = defaultdict(set)  # wallet -> its verified national IDs
    for some in chunks(given.values()):  # bounded lists, however many wallets are asked about
        for w, index in session.execute(select(KycRecord.wallet, KycRecord.blind_index).distinct()
                                        .where(KycRecord.wallet.in_(some), *_VERIFIED)):  # fmt: skip
            own[checksummed(w)].add(index)
    links: dict[str, set[str]] = defaultdict(set)  # national ID -> those linked to it, one step
    for x, y in linked_indexes(session, {index for indexes in own.values() for index in indexes}):
        links[x].add(y)
        links[y].add(x)
    reach = {wallet: indexes | {other for index in indexes for other in links[index]} for wallet, indexes in own.items()}
    pairs = set()
    for some in chunks({i for indexes in reach.values() for i in indexes}):
        pairs |= {(checksummed(w), index) for w, index in session.execute(
            select(KycRecord.wallet, KycRecord.blind_index).distinct().where(KycRecord.blind_index.in_(some), *_VERIFIED))}  # fmt: skip
    holders: dict[str, set[str]] = defaultdict(set)
    for wallet, index in pairs:
        holders[index].add(wallet)
    return {raw: frozenset({wallet, *(w for index in reach.get(wallet, ()) for w in holders[index])})
            for raw, wallet in given.items()}  # fmt: skip


def same_borrower_person(session: Session, wallet: str, borrower: str) -> bool:
    """Is `wallet` the borrower, or another wallet of the borrower's person (`borrower_wallets_of`)?
    What self-funding and self-dealing in notes are refused on: by this rule, not `same_person`'s,
    so that a refusal tells nobody which loans the holder of an ID number they typed borrowed."""
    return checksummed(borrower) in borrower_wallets_of(session, wallet)


def same_person(session: Session, wallet: str, other: str) -> bool:
    return bool(person_of(session, wallet) & person_of(session, other))


def is_verified(session: Session, wallet: str) -> bool:
    """Has the wallet an approved, unexpired KYC, so that a known person is behind it?"""
    return session.scalar(select(KycRecord.id).where(
        KycRecord.wallet == checksummed(wallet), KycRecord.status == Status.APPROVED, KycRecord.expires_at > utcnow(),
    ).limit(1)) is not None  # fmt: skip
