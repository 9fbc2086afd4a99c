"""Vintages: loans grouped by month of disbursal, each group's default curve by month on book, and
its repaid and lost shares. The servicing test checks a default on the chain lands in its month."""

from __future__ import annotations

import pytest

from backend.chain.projection_models import LoanRow
from backend.disclosure.vintages import MONTH_ON_BOOK, _vintage, vintage_of

JAN = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86_400


def _loan(loan_id: int, status: str, start: int, principal: int = 1_000, outstanding: int = 0, cover: int = 0,
          recovered: int = 0, paid: int = 0, debt: int | None = None) -> LoanRow:  # fmt: skip
    # what the borrower still owes after a default: the debt at default (here the principal then
    # outstanding unless given) less what was recovered
    recoverable = max(0, (outstanding if debt is None else debt) - recovered)
    return LoanRow(loan_id=loan_id, status=status, start_time=start, principal=principal,
                   principal_outstanding=outstanding, cover=cover, recovered=recovered, principal_paid=paid,
                   recoverable=recoverable, installments=12, installments_settled=0)  # fmt: skip


def test_a_vintage_is_its_month_of_disbursal_in_utc():
    assert vintage_of(JAN) == "2026-01" and vintage_of(JAN - 1) == "2025-12"


def test_the_curve_adds_each_default_in_the_month_on_book_it_happened():
    group = [
        _loan(1, "defaulted", JAN, outstanding=600, cover=480, recovered=20, paid=400),
        _loan(2, "defaulted", JAN + 10 * DAY, outstanding=900, cover=720, paid=100),
        _loan(3, "repaid", JAN + 20 * DAY, paid=1_000),
        _loan(4, "active", JAN + 5 * DAY, outstanding=500, paid=500),
    ]
    defaulted_at = {1: JAN + 4 * MONTH_ON_BOOK + DAY, 2: JAN + 10 * DAY + 2 * MONTH_ON_BOOK}
    as_of = JAN + 6 * MONTH_ON_BOOK + 3 * DAY
    v = _vintage("2026-01", group, defaulted_at, as_of)
    assert (v.loans, v.principal_originated, v.repaid_loans, v.defaulted_loans) == (4, 4_000, 1, 2)
    assert v.principal_repaid == 2_000 and v.principal_at_default == 1_500
    assert v.default_rate == pytest.approx(1_500 / 4_000)
    assert v.net_loss_rate == pytest.approx((600 - 480 - 20 + 900 - 720) / 4_000)
    assert v.months_on_book == 7  # its oldest loan is in its 7th month on book
    # Loan 2 defaulted in its 3rd month on book, loan 1 in its 5th.
    assert v.cumulative_default_rate == pytest.approx([0, 0, 900 / 4_000, 900 / 4_000, 0.375, 0.375, 0.375])


def test_recoveries_that_repay_the_reserve_are_not_the_investors():
    """Recoveries repay the investors' `debt - cover` first, then the reserve's cover: only the
    first part lowers what the investors lost."""
    loan = _loan(1, "defaulted", JAN, outstanding=600, cover=480, recovered=200, debt=650)
    assert (loan.recoverable, loan.cover_recouped, loan.recovered_by_investors) == (450, 30, 170)
    assert loan.net_loss == 0  # 480 + 170 = 650 >= 600
    v = _vintage("2026-01", [loan, _loan(2, "defaulted", JAN, outstanding=900, cover=720, recovered=150, debt=900)],
                 {}, JAN + MONTH_ON_BOOK)  # fmt: skip
    assert v.net_loss_rate == pytest.approx((900 - 720 - 150) / 2_000)


def test_a_young_vintage_has_a_short_curve():
    v = _vintage("2026-01", [_loan(1, "active", JAN, outstanding=1_000)], {}, JAN + DAY)
    assert v.months_on_book == 1 and v.cumulative_default_rate == [0.0] and v.default_rate == 0


def test_only_months_every_loan_has_completed_are_complete_points_of_the_curve():
    """The review's L3: a Jan-1 loan and a Jan-31 loan, read 60 days and a second after Jan 1. The
    curve has begun its 3rd month on book, but the youngest loan has completed only one: only the
    1st point is final, and the CLI's "by 3 months" is n/a rather than a 0.00% record."""
    a = _loan(1, "active", JAN, outstanding=1_000)
    b = _loan(2, "active", JAN + 30 * DAY, outstanding=1_000)
    v = _vintage("2026-01", [a, b], {}, JAN + 2 * MONTH_ON_BOOK + 1)
    assert (v.months_on_book, len(v.cumulative_default_rate), v.complete_months) == (3, 3, 1)
    assert _vintage("2026-01", [a], {}, JAN + DAY).complete_months == 0  # a month begun is not one completed
    assert _vintage("2026-01", [a, b], {}, JAN + 30 * DAY + 3 * MONTH_ON_BOOK).complete_months == 3


def test_the_cli_shows_a_month_on_book_not_every_loan_has_completed_as_n_a(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from backend.chain.models import IndexedBlock, IndexerCheckpoint
    from backend.cli.main import app
    from backend.config import get_settings
    from backend.db import migrate
    from backend.db.session import session_scope
    from tests.anchoring.helpers import point_get_settings_at
    from tests.conftest import make_settings
    from tests.disclosure.test_loss_rates import _loan as _indexed_loan

    settings = make_settings(tmp_path)
    migrate.upgrade(settings)
    with session_scope(settings) as session:
        _indexed_loan(session, 1, "active", 1_000, 1_000, JAN, "B")
        _indexed_loan(session, 2, "active", 1_000, 1_000, JAN + 30 * DAY, "B")
        at = JAN + 30 * DAY + 3 * MONTH_ON_BOOK + 1  # the youngest has completed 3 months on book, the oldest 4
        session.add(IndexedBlock(number=5, hash="0x" + "05" * 32, parent_hash="0x" + "04" * 32, timestamp=at))
        session.add(IndexerCheckpoint(name="main", block_number=5, block_hash="0x" + "05" * 32, deployment_hash="x"))
    try:
        point_get_settings_at(monkeypatch, settings)
        table = CliRunner().invoke(app, ["disclosure", "vintages"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert table.exit_code == 0, table.output
    assert "0.0% / n/a / n/a" in table.stdout
