"""Monitoring rules over the paths notes take between wallets, beside `round_trip` and `large_gift`
(backend/audit/monitoring.py), on the same chain index:

- `structured_gifts`: notes moved outside the market from one person to another in gifts each
  under the `large_gift` threshold (`monitoring_gift_threshold`) that together reach it within
  `monitoring_structuring_days`: a large gift cut into pieces to stay under the rule. A person is
  the wallets verified with one national ID (the KYC blind index of a record approved once; a wallet
  verified with more than one counts under the smallest), or a wallet of its own; gifts between one person's own wallets move
  no value to anyone and are left out. One alert per run of gifts that reaches the threshold, after
  which the sum starts again, so a string of gifts raises one alert per threshold's worth.
- `cycle`: notes of one loan going round more than two wallets, A -> B -> C (-> ...) -> A, each move
  leaving the wallet the one before reached, the first to the last within
  `monitoring_round_trip_days` and at most `monitoring_cycle_max_hops` moves (A -> B -> A is
  `round_trip`'s): wash trading or layering that a pair rule misses by adding a wallet."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.audit.schemas import AlertPublic
from backend.chain.projection_models import NoteTransferRow
from backend.db.chunks import chunks
from backend.identity.models import KycRecord

DAY = 86_400

Alert = Callable[..., AlertPublic]
Gift = tuple[NoteTransferRow, int | None, int]  # a move outside the market, its block time, the principal it stood for


def _persons(db: Session, wallets: set[str]) -> dict[str, str]:
    """Each wallet's person: `id:` the smallest national ID blind index it was verified with (a record
    approved once, as `persons.borrower_wallets_of` takes it), or `wallet:` itself. Not any record's:
    anyone may type someone's ID number into a KYC form, and a recipient who typed the sender's would
    make every gift between them one person's own, unseen."""
    indexes = {wallet: index for some in chunks(wallets)  # every wallet a gift touched: bounded lists
               for wallet, index in db.execute(select(KycRecord.wallet, func.min(KycRecord.blind_index))
                                               .where(KycRecord.wallet.in_(some), KycRecord.blind_index.is_not(None),
                                                      KycRecord.attest_key.is_not(None))
                                               .group_by(KycRecord.wallet))}  # fmt: skip
    return {w: f"id:{indexes[w]}" if w in indexes else f"wallet:{w.lower()}" for w in wallets}


def structured_gifts(db: Session, gifts: list[Gift], threshold: int, window: int, alert: Alert) -> list[AlertPublic]:
    """`gifts` in block order, `threshold` in base units, `window` in seconds. One pass over the
    gifts, each kept in its pair's run until it falls out of the window: O(gifts x run length)."""
    person = _persons(db, {w for move, _, _ in gifts for w in (move.sender, move.recipient)})
    runs: dict[tuple[str, str], list[Gift]] = defaultdict(list)
    found = []
    for move, at, worth in gifts:
        at = at or 0
        gift = (move, at, worth)
        pair = (person[move.sender], person[move.recipient])
        if worth >= threshold or pair[0] == pair[1]:  # large_gift's own, or a person's own wallets
            continue
        run = [g for g in runs[pair] if at - g[1] <= window] + [gift]
        total = sum(w for _, _, w in run)
        if total < threshold:
            runs[pair] = run
            continue
        runs[pair] = []
        loans = sorted({m.loan_id for m, _, _ in run})
        senders, recipients = dict.fromkeys(m.sender for m, _, _ in run), dict.fromkeys(m.recipient for m, _, _ in run)
        found.append(alert(
            rule="structured_gifts", loan_id=loans[0] if len(loans) == 1 else None,
            wallets=[*senders, *(w for w in recipients if w not in senders)],
            tx_hashes=[m.tx_hash for m, _, _ in run], also=[str(m.log_index) for m, _, _ in run], timestamp=at,
            amount=total,
            detail=f"{len(run)} gifts of notes (loans {', '.join(map(str, loans))}) from {', '.join(senders)} to "
                   f"{', '.join(recipients)} within {(at - run[0][1]) / DAY:.1f} days, each under the large-gift "
                   f"threshold of {threshold} and together standing for {total} of principal outstanding: "
                   "check whether one large gift was cut into pieces",
        ))  # fmt: skip
    return found


def cycles(moves: list, window: int, max_hops: int, alert: Alert) -> list[AlertPublic]:
    """`moves` (note transfers with their block times) in block order. Each move extends the live
    paths (started within `window`, shorter than `max_hops`, no wallet twice) that reached its
    sender, and closes those that started at its recipient. Cost: O(moves x live paths at a wallet);
    a wallet that sent d moves of a loan within the window has at most d^(max_hops - 1) live paths
    through it, which the hop bound keeps small on a real book (the default 4: d^3)."""
    paths: dict[tuple[int, str], list[list[tuple[NoteTransferRow, int]]]] = defaultdict(list)
    found = []
    for move, at in moves:
        at = at or 0
        if move.sender == move.recipient:
            continue
        live = [p for p in paths[move.loan_id, move.sender] if at - p[0][1] <= window]
        paths[move.loan_id, move.sender] = live
        closed = None
        for path in live:
            visited = [m.sender for m, _ in path] + [move.sender]
            if move.recipient == visited[0]:
                if len(path) >= 2 and (closed is None or len(path) < len(closed)):  # 3+ moves: A -> B -> A is round_trip
                    closed = path
            elif move.recipient not in visited and len(path) + 1 < max_hops:
                paths[move.loan_id, move.recipient].append([*path, (move, at)])
        paths[move.loan_id, move.recipient].append([(move, at)])
        if closed is None:
            continue
        hops = [*closed, (move, at)]
        ring = [m.sender for m, _ in hops]
        found.append(alert(
            rule="cycle", loan_id=move.loan_id, wallets=ring, tx_hashes=[m.tx_hash for m, _ in hops],
            also=[str(m.log_index) for m, _ in hops], timestamp=at, amount=move.amount,
            detail=f"notes of loan {move.loan_id} went {' -> '.join([*ring, ring[0]])} within "
                   f"{(at - hops[0][1]) / DAY:.1f} days ({', '.join(str(m.amount) for m, _ in hops)} notes): check "
                   "for wash trading or layering through more than two wallets",
        ))  # fmt: skip
    return found
