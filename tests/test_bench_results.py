"""The benchmark report's figures: how a paced latency run that missed its load counts."""

from __future__ import annotations

import math

from bench.results import Figure, Target


def test_a_paced_run_that_did_not_deliver_its_load_fails_its_latency_figure() -> None:
    figure = Figure("p99 at 5,000 req/s offered", "ms", Target("<", 15))
    assert figure.add_paced_run(9.0, 1.0, offered=5000, delivered=4990, details={"non_2xx": 0})
    assert figure.passed
    assert not figure.add_paced_run(2.0, 1.0, offered=5000, delivered=4000, details={})
    assert not figure.add_paced_run(2.0, 1.0, offered=5000, delivered=4000, details={})
    assert figure.runs == [9.0, math.inf, math.inf]
    assert figure.ceiling_runs == [1.0, 1.0, 1.0]
    assert figure.passed is False  # the median run did not deliver 95% of what was offered
    assert figure.details[0] == {
        "offered_per_s": 5000,
        "requests_per_s": 4990,
        "rate_reached": True,
        "non_2xx": 0,
    }
