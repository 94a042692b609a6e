"""What a validation reads from and leaves in the evidence file (infra/evidence.py), and its run context.

Before the run (`run_context`): the evaluation's bounds are checked before anything is rented, the report
folder is made, and the first passing accuracy score of this configuration is read, the reference where
no published figure exists. After a passing run that is not a rehearsal: one measured point per benchmark workload,
with the accuracy score and the image that ran, keyed by the plan's configuration digest, so the next
`plan` of the same configuration uses them before published figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from infra.config import StackSpec
from infra.evidence import EvidenceStore, RunConfig, point_from_reports, run_config_of
from infra.plan import Plan
from infra.validate.evaluation import EvaluationContext, plan_evaluation
from infra.validate.report import report_folder
from infra.validate.stages import StageResult


def plan_config(plan: Plan) -> RunConfig:
    return run_config_of(plan.model, plan.gpu, plan.gpu_count, plan.nodes, plan.engine)


def own_accuracy(store: EvidenceStore, plan: Plan, task: str) -> tuple[float, str] | None:
    """(score, date) of this configuration's first recorded passing run; None when there is none."""
    return store.first_accuracy(plan_config(plan), task)


def run_context(
    stack: str, plan: Plan, spec: StackSpec, store: EvidenceStore, *, rehearsal: bool, started: str
) -> EvaluationContext:
    """What the stages get; a bad evaluation setting or bound raises ConfigError before the folder is made."""
    evaluation = plan_evaluation(plan, spec)
    folder = report_folder(stack, started)
    own = None if rehearsal else own_accuracy(store, plan, evaluation.accuracy.task)
    # A rehearsal's stand-ins run no image: no registry is asked.
    return EvaluationContext(folder, own, ask_registry=not rehearsal)


def _details(results: Sequence[StageResult], name: str) -> Mapping[str, Any] | None:
    return next((dict(r.details) for r in results if r.name == name), None)


def record_run(
    store: EvidenceStore,
    plan: Plan,
    stack: str,
    results: Sequence[StageResult],
    image: Mapping[str, Any] | None,
    *,
    rehearsal: bool,
    commit: str = "",
    today: str | None = None,
) -> str:
    """Record a passing run's points; returns the line the report shows either way."""
    if rehearsal:
        return "A rehearsal: nothing recorded (rehearsal numbers never enter the evidence file)."
    if not results or not all(r.passed for r in results):
        return "Validate did not pass: nothing recorded in the evidence file."
    bench = _details(results, "benchmark") or {}
    runs = [run["measured"] for run in bench.get("runs") or []]
    if not runs:
        return "The benchmark measured nothing: nothing recorded in the evidence file."
    config = plan_config(plan)
    date = today or datetime.now(UTC).date().isoformat()
    image = image or {}
    points = [
        point_from_reports(
            config,
            measured,
            _details(results, "accuracy"),
            date,
            stack,
            commit=commit,
            image_digest=str(image.get("digest") or ""),
            image_source=str(image.get("source") or ""),
        )
        for measured in runs
    ]
    written = store.record(points, rehearsal=False)
    return (
        f"Recorded {written} measured point(s) in {store.path} (configuration {config.digest}: "
        f"{config.engine} {config.engine_version}, flags digest {config.flags_digest[:12]}); `plan` uses "
        f'them for this configuration, labelled "measured on this account on {date}".'
    )
