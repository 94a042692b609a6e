"""What `validate` measures once the API answers: GSM8K accuracy, then the engine's own benchmark.

    plan_evaluation(plan, spec)     pure, before anything is rented: the accuracy settings, the published
                                    cell and its workload, the stack's declared load, the bounds; a bad
                                    value or a benchmark that cannot end within its bound is a ConfigError
    run_evaluation(...)             both stages next to the engine (the target's `ServingMachine`); the
                                    per-question answers and the tool's raw JSON kept in the report folder

The published cells are the SGLang cookbook's (random 8,192 in / 1,024 out, SGLang 0.5.15), read through
infra/catalog/facts.py from infra/data/throughput.yaml. A failed accuracy stage names the likely causes from the
diagnosis table (infra/validate/diagnosis.py): what the engine's log shows, else its garbled-output entry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from infra.catalog import Catalog, ThroughputPoint
from infra.config import StackSpec
from infra.errors import ConfigError
from infra.plan import Plan
from infra.throughput import estimate
from infra.validate.accuracy import AccuracySettings, accuracy_stage
from infra.validate.benchmark import (
    BenchmarkRun,
    EngineUnderTest,
    PublishedCell,
    Workload,
    benchmark_stage,
    estimated_seconds,
)
from infra.validate.check_target import CheckTarget, Endpoint, ServingMachine
from infra.validate.diagnosis import SIGNATURES, diagnose
from infra.validate.stages import StageResult

# The cookbook's workload: every published cell is random 8,192 in / 1,024 out.
PUBLISHED_TOKENS = (8192, 1024)
# A cell without a published TTFT is estimated at one second to first token for the time bound.
_DEFAULT_TTFT_S = 1.0
# The engine log is read this many chunks deep when an accuracy failure is diagnosed.
_LOG_ROUNDS = 64


@dataclass(frozen=True)
class EvaluationPlan:
    """What the two stages will run, decided before anything is rented."""

    accuracy: AccuracySettings
    engine: EngineUnderTest
    runs: tuple[BenchmarkRun, ...]
    published: tuple[PublishedCell, ...]
    """Every published cell on the hardware compared with (the charts draw them all)."""
    minutes: int
    """The benchmark's bound in all; each run gets its share as a timeout."""
    estimated_seconds: float
    notes: tuple[str, ...] = ()

    @property
    def run_timeout(self) -> float:
        return self.minutes * 60 / max(1, len(self.runs))


def _cell(point: ThroughputPoint) -> PublishedCell:
    return PublishedCell(
        source=point.source,
        engine=point.engine or "an engine the source does not name",
        engine_version=point.engine_version or "(version not stated)",
        gpu=point.gpu,
        gpus=point.gpus,
        input_tokens=int(point.input_tokens or 0),
        output_tokens=int(point.output_tokens or 0),
        concurrency=point.concurrency,
        output_tok_s=point.output_tok_s,
        ttft_ms=point.ttft_ms,
    )


def published_cells(plan: Plan, cat: Catalog) -> tuple[PublishedCell, ...]:
    """The cookbook cells of the plan's model on its hardware; else on the nearest hardware by HBM bandwidth."""
    family = cat.checkpoint(plan.checkpoint).family
    cells = [
        p
        for p in cat.throughput
        if p.model == family and (p.input_tokens, p.output_tokens) == PUBLISHED_TOKENS
    ]
    if not cells:
        return ()
    planned = plan.total_gpus * cat.gpu(plan.gpu).hbm_gbps

    def distance(p: ThroughputPoint) -> tuple[float, bool]:
        return abs(math.log(planned / (p.gpus * p.hbm_gbps))), p.gpu != plan.gpu

    nearest = min(cells, key=distance)
    same = [p for p in cells if (p.gpu, p.gpus) == (nearest.gpu, nearest.gpus)]
    return tuple(_cell(p) for p in sorted(same, key=lambda p: p.concurrency))


def _capacity(plan: Plan) -> int:
    """Sequences the engine runs at once: max-num-seqs per data-parallel rank."""
    return plan.max_num_seqs * max(1, plan.data_parallel)


def chosen_cell(cells: Sequence[PublishedCell], plan: Plan, concurrency: int) -> PublishedCell | None:
    """The cell whose concurrency is nearest the declared one (lower on a tie), within the engine's capacity."""
    fitting = [c for c in cells if c.concurrency <= _capacity(plan)]
    return min(
        fitting, key=lambda c: (abs(math.log(c.concurrency / concurrency)), c.concurrency), default=None
    )


