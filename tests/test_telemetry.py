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


def test_records_framed_by_hand_are_exactly_stream_records() -> None:
    from configtrail import streams
    from configtrail.common.v1 import events_pb2

    big = events_pb2.InteractionEvent(session_id="s", category="x" * 300)  # a two-byte length
    for record, kind in (
        (events_pb2.UserSession(session_id="s"), "session"),
        (events_pb2.InteractionEvent(session_id="s", category="nest"), "interaction"),
        (big, "interaction"),
        (events_pb2.ConfigurationSnapshot(session_id="s", completion_percentage=50), "snapshot"),
        (events_pb2.PerformanceMetric(metric_name="lcp", value_ms=1.5), "metric"),
        (events_pb2.SessionEnd(session_id="s", reason=events_pb2.END_REASON_ORDER), "session_end"),
        (events_pb2.InteractionEvent(), "interaction"),
    ):
        framed = streams.encode_record(record)
        expected = events_pb2.StreamRecord()
        getattr(expected, kind).CopyFrom(record)
        assert framed == expected.SerializeToString()
        assert streams.decode(framed).WhichOneof("record") == kind
