import json

import pytest
from sqlalchemy import inspect

from backend.db import migrate
from backend.db.session import get_engine
from tests.conftest import make_settings

pytestmark = pytest.mark.real_migrations  # these test the migrations: never a clone of the template


def test_upgrade_downgrade_upgrade(database_url, tmp_path):
    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings)
    assert migrate.current_revision(settings) == migrate.head_revision(settings)
    assert "meta" in inspect(get_engine(settings)).get_table_names()
    migrate.downgrade(settings, "base")
    assert migrate.current_revision(settings) is None
    assert "meta" not in inspect(get_engine(settings)).get_table_names()
    migrate.upgrade(settings)
    assert migrate.current_revision(settings) == migrate.head_revision(settings)


def test_models_match_migrations(database_url, tmp_path):
    """Every table the models declare is created by the migrations, on both databases."""
    from backend.db.models import Base

    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings)
    tables = set(inspect(get_engine(settings)).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_notices_given_before_investor_notices_keep_their_borrower_as_recipient(database_url, tmp_path):
    from sqlalchemy import text

    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings, "0008_notice_delivery")
    borrower = "0x" + "ab" * 20
    with get_engine(settings).begin() as conn:
        conn.execute(text(
            "INSERT INTO servicing_notices (loan_id, borrower, installment, kind, due_date, amount, message,"
            " created_at, email_attempts) VALUES (7, :b, 1, 'overdue', 0, 5, 'late', CURRENT_TIMESTAMP, 0)"
        ), {"b": borrower})  # fmt: skip
    migrate.upgrade(settings)
    with get_engine(settings).begin() as conn:
        assert conn.execute(text("SELECT recipient FROM servicing_notices")).scalar_one() == borrower
    migrate.downgrade(settings, "0008_notice_delivery")  # and back: the borrower's notice survives
    with get_engine(settings).begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM servicing_notices")).scalar_one() == 1


def _log_events(settings, logged: list[tuple[str, dict]]) -> None:
    """LoanBook events in chain_events, as an indexer before the migration under test stored them."""
    from sqlalchemy import text

    with get_engine(settings).begin() as conn:
        for i, (event, args) in enumerate(logged):
            conn.execute(text(
                "INSERT INTO chain_events (block_number, block_hash, tx_hash, tx_index, log_index, contract, address,"
                " event, args) VALUES (5, :h, :h, 0, :i, 'LoanBook', :a, :e, :args)"
            ), {"h": "0x" + "11" * 32, "i": i, "a": "0x" + "99" * 20, "e": event, "args": json.dumps(args)})  # fmt: skip


def test_claims_and_note_transfers_already_indexed_are_folded_in_on_upgrade(database_url, tmp_path):
    from sqlalchemy import text

    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings, "0009_investor_notices")
    investor, other, zero = "0x" + "cd" * 20, "0x" + "ef" * 20, "0x" + "00" * 20
    logged = [
        ("Claimed", {"loanId": 4, "investor": investor, "amount": 12345}),
        ("TransferSingle", {"operator": investor, "from": zero, "to": investor, "id": 4, "value": 500}),  # a mint
        ("TransferSingle", {"operator": investor, "from": investor, "to": other, "id": 4, "value": 200}),
    ]
    _log_events(settings, logged)
    migrate.upgrade(settings)
    with get_engine(settings).begin() as conn:
        claim = conn.execute(text("SELECT loan_id, investor, kind, amount FROM chain_fundings")).one()
        moved = conn.execute(text("SELECT loan_id, sender, recipient, amount FROM chain_note_transfers")).all()
    assert tuple(claim) == (4, investor, "claim", "12345")
    assert [tuple(m) for m in moved] == [(4, investor, other, "200")]  # wallet to wallet only
    migrate.downgrade(settings, "0009_investor_notices")
    with get_engine(settings).begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM chain_fundings")).scalar_one() == 0


