"""The disclosure-read benchmark builds books the disclosure reads back as built (its timings are
the benchmark's to report, not the test's)."""

from __future__ import annotations

import json
from collections import Counter

from typer.testing import CliRunner

from backend.chain.projection_models import LoanRow
from backend.cli.main import app
from backend.db.session import session_scope
from backend.disclosure.bench import _book, _rows, run_disclosure_bench
from backend.disclosure.service import platform_disclosure
from tests.conftest import make_settings


def test_the_synthetic_book_is_read_back_as_built(tmp_path):
    settings = make_settings(tmp_path)
    built = Counter(row["status"] for row in _rows(300, seed=7)[LoanRow])
    _book(settings, 300, seed=7)
    with session_scope(settings) as session:
        figures = platform_disclosure(session)
    counts = figures.loans.model_dump()
    assert all(counts[status] == n for status, n in built.items())
    assert sum(v.loans for v in figures.vintages) == 300 - built["funding"]
    assert sum(v.defaulted_loans for v in figures.vintages) == built["defaulted"] > 0
    assert figures.roll_rates[0].episodes > 0  # late episodes resolved in the book
    assert figures.reserve.expected_loss > 0 and figures.delinquency.loans_16_plus >= 0


def test_the_bench_reports_each_size_and_the_ratio(tmp_path, monkeypatch):
    report = run_disclosure_bench(make_settings(tmp_path), [50, 100], repeats=2)
    assert [row["loans"] for row in report["sizes"]] == [50, 100] and report["size_ratio"] == 2
    assert all(0 < row["read_ms_p50"] <= row["read_ms_max"] for row in report["sizes"])
    monkeypatch.setenv("LOANCHAIN_VAR_DIR", str(tmp_path / "var"))
    shown = CliRunner().invoke(app, ["bench", "disclosure", "--loans", "20", "--loans", "40", "--repeats", "1", "--json"])
    assert shown.exit_code == 0, shown.output
    assert [row["loans"] for row in json.loads(shown.stdout)["sizes"]] == [20, 40]
