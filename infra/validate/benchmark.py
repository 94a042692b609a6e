"""The engine's own serving benchmark, run on the serving machine, parsed, and set beside the published cell.

Command lines and result fields come from the pinned wheels' sources:

    vllm 0.25.0   `vllm bench serve` (vllm/benchmarks/serve.py `add_cli_args`; random dataset flags in
                  vllm/benchmarks/datasets/datasets.py): --save-result writes one JSON object to
                  --result-dir/--result-filename; with --metric-percentiles 50,99 it holds
                  median_/p50_/p99_{ttft,tpot,itl,e2el}_ms, output_throughput, request_throughput,
                  completed, failed, duration (`benchmark` and `process_one_metric`).
    sglang 0.5.12 `python3 -m sglang.bench_serving` (sglang/bench_serving.py): appends one JSON line per
                  run to --output-file with median_/p99_{ttft,tpot,itl}_ms, output_throughput,
                  request_throughput, completed, duration.

A fixed prompt and output length differ between the two: vLLM samples lengths in
[len x (1 - ratio), len x (1 + ratio)], so ratio 0 is fixed; SGLang in [len x ratio, len], so ratio 1 is.
Both read the API key from OPENAI_API_KEY; `shell_line` sets it from the command's stdin, so the key is
never part of a command line, a log or a process listing.
"""

from __future__ import annotations

import json
import math
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from infra.errors import ConfigError, ValidationFailed
from infra.validate.stages import StageResult

STAGE = "benchmark"
Engine = Literal["vllm", "sglang"]
ENGINES: tuple[Engine, ...] = ("vllm", "sglang")
# Under the container user's home (root in the engine images): per pod, where /tmp may be shared.
RESULT_DIR = "/root/v4infra-bench"
PERCENTILES = "50,99"
# Measured output throughput under this share of the published cell at the same workload is flagged.
BELOW_SHARE = 0.5
MAX_CONCURRENCY = 4096
MAX_TOKENS = 1_048_576
MAX_REQUESTS = 10_000


class Shell(Protocol):
    def run(self, cmd: Sequence[str] | str, timeout: float = 60.0, stdin: bytes | None = None) -> Any: ...


class BenchHost(Protocol):
    """Where the client runs next to the engine: a shell on the serving machine (`ShellBench`), a Job."""

    def benchmark(
        self, workload: Workload, target: EngineUnderTest, api_key: str, timeout: float
    ) -> tuple[BenchResult, str]:
        """The parsed result and the tool's raw result text."""
        ...


