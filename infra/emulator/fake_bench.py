"""A stand-in `vllm bench serve`: vLLM 0.25.0's serving benchmark client, against the stand-in engine.

It takes the real tool's flags (vllm/benchmarks/serve.py `add_cli_args` and vllm/benchmarks/datasets/
datasets.py for the random dataset, in the vllm 0.25.0 wheel), streams /v1/completions with at most
`--max-concurrency` requests in flight, computes the metrics as `calculate_metrics` does (TPOT =
(latency - TTFT) / (output tokens - 1), ITL = the gaps between chunks, numpy percentiles), prints the
"Serving Benchmark Result" block and, with `--save-result`, writes the same JSON keys to the same file
name (`compute_result_filename`): date, endpoint_type, backend, label, model_id, tokenizer_id,
num_prompts, request_rate, burstiness, max_concurrency, duration, completed, failed, total_input_tokens,
total_output_tokens, request_throughput, request_goodput, output_throughput, total_token_throughput,
max_output_tokens_per_s, max_concurrent_requests, rtfx, then mean_/median_/std_/p{N}_ for each
percentile metric (`process_one_metric`).

Times are simulated: the engine paces streams at `stream_time_scale(EMULATOR_TIME_SCALE)` simulated
seconds per real one, and this client reports durations multiplied back by the same scale. Only the
random dataset is served; the prompt is `--random-input-len` of the stand-in's tokens (words).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from infra.emulator.vllm_api import stream_time_scale

_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="vllm bench serve")
    cli.add_argument("--label")
    cli.add_argument("--backend", default="openai", choices=["openai", "vllm", "openai-chat"])
    cli.add_argument("--base-url")
    cli.add_argument("--host", default="127.0.0.1")
    cli.add_argument("--port", type=int, default=8000)
    cli.add_argument("--endpoint", default="/v1/completions")
    cli.add_argument("--max-concurrency", type=int)
    cli.add_argument("--model")
    cli.add_argument("--served-model-name")
    cli.add_argument("--tokenizer")
    cli.add_argument("--tokenizer-mode", default="auto")
    cli.add_argument("--trust-remote-code", action="store_true")
    cli.add_argument("--input-len", type=int)
    cli.add_argument("--output-len", type=int)
    cli.add_argument("--dataset-name", default="random")
    cli.add_argument("--num-prompts", type=int, default=1000)
    cli.add_argument("--random-input-len", type=int, default=1024)
    cli.add_argument("--random-output-len", type=int, default=128)
    cli.add_argument("--random-range-ratio", default="0.0")
    cli.add_argument("--random-prefix-len", type=int, default=0)
    cli.add_argument("--request-rate", type=float, default=float("inf"))
    cli.add_argument("--burstiness", type=float, default=1.0)
    cli.add_argument("--seed", type=int, default=0)
    cli.add_argument("--ignore-eos", action="store_true")
    cli.add_argument("--temperature", type=float)
    cli.add_argument("--num-warmups", type=int, default=0)
    cli.add_argument("--disable-tqdm", action="store_true")
    cli.add_argument("--save-result", action="store_true")
    cli.add_argument("--save-detailed", action="store_true")
    cli.add_argument("--append-result", action="store_true")
    cli.add_argument("--metadata", nargs="*")
    cli.add_argument("--result-dir")
    cli.add_argument("--result-filename")
    cli.add_argument("--percentile-metrics")
    cli.add_argument("--metric-percentiles", default="99")
    cli.add_argument("--ready-check-timeout-sec", type=int, default=0)
    return cli


@dataclass
class RequestOutput:
    """`RequestFuncOutput` of vllm/benchmarks/lib/endpoint_request_func.py, in simulated seconds."""

    prompt_len: int
    success: bool = False
    ttft: float = 0.0
    latency: float = 0.0
    output_tokens: int = 0
    itl: list[float] = field(default_factory=list)
    start_time: float = 0.0
    error: str = ""


def _prompt(length: int, rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(max(1, length)))


def _one(
    client: httpx.Client,
    url: str,
    model: str,
    prompt: str,
    length: int,
    output_len: int,
    scale: float,
    origin: float,
) -> RequestOutput:
    out = RequestOutput(prompt_len=length)
    body = {
        "model": model,
        "prompt": prompt,
        "max_tokens": output_len,
        "stream": True,
        "stream_options": {"include_usage": True},
        "ignore_eos": True,
    }
    started = time.perf_counter()
    out.start_time = (started - origin) * scale
    last = started
    try:
        with client.stream("POST", url, json=body, timeout=600.0) as response:
            if response.status_code != 200:
                out.error = f"HTTP {response.status_code}: {response.read().decode(errors='replace')[:200]}"
                return out
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                now = time.perf_counter()
                if chunk.get("usage"):
                    out.output_tokens = int(chunk["usage"].get("completion_tokens") or 0)
                if chunk.get("choices"):
                    if not out.ttft:
                        out.ttft = (now - started) * scale
                    else:
                        out.itl.append((now - last) * scale)
                    last = now
        out.latency = (time.perf_counter() - started) * scale
        out.success = True
    except httpx.HTTPError as error:
        out.error = f"{type(error).__name__}: {error}"
    return out


def _percentiles(values: list[float], percentiles: list[float]) -> list[tuple[float, float]]:
    return [(p, float(np.percentile(values or 0, p)) * 1000) for p in percentiles]


def metrics(
    outputs: list[RequestOutput], duration: float, selected: list[str], percentiles: list[float]
) -> dict[str, Any]:
    """The benchmark part of the result JSON, as vLLM's `calculate_metrics` and `benchmark` build it."""
    good = [o for o in outputs if o.success]
    ttfts = [o.ttft for o in good]
    e2els = [o.latency for o in good]
    tpots = [(o.latency - o.ttft) / (o.output_tokens - 1) for o in good if o.output_tokens > 1]
    itls = [gap for o in good for gap in o.itl]
    total_input = sum(o.prompt_len for o in good)
    total_output = sum(o.output_tokens for o in good)
    per_second: dict[int, int] = {}
    concurrent: dict[int, int] = {}
    if good:
        origin = min(o.start_time for o in good)
        for o in good:
            moment = o.start_time + o.ttft
            for gap in [0.0, *o.itl]:
                moment += gap
                per_second[int(moment - origin)] = per_second.get(int(moment - origin), 0) + 1
            for second in range(int(o.start_time - origin), int(o.start_time + o.latency - origin) + 1):
                concurrent[second] = concurrent.get(second, 0) + 1
    result: dict[str, Any] = {
        "duration": duration,
        "completed": len(good),
        "failed": len(outputs) - len(good),
        "total_input_tokens": total_input,
        "total_output_tokens": total_output,
        "request_throughput": len(good) / duration,
        "request_goodput": None,
        "output_throughput": total_output / duration,
        "total_token_throughput": (total_input + total_output) / duration,
        "max_output_tokens_per_s": float(max(per_second.values(), default=0)),
        "max_concurrent_requests": max(concurrent.values(), default=0),
        "rtfx": 0.0,
    }
    series = {"ttft": ttfts, "tpot": tpots, "itl": itls, "e2el": e2els}
    for name in selected:
        values = series[name]
        result[f"mean_{name}_ms"] = float(np.mean(values or 0)) * 1000
        result[f"median_{name}_ms"] = float(np.median(values or 0)) * 1000
        result[f"std_{name}_ms"] = float(np.std(values or 0)) * 1000
        for p, value in _percentiles(values, percentiles):
            result[f"p{int(p) if int(p) == p else p}_{name}_ms"] = value
    return result


