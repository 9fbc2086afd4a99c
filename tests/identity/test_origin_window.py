"""KYC network origins (HMACs of applicants' addresses) are kept no longer than the window their
check looks back over (privacy review L4): a round of the servicing worker deletes the older ones
even when no submission comes to do it, and does so before its pass, so a node that is down does
not keep them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.db.session import session_scope
from backend.identity.models import KycOrigin, utcnow
from backend.workers.registry import WORKERS
from tests.identity.conftest import client_for, make_applicant, submit


def _applied_from(settings, seeds_and_addresses) -> None:
    for seed, address in seeds_and_addresses:
        with client_for(settings, address=address) as client:
            assert submit(client, make_applicant(seed)).status_code == 201


def _seen(settings, days_ago: list[float]) -> list[str]:
    """The origins recorded so far, in order, as if seen `days_ago` each; their wallets in that order."""
    with session_scope(settings) as session:
        rows = session.scalars(select(KycOrigin).order_by(KycOrigin.id)).all()
        for row, days in zip(rows, days_ago, strict=True):
            row.seen_at = utcnow() - timedelta(days=days)
        return [row.wallet for row in rows]


def _origins(settings) -> list[str]:
    with session_scope(settings) as session:
        return sorted(session.scalars(select(KycOrigin.wallet)))


def test_a_servicing_round_with_no_submission_prunes_the_origins_past_the_window(chain_identity_settings):
    settings = chain_identity_settings
    window_days = settings.kyc_origin_window / 86_400
    _applied_from(settings, [(80, "81.2.69.142"), (81, "81.2.69.143")])
    past, inside = _seen(settings, [window_days + 1, window_days - 1])
    assert _origins(settings) == sorted([past, inside])  # no submission came to prune it

    WORKERS["servicing"].step(settings)  # a real round: the pruning, then a servicing pass on the chain
    assert _origins(settings) == [inside]


def test_the_round_prunes_even_when_its_servicing_pass_fails(settings, monkeypatch):
    window_days = settings.kyc_origin_window / 86_400
    _applied_from(settings, [(83, "81.2.69.145"), (84, "81.2.69.146")])
    _, inside = _seen(settings, [window_days + 0.01, window_days - 1])

    def node_down(_settings):
        raise ConnectionError("node unreachable")

    monkeypatch.setattr("backend.servicing.service.servicing_step", node_down)
    with pytest.raises(ConnectionError):
        WORKERS["servicing"].step(settings)
    assert _origins(settings) == [inside]


def test_two_pruning_rounds_and_a_submission_at_once_keep_every_origin_inside_the_window(any_db_settings):
    """Two servicing rounds at once (a worker whose lock dropped beside the standby; the README's last
    untested overlap) prune beside a submission, which prunes too before it records its own origin:
    each origin past the window goes, once, and nothing inside it, the new one included."""
    from backend.identity.checks.origin import prune_expired_origins
    from tests.workers.overlap import at_once

    settings = any_db_settings
    window_days = settings.kyc_origin_window / 86_400
    _applied_from(settings, [(85, "81.2.69.147"), (86, "81.2.69.148"), (87, "81.2.69.149")])
    past, older, inside = _seen(settings, [window_days + 1, window_days + 3, window_days - 1])

    def submission() -> int:
        _applied_from(settings, [(88, "81.2.69.150")])
        return 0

    results = at_once(lambda: prune_expired_origins(settings), lambda: prune_expired_origins(settings), submission)
    assert all(isinstance(r, int) for r in results), results
    # The two old origins went once between the three (a round that found them gone deletes nothing).
    assert sum(results) <= 2
    newest = _origins(settings)
    assert past not in newest and older not in newest and inside in newest and len(newest) == 2
