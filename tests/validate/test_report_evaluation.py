"""The report's evaluation sections and charts, from stages in the real formats: the accuracy stage's own
details (`accuracy.judge`), the benchmark's comparisons over the real vLLM result file
(tests/fixtures/bench/vllm-0.25.0-save-result.json, see tests/validate/test_benchmark.py), the
published cookbook cells the evaluation plan set beside them.
"""

from __future__ import annotations

import json
from pathlib import Path

from infra.catalog import load_catalog
from infra.planner import PlanRequest, plan
from infra.validate import accuracy, benchmark, report_evaluation
from infra.validate.evaluation import _cell_dict, published_cells
from infra.validate.report import Teardown, ValidationReport, write_report
from infra.validate.stages import StageResult

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bench"
PNG = b"\x89PNG\r\n\x1a\n"
# The fixture's figures: 1,436 output tok/s, TTFT p50 1,153 ms (a Flash 4x H200 run at concurrency 16).
MEASURED = benchmark.parse_result(
    "vllm",
    (FIXTURES / "vllm-0.25.0-save-result.json").read_text(),
    benchmark.Workload("published", 8192, 1024, 16, 32),
)


def _report(tmp_path: Path, *, slow: bool = False) -> tuple[ValidationReport, Path]:
    the_plan = plan(PlanRequest("flash", "H200", 4))
    cells = published_cells(the_plan, load_catalog())
    cell = next(c for c in cells if c.concurrency == 16)
    if slow:
        cell = benchmark.PublishedCell(**{**cell.__dict__, "output_tok_s": cell.output_tok_s * 4})
    comparison = benchmark.Comparison(MEASURED, cell, 1450.0)
    answers = [accuracy.Answer(i, 5, 5 if i < 191 else 6, "") for i in range(200)]
    judged = accuracy.judge(
        accuracy.AccuracyRun(answers, 12.0),
        accuracy.reference_for(the_plan.model, None, None),
        accuracy.AccuracySettings(),
        "openai/gsm8k@" + "e" * 40,
    )
    warning = comparison.warning()
    bench = StageResult(
        "benchmark",
        True,
        90.0,
        "measured",
        {
            "runs": [comparison.as_dict()],
            "warnings": [warning] if warning else [],
            "tool": "vllm bench serve",
            "bound_minutes": 20,
            "estimated_seconds": 43.0,
            "notes": [],
            "published_points": [_cell_dict(c) for c in cells],
        },
    )
    stages = [
        StageResult("canary", True, 3.0, "ok", {}),
        StageResult("up", True, 600.0, "deployed", {}),
        StageResult("engine-health", True, 300.0, "healthy", {}),
        judged,
        bench,
    ]
    report = ValidationReport(
        stack="flash-4xh200",
        plan=the_plan.to_dict(),
        stages=stages,
        started="2026-12-02T10:00:00+00:00",
        ended="2026-12-02T10:20:00+00:00",
        teardown=Teardown(ok=True, removed=["pod p1"], seconds=30.0),
        image={
            "image": "vllm/vllm-openai:v0.31.0",
            "digest": "sha256:" + "a" * 64,
            "source": "the registry's manifest (registry-1.docker.io)",
            "version": "0.31.0",
            "note": "",
        },
    )
    json_path, _ = write_report(report, tmp_path / "reports")
    return report, json_path.parent


def test_the_charts_are_valid_pngs_drawn_from_the_reports_own_data(tmp_path: Path) -> None:
    _, folder = _report(tmp_path)
    data = json.loads((folder / "report.json").read_text())

    assert data["charts"] == ["throughput.png", "ttft.png", "timeline.png"]
    for name in data["charts"]:
        assert (folder / name).read_bytes()[:8] == PNG, name
    throughput, ttft, run = report_evaluation.charts(data)
    assert throughput is not None and ttft is not None
    series = {s.label: s for s in throughput.series}
    assert series["measured (this run)"].y == (round(MEASURED.output_tok_s, 2),)
    published = series["published: SGLang cookbook, 4x H200 (sglang 0.5.15)"]
    assert published.x == (1, 16, 64, 256) and published.y == (270, 1450, 1225, 1870)
    assert series["planner estimate"].y == (1450.0,)
    ttft_series = {s.label: s for s in ttft.series}
    assert ttft_series["published: SGLang cookbook, 4x H200 (sglang 0.5.15)"].y == (237, 394, 859, 3700)
    assert ttft_series["measured (this run)"].y == (round(MEASURED.ttft_p50_ms, 2),)
    # GPUs bill from the end of `up` until teardown removed the pod: 4 GPUs x (300 + 12 + 90 + 30) s.
    assert [b.label for b in run.bars] == [
        "canary", "up: create, weights, image", "engine load", "accuracy", "benchmark", "teardown",
    ]  # fmt: skip
    assert run.gpu_seconds == 4 * (300 + 12 + 90 + 30)


def test_the_markdown_shows_accuracy_benchmark_ratios_image_and_embeds_the_charts(tmp_path: Path) -> None:
    _, folder = _report(tmp_path)
    markdown = (folder / "report.md").read_text()

    assert "| 0.955 (191/200) |" in markdown and "0.905 (0.955 - 0.05)" in markdown
    assert "sgl-project/sglang#28983" in markdown
    assert "| published-8192-1024-c16 (32/32 requests) | 1,436 |" in markdown
    assert "| 0.99x |" in markdown  # 1,436 against the cookbook's 1,450 at the same workload
    assert (
        "SGLang cookbook, Flash FP4 4x H200" in markdown and "(sglang 0.5.15, 4x H200, 8192/1024" in markdown
    )
    for name in ("throughput.png", "ttft.png", "timeline.png"):
        assert f"]({name})" in markdown
    assert f"`sha256:{'a' * 64}`, from the registry's manifest (registry-1.docker.io)" in markdown
    # 90 s of the 4-GPU pod at $14.36/h.
    assert "Of which the benchmark: 0.100 GPU-hours, $0.36 (90 s on 4 GPUs)." in markdown


def test_a_run_below_half_the_published_cell_says_so_in_one_line_with_causes(tmp_path: Path) -> None:
    _, folder = _report(tmp_path, slow=True)
    lines = [
        line for line in (folder / "report.md").read_text().splitlines() if "Slower than published" in line
    ]
    assert len(lines) == 1
    assert "below 50%" in lines[0] and "likely causes: eager mode" in lines[0]
