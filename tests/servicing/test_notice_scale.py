"""The servicing pass's investor notices cost the same few queries however many standing
instructions, open loans and mandate fundings there are, and tell exactly whom they told before:
rules are matched in memory against one read of the open loans (what `matching` admits), and
mandate fundings are read from the events past those already told."""

from __future__ import annotations

from sqlalchemy import select, update

from backend.chain.models import ChainEvent
from backend.chain.projection_models import LoanRow, NoteBalanceRow
from backend.db.session import session_scope
from backend.disclosure.bench import NOW, _book, _hex
from backend.lending.loans import decision_facts
from backend.lending.mandates import active_mandate
from backend.lending.models import FundingMandateRow, InvestmentRule
from backend.lending.rules import matching
from backend.servicing import investor_notices
from backend.servicing.investor_notices import tell_mandate_fundings, tell_rule_matches
from backend.servicing.models import ServicingNotice
from backend.servicing.notices import given_before
from tests.conftest import make_settings
from tests.statements import statements

UNIT = 10**6
DAY = 86_400


def _open_book(settings, loans: int) -> list[LoanRow]:
    """The synthetic book with one loan in ten (and the book's own) open for funding, half funded."""
    _book(settings, loans, seed=11)
    with session_scope(settings) as session:
        session.execute(update(LoanRow).where(LoanRow.loan_id % 10 == 0).values(
            status="funding", funding_deadline=NOW + 7 * DAY, start_time=None))  # fmt: skip
        opened = list(session.scalars(select(LoanRow).where(LoanRow.status == "funding")))
        for loan in opened:
            loan.funded = loan.principal // 2
        session.flush()
        session.expunge_all()
        return opened


def _rules(settings, opened: list[LoanRow], generic: int) -> None:
    """Narrow rules, one the borrower of an open loan, one holding enough of another, one with an
    active mandate (and one expired), then `generic` rules admitting every loan."""
    def rule(n: int, **narrowed) -> InvestmentRule:
        return InvestmentRule(wallet=_hex(50_000 + n, 40), per_loan=100 * UNIT, **narrowed)

    with session_scope(settings) as session:
        session.add_all([rule(1, grades=["A", "B"], min_apr_bps=1_000), rule(2, max_installments=12),
                         rule(3, grades=["C"]), rule(4, grades=[])])  # fmt: skip
        session.add(InvestmentRule(wallet=opened[0].borrower, per_loan=100 * UNIT))
        holder = rule(5)
        session.add_all([holder, NoteBalanceRow(loan_id=opened[1].loan_id, holder=holder.wallet, balance=100 * UNIT,
                                                block_number=1, tx_hash=_hex(1), log_index=0),
                         NoteBalanceRow(loan_id=opened[2].loan_id, holder=holder.wallet, balance=UNIT,
                                        block_number=1, tx_hash=_hex(1), log_index=0)])  # fmt: skip
        for n, expiry in ((1, NOW + 30 * DAY), (2, NOW - DAY)):
            session.add(FundingMandateRow(mandate_hash=_hex(n), wallet=_hex(50_000 + n, 40), chain_id=1, agent=_hex(3, 40),
                                          mandate={"budget": str(10**12)}, expiry=expiry, signature="0x"))  # fmt: skip
        session.add_all([rule(100 + n) for n in range(generic)])


def _expected(session) -> list[tuple]:
    """What the pass told before it was batched: each rule's `matching` loans, its grade, whether an
    active mandate acts on them, less the matches told already."""
    told = []
    for rule in session.scalars(select(InvestmentRule)):
        loans = matching(session, rule, NOW)
        facts = decision_facts(session, {loan.decision_hash for loan in loans})
        mandated = active_mandate(session, rule.wallet, NOW) is not None
        told += [(loan.loan_id, rule.wallet, rule.per_loan, facts[loan.decision_hash].grade, mandated)
                 for loan in loans if not given_before(session, loan.loan_id, 0, "loan_match", rule.wallet)]  # fmt: skip
    return told


def _told(session) -> list[tuple]:
    return [(n.loan_id, n.recipient, n.amount, n.message.split("grade ")[1][0], "funding mandate lets" in n.message)
            for n in session.scalars(select(ServicingNotice).where(ServicingNotice.kind == "loan_match").order_by(ServicingNotice.id))]  # fmt: skip


