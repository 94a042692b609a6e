"""The validation pipeline on a strict fake target (tests/recording_fakes.py): order, stops, and errors kept.

Each check runs only when the one before it passed; a shell that cannot be had fails the stage that
needed it, with its error's class kept for the exit code. Passing checks against a serving engine are
the emulator suites' (tests/engine/test_engine_validate.py).
"""

from __future__ import annotations

import pytest
from recording_fakes import FakeTarget

from infra.config import load_stack
from infra.errors import CapacityError, RefusedError, SshError, exit_code
from infra.planner import plan
from infra.progress import Progress
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
