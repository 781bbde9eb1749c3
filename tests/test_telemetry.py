"""In-process latency aggregation: exact counts, bounded samples, one flush per interval."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from configtrail.telemetry import RPC_LATENCY_METRIC, LatencyRecorder


def test_recorder_keeps_exact_counts_and_a_bounded_uniform_sample() -> None:
    recorder = LatencyRecorder(samples_per_method=50, rng=random.Random(7))
    for n in range(10_000):
        recorder.record("/a", n / 1_000_000, ok=n % 100 != 0)
    for _ in range(3):
        recorder.record("/b", 0.002, ok=True)
    metrics = recorder.drain("ingest", now=datetime(2026, 1, 1, tzinfo=UTC))
    by_method: dict[str, list[float]] = {}
    for metric in metrics:
        assert metric.metric_name == RPC_LATENCY_METRIC
        by_method.setdefault(metric.endpoint, []).append(metric.value_ms)
    assert len(by_method["/a"]) == 50
    assert by_method["/b"] == [2.0, 2.0, 2.0]
    first_a = next(m for m in metrics if m.endpoint == "/a")
    assert first_a.additional_data["window_calls"] == 10_000
    assert first_a.additional_data["window_errors"] == 100
    assert first_a.additional_data["represents_calls"] == 200  # 10,000 calls / 50 samples
    # uniform: the sample spans the whole range, not only the first calls
    assert max(by_method["/a"]) > 5.0
    assert recorder.drain("ingest") == [], "a drain starts a new window"
