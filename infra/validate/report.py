"""The validation report: JSON for machines, Markdown for people, in reports/<stack>/<timestamp>/.

The folder is made when validate starts (`report_folder`), so the stages keep their files in it as they
run (the benchmark's raw JSON, the accuracy answers); the charts are drawn into it when the report is
written. Everything written passes through a `Redactor`, so a secret never reaches any file there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.errors import V4InfraError
from infra.validate.redact import Redactor
from infra.validate.report_evaluation import (
    benchmark_cost_line,
    evaluation_lines,
    header_lines,
    render_charts,
)
from infra.validate.stages import StageResult
from infra.validate.start_report import markdown as start_markdown
from infra.validate.start_report import start_section

REHEARSAL_BANNER = "REHEARSAL against the RunPod emulator — no GPUs were rented"
# Per target: what a rehearsal ran against (infra.rehearsal).
REHEARSAL_BANNERS = {
    "runpod": REHEARSAL_BANNER,
    "kubernetes": "REHEARSAL against a local Kubernetes control plane (kwok nodes) with a stand-in engine "
    "run locally — no GPUs were rented",
}
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def utc_timestamp() -> str:
    """Now, as the ISO 8601 UTC timestamp reports use for `started` and `ended`."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


UPTIME_RATE = "uptime x the plan's rate"


@dataclass(frozen=True)
class RunCost:
    """What the run cost: GPU-hours and dollars (None when the plan has no price)."""

    gpu_hours: float
    usd: float | None
    usd_per_hour: float | None = None
    source: str = UPTIME_RATE
    """Where `usd` comes from: the provider's billing API, or uptime x the plan's rate."""

    @classmethod
    def from_plan(cls, plan: Mapping[str, Any], seconds: float) -> RunCost:
        """The plan's $/h and GPU count times the measured duration."""
        gpus = int(plan.get("gpu_count") or 0) * int(plan.get("nodes") or 1)
        cost = plan.get("cost")
        per_hour = cost.get("usd_per_hour") if isinstance(cost, Mapping) else None
        hours = max(seconds, 0.0) / 3600
        usd = None if per_hour is None else round(float(per_hour) * hours, 4)
        return cls(round(gpus * hours, 4), usd, None if per_hour is None else float(per_hour))


@dataclass(frozen=True)
class Teardown:
    """Whether destroy removed everything, confirmed by listing what is left."""

    ok: bool
    removed: list[str] = field(default_factory=list)
    leftover: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    """How long teardown took (the pod bills until it is gone)."""


@dataclass
class ValidationReport:
    """One validation run of a stack: its plan, every stage, cost and teardown."""

    stack: str
    plan: Mapping[str, Any]
    stages: list[StageResult]
    started: str
    """ISO 8601 timestamp (see `utc_timestamp`)."""
    ended: str
    cost: RunCost | None = None
    """None: computed from the plan's price and the run's duration."""
    teardown: Teardown | None = None
    """None: teardown did not run (`--keep`)."""
    rehearsal: bool = False
    """True when run against the RunPod emulator."""
    failure: V4InfraError | None = field(default=None, compare=False, repr=False)
    """The error that failed the first failed stage, class kept (the CLI exits with its code); not written."""
    image: Mapping[str, Any] | None = None
    """The image that ran, its digest and that digest's source (infra.validate.image_record)."""
    evidence: str | None = None
    """What the evidence file kept of this run, in one line (infra/evidence.py)."""

    @property
    def passed(self) -> bool:
        return bool(self.stages) and all(stage.passed for stage in self.stages)

    @property
    def duration_seconds(self) -> float:
        return (_parse_time(self.ended) - _parse_time(self.started)).total_seconds()

    def run_cost(self) -> RunCost:
        return self.cost if self.cost is not None else RunCost.from_plan(self.plan, self.duration_seconds)

    def to_dict(self) -> dict[str, Any]:
        failed = next((stage for stage in self.stages if not stage.passed), None)
        cost = self.run_cost()
        return {
            "stack": self.stack,
            "rehearsal": self.rehearsal,
            "passed": self.passed,
            "failed_stage": None if failed is None else failed.name,
            "reason": None if failed is None else failed.reason,
            "started": self.started,
            "ended": self.ended,
            "duration_seconds": round(self.duration_seconds, 3),
            "plan": dict(self.plan),
            "stages": [
                {
                    "name": stage.name,
                    "passed": stage.passed,
                    "seconds": round(stage.seconds, 3),
                    "reason": stage.reason,
                    "details": dict(stage.details),
                }
                for stage in self.stages
            ],
            "cost": {
                "gpu_hours": cost.gpu_hours,
                "usd": cost.usd,
                "usd_per_hour": cost.usd_per_hour,
                "source": cost.source,
            },
            "start": start_section(self.plan, [{"name": s.name, "details": s.details} for s in self.stages]),
            "teardown": None
            if self.teardown is None
            else {
                "ok": self.teardown.ok,
                "removed": list(self.teardown.removed),
                "leftover": list(self.teardown.leftover),
                "error": self.teardown.error,
                "seconds": round(self.teardown.seconds, 3),
            },
            "image": None if self.image is None else dict(self.image),
            "evidence": self.evidence,
        }


