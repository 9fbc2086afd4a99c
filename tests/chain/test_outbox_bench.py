"""The outbox benchmark runs end to end (its figures are the benchmark's to report, not the test's)."""

from backend.chain.bench.outbox import _scenario
from tests.conftest import make_settings


def test_the_outbox_bench_sends_every_transaction_both_ways(tmp_path, artifacts):
    report = _scenario(make_settings(tmp_path), 20, None, single_runs=3)  # every intent confirms, or it raises
    assert report["transactions"] == 20 and report["mining"].startswith("automine")
    assert report["baseline_one_at_a_time_tx_per_s"] > 0 and report["outbox_tx_per_s"] > 0
    assert 0 < report["outbox_single_latency_p50_s"] <= report["outbox_single_latency_p95_s"]
