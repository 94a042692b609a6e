"""The validation pipeline on a strict fake target (tests/recording_fakes.py): order, stops, and errors kept.

Each check runs only when the one before it passed; a shell that cannot be had fails the stage that
needed it, with its error's class kept for the exit code. Passing checks against a serving engine are
the emulator suites' (tests/engine/test_engine_validate.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from recording_fakes import FakeTarget

from infra.config import load_stack
from infra.errors import CapacityError, RefusedError, SshError, exit_code
from infra.planner import plan
from infra.progress import Progress
from infra.validate import evaluation, pipeline
from infra.validate.accuracy import AccuracyRun
from infra.validate.check_target import Endpoint
from infra.validate.evaluation import EvaluationContext
from infra.validate.image_record import ImageRecord
from infra.validate.machine import ShellMachine
from infra.validate.pipeline import Stages, canary_stage, restated, run_checks
from infra.validate.redact import Redactor
from infra.validate.stages import StageResult

STACK = "flash-4xh200"


@pytest.fixture
def stages() -> Stages:
    return Stages(Progress(Redactor([])))


def test_checks_stop_at_a_failed_gpu_preflight_before_anything_asks_the_engine(stages: Stages) -> None:
    calls: list[str] = []
    target = FakeTarget(calls)
    target.script.then("shell", None).then(
        "gpu_preflight", StageResult("gpu-preflight", False, 0.1, "3 GPUs visible; the plan needs 4", {})
    )
    spec = load_stack(STACK)
    run_checks(target, {}, plan(spec.plan_request(), spec.catalog), spec, stages)
    assert calls == ["target.shell", "target.gpu_preflight"], "no endpoint, log or engine call after a FAIL"
    assert [s.name for s in stages.results] == ["gpu-preflight"]
    assert stages.failure is None, "a check that answered FAIL raised nothing"


def test_a_shell_that_cannot_be_had_fails_the_preflight_with_its_error_kept(
    stages: Stages, capsys: pytest.CaptureFixture[str]
) -> None:
    target = FakeTarget([])
    target.script.then("shell", SshError("host key of pod abc changed", host="10.0.0.1", port=22))
    spec = load_stack(STACK)
    run_checks(target, {}, plan(spec.plan_request(), spec.catalog), spec, stages)
    (stage,) = stages.results
    assert (stage.name, stage.passed) == ("gpu-preflight", False)
    assert isinstance(stages.failure, SshError) and stages.failure.host == "10.0.0.1"
    assert str(stages.failure) == "gpu-preflight failed: host key of pod abc changed"
    assert "FAIL gpu-preflight" in capsys.readouterr().out


def test_only_the_first_failed_stage_names_the_failure(stages: Stages) -> None:
    stages.add(StageResult("gpu-preflight", False, 0.0, "3 GPUs", {}))
    stages.failed_by("engine-health", CapacityError("gone"), 0.0)
    assert stages.failure is None and not stages.passed


def test_a_failed_up_keeps_its_class_and_exit_code(stages: Stages) -> None:
    def up() -> None:
        raise CapacityError("no capacity for 4x H200", resource="gpu pod")

    result = stages.timed("up", up)
    assert not result.passed and result.reason == "no capacity for 4x H200"
    assert isinstance(stages.failure, CapacityError) and exit_code(stages.failure) == 7
    assert stages.failure.resource == "gpu pod"


def test_restated_keeps_every_field_of_errors_with_keyword_only_ones() -> None:
    again = restated(RefusedError("no such pool", status=422, resource="pod"), "up failed: no such pool")
    assert isinstance(again, RefusedError) and (again.status, again.resource) == (422, "pod")
    assert str(again) == "up failed: no such pool"


def test_a_skipped_canary_passes_and_says_so_without_asking_the_provider(stages: Stages) -> None:
    target = FakeTarget([])  # contract_check is unscripted: asking it would raise
    result = canary_stage(target, load_stack(STACK), True, stages.out)
    assert result is not None and result.passed and "--skip-canary" in result.reason


# ---- after the smoke load: the image, accuracy, then the benchmark (issue 18) ----------------------------


# The serving pod's shell as a RunPod target hands it over (nothing runs in it: the stages are faked).
MACHINE = ShellMachine(shell=None, cache_dir="/workspace/hf")  # type: ignore[arg-type]


def _passing(name: str) -> StageResult:
    return StageResult(name, True, 0.0, "ok", {})


@pytest.fixture
def past_the_api(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], FakeTarget]:
    """A fake target whose engine is healthy, answers and streams: the checks reach the evaluation."""
    calls: list[str] = []
    target = FakeTarget(calls)
    target.script.then("shell", None).then("gpu_preflight", _passing("gpu-preflight"))
    target.script.always("endpoint", Endpoint("http://127.0.0.1:9", "sk-fake")).always("logs", _Lines())
    target.script.always("image_id", None).always("machine", MACHINE).always("alive", True)
    monkeypatch.setattr(pipeline, "wait_for_engine", lambda *a, **k: _passing("engine-health"))
    monkeypatch.setattr(pipeline, "check_api", lambda *a: _passing("api"))
    monkeypatch.setattr(pipeline, "run_load", lambda *a, **k: _passing("load"))
    monkeypatch.setattr(
        pipeline,
        "record_image",
        lambda image, **k: ImageRecord(image, None, "the engine's version", "0.31.0"),
    )
    return calls, target


def _accuracy(passed: bool) -> Any:
    def stage(machine: Any, cache_dir: str, *args: Any, **kwargs: Any) -> tuple[StageResult, AccuracyRun]:
        assert machine is MACHINE and cache_dir == "/workspace/hf"
        return StageResult("accuracy", passed, 0.0, "GSM8K 0.500 is below the threshold", {}), AccuracyRun()

    return stage


class _Lines:
    def read_new(self) -> list[str]:
        return []


def test_after_the_smoke_load_accuracy_then_the_benchmark_run_on_the_serving_machine(
    stages: Stages, past_the_api: tuple[list[str], FakeTarget], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls, target = past_the_api
    benched: list[Any] = []
    monkeypatch.setattr(evaluation, "accuracy_stage", _accuracy(True))

    def bench(host: Any, engine: Any, runs: Any, key: str, folder: Any, timeout: float, eager: bool) -> Any:
        benched.append((host, engine, [r.workload.name for r in runs], key))
        return StageResult("benchmark", True, 0.0, "measured", {"runs": [], "warnings": []}), []

    monkeypatch.setattr(evaluation, "benchmark_stage", bench)
    spec = load_stack(STACK)
    run_checks(target, {}, plan(spec.plan_request(), spec.catalog), spec, stages)

    assert [s.name for s in stages.results] == [
        "gpu-preflight", "engine-health", "api", "load", "accuracy", "benchmark",
    ]  # fmt: skip
    assert stages.image is not None and stages.image["version"] == "0.31.0"
    assert calls.index("target.image_id") < calls.index("target.machine")
    ((host, engine, workloads, key),) = benched
    assert host is MACHINE and workloads == ["published", "declared"] and key == "sk-fake"
    # The client reaches the engine on the machine itself and reads the tokenizer from its cache.
    assert (engine.model, engine.host, engine.hf_home) == (
        "deepseek-ai/DeepSeek-V4-Flash",
        "127.0.0.1",
        "/workspace/hf",
    )


def test_a_failed_accuracy_stage_stops_before_the_benchmark_and_names_likely_causes(
    stages: Stages, past_the_api: tuple[list[str], FakeTarget], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, target = past_the_api
    monkeypatch.setattr(evaluation, "accuracy_stage", _accuracy(False))
    monkeypatch.setattr(evaluation, "benchmark_stage", lambda *a, **k: pytest.fail("the benchmark ran"))
    spec = load_stack(STACK)
    run_checks(target, {}, plan(spec.plan_request(), spec.catalog), spec, stages)

    assert [s.name for s in stages.results][-1] == "accuracy" and not stages.passed
    reason = stages.results[-1].reason
    assert reason.startswith("GSM8K 0.500 is below the threshold; likely causes:") and "garbled" in reason


def test_the_accuracy_stage_gets_this_accounts_own_reference_from_the_context(
    past_the_api: tuple[list[str], FakeTarget], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, target = past_the_api
    seen: list[Any] = []

    def stage(machine: Any, cache_dir: str, *args: Any, own: Any = None) -> tuple[StageResult, AccuracyRun]:
        seen.append(own)
        return StageResult("accuracy", False, 0.0, "below", {}), AccuracyRun()

    monkeypatch.setattr(evaluation, "accuracy_stage", stage)
    stages = Stages(Progress(Redactor([])), context=EvaluationContext(own_accuracy=(0.93, "2026-11-30")))
    spec = load_stack(STACK)
    run_checks(target, {}, plan(spec.plan_request(), spec.catalog), spec, stages)
    assert seen == [(0.93, "2026-11-30")]