def test_rule_matches_tell_what_matching_admits_and_cost_the_same_however_many_rules_and_loans(tmp_path):
    steady = {}
    for loans, generic in ((100, 5), (200, 20)):
        settings = make_settings(tmp_path / str(loans))
        opened = _open_book(settings, loans)
        _rules(settings, opened, generic)
        with session_scope(settings) as session:
            expected = _expected(session)
            assert tell_rule_matches(session, NOW, lambda: 6) == len(expected)
        with session_scope(settings) as session:
            assert _told(session) == expected
            pairs = {e[:2] for e in expected}
            assert (opened[0].loan_id, opened[0].borrower) not in pairs and (opened[1].loan_id, opened[0].borrower) in pairs
            assert (opened[1].loan_id, _hex(50_005, 40)) not in pairs  # holds per_loan already
            assert (opened[2].loan_id, _hex(50_005, 40)) in pairs  # holds less
            assert {e[4] for e in expected if e[1] == _hex(50_001, 40)} == {True}  # its mandate acts
            assert {e[4] for e in expected if e[1] == _hex(50_002, 40)} == {False}  # expired: it does not
            with statements(session) as sent:  # nothing new: nobody is told again, in the same few queries
                assert tell_rule_matches(session, NOW, lambda: 6) == 0
            steady[loans] = len(sent)
            # A new open loan is told to the rules it matches, and only it.
            session.execute(update(LoanRow).where(LoanRow.loan_id == 1).values(status="funding", funding_deadline=NOW + DAY,
                                                                               start_time=None, funded=0))  # fmt: skip
            expected = _expected(session)
            assert {loan_id for loan_id, *_ in expected} == {1}
            assert tell_rule_matches(session, NOW, lambda: 6) == len(expected) > 0
    assert steady[100] == steady[200] <= 6


def _used(session, event_id: int, loan_id: int, investor: str) -> None:
    session.add(ChainEvent(id=event_id, block_number=event_id, block_hash=_hex(event_id), tx_hash=_hex(event_id), tx_index=0,
                           log_index=0, contract="FundingAgent", address=_hex(4, 40), event="MandateUsed",
                           args={"loanId": loan_id, "investor": investor, "mandateHash": _hex(1), "amount": str(UNIT),
                                 "spent": str(UNIT)}, block_timestamp=NOW))  # fmt: skip


def test_mandate_fundings_read_only_the_events_past_those_told(tmp_path):
    settings = make_settings(tmp_path)
    _book(settings, 50, seed=11)
    investor = _hex(60_000, 40)
    with session_scope(settings) as session:
        first = session.scalar(select(ChainEvent.id).order_by(ChainEvent.id.desc()).limit(1)) + 1
        for n in range(40):
            _used(session, first + n, 1 + n, investor)
        _used(session, first + 40, 10_000, investor)  # its loan is not indexed yet
    with session_scope(settings) as session:
        assert tell_mandate_fundings(session, lambda: 6) == 40
    with session_scope(settings) as session:
        assert tell_mandate_fundings(session, lambda: 6) == 0  # told once
        with statements(session) as sent:
            assert tell_mandate_fundings(session, lambda: 6) == 0
        events_query, parameters = next((s, p) for s, p in sent if "EXISTS" in s)
        # Read from the untold event on, a range of the primary key (the rowid): not every MandateUsed event ever.
        assert investor_notices._mandates_told[str(session.get_bind().url)][0] == first + 39
        plan = " ".join(str(row) for row in session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + events_query, parameters))
        assert "SEARCH chain_events" in plan and "rowid>? AND rowid<?)" in plan, plan
        session.add(LoanRow(**{c.key: getattr(session.get(LoanRow, 1), c.key) for c in LoanRow.__table__.columns}
                            | {"loan_id": 10_000}))  # fmt: skip
        _used(session, first + 41, 2, _hex(60_001, 40))  # a new funding for another investor
    with session_scope(settings) as session:
        assert tell_mandate_fundings(session, lambda: 6) == 2  # the loan now indexed, and the new event
        assert tell_mandate_fundings(session, lambda: 6) == 0
        told = {(n.loan_id, n.recipient) for n in session.scalars(select(ServicingNotice).where(ServicingNotice.kind == "mandate_funded"))}
        assert len(told) == 42 and (10_000, investor) in told and (2, _hex(60_001, 40)) in told
    with session_scope(settings) as session:  # the rows up to the mark rewritten (a restore): read all again
        session.execute(ChainEvent.__table__.delete().where(ChainEvent.id >= first))
        session.execute(ServicingNotice.__table__.delete().where(ServicingNotice.kind == "mandate_funded",
                                                                 ServicingNotice.loan_id == 5))  # fmt: skip
        for n in range(3):
            _used(session, first + n, 3 + n, investor)
        session.get(ChainEvent, first + 2).block_hash = _hex(999_999)
    with session_scope(settings) as session:
        assert tell_mandate_fundings(session, lambda: 6) == 1  # loan 5's, lost with the rows, told again