def test_events_already_indexed_get_their_subjects_on_upgrade(database_url, tmp_path):
    from sqlalchemy import text

    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings, "0010_investor_statement")
    payer, zero = "0x" + "ab" * 20, "0x" + "00" * 20
    args = {"loanId": 9, "payer": payer, "installment": 1, "feePaid": 0, "principalOutstanding": 5}
    batch = {"operator": payer, "from": payer, "to": zero, "ids": [3, 4], "values": [1, 1]}
    _log_events(settings, [("LoanPayment", args), ("TransferBatch", batch)])
    migrate.upgrade(settings)
    with get_engine(settings).begin() as conn:
        rows = conn.execute(text("SELECT loan_id, address FROM chain_event_subjects ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [(9, None), (None, payer), (3, None), (4, None), (None, payer)]


def test_case_notes_written_in_clear_are_sealed_on_upgrade_and_opened_on_downgrade(database_url, tmp_path):
    from sqlalchemy import text

    from backend.db.session import session_scope
    from backend.servicing.collections import actions_of

    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings, "0020_collection_actions")
    with get_engine(settings).begin() as conn:
        conn.execute(text(
            "INSERT INTO collection_actions (loan_id, kind, note, actor, chain_time, created_at)"
            " VALUES (3, 'contacted', 'spoke to them; will pay Friday', :a, 10, CURRENT_TIMESTAMP)"
        ), {"a": "0x" + "ab" * 20})  # fmt: skip
    migrate.upgrade(settings)
    with get_engine(settings).begin() as conn:
        sealed, key_id = conn.execute(text("SELECT sealed_note, key_id FROM collection_actions")).one()
    assert key_id and b"Friday" not in bytes(sealed)
    with session_scope(settings) as session:
        assert [a.note for a in actions_of(session, settings, [3], lambda: 0)[3]] == ["spoke to them; will pay Friday"]
    migrate.downgrade(settings, "0020_collection_actions")
    with get_engine(settings).begin() as conn:
        assert conn.execute(text("SELECT note FROM collection_actions")).scalar_one() == "spoke to them; will pay Friday"


def test_review_notes_written_in_clear_are_sealed_on_upgrade_and_opened_on_downgrade(database_url, tmp_path):
    from sqlalchemy import text

    from backend.db.session import session_scope
    from backend.scoring.models import CreditDecision
    from backend.scoring.review_notes import note_of

    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings, "0029_session_epochs")
    with get_engine(settings).begin() as conn:
        conn.execute(text(
            "INSERT INTO credit_decisions (id, created_at, model_version, input_hash, decision_hash, score, grade, pd,"
            " decision, inputs, outputs, wallet, review, reviewed_by, reviewed_at, review_note)"
            " VALUES ('d1', CURRENT_TIMESTAMP, 'm', 'i', 'h', 500, 'C', 0.1, 'refer', '{}', :o, :w, 'approve', :u,"
            " CURRENT_TIMESTAMP, 'past delays were medical')"
        ), {"o": json.dumps({"score": 500}), "w": "0x" + "ab" * 20, "u": "0x" + "cd" * 20})  # fmt: skip
    migrate.upgrade(settings)
    with get_engine(settings).begin() as conn:
        sealed, key_id = conn.execute(text("SELECT sealed_review_note, key_id FROM credit_decisions")).one()
    assert key_id and b"medical" not in bytes(sealed)
    with session_scope(settings) as session:
        assert note_of(settings, session.get(CreditDecision, "d1")) == "past delays were medical"
    migrate.downgrade(settings, "0029_session_epochs")
    with get_engine(settings).begin() as conn:
        assert conn.execute(text("SELECT review_note FROM credit_decisions")).scalar_one() == "past delays were medical"


