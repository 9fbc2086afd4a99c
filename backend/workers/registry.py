"""Every background worker by name. To add one, add a line: name -> (step, interval)."""

from __future__ import annotations

from backend.config import Settings
from backend.errors import ValidationFailed
from backend.workers.runner import Worker


def _outbox_step(settings: Settings) -> int:
    from backend.chain.sender import OutboxSender

    return OutboxSender().run_once(settings)  # stateless: everything it knows is persisted


def _anchor_step(settings: Settings) -> int:
    from backend.anchoring.batcher import batcher_step

    return batcher_step(settings)


def _indexer_step(settings: Settings) -> int:
    from backend.chain.indexer import Indexer

    return Indexer().run_once(settings)


def _servicing_step(settings: Settings) -> int:
    from backend.identity.checks.origin import prune_expired_origins
    from backend.servicing.service import servicing_step

    # KYC network origins are kept no longer than their check looks back, by the clock and not only
    # at the next submission; pruned first, so a pass that fails on the node does not keep them.
    return prune_expired_origins(settings) + servicing_step(settings)


def _market_keeper_step(settings: Settings) -> int:
    from backend.market.keeper import keeper_step

    return keeper_step(settings)


def _mandate_keeper_step(settings: Settings) -> int:
    """Investors' funding mandates and borrowers' autopay mandates."""
    from backend.lending.mandate_keeper import mandate_keeper_step

    return mandate_keeper_step(settings)


def _backup_step(settings: Settings) -> int:
    from backend.backup.schedule import backup_step

    return backup_step(settings)


def _retention_step(settings: Settings) -> int:
    """Erasures the AML period held off, once due, and personal data kept past its retention period."""
    from backend.identity.kyc.retention import retention_step

    return retention_step(settings)


def _fair_lending_step(settings: Settings) -> int:
    """Today's fair-lending check of live decisions, once a day."""
    from backend.scoring.fair_lending_checks import fair_lending_step

    return fair_lending_step(settings)


WORKERS: dict[str, Worker] = {
    "outbox": Worker("outbox", _outbox_step, lambda s: s.outbox_poll_interval),
    "indexer": Worker("indexer", _indexer_step, lambda s: s.indexer_poll_interval),
    "anchor-batcher": Worker("anchor-batcher", _anchor_step, lambda s: min(5.0, max(0.5, s.anchor_batch_interval / 4))),
    "servicing": Worker("servicing", _servicing_step, lambda s: s.servicing_interval),
    "market-keeper": Worker("market-keeper", _market_keeper_step, lambda s: s.market_keeper_interval),
    "mandate-keeper": Worker("mandate-keeper", _mandate_keeper_step, lambda s: s.mandate_keeper_interval),
    "backup": Worker("backup", _backup_step, lambda s: 60.0),  # checks whether one is due; takes it then
    "retention": Worker("retention", _retention_step, lambda s: s.retention_interval),
    "fair-lending": Worker("fair-lending", _fair_lending_step, lambda s: s.fair_lending_interval),
}


def build_worker(name: str) -> Worker:
    try:
        return WORKERS[name]
    except KeyError:
        raise ValidationFailed(f"unknown worker {name!r}; one of {', '.join(WORKERS)}") from None


def worker_names(spec: str = "all") -> list[str]:
    return list(WORKERS) if spec == "all" else [build_worker(spec).name]
