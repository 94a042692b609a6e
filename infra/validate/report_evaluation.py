"""The report's evaluation sections: accuracy against its threshold, the benchmark beside the published cell,
the charts, the image that ran and what the evidence file kept.

Everything here reads the report's JSON data (`ValidationReport.to_dict()`), so the Markdown and the
charts say exactly what report.json says. The charts are drawn by infra/validate/charts.py into the
report's folder and embedded by file name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.validate.accuracy import wilson
from infra.validate.charts import (
    Chart,
    Phase,
    Point,
    Timeline,
    render,
    render_timeline,
    throughput_chart,
    timeline,
    ttft_chart,
)

CHARTS = {
    "throughput": ("throughput.png", "Output throughput against concurrency, with the published points"),
    "ttft": ("ttft.png", "Time to first token against concurrency, with the published points"),
    "timeline": ("timeline.png", "The run's timeline by phase, with the GPU-seconds of each"),
}
# Stages before the GPU pod bills: the canary's CPU pod, and `up` (volume, CPU pre-fill, pod start).
_NO_GPU = ("canary", "up")
# The phases a stage stands for, in the timeline's words.
_PHASE_NAMES = {
    "up": "up: create, weights, image",
    "engine-health": "engine load",
    "api": "API check",
    "load": "smoke load",
}


def _stage(data: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    return next((s for s in data["stages"] if s["name"] == name), None)


def _cell(value: object) -> str:
    text = "—" if value is None else str(value)
    return " ".join(text.split()).replace("|", "\\|")


def _ms(value: object, digits: int = 0) -> str:
    return f"{value:,.{digits}f}" if isinstance(value, int | float) else "—"


def _ratio(value: object) -> str:
    return f"{value:.2f}x" if isinstance(value, int | float) else "—"


# -- charts ------------------------------------------------------------------------------------------


def _runs(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    bench = _stage(data, "benchmark")
    return list((bench or {}).get("details", {}).get("runs") or [])


def measured_points(data: Mapping[str, Any]) -> list[Point]:
    return [
        Point(
            int(r["measured"]["concurrency"]),
            float(r["measured"]["output_tok_s"]),
            r["measured"]["ttft_p50_ms"],
        )
        for r in _runs(data)
    ]


def published_points(data: Mapping[str, Any]) -> dict[str, list[Point]]:
    bench = _stage(data, "benchmark")
    points: dict[str, list[Point]] = {}
    for cell in (bench or {}).get("details", {}).get("published_points") or []:
        label = f"SGLang cookbook, {cell['gpus']} ({cell['engine']})"
        points.setdefault(label, []).append(
            Point(int(cell["concurrency"]), float(cell["output_tok_s"]), cell.get("ttft_ms"))
        )
    return points


def estimate_points(data: Mapping[str, Any]) -> list[Point]:
    return [
        Point(int(r["measured"]["concurrency"]), float(r["estimate_tok_s"]))
        for r in _runs(data)
        if isinstance(r.get("estimate_tok_s"), int | float)
    ]


def phases(data: Mapping[str, Any]) -> list[Phase]:
    """Each stage in order, then teardown; GPUs bill from the end of `up` until teardown removed the pod."""
    plan = data["plan"]
    gpus = int(plan.get("gpu_count") or 0) * int(plan.get("nodes") or 1)
    found = [
        Phase(
            _PHASE_NAMES.get(s["name"], s["name"]), float(s["seconds"]), 0 if s["name"] in _NO_GPU else gpus
        )
        for s in data["stages"]
        if s["seconds"] > 0
    ]
    teardown = data.get("teardown")
    if teardown and teardown.get("seconds"):
        found.append(Phase("teardown", float(teardown["seconds"]), gpus))
    return found


def charts(data: Mapping[str, Any]) -> tuple[Chart | None, Chart | None, Timeline]:
    """The three charts of a report: the first two only when the benchmark measured something."""
    measured = measured_points(data)
    if not measured:
        return None, None, timeline(phases(data))
    published = published_points(data)
    return (
        throughput_chart(measured, published, estimate_points(data)),
        ttft_chart(measured, published),
        timeline(phases(data)),
    )


def render_charts(data: Mapping[str, Any], folder: Path) -> list[str]:
    """Draw the report's charts into its folder; returns the file names written, in CHARTS order."""
    throughput, ttft, run = charts(data)
    written = []
    for key, chart in (("throughput", throughput), ("ttft", ttft)):
        if chart is not None:
            render(chart, folder / CHARTS[key][0])
            written.append(CHARTS[key][0])
    if run.bars:
        render_timeline(run, folder / CHARTS["timeline"][0])
        written.append(CHARTS["timeline"][0])
    return written


# -- Markdown ----------------------------------------------------------------------------------------


def _accuracy_lines(data: Mapping[str, Any]) -> list[str]:
    stage = _stage(data, "accuracy")
    if stage is None:
        return []
    d = stage["details"]
    lines = ["## Accuracy", ""]
    if "score" not in d:
        return [*lines, f"**Not measured:** {_cell(stage['reason'])}", ""]
    # From the counts, as the stage's own line states it (the JSON keeps it rounded to 4 places).
    low, high = wilson(int(d["correct"]), int(d["questions"]))
    threshold = (
        f"{d['threshold']:.3f} ({d['expected']:.3f} - {d['tolerance']:.2f})"
        if d.get("threshold") is not None
        else "none yet: this run's score becomes the reference once validate passes"
    )
    lines += [
        "| Task | Score | 95% interval | Threshold | Threshold's source | Result |",
        "|---|---:|---|---|---|---|",
        f"| {_cell(d['task'])}: {d['questions']} questions, {d['shots']} shots, {_cell(d['protocol'])}, "
        f"`{_cell(d['dataset'])}` | {d['score']:.3f} ({d['correct']}/{d['questions']}) | "
        f"{low:.3f}-{high:.3f} | {_cell(threshold)} | {_cell(d.get('reference_source'))} | "
        f"{'pass' if stage['passed'] else '**FAIL**'} |",
        "",
    ]
    if d.get("invalid") or d.get("failed_requests"):
        lines += [f"{d['invalid']} answers had no number; {d['failed_requests']} requests failed.", ""]
    if d.get("likely_causes"):
        lines += [f"**Accuracy below its threshold:** {_cell(d['likely_causes'])}", ""]
    return lines


