"""A notice's wording has no length limit in the database: a message longer than the 500 characters
the column once held (a long token symbol, a roll-rate sentence and a cure date together) failed the
insert on PostgreSQL, and with it the whole servicing pass, for every loan, at every pass after."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from backend.db import migrate
from backend.db.session import session_scope
from backend.servicing.models import ServicingNotice
from backend.servicing.notices import add_notice
from tests.conftest import make_settings


@dataclass
class _Loan:
    loan_id: int
    borrower: str


def test_a_notice_longer_than_500_characters_is_given_whole(tmp_path, database_url):
    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings)
    message = "Loan 7: " + "a sentence of the notice's wording. " * 60
    with session_scope(settings) as session:
        assert add_notice(session, _Loan(7, "0x" + "b1" * 20), 1, "default", 0, 10**6, message, chain_time=1)
    with session_scope(settings) as session:
        assert session.scalar(select(ServicingNotice.message)) == message
