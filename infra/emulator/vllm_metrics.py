"""The stand-in engine's counters and its `/metrics` page, in vLLM's metric names and Prometheus's text
format: requests running and finished, prompt and generation tokens, and the time-to-first-token histogram.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

_TTFT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)


@dataclass
class Metrics:
    """What the engine has served so far, shared by its request threads under `lock`."""

    running: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    finished: dict[str, int] = field(default_factory=lambda: {"stop": 0, "length": 0})
    ttft: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def prometheus_text(metrics: Metrics, model_name: str) -> str:
    """The counters as vLLM's /metrics writes them (Prometheus text format, vLLM's metric names)."""
    labels = f'engine="0",model_name="{model_name}"'
    with metrics.lock:
        lines = [
            "# HELP vllm:num_requests_running Number of requests in model execution batches.",
            "# TYPE vllm:num_requests_running gauge",
            f"vllm:num_requests_running{{{labels}}} {float(metrics.running)}",
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
            "# TYPE vllm:num_requests_waiting gauge",
            f"vllm:num_requests_waiting{{{labels}}} 0.0",
            "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.",
            "# TYPE vllm:kv_cache_usage_perc gauge",
            f"vllm:kv_cache_usage_perc{{{labels}}} {min(1.0, metrics.running * 0.002)}",
            "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.",
            "# TYPE vllm:prompt_tokens_total counter",
            f"vllm:prompt_tokens_total{{{labels}}} {float(metrics.prompt_tokens)}",
            "# HELP vllm:generation_tokens_total Number of generation tokens processed.",
            "# TYPE vllm:generation_tokens_total counter",
            f"vllm:generation_tokens_total{{{labels}}} {float(metrics.generation_tokens)}",
            "# HELP vllm:request_success_total Count of successfully processed requests.",
            "# TYPE vllm:request_success_total counter",
        ]
        for reason, count in metrics.finished.items():
            lines.append(f'vllm:request_success_total{{{labels},finished_reason="{reason}"}} {float(count)}')
        lines += [
            "# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.",
            "# TYPE vllm:time_to_first_token_seconds histogram",
        ]
        for bucket in (*_TTFT_BUCKETS, float("inf")):
            below = sum(1 for value in metrics.ttft if value <= bucket)
            edge = "+Inf" if bucket == float("inf") else str(bucket)
            lines.append(f'vllm:time_to_first_token_seconds_bucket{{{labels},le="{edge}"}} {float(below)}')
        lines.append(f"vllm:time_to_first_token_seconds_count{{{labels}}} {float(len(metrics.ttft))}")
        lines.append(f"vllm:time_to_first_token_seconds_sum{{{labels}}} {sum(metrics.ttft)}")
    return "\n".join(lines) + "\n"