def _benchmark_lines(data: Mapping[str, Any]) -> list[str]:
    stage = _stage(data, "benchmark")
    if stage is None:
        return []
    d = stage["details"]
    lines = [f"## Benchmark (`{_cell(d.get('tool', 'the engine client'))}`, next to the engine)", ""]
    runs = d.get("runs") or []
    if runs:
        lines += [
            "| Workload | Output tok/s | TTFT p50 / p99 ms | TPOT p50 / p99 ms | ITL p50 / p99 ms | Req/s "
            "| Published cell | vs published | Planner estimate | vs estimate |",
            "|---|---:|---|---|---|---:|---|---:|---:|---:|",
        ]
    for run in runs:
        m, cell = run["measured"], run.get("published")
        published = (
            f"{cell['output_tok_s']:,.0f} tok/s: {cell['source']} ({cell['engine']}, {cell['gpus']}, "
            f"{cell['workload']})"
            if cell
            else None
        )
        lines.append(
            f"| {m['workload']} ({m['completed']}/{m['requests']} requests) | {m['output_tok_s']:,.0f} "
            f"| {_ms(m['ttft_p50_ms'])} / {_ms(m['ttft_p99_ms'])} | {_ms(m['tpot_p50_ms'], 1)} / "
            f"{_ms(m['tpot_p99_ms'], 1)} | {_ms(m['itl_p50_ms'], 1)} / {_ms(m['itl_p99_ms'], 1)} "
            f"| {m['requests_s']:.2f} | {_cell(published)} | {_ratio(run.get('ratio_to_published'))} "
            f"| {_ms(run.get('estimate_tok_s'))} | {_ratio(run.get('ratio_to_estimate'))} |"
        )
    if runs:
        lines.append("")
    for warning in d.get("warnings") or []:
        lines += [f"**Slower than published:** {_cell(warning)}", ""]
    for note in d.get("notes") or []:
        lines += [f"_{_cell(note)}._", ""]
    if not stage["passed"]:
        lines += [f"**Benchmark failed:** {_cell(stage['reason'])}", ""]
    if "bound_minutes" in d:
        lines += [
            f"Bounded at {d['bound_minutes']} min (estimated {d['estimated_seconds']:,.0f} s at the plan's "
            "speed); the tool's raw result JSON is kept beside this report.",
            "",
        ]
    return lines


def _chart_lines(data: Mapping[str, Any]) -> list[str]:
    names = data.get("charts") or []
    if not names:
        return []
    lines = ["## Charts", ""]
    for _, (name, title) in CHARTS.items():
        if name in names:
            lines += [f"![{title}]({name})", ""]
    if "timeline.png" in names:
        lines += [
            "_`up` is drawn without GPUs: the GPU pod bills from its end (the CPU pre-fill takes most of it)._",
            "",
        ]
    return lines


def _image_lines(data: Mapping[str, Any]) -> list[str]:
    image = data.get("image")
    if not image:
        return []
    what = f"`{_cell(image['digest'])}`" if image.get("digest") else "no digest"
    line = f"- Image that ran: `{_cell(image['image'])}`, {what}, from {_cell(image['source'])}"
    if image.get("version"):
        line += f"; the engine reports version {_cell(image['version'])}"
    if image.get("note"):
        line += f" ({_cell(image['note'])})"
    return [line]


def header_lines(data: Mapping[str, Any]) -> list[str]:
    """Lines for the report's header list: the image that ran."""
    return _image_lines(data)


def evaluation_lines(data: Mapping[str, Any]) -> list[str]:
    """The accuracy, benchmark, charts and evidence sections, in that order (empty where nothing ran)."""
    lines = [*_accuracy_lines(data), *_benchmark_lines(data), *_chart_lines(data)]
    if data.get("evidence"):
        lines += ["## Evidence", "", _cell(data["evidence"]), ""]
    return lines


def benchmark_cost_line(data: Mapping[str, Any], usd_per_hour: float | None) -> str | None:
    """The benchmark's share of the run's GPU time (it is billed like every other minute of the pod)."""
    stage = _stage(data, "benchmark")
    if stage is None or not stage["seconds"]:
        return None
    plan = data["plan"]
    gpus = int(plan.get("gpu_count") or 0) * int(plan.get("nodes") or 1)
    hours = stage["seconds"] / 3600
    usd = "" if usd_per_hour is None else f", ${usd_per_hour * hours:.2f}"
    line = (
        f"Of which the benchmark: {gpus * hours:.3f} GPU-hours{usd} ({stage['seconds']:.0f} s on {gpus} GPUs)"
    )
    # A rehearsal's stand-ins run in compressed time: their seconds are not a GPU's.
    return line + (" in the stand-ins' wall-clock time." if data.get("rehearsal") else ".")
