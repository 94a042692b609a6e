"""The engine's own benchmark: command lines, the result parsers, and the comparison with the published cell.

Samples (tests/fixtures/bench/), both written field by field from the pinned wheels' sources because
neither client can run here (both import torch): `vllm-0.25.0-save-result.json` has the keys, in order,
that vllm/benchmarks/serve.py `main` and `benchmark` write with `--save-result --percentile-metrics
ttft,tpot,itl,e2el --metric-percentiles 50,99` (per-request lists dropped, as without --save-detailed);
`sglang-0.5.12-output-file.jsonl` has two lines of sglang/bench_serving.py's `result` dict, as two runs
append them to one --output-file, with the SGLang cookbook's Flash 4x H200 numbers (TTFT 237 ms, TPOT
3.37 ms, 607 tok/s/GPU total at concurrency 1). The end-to-end test runs the stand-in `vllm bench serve`
inside an emulated pod over SSH and checks its JSON has exactly the real file's keys.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from infra.emulator import fake_bench
from infra.errors import ConfigError, ValidationFailed
from infra.validate import benchmark
from infra.validate.benchmark import Comparison, EngineUnderTest, PublishedCell, Workload

MODEL = "deepseek-ai/DeepSeek-V4-Flash"  # --served-model-name in the rendered start script
# The emulated pod fixture's key (tests/validate/conftest.py), never a real one.
API_KEY = "sk-validate-CANARY-4f1d2a9b7c"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bench"
VLLM_SAMPLE = (FIXTURES / "vllm-0.25.0-save-result.json").read_text()
SGLANG_SAMPLE = (FIXTURES / "sglang-0.5.12-output-file.jsonl").read_text()
PUBLISHED_C16 = Workload("published", 8192, 1024, 16, 32)
FLASH_H200_C1 = PublishedCell(
    source="SGLang cookbook, Flash H200 FP4 low-latency",
    engine="sglang",
    engine_version="0.5.15",
    gpu="H200",
    gpus=4,
    input_tokens=8192,
    output_tokens=1024,
    concurrency=1,
    output_tok_s=benchmark.output_from_total_per_gpu(607, 4, 8192, 1024),
    ttft_ms=237,
    tpot_ms=3.37,
)


def _value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_vllm_command_is_a_fixed_length_random_run_that_saves_its_json() -> None:
    target = EngineUnderTest("vllm", "deepseek-v4-flash", MODEL, tokenizer_mode="deepseek_v4")
    argv = benchmark.command(PUBLISHED_C16, target)

    assert argv[:3] == ["vllm", "bench", "serve"]
    assert (_value(argv, "--random-input-len"), _value(argv, "--random-output-len")) == ("8192", "1024")
    assert _value(argv, "--random-range-ratio") == "0"  # vLLM: [len(1-r), len(1+r)], so 0 is fixed
    assert (_value(argv, "--max-concurrency"), _value(argv, "--num-prompts")) == ("16", "32")
    assert (
        _value(argv, "--metric-percentiles") == "50,99" and "--ignore-eos" in argv and "--save-result" in argv
    )
    assert _value(argv, "--tokenizer") == MODEL and _value(argv, "--tokenizer-mode") == "deepseek_v4"
    assert _value(argv, "--result-dir") + "/" + _value(argv, "--result-filename") == benchmark.result_path(
        target, PUBLISHED_C16
    )
    # The stand-in client takes the same flags (it is built from vLLM's add_cli_args).
    parsed = fake_bench.parser().parse_args(argv[3:])
    assert (parsed.random_input_len, parsed.max_concurrency, parsed.save_result) == (8192, 16, True)


def test_sglang_command_is_a_fixed_length_random_run_with_an_output_file() -> None:
    target = EngineUnderTest("sglang", "deepseek-v4-flash", MODEL)
    argv = benchmark.command(PUBLISHED_C16, target)

    assert argv[:3] == ["python3", "-m", "sglang.bench_serving"]
    assert _value(argv, "--random-range-ratio") == "1.0"  # SGLang: [len x r, len], so 1 is fixed
    assert _value(argv, "--output-file") == benchmark.result_path(target, PUBLISHED_C16)
    assert _value(argv, "--output-file").endswith(".jsonl")


def test_the_shell_line_takes_the_key_from_stdin_and_quotes_every_value() -> None:
    target = EngineUnderTest("vllm", "model; rm -rf /", MODEL, hf_home="/workspace/hf")
    line = benchmark.shell_line(PUBLISHED_C16, target)

    assert API_KEY not in line and "OPENAI_API_KEY" in line and "read -r OPENAI_API_KEY" in line
    assert shlex.quote("model; rm -rf /") in line
    assert "HF_HUB_OFFLINE=1" in line and "HF_HOME=/workspace/hf" in line


def test_vllm_result_json_parses_to_the_report_figures() -> None:
    result = benchmark.parse_result("vllm", VLLM_SAMPLE, PUBLISHED_C16)

    assert (result.completed, result.failed) == (32, 0)
    assert result.output_tok_s == pytest.approx(1436.311036)
    assert result.requests_s == pytest.approx(1.402647496)
    assert (result.ttft_p50_ms, result.ttft_p99_ms) == (393.9, 611.4)
    assert (result.tpot_p50_ms, result.tpot_p99_ms) == (8.42, 9.37)
    assert (result.itl_p50_ms, result.itl_p99_ms) == (8.12, 21.66)


def test_sglang_output_file_parses_its_last_line() -> None:
    workload = Workload("published", 8192, 1024, 16, 32)
    result = benchmark.parse_result("sglang", SGLANG_SAMPLE, workload)

    assert result.output_tok_s == 1450.7 and result.ttft_p50_ms == 394.0
    assert result.tpot_p99_ms == pytest.approx(8.42 * 1.1) and result.itl_p50_ms == 8.07
    assert (result.completed, result.failed) == (32, 0)  # SGLang writes no `failed`: requests - completed


@pytest.mark.parametrize("text", ["", "Traceback (most recent call last):", '{"completed": 3}'])
def test_a_missing_or_partial_result_is_one_line(text: str) -> None:
    with pytest.raises(ValidationFailed, match="benchmark: the vllm"):
        benchmark.parse_result("vllm", text, PUBLISHED_C16)


def test_cookbook_totals_per_gpu_become_output_throughput() -> None:
    # Flash on 4x H200 at concurrency 1: 607 total tok/s/GPU is about 270 output tok/s (issue 18).
    assert FLASH_H200_C1.output_tok_s == pytest.approx(269.8, abs=0.1)


def test_comparison_flags_a_run_below_half_the_published_cell_with_causes() -> None:
    at_cell = Workload("published", 8192, 1024, 1, 4)
    slow = benchmark.parse_result("sglang", SGLANG_SAMPLE.splitlines()[0], at_cell)
    slow = benchmark.BenchResult(**{**slow.__dict__, "output_tok_s": 60.0})
    fine = benchmark.parse_result("sglang", SGLANG_SAMPLE.splitlines()[0], at_cell)

    flagged = Comparison(slow, FLASH_H200_C1, estimate_tok_s=240.0)
    assert flagged.below_published and flagged.ratio_to_published == pytest.approx(60 / 269.8, rel=1e-3)
    assert flagged.ratio_to_estimate == pytest.approx(0.25)
    warning = flagged.warning()
    assert warning is not None and "0.22x the published 270" in warning
    assert "eager mode" in warning and "another engine version than sglang 0.5.15" in warning
    assert "fewer or slower GPUs than 4x H200" in warning
    assert Comparison(fine, FLASH_H200_C1, None).warning() is None
    # Another workload than the cell's is shown beside it but never flagged.
    other = benchmark.BenchResult(**{**slow.__dict__, "workload": Workload("declared", 8192, 1024, 8, 16)})
    assert not Comparison(other, FLASH_H200_C1, None).below_published


@pytest.mark.parametrize(
    ("workload", "message"),
    [
        (Workload("declared", 0, 1024, 8, 16), "benchmarkInputTokens: 0 is not a whole number from 1"),
        (Workload("declared", 8192, 1024, -1, 16), "benchmarkConcurrency: -1 is not"),
        (Workload("declared", 8192, 1024, 8, 10**6), "benchmarkRequests: 1000000 is not"),
    ],
)
def test_bad_workloads_name_the_key_and_range(workload: Workload, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        workload.check()


def test_a_benchmark_longer_than_the_ttl_is_refused_before_anything_is_rented() -> None:
    workload = Workload.bounded("published", 8192, 1024, 16)
    seconds = benchmark.estimated_seconds(workload, tpot_seconds=0.1, ttft_seconds=1.0)

    assert workload.requests == 32 and seconds == pytest.approx(2 * (1.0 + 102.4))
    with pytest.raises(ConfigError, match=r"needs about 3 min, longer than ttlMinutes \(2\)"):
        benchmark.check_bound(workload, seconds, ttl_minutes=2)
    benchmark.check_bound(workload, seconds, ttl_minutes=60)


def _pod_target() -> EngineUnderTest:
    return EngineUnderTest("vllm", MODEL, MODEL, hf_home="/workspace/hf")


def test_stand_in_vllm_bench_serve_runs_in_the_pod_and_writes_the_real_format(launch_pod: Any) -> None:
    pod = launch_pod(healthy=True)
    workload = Workload("declared", 512, 32, 2, 4)

    result, raw = benchmark.run_benchmark(pod.ssh, workload, _pod_target(), API_KEY, timeout=120)

    assert list(json.loads(raw)) == list(json.loads(VLLM_SAMPLE))
    assert (result.completed, result.failed) == (4, 0)
    assert result.output_tok_s > 0 and 0 < result.tpot_p50_ms <= result.tpot_p99_ms
    assert json.loads(raw)["total_output_tokens"] == 4 * 32


def test_a_refused_key_fails_the_benchmark_run(launch_pod: Any) -> None:
    pod = launch_pod(healthy=True)
    workload = Workload("declared", 64, 8, 1, 2)

    result, _ = benchmark.run_benchmark(pod.ssh, workload, _pod_target(), "sk-wrong", timeout=120)

    assert (result.completed, result.failed) == (0, 2)


def test_slow_engine_falls_below_the_published_cell(launch_pod: Any) -> None:
    pod = launch_pod(fault="slow", healthy=True)
    at_cell = Workload("published", 8192, 1024, 1, 2)

    result, _ = benchmark.run_benchmark(pod.ssh, at_cell, _pod_target(), API_KEY, timeout=300)

    comparison = Comparison(result, FLASH_H200_C1, None)
    assert comparison.below_published, comparison.as_dict()
    assert comparison.warning() is not None


def test_the_stage_runs_each_workload_keeps_the_raw_json_and_warns_below_the_cell(
    launch_pod: Any, tmp_path: Path
) -> None:
    pod = launch_pod(fault="slow", healthy=True)
    runs = [
        benchmark.BenchmarkRun(Workload("published", 8192, 1024, 1, 2), FLASH_H200_C1, estimate_tok_s=240.0),
        benchmark.BenchmarkRun(Workload("declared", 256, 16, 2, 4)),
    ]

    report = tmp_path / "report"

    result, comparisons = benchmark.benchmark_stage(
        benchmark.ShellBench(pod.ssh), _pod_target(), runs, API_KEY, report, timeout=300
    )

    assert result.passed, result.reason
    kept = sorted(p.name for p in report.iterdir())
    assert kept == ["bench-vllm-declared-256-16-c2.json", "bench-vllm-published-8192-1024-c1.json"]
    assert json.loads((report / kept[1]).read_text())["num_prompts"] == 2
    assert [c.below_published for c in comparisons] == [True, False]
    assert "WARNING: measured" in result.reason and "below 50%" in result.reason
    details: Any = result.details
    assert details["runs"][0]["published"]["workload"] == "8192/1024 at concurrency 1"
    assert details["runs"][0]["ratio_to_estimate"] is not None and len(details["warnings"]) == 1


def test_the_stage_fails_when_requests_are_lost(launch_pod: Any, tmp_path: Path) -> None:
    pod = launch_pod(healthy=True)
    runs = [benchmark.BenchmarkRun(Workload("declared", 64, 8, 1, 2))]

    result, _ = benchmark.benchmark_stage(
        benchmark.ShellBench(pod.ssh), _pod_target(), runs, "sk-wrong", tmp_path / "r", timeout=120
    )

    assert not result.passed and result.reason.startswith("2 of 2 requests failed in declared-64-8-c1")