@dataclass(frozen=True)
class Workload:
    """A random-token workload: prompt and output lengths, concurrency, and how many requests in all."""

    name: str
    input_tokens: int
    output_tokens: int
    concurrency: int
    requests: int

    @classmethod
    def bounded(cls, name: str, input_tokens: int, output_tokens: int, concurrency: int) -> Workload:
        """Two rounds of the concurrency (at least 4 requests): enough for p50/p99, bounded in time."""
        return cls(name, input_tokens, output_tokens, concurrency, max(4, 2 * concurrency)).check()

    def check(self) -> Workload:
        for key, value, high in (
            ("benchmarkInputTokens", self.input_tokens, MAX_TOKENS),
            ("benchmarkOutputTokens", self.output_tokens, MAX_TOKENS),
            ("benchmarkConcurrency", self.concurrency, MAX_CONCURRENCY),
            ("benchmarkRequests", self.requests, MAX_REQUESTS),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= high:
                raise ConfigError(f"{key}: {value!r} is not a whole number from 1 to {high}")
        return self

    @property
    def slug(self) -> str:
        return f"{self.name}-{self.input_tokens}-{self.output_tokens}-c{self.concurrency}"


@dataclass(frozen=True)
class EngineUnderTest:
    """The engine on the serving machine as its benchmark client reaches it."""

    engine: Engine
    model: str
    """The served model name the API answers to."""
    tokenizer: str
    """The checkpoint's repo id, read offline from the weight cache."""
    port: int = 8000
    host: str = "127.0.0.1"
    """How the client reaches the engine: loopback on the serving machine, the Service from a Job."""
    hf_home: str | None = None
    """HF_HOME of the weight cache, so the tokenizer loads offline; None keeps the shell's environment."""
    tokenizer_mode: str | None = None
    result_dir: str = RESULT_DIR


def estimated_seconds(workload: Workload, tpot_seconds: float, ttft_seconds: float) -> float:
    """How long the run takes at a given speed: rounds of `concurrency` requests, each TTFT + decode."""
    rounds = math.ceil(workload.requests / workload.concurrency)
    return rounds * (ttft_seconds + tpot_seconds * workload.output_tokens)


def check_bound(workload: Workload, seconds: float, ttl_minutes: float) -> None:
    """Refuse a benchmark that could not finish before the stack's TTL removes the pod."""
    if seconds > ttl_minutes * 60:
        raise ConfigError(
            f"benchmarkConcurrency/benchmarkOutputTokens: the {workload.name} benchmark needs about "
            f"{seconds / 60:.0f} min, longer than ttlMinutes ({ttl_minutes:g}); lower them or raise ttlMinutes"
        )


def result_path(target: EngineUnderTest, workload: Workload) -> str:
    return f"{target.result_dir}/{workload.slug}.{'json' if target.engine == 'vllm' else 'jsonl'}"


def vllm_command(workload: Workload, target: EngineUnderTest) -> list[str]:
    """`vllm bench serve` for a random workload, saving its result JSON (flags of vllm 0.25.0)."""
    argv = [
        "vllm", "bench", "serve",
        "--backend", "openai",
        "--host", target.host,
        "--port", str(target.port),
        "--endpoint", "/v1/completions",
        "--model", target.model,
        "--tokenizer", target.tokenizer,
        "--trust-remote-code",
        "--dataset-name", "random",
        "--random-input-len", str(workload.input_tokens),
        "--random-output-len", str(workload.output_tokens),
        "--random-range-ratio", "0",
        "--ignore-eos",
        "--num-prompts", str(workload.requests),
        "--max-concurrency", str(workload.concurrency),
        "--request-rate", "inf",
        "--seed", "0",
        "--percentile-metrics", "ttft,tpot,itl,e2el",
        "--metric-percentiles", PERCENTILES,
        "--disable-tqdm",
        "--save-result",
        "--result-dir", target.result_dir,
        "--result-filename", result_path(target, workload).rsplit("/", 1)[1],
    ]  # fmt: skip
    if target.tokenizer_mode:
        argv[argv.index("--trust-remote-code") : argv.index("--trust-remote-code")] = [
            "--tokenizer-mode",
            target.tokenizer_mode,
        ]
    return argv


def sglang_command(workload: Workload, target: EngineUnderTest) -> list[str]:
    """`python3 -m sglang.bench_serving` for a random workload, one JSON line to --output-file (sglang 0.5.12)."""
    return [
        "python3", "-m", "sglang.bench_serving",
        "--backend", "sglang",
        "--host", target.host,
        "--port", str(target.port),
        "--model", target.model,
        "--tokenizer", target.tokenizer,
        "--dataset-name", "random",
        "--random-input-len", str(workload.input_tokens),
        "--random-output-len", str(workload.output_tokens),
        "--random-range-ratio", "1.0",
        "--num-prompts", str(workload.requests),
        "--max-concurrency", str(workload.concurrency),
        "--request-rate", "inf",
        "--seed", "1",
        "--disable-tqdm",
        "--output-file", result_path(target, workload),
    ]  # fmt: skip


def command(workload: Workload, target: EngineUnderTest) -> list[str]:
    if target.engine == "vllm":
        return vllm_command(workload, target)
    if target.engine == "sglang":
        return sglang_command(workload, target)
    raise ConfigError(f"engine: unknown engine {target.engine!r}; valid: {', '.join(ENGINES)}")


def _offline_command(workload: Workload, target: EngineUnderTest) -> str:
    env = ["env", "HF_HUB_OFFLINE=1", *([f"HF_HOME={target.hf_home}"] if target.hf_home else [])]
    return shlex.join([*env, *command(workload, target)])


def shell_line(workload: Workload, target: EngineUnderTest) -> str:
    """The line the target's shell runs: a fresh result file, the key from stdin, the tool in offline mode."""
    path = result_path(target, workload)
    return (
        f"mkdir -p {shlex.quote(target.result_dir)} && rm -f {shlex.quote(path)} && "
        "IFS= read -r OPENAI_API_KEY && export OPENAI_API_KEY && "
        f"exec {_offline_command(workload, target)}"
    )


# Printed by a Job's script before the result file, so the JSON is found in the pod's log.
RESULT_MARKER = "v4infra-bench-result:"


def job_script(workload: Workload, target: EngineUnderTest) -> str:
    """A Job container's script: the key comes from its environment (a Secret), the result to stdout."""
    path = shlex.quote(result_path(target, workload))
    return (
        f"mkdir -p {shlex.quote(target.result_dir)} && rm -f {path} && "
        f"{_offline_command(workload, target)} && echo {RESULT_MARKER} && cat {path}"
    )


def result_from_log(log: str) -> str:
    """The result file a Job's script printed after RESULT_MARKER ('' when it printed none)."""
    _, marker, rest = log.rpartition(RESULT_MARKER + "\n")
    return rest if marker else ""


# -- results -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchResult:
    """What the report shows of one run of the engine's benchmark (times in ms)."""

    engine: Engine
    workload: Workload
    completed: int
    failed: int
    duration_s: float
    output_tok_s: float
    requests_s: float
    ttft_p50_ms: float
    ttft_p99_ms: float
    tpot_p50_ms: float
    tpot_p99_ms: float
    itl_p50_ms: float
    itl_p99_ms: float

    def as_dict(self) -> dict[str, object]:
        return {
            "engine": self.engine,
            "workload": self.workload.slug,
            "input_tokens": self.workload.input_tokens,
            "output_tokens": self.workload.output_tokens,
            "concurrency": self.workload.concurrency,
            "requests": self.workload.requests,
            "completed": self.completed,
            "failed": self.failed,
            "duration_s": round(self.duration_s, 3),
            "output_tok_s": round(self.output_tok_s, 2),
            "requests_s": round(self.requests_s, 4),
            "ttft_p50_ms": round(self.ttft_p50_ms, 2),
            "ttft_p99_ms": round(self.ttft_p99_ms, 2),
            "tpot_p50_ms": round(self.tpot_p50_ms, 3),
            "tpot_p99_ms": round(self.tpot_p99_ms, 3),
            "itl_p50_ms": round(self.itl_p50_ms, 3),
            "itl_p99_ms": round(self.itl_p99_ms, 3),
        }


def _last_object(text: str, engine: Engine) -> Mapping[str, Any]:
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        data = json.loads(lines[-1]) if lines else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ValidationFailed(f"{STAGE}: the {engine} benchmark left no result JSON", stage=STAGE)
    return data


def _number(data: Mapping[str, Any], engine: Engine, *keys: str) -> float:
    for key in keys:
        value = data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    raise ValidationFailed(f"{STAGE}: the {engine} result JSON has no {keys[0]}", stage=STAGE)


def parse_result(engine: Engine, text: str, workload: Workload) -> BenchResult:
    """A vLLM `--save-result` file or the last line of SGLang's `--output-file`, as a BenchResult."""
    data = _last_object(text, engine)
    completed = int(_number(data, engine, "completed"))
    # vLLM counts failures; SGLang's line only has the completed count.
    failed = (
        int(data["failed"]) if isinstance(data.get("failed"), int) else max(0, workload.requests - completed)
    )
    return BenchResult(
        engine=engine,
        workload=workload,
        completed=completed,
        failed=failed,
        duration_s=_number(data, engine, "duration"),
        output_tok_s=_number(data, engine, "output_throughput"),
        requests_s=_number(data, engine, "request_throughput"),
        ttft_p50_ms=_number(data, engine, "p50_ttft_ms", "median_ttft_ms"),
        ttft_p99_ms=_number(data, engine, "p99_ttft_ms"),
        tpot_p50_ms=_number(data, engine, "p50_tpot_ms", "median_tpot_ms"),
        tpot_p99_ms=_number(data, engine, "p99_tpot_ms"),
        itl_p50_ms=_number(data, engine, "p50_itl_ms", "median_itl_ms"),
        itl_p99_ms=_number(data, engine, "p99_itl_ms"),
    )


def run_benchmark(
    shell: Shell, workload: Workload, target: EngineUnderTest, api_key: str, timeout: float
) -> tuple[BenchResult, str]:
    """Run the engine's client on the serving machine; the parsed result and the tool's raw JSON text."""
    ran = shell.run(shell_line(workload, target), timeout=timeout, stdin=(api_key + "\n").encode())
    if ran.exit_status != 0:
        tail = " | ".join(str(ran.stdout + ran.stderr).strip().splitlines()[-3:])
        raise ValidationFailed(
            f"{STAGE}: the {target.engine} benchmark ({workload.slug}) exited {ran.exit_status}: {tail}",
            stage=STAGE,
        )
    raw = shell.run(["cat", result_path(target, workload)], timeout=60)
    if raw.exit_status != 0:
        raise ValidationFailed(f"{STAGE}: the {target.engine} benchmark wrote no result file", stage=STAGE)
    return parse_result(target.engine, str(raw.stdout), workload), str(raw.stdout)


# -- beside the published cell -----------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedCell:
    """A published measurement at a fixed workload (the planner's data: infra/data/*.yaml)."""

    source: str
    engine: str
    engine_version: str
    gpu: str
    gpus: int
    input_tokens: int
    output_tokens: int
    concurrency: int
    output_tok_s: float
    ttft_ms: float | None = None
    tpot_ms: float | None = None


def output_from_total_per_gpu(
    total_per_gpu: float, gpus: int, input_tokens: int, output_tokens: int
) -> float:
    """The SGLang cookbook's `tokens_per_sec_per_gpu` is input + output: output = total x gpus x osl / (isl + osl)."""
    return total_per_gpu * gpus * output_tokens / (input_tokens + output_tokens)


@dataclass(frozen=True)
class Comparison:
    """Measured beside the published cell and the planner's estimate, with the ratios."""

    measured: BenchResult
    cell: PublishedCell | None
    estimate_tok_s: float | None

    @property
    def same_workload(self) -> bool:
        w, c = self.measured.workload, self.cell
        return c is not None and (w.input_tokens, w.output_tokens, w.concurrency) == (
            c.input_tokens,
            c.output_tokens,
            c.concurrency,
        )

    @property
    def ratio_to_published(self) -> float | None:
        return (
            self.measured.output_tok_s / self.cell.output_tok_s
            if self.cell and self.cell.output_tok_s
            else None
        )

    @property
    def ratio_to_estimate(self) -> float | None:
        return self.measured.output_tok_s / self.estimate_tok_s if self.estimate_tok_s else None

    @property
    def below_published(self) -> bool:
        ratio = self.ratio_to_published
        return self.same_workload and ratio is not None and ratio < BELOW_SHARE

    def warning(self, eager: bool = False) -> str | None:
        """One line when throughput falls below BELOW_SHARE of the published cell at the same workload."""
        if not self.below_published or self.cell is None:
            return None
        cell = self.cell
        causes = [
            "eager mode (no CUDA graphs)" if eager else "eager mode, if the plan is tight",
            f"another engine version than {cell.engine} {cell.engine_version}",
            f"fewer or slower GPUs than {cell.gpus}x {cell.gpu}",
        ]
        return (
            f"measured {self.measured.output_tok_s:.0f} output tok/s is {self.ratio_to_published:.2f}x the "
            f"published {cell.output_tok_s:.0f} ({cell.source}) at the same workload, below {BELOW_SHARE:.0%}; "
            f"likely causes: {'; '.join(causes)}"
        )

    def as_dict(self) -> dict[str, object]:
        cell = self.cell
        return {
            "measured": self.measured.as_dict(),
            "published": None
            if cell is None
            else {
                "source": cell.source,
                "engine": f"{cell.engine} {cell.engine_version}",
                "gpus": f"{cell.gpus}x {cell.gpu}",
                "workload": f"{cell.input_tokens}/{cell.output_tokens} at concurrency {cell.concurrency}",
                "output_tok_s": round(cell.output_tok_s, 1),
                "ttft_ms": cell.ttft_ms,
                "tpot_ms": cell.tpot_ms,
            },
            "estimate_tok_s": self.estimate_tok_s,
            "ratio_to_published": None
            if self.ratio_to_published is None
            else round(self.ratio_to_published, 3),
            "ratio_to_estimate": None if self.ratio_to_estimate is None else round(self.ratio_to_estimate, 3),
            "same_workload": self.same_workload,
            "below_published": self.below_published,
        }


@dataclass(frozen=True)
class BenchmarkRun:
    """One workload to run, with what to set it beside."""

    workload: Workload
    cell: PublishedCell | None = None
    estimate_tok_s: float | None = None


@dataclass(frozen=True)
class ShellBench:
    """The benchmark in a shell on the serving machine (SSH on RunPod, a local one in a rehearsal)."""

    shell: Shell

    def benchmark(
        self, workload: Workload, target: EngineUnderTest, api_key: str, timeout: float
    ) -> tuple[BenchResult, str]:
        return run_benchmark(self.shell, workload, target, api_key, timeout)


def benchmark_stage(
    host: BenchHost,
    target: EngineUnderTest,
    runs: Sequence[BenchmarkRun],
    api_key: str,
    report_dir: Path | None,
    timeout: float,
    eager: bool = False,
) -> tuple[StageResult, list[Comparison]]:
    """Every workload in turn next to the engine; the tool's raw JSON kept in the report directory.

    The stage fails when a run fails or loses requests; throughput below the published cell is a
    warning in the reason, not a failure (the engine serves, only slower than published).
    """
    started = time.monotonic()
    comparisons: list[Comparison] = []
    try:
        for run in runs:
            result, raw = host.benchmark(run.workload, target, api_key, timeout)
            if report_dir is not None:
                report_dir.mkdir(parents=True, exist_ok=True)
                suffix = "json" if target.engine == "vllm" else "jsonl"
                (report_dir / f"bench-{target.engine}-{run.workload.slug}.{suffix}").write_text(raw)
            comparisons.append(Comparison(result, run.cell, run.estimate_tok_s))
    except ValidationFailed as error:
        return StageResult(STAGE, False, time.monotonic() - started, str(error)), comparisons
    lost = [c for c in comparisons if c.measured.failed or not c.measured.completed]
    warnings = [w for c in comparisons if (w := c.warning(eager)) is not None]
    summary = "; ".join(
        f"{c.measured.workload.name} {c.measured.workload.input_tokens}/{c.measured.workload.output_tokens} "
        f"at {c.measured.workload.concurrency}: {c.measured.output_tok_s:.0f} tok/s, TTFT p50 "
        f"{c.measured.ttft_p50_ms:.0f} ms, TPOT p50 {c.measured.tpot_p50_ms:.1f} ms"
        + (f" ({c.ratio_to_published:.2f}x published)" if c.ratio_to_published is not None else "")
        for c in comparisons
    )
    details: dict[str, object] = {"runs": [c.as_dict() for c in comparisons], "warnings": warnings}
    if lost:
        first = lost[0].measured
        reason = (
            f"{first.failed} of {first.workload.requests} requests failed in {first.workload.slug}; {summary}"
        )
        return StageResult(STAGE, False, time.monotonic() - started, reason, details), comparisons
    reason = summary + "".join(f". WARNING: {w}" for w in warnings)
    return StageResult(STAGE, True, time.monotonic() - started, reason, details), comparisons