def test_loans_already_indexed_get_the_transaction_that_created_them_on_upgrade(database_url, tmp_path):
    from sqlalchemy import text

    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings, "0027_notice_kind_index")
    created, funded, h = "0x" + "c1" * 32, "0x" + "f2" * 32, "0x" + "00" * 32
    with get_engine(settings).begin() as conn:
        for i, (tx, event, args) in enumerate([(created, "LoanCreated", {"loanId": 3}), (funded, "LoanFunded", {"loanId": 3})]):
            conn.execute(text(
                "INSERT INTO chain_events (block_number, block_hash, tx_hash, tx_index, log_index, contract, address,"
                " event, args) VALUES (:n, :h, :tx, 0, :i, 'LoanBook', :a, :e, :args)"
            ), {"n": 5 + i, "h": "0x" + f"{i:064x}", "tx": tx, "i": i, "a": "0x" + "99" * 20, "e": event,
                "args": json.dumps(args)})  # fmt: skip
        conn.execute(text(
            "INSERT INTO chain_loans (loan_id, status, borrower, underwriter, terms_hash, agreement_hash, decision_hash,"
            " principal, apr_bps, installments, installment_period, installment_amount, funding_deadline,"
            " origination_fee_bps, funded, origination_fee, principal_outstanding, last_installment, interest_paid,"
            " principal_paid, fees_assessed, fees_paid, cover, recovered, recoverable, claimed, created_block,"
            " block_number, tx_hash, log_index) VALUES (3, 'funding', :a, :a, :h, :h, :h, '1', 1, 1, 1, '1', 1, 0, '0',"
            " '0', '0', 0, '0', '0', '0', '0', '0', '0', '0', '0', 5, 6, :funded, 1)"
        ), {"a": "0x" + "99" * 20, "h": h, "funded": funded})  # fmt: skip
    migrate.upgrade(settings)
    with get_engine(settings).begin() as conn:  # the last event's tx stays in tx_hash; created_tx is the creation's
        assert conn.execute(text("SELECT created_tx, tx_hash FROM chain_loans")).one() == (created, funded)


def test_loans_already_indexed_count_the_installments_they_settled_on_upgrade(database_url, tmp_path):
    from sqlalchemy import text

    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings, "0033_role_grant_approvals")
    amount, h, a = 1_065_262_883, "0x" + "00" * 32, "0x" + "99" * 20
    # The review's loan (12,000 at 12%, 12 installments of 30 days): installment 1 paid exactly,
    # then a part payment towards 2 (a late fee, its interest, part of its principal).
    payments = [(1, 0, 118_356_165, 946_906_718, 11_053_093_282), (2, 53_263_145, 109_016_811, 370_351_485, 10_682_741_797)]
    with get_engine(settings).begin() as conn:
        for i, (k, fee, interest, principal, outstanding) in enumerate(payments):
            args = {"loanId": 3, "installment": k, "payer": a, "feePaid": fee, "interestPaid": interest,
                    "principalPaid": principal, "principalOutstanding": str(outstanding)}  # fmt: skip
            conn.execute(text(
                "INSERT INTO chain_events (block_number, block_hash, tx_hash, tx_index, log_index, contract, address,"
                " event, args) VALUES (:n, :h, :tx, 0, 0, 'LoanBook', :a, 'LoanPayment', :args)"
            ), {"n": 5 + i, "h": "0x" + f"{i:064x}", "tx": "0x" + f"{i + 1:064x}", "a": a, "args": json.dumps(args)})
        conn.execute(text(
            "INSERT INTO chain_loans (loan_id, status, borrower, underwriter, terms_hash, agreement_hash, decision_hash,"
            " principal, apr_bps, installments, installment_period, installment_amount, funding_deadline,"
            " origination_fee_bps, funded, origination_fee, principal_outstanding, last_installment, interest_paid,"
            " principal_paid, fees_assessed, fees_paid, cover, recovered, recoverable, claimed, created_block,"
            " block_number, tx_hash, log_index) VALUES (3, 'active', :a, :a, :h, :h, :h, '12000000000', 1200, 12,"
            " 2592000, :amount, 1, 0, '0', '0', '10682741797', 2, '0', '0', '0', '0', '0', '0', '0', '0', 1, 6, :h, 0)"
        ), {"a": a, "h": h, "amount": str(amount)})  # fmt: skip
    migrate.upgrade(settings)
    with get_engine(settings).begin() as conn:  # 2 was billed 109,016,811 + (A - that); 479,368,296 of it paid
        assert conn.execute(text("SELECT last_installment, installments_settled, billed_unpaid FROM chain_loans")).one() == (
            2, 1, str(amount - 109_016_811 - 370_351_485))
    migrate.downgrade(settings, "0033_role_grant_approvals")
    migrate.upgrade(settings)