def _cell(value: object) -> str:
    text = "—" if value is None else str(value)
    return " ".join(text.split()).replace("|", "\\|")


def _number(value: object, unit: str = "", digits: int = 1) -> str | None:
    if not isinstance(value, int | float):
        return None
    return f"{value:.{digits}f}{unit}"


def _stage(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    for stage in data["stages"]:
        if stage["name"] == name:
            return stage["details"]
    return {}


def _verdict(data: Mapping[str, Any]) -> str:
    stages = data["stages"]
    if data["passed"]:
        return f"**Verdict: PASSED** — all {len(stages)} stages passed."
    if not stages:
        return "**Verdict: FAILED** — no stage ran."
    return f"**Verdict: FAILED** at `{data['failed_stage']}` — {_cell(data['reason'])}"


def _teardown_lines(data: Mapping[str, Any]) -> list[str]:
    teardown = data["teardown"]
    if teardown is None:
        return ["**Not torn down (`--keep`): the deployment is still running and billing.**"]
    removed = ", ".join(f"`{_cell(item)}`" for item in teardown["removed"]) or "nothing"
    if teardown["ok"] and not teardown["leftover"]:
        return [f"Teardown confirmed: every resource is gone (removed: {removed})."]
    leftover = ", ".join(f"`{_cell(item)}`" for item in teardown["leftover"]) or "unknown"
    lines = [
        f"**TEARDOWN INCOMPLETE — resources may still be billing: {leftover}.**",
        "",
        f"Run `v4infra cleanup {_cell(data['stack'])} --yes` to remove them. Removed: {removed}.",
    ]
    if teardown["error"]:
        lines += ["", f"Error: {_cell(teardown['error'])}"]
    return lines


def _measured_rows(data: Mapping[str, Any]) -> list[str]:
    plan = data["plan"]
    load = _stage(data, "load")
    health = _stage(data, "engine-health")
    estimate = (plan.get("cost") or {}).get("est_output_tokens_per_s")
    ratio = load.get("ratio_to_estimate")
    estimate_text = _number(estimate, " tok/s", 0)
    if estimate_text and isinstance(ratio, int | float):
        estimate_text += f" (measured {ratio:.2f}x)"
    rows = [
        ("Output tokens/s (load test)", _number(load.get("output_tokens_per_s"), " tok/s", 0), estimate_text),
        (
            "Time to first token p50 / p95",
            _pair(load.get("ttft_p50_s"), load.get("ttft_p95_s"), 1000, " ms"),
            None,
        ),
        (
            "Inter-token latency p50 / p95",
            _pair(load.get("itl_p50_s"), load.get("itl_p95_s"), 1000, " ms"),
            None,
        ),
        (
            "Requests completed",
            f"{load['completed']}/{load['requests']}" if "completed" in load and "requests" in load else None,
            None,
        ),
        (
            "Engine load time",
            _number(health.get("seconds_to_healthy"), " s", 0),
            _number(plan.get("load_minutes"), " min budget", 0),
        ),
    ]
    return [
        f"| {name} | {_cell(measured)} | {_cell(planned)} |"
        for name, measured, planned in rows
        if measured is not None or planned is not None
    ]


def _pair(first: object, second: object, scale: float, unit: str) -> str | None:
    if not isinstance(first, int | float) or not isinstance(second, int | float):
        return None
    return f"{first * scale:.1f} / {second * scale:.1f}{unit}"


def _markdown(data: Mapping[str, Any]) -> str:
    plan = data["plan"]
    lines = [f"# Validation report: {_cell(data['stack'])}", ""]
    if data["rehearsal"]:
        lines += [f"> **{REHEARSAL_BANNERS.get(str(plan.get('target')), REHEARSAL_BANNER)}.**", ""]
    lines += [_verdict(data), ""]
    engine = plan.get("engine") or {}
    gpus = f"{plan.get('gpu_count', '?')}x {plan.get('gpu', '?')}"
    if int(plan.get("nodes") or 1) > 1:
        gpus += f" x {plan['nodes']} nodes"
    lines += [
        f"- Model: `{_cell(plan.get('model'))}` on {_cell(gpus)} ({_cell(plan.get('target'))})",
        f"- Engine: `{_cell(engine.get('image'))}`, max model len {_cell(plan.get('max_model_len'))}",
        f"- Run: {_cell(data['started'])} to {_cell(data['ended'])} ({data['duration_seconds']:.0f} s)",
        *header_lines(data),
        "",
        "## Stages",
        "",
        "| Stage | Result | Seconds | Reason |",
        "|---|---|---:|---|",
    ]
    for stage in data["stages"]:
        verdict = "pass" if stage["passed"] else "**FAIL**"
        lines.append(
            f"| {_cell(stage['name'])} | {verdict} | {stage['seconds']:.1f} | {_cell(stage['reason'])} |"
        )
    lines += ["", *evaluation_lines(data)]
    measured = _measured_rows(data)
    if measured:
        lines += ["## Smoke load through the endpoint", "", "| Figure | Measured | Plan |", "|---|---|---|"]
        lines += measured
        if data["rehearsal"]:
            # The emulator's engine streams in simulated time: its speed says nothing about real GPUs.
            lines += [
                "",
                "_Rehearsal: these figures come from the emulator's stand-in engine, not from GPUs._",
            ]
    lines += start_markdown(data.get("start"), bool(data["rehearsal"]))
    cost = data["cost"]
    usd = "unknown (no price in the plan)" if cost["usd"] is None else f"${cost['usd']:.2f}"
    if data["rehearsal"] and cost["usd"] is not None:
        where = "on RunPod" if plan.get("target", "runpod") == "runpod" else "on real GPUs"
        usd += f" had it run {where} (nothing was spent)"
    price = "" if cost["usd_per_hour"] is None else f" at ${cost['usd_per_hour']:.2f}/h"
    source = f" (from {cost['source']})" if cost.get("source") else ""
    lines += ["", "## Cost", "", f"{cost['gpu_hours']:.3f} GPU-hours{price}: {usd}{source}.", ""]
    bench_cost = benchmark_cost_line(data, cost["usd_per_hour"])
    if bench_cost:
        lines += [bench_cost, ""]
    lines += ["## Teardown", "", *_teardown_lines(data), ""]
    return "\n".join(lines)


def render_markdown(report: ValidationReport, secrets: Iterable[str | None] = ()) -> str:
    """The report as Markdown, secrets masked."""
    redactor = Redactor(secrets)
    return redactor.text(_markdown(redactor.data(report.to_dict())))


def report_folder(stack: str, started: str, root: Path = Path("reports")) -> Path:
    """A new folder root/<stack>/<UTC timestamp of `started`>/ for one validation's files."""
    try:
        moment = _parse_time(started)
    except ValueError:
        moment = datetime.now(UTC)
    name = _UNSAFE_NAME.sub("-", stack).strip(".-") or "stack"
    base = root / name / moment.strftime("%Y%m%dT%H%M%SZ")
    folder, attempt = base, 1
    # Two runs in the same second get their own folders.
    while True:
        try:
            folder.mkdir(parents=True, exist_ok=False)
            return folder
        except FileExistsError:
            attempt += 1
            folder = base.with_name(f"{base.name}-{attempt}")


def write_report(
    report: ValidationReport,
    root: Path = Path("reports"),
    *,
    secrets: Iterable[str | None] = (),
    folder: Path | None = None,
) -> tuple[Path, Path]:
    """Write report.json, report.md and the charts into `folder` (a new one under root/<stack>/ when None)."""
    redactor = Redactor(secrets)
    data = redactor.data(report.to_dict())
    folder = folder or report_folder(report.stack, report.started, root)
    folder.mkdir(parents=True, exist_ok=True)
    # What the stages kept there passes the same redactor before the report points at it.
    for kept in sorted(p for p in folder.iterdir() if p.suffix in (".json", ".jsonl") and p.is_file()):
        kept.write_text(redactor.text(kept.read_text()))
    data["charts"] = render_charts(data, folder)
    json_path, markdown_path = folder / "report.json", folder / "report.md"
    json_path.write_text(redactor.text(json.dumps(data, indent=2, default=str)) + "\n")
    markdown_path.write_text(redactor.text(_markdown(data)))
    return json_path, markdown_path