def _summary(result: dict[str, Any], selected: list[str]) -> None:
    """The block vLLM's `benchmark` prints (same labels and layout)."""
    print("{s:{c}^{n}}".format(s=" Serving Benchmark Result ", n=50, c="="))
    print("{:<40} {:<10}".format("Successful requests:", result["completed"]))
    print("{:<40} {:<10}".format("Failed requests:", result["failed"]))
    print("{:<40} {:<10}".format("Maximum request concurrency:", str(result["max_concurrency"])))
    print("{:<40} {:<10.2f}".format("Benchmark duration (s):", result["duration"]))
    print("{:<40} {:<10}".format("Total input tokens:", result["total_input_tokens"]))
    print("{:<40} {:<10}".format("Total generated tokens:", result["total_output_tokens"]))
    print("{:<40} {:<10.2f}".format("Request throughput (req/s):", result["request_throughput"]))
    print("{:<40} {:<10.2f}".format("Output token throughput (tok/s):", result["output_throughput"]))
    print("{:<40} {:<10.2f}".format("Total token throughput (tok/s):", result["total_token_throughput"]))
    names = {"ttft": "TTFT", "tpot": "TPOT", "itl": "ITL", "e2el": "E2EL"}
    for key in selected:
        print("{:<40} {:<10.2f}".format(f"Mean {names[key]} (ms):", result[f"mean_{key}_ms"]))
        print("{:<40} {:<10.2f}".format(f"Median {names[key]} (ms):", result[f"median_{key}_ms"]))
    print("=" * 50, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.dataset_name != "random":
        print(
            f"the stand-in benchmark serves only --dataset-name random, not {args.dataset_name!r}",
            file=sys.stderr,
        )
        return 2
    input_len = args.input_len or args.random_input_len
    output_len = args.output_len or args.random_output_len
    port = int(os.environ.get(f"EMULATOR_PORT_{args.port}", args.port))
    base = args.base_url or f"http://{args.host}:{port}"
    key = os.environ.get("OPENAI_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    scale = stream_time_scale(float(os.environ.get("EMULATOR_TIME_SCALE", "1") or 1))
    rng = random.Random(args.seed)
    with httpx.Client(base_url=base, headers=headers) as client:
        model = args.model
        if model is None:
            model = str(client.get("/v1/models", timeout=30).json()["data"][0]["id"])
        prompts = [_prompt(input_len, rng) for _ in range(args.num_prompts)]
        origin = time.perf_counter()
        lock = threading.Lock()
        outputs: list[RequestOutput] = []

        def send(prompt: str) -> None:
            result = _one(client, args.endpoint, model, prompt, input_len, output_len, scale, origin)
            with lock:
                outputs.append(result)

        print(
            f"Starting main benchmark run... (concurrency {args.max_concurrency}, {args.num_prompts} prompts)"
        )
        with ThreadPoolExecutor(max_workers=args.max_concurrency or args.num_prompts) as pool:
            list(pool.map(send, prompts))
        duration = (time.perf_counter() - origin) * scale
    selected = (args.percentile_metrics or "ttft,tpot,itl").split(",")
    percentiles = [float(p) for p in args.metric_percentiles.split(",")]
    result: dict[str, Any] = {
        "date": datetime.now().strftime("%Y%m%d-%H%M%S"),
        "endpoint_type": args.backend,
        "backend": args.backend,
        "label": args.label,
        "model_id": model,
        "tokenizer_id": args.tokenizer or model,
        "num_prompts": args.num_prompts,
        "request_rate": args.request_rate if args.request_rate < float("inf") else "inf",
        "burstiness": args.burstiness,
        "max_concurrency": args.max_concurrency,
    }
    result.update(metrics(outputs, duration, selected, percentiles))
    _summary(result, selected)
    failures = [o.error for o in outputs if not o.success][:10]
    for index, error in enumerate(failures):
        print(f"Error {index}: {error}")
    if args.save_result or args.append_result:
        path = Path(_file_name(args, model, result["date"]))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result))
    return 0


def _file_name(args: argparse.Namespace, model_id: str, date: str) -> str:
    """`compute_result_filename` of vllm/benchmarks/serve.py (no ramp-up)."""
    concurrency = f"-concurrency{args.max_concurrency}" if args.max_concurrency is not None else ""
    name = (
        args.result_filename
        or f"{args.label or args.backend}-{args.request_rate}qps{concurrency}-{model_id.split('/')[-1]}-{date}.json"
    )
    return os.path.join(args.result_dir, name) if args.result_dir else name


def main(argv: list[str]) -> int:
    """`vllm bench serve [flags]`; other bench subcommands are not stood in for."""
    if argv[:1] != ["serve"]:
        print("usage: vllm bench [-h] {latency,serve,startup,sweep,throughput} ...", file=sys.stderr)
        return 2
    return run(parser().parse_args(argv[1:]))
