"""The stand-in engine's /metrics page (infra/emulator/vllm_metrics.py), read as a Prometheus scraper reads it."""

from __future__ import annotations

from infra.emulator.vllm_metrics import Metrics, prometheus_text


def _samples(text: str) -> dict[str, float]:
    rows = (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {name: float(value) for name, value in rows}


def test_the_ttft_histogram_is_cumulative_and_the_counters_carry_the_model_name() -> None:
    metrics = Metrics(running=1, ttft=[0.03, 0.3, 7.0], finished={"stop": 2, "length": 1})

    samples = _samples(prometheus_text(metrics, "deepseek"))

    labels = 'engine="0",model_name="deepseek"'
    buckets = [v for k, v in samples.items() if k.startswith("vllm:time_to_first_token_seconds_bucket")]
    assert (
        buckets == sorted(buckets)
        and buckets[-1] == samples[f"vllm:time_to_first_token_seconds_count{{{labels}}}"] == 3
    )
    assert samples[f'vllm:time_to_first_token_seconds_bucket{{{labels},le="0.05"}}'] == 1
    assert samples[f'vllm:request_success_total{{{labels},finished_reason="stop"}}'] == 2
    assert samples[f"vllm:num_requests_running{{{labels}}}"] == 1
