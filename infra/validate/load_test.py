"""A mini load test: a bounded number of concurrent streamed requests; TTFT, inter-token latency, tokens/s."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from infra.validate.stages import StageResult

STAGE = "load"
_PROMPT = "Request {index}: tell a long, detailed story about a lighthouse keeper and a storm."
_MAX_ERROR_SAMPLES = 3
# Bounds on one wait inside a request; the run's deadline bounds it further.
_CONNECT_SECONDS = 10.0
_READ_SECONDS = 120.0


@dataclass
class RequestSample:
    """What one streamed request measured."""

    ok: bool = False
    ttft: float | None = None
    itls: list[float] = field(default_factory=list)
    tokens: int = 0
    error: str | None = None


class _DeadlinePassed(Exception):
    """The run's deadline passed while this request was still streaming."""


def percentile(values: Sequence[float], share: float) -> float | None:
    """The `share` (0..1) percentile with linear interpolation between ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = share * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _one_request(
    client: httpx.Client, model: str, index: int, max_tokens: int, deadline: float
) -> RequestSample:
    sample = RequestSample()
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        sample.error = "not started before the deadline"
        return sample
    body = {
        "model": model,
        "messages": [{"role": "user", "content": _PROMPT.format(index=index)}],
        "max_tokens": max_tokens,
        "temperature": 0,
        # Every request produces max_tokens, so runs compare like with like (vLLM and SGLang accept it).
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    timeout = httpx.Timeout(min(_READ_SECONDS, remaining), connect=min(_CONNECT_SECONDS, remaining))
    chunks = 0
    usage_tokens: int | None = None
    done = False
    sent = time.monotonic()
    last: float | None = None
    try:
        with client.stream("POST", "/v1/chat/completions", json=body, timeout=timeout) as response:
            if response.status_code != 200:
                response.read()
                sample.error = f"HTTP {response.status_code}: {' '.join(response.text.split())[:120]}"
                return sample
            for line in response.iter_lines():
                now = time.monotonic()
                if now > deadline:
                    raise _DeadlinePassed
                if not line.startswith("data:"):
                    continue
                payload = line.removeprefix("data:").strip()
                if payload == "[DONE]":
                    done = True
                    break
                chunk = json.loads(payload)
                usage = chunk.get("usage")
                if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
                    usage_tokens = usage["completion_tokens"]
                if not any(
                    (choice.get("delta") or {}).get("content") for choice in chunk.get("choices") or []
                ):
                    continue
                chunks += 1
                if last is None:
                    sample.ttft = now - sent
                else:
                    sample.itls.append(now - last)
                last = now
    except _DeadlinePassed:
        sample.error = "the run's deadline passed mid-stream"
        return sample
    except httpx.HTTPError as exc:
        sample.error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:120]}"
        return sample
    except ValueError:
        sample.error = "the stream sent a chunk that is not JSON"
        return sample
    if not done or chunks == 0:
        sample.error = "the stream ended without [DONE]" if not done else "the stream carried no content"
        return sample
    sample.ok = True
    sample.tokens = usage_tokens if usage_tokens is not None else chunks
    return sample


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.1f} ms"


def run_load(
    endpoint: str,
    api_key: str,
    model: str,
    *,
    concurrency: int,
    requests: int,
    max_tokens: int = 64,
    estimate_tokens_per_s: float | None,
    deadline_seconds: float = 600,
    max_error_rate: float = 0.0,
) -> StageResult:
    """Send `requests` streamed chat completions, `concurrency` at a time, all within `deadline_seconds`.

    Passes when at least one request completed and the failed share is at most `max_error_rate`
    (default: no request may fail). Requests not started before the deadline count as failed.
    """
    if concurrency < 1 or requests < 1 or max_tokens < 1:
        raise ValueError("concurrency, requests and max_tokens must be at least 1")
    started = time.monotonic()
    deadline = started + deadline_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {api_key}"}
    with (
        httpx.Client(base_url=endpoint.rstrip("/"), headers=headers, limits=limits) as client,
        ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="v4infra-load") as pool,
    ):
        futures = [
            pool.submit(_one_request, client, model, index, max_tokens, deadline) for index in range(requests)
        ]
        samples = [future.result() for future in futures]
    wall = time.monotonic() - started
    completed = [sample for sample in samples if sample.ok]
    errors = [sample.error or "failed" for sample in samples if not sample.ok]
    tokens = sum(sample.tokens for sample in completed)
    tokens_per_s = tokens / wall if wall > 0 else 0.0
    ttfts = [sample.ttft for sample in completed if sample.ttft is not None]
    itls = [itl for sample in completed for itl in sample.itls]
    ratio = tokens_per_s / estimate_tokens_per_s if estimate_tokens_per_s else None
    details: dict[str, object] = {
        "requests": requests,
        "concurrency": concurrency,
        "max_tokens": max_tokens,
        "completed": len(completed),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:_MAX_ERROR_SAMPLES],
        "output_tokens": tokens,
        "wall_seconds": round(wall, 3),
        "output_tokens_per_s": round(tokens_per_s, 2),
        "estimate_output_tokens_per_s": estimate_tokens_per_s,
        "ratio_to_estimate": _rounded(ratio, 3),
        "ttft_p50_s": _rounded(percentile(ttfts, 0.50)),
        "ttft_p95_s": _rounded(percentile(ttfts, 0.95)),
        "itl_p50_s": _rounded(percentile(itls, 0.50), 5),
        "itl_p95_s": _rounded(percentile(itls, 0.95), 5),
    }
    passed = bool(completed) and len(errors) <= max_error_rate * requests
    versus = (
        f" ({ratio:.2f}x the planner's {estimate_tokens_per_s:.0f} tok/s estimate)"
        if ratio is not None and estimate_tokens_per_s
        else ""
    )
    summary = (
        f"{len(completed)}/{requests} requests at concurrency {concurrency}, "
        f"{tokens_per_s:.0f} output tok/s{versus}, TTFT p50 {_ms(percentile(ttfts, 0.5))} "
        f"p95 {_ms(percentile(ttfts, 0.95))}, ITL p50 {_ms(percentile(itls, 0.5))}"
    )
    reason = summary if passed else f"{len(errors)} of {requests} requests failed ({errors[0]}); {summary}"
    return StageResult(STAGE, passed, wall, reason, details)
