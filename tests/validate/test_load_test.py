"""Mini load test against the emulated engine: counts, ordering of percentiles, estimate beside measurement."""

from __future__ import annotations

from typing import Any

import pytest

from infra.planner import PlanRequest, plan
from infra.validate.load_test import percentile, run_load

SERVED_MODEL = "deepseek-ai/DeepSeek-V4-Flash"  # --served-model-name in the rendered start script


def test_completes_every_request_at_the_given_concurrency(serving_pod: Any) -> None:
    estimate = plan(PlanRequest("flash", "H200", 4)).cost.est_output_tokens_per_s
    result = run_load(
        serving_pod.endpoint,
        serving_pod.api_key,
        SERVED_MODEL,
        concurrency=4,
        requests=10,
        max_tokens=16,
        estimate_tokens_per_s=estimate,
        deadline_seconds=60,
    )
    details: Any = result.details
    assert result.passed, result.reason
    assert result.name == "load"
    assert (details["requests"], details["completed"], details["errors"]) == (10, 10, 0)
    # The engine reports usage; every request produced its max_tokens.
    assert details["output_tokens"] == 160
    assert details["output_tokens_per_s"] > 0
    assert 0 < details["ttft_p50_s"] <= details["ttft_p95_s"]
    assert 0 < details["itl_p50_s"] <= details["itl_p95_s"]
    assert details["estimate_output_tokens_per_s"] == estimate
    assert details["ratio_to_estimate"] == pytest.approx(details["output_tokens_per_s"] / estimate, rel=0.01)
    assert result.reason.startswith("10/10 requests at concurrency 4, ")
    assert "x the planner's" in result.reason


def test_refused_requests_fail_the_stage_with_the_error(serving_pod: Any) -> None:
    result = run_load(
        serving_pod.endpoint, "sk-not-the-key", SERVED_MODEL,
        concurrency=2, requests=3, max_tokens=4, estimate_tokens_per_s=None, deadline_seconds=60,
    )  # fmt: skip
    assert not result.passed
    assert (result.details["completed"], result.details["errors"]) == (0, 3)
    assert result.reason.startswith("3 of 3 requests failed (HTTP 401")
    assert result.details["ratio_to_estimate"] is None
    assert result.details["ttft_p50_s"] is None


def test_requests_not_started_before_the_deadline_count_as_failed(serving_pod: Any) -> None:
    result = run_load(
        serving_pod.endpoint, serving_pod.api_key, SERVED_MODEL,
        concurrency=2, requests=4, estimate_tokens_per_s=100.0, deadline_seconds=0,
    )  # fmt: skip
    assert not result.passed
    assert result.details["errors"] == 4
    assert result.details["error_samples"] == ["not started before the deadline"]


def test_a_tolerated_error_share_lets_the_stage_pass(serving_pod: Any) -> None:
    result = run_load(
        serving_pod.endpoint, serving_pod.api_key, "no-such-model",
        concurrency=1, requests=1, estimate_tokens_per_s=None, max_error_rate=1.0,
    )  # fmt: skip
    # Even a tolerated share needs one completed request: an endpoint that serves nothing never passes.
    assert not result.passed
    assert "HTTP 404" in result.reason


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert percentile([float(value) for value in range(1, 101)], 0.95) == pytest.approx(95.05)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        run_load("http://127.0.0.1:9", "k", "m", concurrency=0, requests=1, estimate_tokens_per_s=None)
