"""The alerts-read benchmark builds books the monitoring rules read back as built, and reports each
size, each rule and the growth (its timings are the benchmark's to report, not the test's)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from backend.audit.bench import _Book
from backend.audit.monitoring import RULES
from backend.chain.projection_models import DisbursalRow, MarketTradeRow, NoteTransferRow, TokenTransferRow
from backend.cli.main import app
from backend.scoring.models import CreditDecision

# What the synthetic book is built to raise (see backend/audit/bench.py); the platform-control rules
# (role changes, pauses, reserve outflows) have nothing to find in it.
BUILT_FOR = {"round_trip", "off_market_price", "large_gift", "first_payment_default", "related_party_funding",
             "promise_chain", "answers_changed", "collection_wallet"}  # fmt: skip


def test_the_book_holds_what_the_rules_read():
    rows = _Book(500, seed=7).build(500)
    assert len(rows[NoteTransferRow]) > 400 and 100 < len(rows[MarketTradeRow]) < 300
    disbursed = len(rows[DisbursalRow])  # each with a transfer to a shop, and now and then to a mule or an investor
    assert disbursed > 450 and disbursed < len(rows[TokenTransferRow]) < disbursed * 1.1
    decisions = rows[CreditDecision]
    assert len(decisions) > 500 and all(d["wallet"] and d["inputs"]["term_months"] for d in decisions)


def test_the_bench_reports_each_size_each_rule_and_the_growth(tmp_path, monkeypatch, artifacts):
    monkeypatch.setenv("LOANCHAIN_VAR_DIR", str(tmp_path / "var"))
    shown = CliRunner().invoke(app, ["bench", "alerts", "--loans", "300", "--loans", "600", "--repeats", "1", "--json"])
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.stdout)
    assert (report["database"], report["repeats"], report["page"], report["size_ratio"]) == ("sqlite", 1, 100, 2)
    assert report["time_ratio"] > 0 and report["time_ratio_per_10x_loans"] > 0
    assert [row["loans"] for row in report["sizes"]] == [300, 600]
    for row in report["sizes"]:
        assert set(row["rule_ms_p50"]) == set(RULES) and all(ms > 0 for ms in row["rule_ms_p50"].values())
        assert row["read_ms_p50"] > 0 and row["note_transfers"] > 0 and row["credit_decisions"] > row["loans"]
        assert row["shared_read_ms_p50"] > 0  # a read the staff page's next page or tab gets from the cache
        assert row["alerts"] == sum(row["alerts_by_rule"].values())
    assert set(report["sizes"][0]["alerts_by_rule"]) | set(report["sizes"][1]["alerts_by_rule"]) >= BUILT_FOR