def test_scale_indexes_of_the_models_are_the_migrations(database_url, tmp_path):
    """The indexes 0037 adds are declared on the models too (and no model index lacks a migration
    on these tables), and intent keys compare in byte order on PostgreSQL, so prefixes are ranges."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from backend.db.models import Base

    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings)
    tables = {"chain_events", "chain_note_balances", "outbox_intents"}
    with get_engine(settings).connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    index_diffs = [d for d in diffs if d[0] in ("add_index", "remove_index") and d[1].table.name in tables]
    assert index_diffs == []
    indexes = {i["name"]: i["column_names"] for t in tables for i in inspect(get_engine(settings)).get_indexes(t)}
    assert indexes["ix_chain_note_balances_holder"] == ["holder", "loan_id"]
    assert indexes["ix_chain_events_contract_event"] == ["contract", "event"]
    assert indexes["ix_chain_events_block_timestamp"] == ["block_timestamp"]
    key = next(c for c in inspect(get_engine(settings)).get_columns("outbox_intents") if c["name"] == "key")
    assert getattr(key["type"], "collation", None) == ("C" if database_url.startswith("postgresql") else None)
    migrate.downgrade(settings, "0036_rate_window_ends")
    assert "ix_chain_events_contract_event" not in {i["name"] for i in inspect(get_engine(settings)).get_indexes("chain_events")}


def test_alert_review_notes_written_in_clear_are_sealed_on_upgrade_and_opened_on_downgrade(database_url, tmp_path):
    """0041 (the privacy review's M2): monitoring review notes kept in clear are sealed with the keyring,
    as 0021 sealed the case-log notes, and the clear column dropped; the models match the migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import text

    from backend.audit.alert_notes import open_note
    from backend.audit.models import AlertReview
    from backend.db.models import Base
    from backend.db.session import session_scope
    from backend.identity.crypto.keyring import load_keyring

    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings, "0039_servicing_retry")
    with get_engine(settings).begin() as conn:
        conn.execute(text(
            "INSERT INTO audit_alert_reviews (alert_key, rule, loan_id, decision, note, reviewer, reviewed_at)"
            " VALUES ('k1', 'first_payment_default', 3, 'escalated', 'the ID photo is another person', :r, CURRENT_TIMESTAMP)"
        ), {"r": "0x" + "ab" * 20})  # fmt: skip
    migrate.upgrade(settings)
    with get_engine(settings).begin() as conn:
        sealed, key_id = conn.execute(text("SELECT sealed_note, key_id FROM audit_alert_reviews")).one()
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert key_id and b"another person" not in bytes(sealed)
    assert [d for d in diffs if _table_of(d) in ("audit_alert_reviews", "credit_decisions")] == []
    with session_scope(settings) as session:
        assert open_note(load_keyring(settings), session.get(AlertReview, "k1")) == "the ID photo is another person"
    migrate.downgrade(settings, "0039_servicing_retry")
    with get_engine(settings).begin() as conn:
        assert conn.execute(text("SELECT note FROM audit_alert_reviews")).scalar_one() == "the ID photo is another person"


def _table_of(diff) -> str | None:
    """The table an autogenerate difference is about (a tuple, or a list of column modifications)."""
    diff = diff[0] if isinstance(diff, list) else diff
    for part in diff[1:]:
        if hasattr(part, "table"):
            return part.table.name
        if isinstance(part, str) and part in ("audit_alert_reviews", "credit_decisions"):
            return part
    return None


