"""What validate's evaluation runs, decided before anything is rented: the published cell, the declared load,
the bounds; and the likely causes a failed accuracy stage names from the diagnosis table.

The cells are the SGLang cookbook's (infra/data/throughput.yaml, random 8,192/1,024, SGLang 0.5.15).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from infra import config
from infra.config import StackSpec
from infra.errors import ConfigError
from infra.planner import plan
from infra.validate import evaluation
from infra.validate.evaluation import plan_evaluation


def _spec(stack: str = "flash-4xh200", **keys: object) -> StackSpec:
    spec = config.load_stack(stack)
    return replace(spec, **keys) if keys else spec


def _evaluation(spec: StackSpec) -> evaluation.EvaluationPlan:
    return plan_evaluation(plan(spec.plan_request(), spec.catalog), spec)


def test_flash_on_4x_h200_runs_the_cookbook_cell_nearest_its_load_and_its_declared_load() -> None:
    found = _evaluation(_spec())

    published, declared = found.runs
    assert published.cell is not None and published.cell.source.startswith(
        "SGLang cookbook, Flash FP4 4x H200"
    )
    assert (published.cell.engine, published.cell.engine_version) == ("sglang", "0.5.15")
    # Declared concurrency 8: the cell at 16 is nearer (in ratio) than the one at 1.
    assert (published.workload.input_tokens, published.workload.output_tokens) == (8192, 1024)
    assert (published.workload.concurrency, published.workload.requests) == (16, 32)
    assert published.cell.ttft_ms == 394 and published.estimate_tok_s
    assert (declared.workload.concurrency, declared.workload.requests, declared.cell) == (8, 16, None)
    assert declared.estimate_tok_s == plan(_spec().plan_request()).cost.est_output_tokens_per_s
    # Every cell on this hardware goes into the charts.
    assert [c.concurrency for c in found.published] == [1, 16, 64, 256]
    assert (
        found.engine.model == "deepseek-ai/DeepSeek-V4-Flash" and found.engine.tokenizer_mode == "deepseek_v4"
    )
    assert found.accuracy.questions == 200 and found.accuracy.task == "gsm8k"


def test_requests_are_bounded_by_the_stack() -> None:
    found = _evaluation(_spec(benchmark_max_requests=5))
    assert [run.workload.requests for run in found.runs] == [5, 5]


def test_a_declared_load_equal_to_the_cell_is_measured_once() -> None:
    found = _evaluation(_spec(expected_concurrency=16))
    assert [run.workload.name for run in found.runs] == ["published"]
    assert "measured once" in found.notes[0]


def test_without_a_cell_on_the_hardware_the_nearest_hardware_is_compared_and_named() -> None:
    found = _evaluation(_spec("flash-4xh100"))
    cell = found.runs[0].cell
    assert cell is not None and (cell.gpus, cell.gpu) != (4, "H100-SXM")
    # The warning's causes then name the other hardware (benchmark.Comparison.warning).
    assert {c.gpu for c in found.published} == {cell.gpu}


def test_a_benchmark_that_cannot_end_within_its_bound_is_refused_naming_the_keys() -> None:
    spec = _spec(expected_concurrency=256, expected_output_tokens=65536, benchmark_max_minutes=10)
    with pytest.raises(ConfigError) as err:
        _evaluation(spec)
    message = str(err.value)
    assert "benchmarkMaxRequests" in message and "benchmarkMaxMinutes (10)" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"accuracy_questions": 0}, "accuracyQuestions: 0 is not a whole number from 1 to 1319"),
        ({"accuracy_concurrency": float("nan")}, "accuracyConcurrency: nan is not a whole number"),
        ({"accuracy_task": "mmlu"}, "accuracyTask: unknown task 'mmlu'; valid: gsm8k"),
    ],
)
def test_bad_settings_given_through_the_api_are_one_line(keys: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _evaluation(_spec(**keys))


def test_likely_causes_name_what_the_log_shows_else_the_tables_garbled_output_entry() -> None:
    shown = evaluation.likely_causes(["INFO ...", "WARNING loggers.py:120 Corrupted: 3 reqs"])
    assert shown.startswith("the engine's log shows: the engine produced corrupted (NaN) logits")
    assert "Corrupted: 3 reqs" in shown
    table = evaluation.likely_causes(["INFO all quiet"])
    assert table.startswith("likely causes: the engine may produce corrupted (NaN) logits: garbled output")
    assert "--enforce-eager" in table
