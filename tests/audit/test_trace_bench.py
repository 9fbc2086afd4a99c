"""The loan-trace benchmark times the trace on growing books and reports its JSON-RPC calls, which do
not grow with them (its timings are the benchmark's to report, not the test's)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from backend.cli.main import app


def test_the_bench_reports_each_size_with_the_same_calls(tmp_path, monkeypatch, artifacts):
    monkeypatch.setenv("LOANCHAIN_VAR_DIR", str(tmp_path / "var"))
    shown = CliRunner().invoke(app, ["bench", "trace", "--loans", "1", "--loans", "4", "--repeats", "2", "--json"])
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.stdout)
    assert (report["database"], report["repeats"], report["rpc_calls_ratio"]) == ("sqlite", 2, 1.0)
    small, large = report["sizes"]
    assert (small["loans"], large["loans"]) == (1, 4) and large["blocks"] > small["blocks"]
    for row in (small, large):
        assert row["chain_checks_pass"] and row["trace_ms_p95"] >= row["trace_ms_p50"] > 0
        assert row["events"] == 1 + 5 * 2 + 1 + 1  # created, five fundings (each its notes minted), disbursed, a note passed on
    assert small["rpc_by_method"] == large["rpc_by_method"] and small["rpc_by_method"]["eth_getLogs"] <= 10