def _flag(args: Sequence[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None


def engine_under_test(plan: Plan) -> EngineUnderTest:
    """The engine as its benchmark client names it: the served model name, the checkpoint's tokenizer."""
    args = list(plan.engine.args)
    engine = plan.engine.name
    if engine not in ("vllm", "sglang"):
        raise ConfigError(f"engine: no benchmark client for {engine!r}; valid: vllm, sglang")
    served = _flag(args, "--served-model-name") or plan.model
    return EngineUnderTest(
        engine="vllm" if engine == "vllm" else "sglang",
        model=served,
        tokenizer=plan.model,
        port=plan.engine.port,
        tokenizer_mode=_flag(args, "--tokenizer-mode") if engine == "vllm" else None,
    )


def _estimate_at(plan: Plan, cat: Catalog, workload: Workload) -> float | None:
    """The planner's output tok/s at a workload (the same arithmetic as the plan's own estimate)."""
    ckpt = cat.checkpoint(plan.checkpoint)
    found = estimate(
        cat,
        ckpt,
        cat.gpu(plan.gpu),
        plan.total_gpus,
        concurrency=workload.concurrency,
        max_running=_capacity(plan),
        input_tokens=workload.input_tokens,
        output_tokens=workload.output_tokens,
        tight=plan.verdict == "tight",
        engine=plan.engine.name,
        engine_version=plan.engine.version,
    )
    return found.output_tokens_per_s or None


def _bounded(name: str, tokens: tuple[int, int], concurrency: int, max_requests: int) -> Workload:
    workload = Workload.bounded(name, tokens[0], tokens[1], concurrency)
    return replace(workload, requests=min(workload.requests, max_requests)).check()


def plan_evaluation(plan: Plan, spec: StackSpec) -> EvaluationPlan:
    """The accuracy settings and the benchmark's runs, checked against their bounds before anything is rented."""
    settings = AccuracySettings(
        task=spec.accuracy_task, questions=spec.accuracy_questions, concurrency=spec.accuracy_concurrency
    ).check()
    cat = spec.catalog
    cells = published_cells(plan, cat)
    declared = (spec.expected_input_tokens, spec.expected_output_tokens)
    cell = chosen_cell(cells, plan, spec.expected_concurrency)
    notes: list[str] = []
    runs: list[BenchmarkRun] = []
    if cell is None:
        notes.append("no published cell at 8,192/1,024 for this model: only the declared load is measured")
    elif sum(PUBLISHED_TOKENS) > plan.max_model_len:
        notes.append(
            f"the published workload (8,192 + 1,024 tokens) exceeds max-model-len {plan.max_model_len:,}: not run"
        )
    else:
        workload = _bounded("published", PUBLISHED_TOKENS, cell.concurrency, spec.benchmark_max_requests)
        runs.append(BenchmarkRun(workload, cell, _estimate_at(plan, cat, workload)))
    if (*declared, spec.expected_concurrency) == (*PUBLISHED_TOKENS, cell.concurrency if cell else 0):
        notes.append("the declared load is the published cell's workload: measured once")
    elif sum(declared) > plan.max_model_len:
        notes.append(f"the declared load ({sum(declared):,} tokens) exceeds max-model-len: not run")
    else:
        workload = _bounded("declared", declared, spec.expected_concurrency, spec.benchmark_max_requests)
        estimate_tok_s = plan.cost.est_output_tokens_per_s or None
        # Another workload than any cell's: set beside the estimate only (the equal case was measured once).
        runs.append(BenchmarkRun(workload, None, estimate_tok_s))
    seconds = sum(_run_seconds(run) for run in runs)
    if seconds > spec.benchmark_max_minutes * 60:
        raise ConfigError(
            f"{spec.source}: 'deepseek-v4-infra:benchmarkMaxRequests' / 'benchmarkMaxMinutes': the benchmark "
            f"needs about {seconds / 60:.0f} min at the plan's estimate, longer than benchmarkMaxMinutes "
            f"({spec.benchmark_max_minutes}); lower benchmarkMaxRequests (4 or more) or raise "
            f"benchmarkMaxMinutes (below ttlMinutes)"
        )
    return EvaluationPlan(
        settings,
        engine_under_test(plan),
        tuple(runs),
        cells,
        spec.benchmark_max_minutes,
        round(seconds, 1),
        tuple(notes),
    )


def _run_seconds(run: BenchmarkRun) -> float:
    """How long a run takes at the planner's estimate (unknown speed: nothing to bound by)."""
    if not run.estimate_tok_s:
        return 0.0
    running = run.workload.concurrency
    ttft = (run.cell.ttft_ms / 1000) if run.cell and run.cell.ttft_ms else _DEFAULT_TTFT_S
    return estimated_seconds(run.workload, running / run.estimate_tok_s, ttft)


# -- running it --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationContext:
    """What the lifecycle gives the stages: where the report goes, and this account's own reference."""

    report_dir: Path | None = None
    own_accuracy: tuple[float, str] | None = None
    """(score, date) of the first passing run with this configuration (infra/evidence.py)."""
    ask_registry: bool = True
    """Read the image's digest from its registry (a rehearsal's stand-ins run no image: False)."""


def run_evaluation(
    target: CheckTarget,
    shell: Any,
    outputs: Mapping[str, Any],
    plan: Plan,
    evaluation: EvaluationPlan,
    endpoint: Endpoint,
    context: EvaluationContext,
) -> list[StageResult]:
    """The accuracy stage; when it passes, the benchmark stage. Returns the stages that ran, in order."""
    machine = target.machine(shell, outputs)
    headers = {"Authorization": f"Bearer {endpoint.api_key}"}
    with httpx.Client(base_url=endpoint.url, headers=headers) as client:
        result, answers = accuracy_stage(
            machine,
            machine.cache_dir,
            client,
            evaluation.engine.model,
            plan.model,
            evaluation.accuracy,
            own=context.own_accuracy,
        )
    if context.report_dir is not None and answers.answers:
        lines = "".join(json.dumps(row, sort_keys=True) + "\n" for row in answers.records())
        (context.report_dir / f"accuracy-{evaluation.accuracy.task}.jsonl").write_text(lines)
    if not result.passed:
        return [_with_causes(result, target, shell, outputs)]
    return [result, _benchmark(machine, plan, evaluation, endpoint, context)]


def _benchmark(
    machine: ServingMachine,
    plan: Plan,
    evaluation: EvaluationPlan,
    endpoint: Endpoint,
    context: EvaluationContext,
) -> StageResult:
    engine = replace(
        evaluation.engine, host=machine.engine_host, hf_home=machine.cache_dir, result_dir=machine.result_dir
    )
    result, _ = benchmark_stage(
        machine,
        engine,
        evaluation.runs,
        endpoint.api_key,
        context.report_dir,
        evaluation.run_timeout,
        eager=plan.enforce_eager,
    )
    details = dict(result.details)
    details.update(
        {
            "tool": "vllm bench serve" if engine.engine == "vllm" else "python3 -m sglang.bench_serving",
            "bound_minutes": evaluation.minutes,
            "estimated_seconds": evaluation.estimated_seconds,
            "notes": list(evaluation.notes),
            "published_points": [_cell_dict(c) for c in evaluation.published],
        }
    )
    if not evaluation.runs:
        reason = "; ".join(evaluation.notes) or "no workload to run"
        return StageResult(result.name, True, result.seconds, f"nothing measured: {reason}", details)
    return StageResult(result.name, result.passed, result.seconds, result.reason, details)


def _cell_dict(cell: PublishedCell) -> dict[str, object]:
    return {
        "source": cell.source,
        "engine": f"{cell.engine} {cell.engine_version}",
        "gpus": f"{cell.gpus}x {cell.gpu}",
        "concurrency": cell.concurrency,
        "output_tok_s": round(cell.output_tok_s, 1),
        "ttft_ms": cell.ttft_ms,
    }


def likely_causes(log_lines: Sequence[str]) -> str:
    """What the engine's log shows (diagnosis.py); else the table's garbled-output entry, its cause and fix."""
    found = diagnose(log_lines)
    if found is not None:
        return f"the engine's log shows: {found.one_line()} (`{found.line}`)"
    garbled = next(s for s in SIGNATURES if s.name == "garbled-output")
    return f"likely causes: {garbled.cause.replace('the engine produced', 'the engine may produce')} — {garbled.fix}"


def _with_causes(
    result: StageResult, target: CheckTarget, shell: Any, outputs: Mapping[str, Any]
) -> StageResult:
    lines: list[str] = []
    try:
        source = target.logs(shell, outputs)
        for _ in range(_LOG_ROUNDS):
            more = source.read_new()
            if not more:
                break
            lines += more
    except Exception:  # a log that cannot be read still leaves the table's causes
        lines = []
    details = {**result.details, "likely_causes": likely_causes(lines)}
    return StageResult(
        result.name, False, result.seconds, f"{result.reason}; {details['likely_causes']}", details
    )