def test_decisions_erased_before_lose_their_input_hash_salt_and_quote_and_their_offers_on_upgrade(database_url, tmp_path):
    """0042 (the privacy review's H2): a decision erased by an earlier release kept an unsalted hash of
    its application, its salt, quote and reasons, and the offers made from it named the wallet."""
    from sqlalchemy import text

    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings, "0041_alert_note_sealed")
    outputs = {"score": 610, "grade": "C", "pd": 0.1, "decision": "approve", "quote": {"max_amount": 3000},
               "reasons": [{"code": "R01", "points_lost": 9}], "policy_notes": [], "cutoffs": {}}  # fmt: skip
    with get_engine(settings).begin() as conn:
        for decision_id, erased in (("erased", "CURRENT_TIMESTAMP"), ("live", "NULL")):
            conn.execute(text(
                "INSERT INTO credit_decisions (id, created_at, model_version, input_hash, decision_hash, salt, score, grade,"
                f" pd, decision, inputs, outputs, wallet, erased_at) VALUES (:id, CURRENT_TIMESTAMP, 'm', '0xin', :h, '0xs',"
                f" 610, 'C', 0.1, 'approve', '{{}}', :o, NULL, {erased})"
            ), {"id": decision_id, "h": "0x" + decision_id, "o": json.dumps(outputs)})  # fmt: skip
        for offer_id, decision_id, status in (("o1", "erased", "offered"), ("o2", "erased", "superseded"),
                                              ("o3", "erased", "accepted"), ("o4", "live", "offered")):  # fmt: skip
            conn.execute(text(
                "INSERT INTO loan_offers (id, created_at, decision_id, borrower, status, amount, quoted_apr_bps, chain_id,"
                " loan_book, asset_decimals, terms, terms_hash, agreement_cid, agreement_hash)"
                " VALUES (:id, CURRENT_TIMESTAMP, :d, :b, :s, 3000, 1500, 1, :b, 6, '{}', :t, 'cid', '0xa')"
            ), {"id": offer_id, "d": decision_id, "b": "0x" + "ab" * 20, "s": status, "t": "0x" + offer_id})  # fmt: skip
    migrate.upgrade(settings)
    with get_engine(settings).begin() as conn:
        rows = {r.id: r for r in conn.execute(text("SELECT id, input_hash, salt, outputs FROM credit_decisions"))}
        offers = sorted(conn.execute(text("SELECT id FROM loan_offers")).scalars())

    def outputs_of(row) -> dict:
        return row.outputs if isinstance(row.outputs, dict) else json.loads(row.outputs)

    assert (rows["erased"].input_hash, rows["erased"].salt) == (None, None)
    assert outputs_of(rows["erased"]) == {"score": 610, "grade": "C", "pd": 0.1, "decision": "approve"}
    assert (rows["live"].input_hash, rows["live"].salt, outputs_of(rows["live"])) == ("0xin", "0xs", outputs)
    assert offers == ["o3", "o4"]  # the accepted one is a loan's; the live decision's offer stays
    migrate.downgrade(settings, "0041_alert_note_sealed")
    with get_engine(settings).begin() as conn:
        assert conn.execute(text("SELECT input_hash FROM credit_decisions WHERE id = 'erased'")).scalar_one() == ""


def test_note_transfers_of_0_already_indexed_name_nobody_after_upgrade(database_url, tmp_path):
    """Migration 0052: the rows an indexer kept for ERC-1155 transfers of 0 (anyone can log one to any
    verified wallet) are dropped, as the projections now leave them out; other transfers keep theirs."""
    from sqlalchemy import text

    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings, "0009_investor_notices")  # 0010 and 0011 fold these in as they were then
    stranger, victim, holder = "0x" + "ab" * 20, "0x" + "cd" * 20, "0x" + "ef" * 20
    _log_events(settings, [
        ("TransferSingle", {"operator": stranger, "from": stranger, "to": victim, "id": 4, "value": 0}),
        ("TransferBatch", {"operator": holder, "from": holder, "to": victim, "ids": [4, 7], "values": [0, 3]}),
        ("TransferSingle", {"operator": holder, "from": holder, "to": stranger, "id": 4, "value": 2}),
    ])  # fmt: skip
    migrate.upgrade(settings)
    with get_engine(settings).begin() as conn:
        moved = conn.execute(text("SELECT loan_id, sender, recipient, amount FROM chain_note_transfers ORDER BY id")).all()
        named = conn.execute(text("SELECT e.log_index, s.loan_id, s.address FROM chain_event_subjects s JOIN chain_events e"
                                  " ON e.id = s.event_id")).all()  # fmt: skip
    assert [tuple(m) for m in moved] == [(7, holder, victim, "3"), (4, holder, stranger, "2")]
    assert sorted(map(tuple, named), key=repr) == sorted([(1, 7, None), (1, None, holder), (1, None, victim),
                                                          (2, 4, None), (2, None, holder), (2, None, stranger)], key=repr)  # fmt: skip
