"""The report's charts: valid PNG files, and the series fed to the plot match the report's data."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from infra.validate import charts
from infra.validate.charts import Phase, Point

MEASURED = [Point(16, 1390.0, 640.0), Point(1, 273.0, 369.0), Point(8, 900.0, None)]
# SGLang cookbook, Flash FP4 on 4x H200, low-latency cell: output = total/GPU x 4 x 1024 / 9216.
COOKBOOK = {"SGLang cookbook 0.5.15, 4x H200": [Point(1, 269.8, 237.0), Point(16, 1450.7, 394.0)]}
ESTIMATE = [Point(8, 870.0)]


def _png(path: Path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_throughput_chart_draws_this_run_each_published_source_and_the_estimate(tmp_path: Path) -> None:
    chart = charts.throughput_chart(MEASURED, COOKBOOK, ESTIMATE)

    assert [(s.label, s.style) for s in chart.series] == [
        ("measured (this run)", "measured"),
        ("published: SGLang cookbook 0.5.15, 4x H200", "published"),
        ("planner estimate", "estimate"),
    ]
    measured = chart.series[0]
    assert (measured.x, measured.y) == ((1, 8, 16), (273.0, 900.0, 1390.0))  # sorted by concurrency
    assert chart.series[1].y == (269.8, 1450.7)

    drawn = charts.render(chart, tmp_path / "throughput.png")

    assert drawn == list(chart.series)
    width, height = _png(tmp_path / "throughput.png")
    assert (width, height) == (800, 450)


def test_ttft_chart_leaves_out_points_without_a_ttft(tmp_path: Path) -> None:
    chart = charts.ttft_chart(MEASURED, COOKBOOK)

    assert [s.label for s in chart.series] == [
        "measured (this run)",
        "published: SGLang cookbook 0.5.15, 4x H200",
    ]
    assert (chart.series[0].x, chart.series[0].y) == ((1, 16), (369.0, 640.0))
    assert chart.y_label == "TTFT p50 (ms)"
    assert charts.render(chart, tmp_path / "ttft.png") == list(chart.series)
    _png(tmp_path / "ttft.png")


def test_timeline_lays_phases_end_to_end_with_their_gpu_seconds(tmp_path: Path) -> None:
    phases = [
        Phase("create", 40, 4),
        Phase("weights (CPU pod)", 1800, 0),
        Phase("image", 300, 4),
        Phase("engine load", 900, 4),
        Phase("checks", 60, 4),
        Phase("benchmark", 240, 4),
        Phase("teardown", 30, 4),
    ]
    chart = charts.timeline(phases)

    assert [(b.label, b.start, b.seconds) for b in chart.bars][:3] == [
        ("create", 0.0, 40),
        ("weights (CPU pod)", 40.0, 1800),
        ("image", 1840.0, 300),
    ]
    assert chart.bars[1].gpu_seconds == 0 and chart.bars[3].gpu_seconds == 3600
    assert chart.gpu_seconds == 4 * (40 + 300 + 900 + 60 + 240 + 30)
    assert "6,280 GPU-seconds" in chart.title

    drawn = charts.render_timeline(chart, tmp_path / "timeline.png")

    assert drawn == list(chart.bars)
    _png(tmp_path / "timeline.png")


def test_an_empty_chart_still_renders_a_valid_png(tmp_path: Path) -> None:
    chart = charts.throughput_chart([], {})
    assert chart.series == ()
    assert charts.render(chart, tmp_path / "empty.png") == []
    _png(tmp_path / "empty.png")


@pytest.mark.parametrize("phases", [[], [Phase("create", 0, 4)]])
def test_degenerate_timelines_render(tmp_path: Path, phases: list[Phase]) -> None:
    chart = charts.timeline(phases)
    assert charts.render_timeline(chart, tmp_path / "t.png") == list(chart.bars)
    _png(tmp_path / "t.png")
