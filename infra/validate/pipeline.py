"""The validation pipeline after `up`, and the stage bookkeeping of one validation.

    Stages                       every stage in order, announced as it ends; the error behind the first
                                 failed one is kept with its class, so the CLI exits with its code
    canary_stage(target, ...)    the provider's contract, proven before anything is rented
    run_checks(target, ...)      in the target's shell: GPU preflight, engine health; then the API, a
                                 smoke load through the endpoint, the image that ran, and the evaluation
                                 next to the engine: GSM8K accuracy, the engine's own benchmark
                                 (infra.validate.evaluation)

The checks speak only to the `CheckTarget` protocol (infra.validate.check_target, which `Target` extends),
so they run on every target and import none.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import httpx

from infra.config import StackSpec
from infra.errors import V4InfraError
from infra.plan import Plan
from infra.progress import Progress
from infra.validate.api_checks import check_api
from infra.validate.check_target import CheckTarget
from infra.validate.engine_health import LogSource, wait_for_engine
from infra.validate.evaluation import EvaluationContext, plan_evaluation, run_evaluation
from infra.validate.image_record import record_image
from infra.validate.load_test import run_load
from infra.validate.stages import StageResult


def restated(err: V4InfraError, message: str) -> V4InfraError:
    """The same error, its class and fields kept, saying `message` (which names the stage)."""
    again = type(err).__new__(type(err))
    Exception.__init__(again, message)
    again.__dict__.update(vars(err))
    return again


@dataclass
class Stages:
    """The stages of one validation, in the order they ran."""

    out: Progress
    results: list[StageResult] = field(default_factory=list)
    failure: V4InfraError | None = None
    """The error that failed the first failed stage (None when none failed by an error)."""
    context: EvaluationContext = field(default_factory=EvaluationContext)
    """Where the evaluation keeps its files, and this account's own accuracy reference."""
    image: dict[str, object] | None = None
    """The image that ran, once the engine answered (infra.validate.image_record)."""

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(stage.passed for stage in self.results)

    def add(self, result: StageResult, *, announce: bool = True) -> StageResult:
        self.results.append(result)
        if announce:
            mark = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
            self.out.event(f"{mark} {result.name} ({result.seconds:.1f}s): {result.reason}")
        return result

    def failed_by(
        self, name: str, err: V4InfraError, seconds: float, *, announce: bool = True
    ) -> StageResult:
        """A stage that an error failed: its reason is the error's line, and the error is kept."""
        if self.failure is None and self.passed_so_far():
            self.failure = restated(err, f"{name} failed: {err}")
        return self.add(StageResult(name, False, seconds, str(err), {}), announce=announce)

    def passed_so_far(self) -> bool:
        return all(stage.passed for stage in self.results)

    def timed(self, name: str, action: Callable[[], object]) -> StageResult:
        """Run `action` as the stage `name` (announced by the caller, as `up` is)."""
        start = time.monotonic()
        try:
            action()
        except V4InfraError as err:
            return self.failed_by(name, err, time.monotonic() - start, announce=False)
        return self.add(StageResult(name, True, time.monotonic() - start, "deployed", {}), announce=False)


def canary_stage(target: CheckTarget, spec: StackSpec, skip: bool, out: Progress) -> StageResult | None:
    """The provider's contract check (None where there is none to prove); `skip` passes it, saying so."""
    if skip:
        result: StageResult | None = StageResult(
            "canary", True, 0.0, "skipped (--skip-canary): the provider's behaviour was not checked first", {}
        )
    else:
        result = target.contract_check(spec.canary_max_age_days, lambda line: out.event(line))
    if result is not None:
        out.event(f"{'PASS' if result.passed else 'FAIL'} canary: {result.reason}")
    return result


def run_checks(
    target: CheckTarget, outputs: Mapping[str, Any], plan: Plan, spec: StackSpec, stages: Stages
) -> None:
    """GPU preflight and engine health in the target's shell, then the API and load checks; each stage
    runs only when the one before it passed."""
    started = time.monotonic()
    try:
        with target.shell(outputs) as shell:
            if not stages.add(target.gpu_preflight(shell, outputs)).passed:
                return
            endpoint = target.endpoint(outputs)
            with stages.out.live(f"loading the model (budget {plan.load_minutes} min)") as update:
                health = wait_for_engine(
                    endpoint.url,
                    endpoint.api_key,
                    # Any LineSource reads like LogSource: wait_for_engine only calls read_new().
                    log=cast(LogSource, target.logs(shell, outputs)),
                    budget_seconds=plan.load_minutes * 60,
                    poll_seconds=2.0,
                    engine_alive=functools.partial(target.alive, outputs),
                    on_log_line=update,
                    engine=(plan.engine.name, plan.engine.version),
                )
            if not stages.add(health).passed:
                return
            if not stages.add(check_api(endpoint.url, endpoint.api_key, plan.model)).passed:
                return
            # A smoke check of streaming under concurrency through the path users take (the endpoint);
            # the measurement to compare with published cells is the engine's own benchmark below.
            if not stages.add(
                run_load(
                    endpoint.url,
                    endpoint.api_key,
                    plan.model,
                    concurrency=spec.load_concurrency,
                    requests=spec.load_requests,
                    estimate_tokens_per_s=plan.cost.est_output_tokens_per_s,
                )
            ).passed:
                return
            stages.image = _image(target, outputs, plan, endpoint.url, endpoint.api_key, stages.context)
            evaluation = plan_evaluation(plan, spec)
            for result in run_evaluation(target, shell, outputs, plan, evaluation, endpoint, stages.context):
                stages.add(result)
    except V4InfraError as err:
        # A shell that cannot be had (the pod died, a changed host key) fails the stage that needed it.
        ran = {stage.name for stage in stages.results}
        name = "engine-health" if "gpu-preflight" in ran else "gpu-preflight"
        if name in ran:
            name = "api"
        # Past the smoke load, a lost shell fails the evaluation stage that was running.
        for later, before in (("accuracy", "load"), ("benchmark", "accuracy")):
            if before in ran:
                name = later
        stages.failed_by(name, err, time.monotonic() - started)


def _image(
    target: CheckTarget,
    outputs: Mapping[str, Any],
    plan: Plan,
    url: str,
    api_key: str,
    context: EvaluationContext,
) -> dict[str, object]:
    """The image that ran, its digest and where it came from (never fails a stage)."""
    try:
        pod_image_id = target.image_id(outputs)
    except V4InfraError:
        pod_image_id = None
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {api_key}"}) as engine:
        found = record_image(
            plan.engine.image, ask_registry=context.ask_registry, pod_image_id=pod_image_id, engine=engine
        )
    return found.to_dict()
