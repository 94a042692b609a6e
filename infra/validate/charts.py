"""The report's charts: throughput and TTFT against concurrency beside the published points, and the timeline.

Each chart is built in two steps: a pure function turns report data into a `Chart` (titles and the
series to draw, nothing else), and `render` draws exactly that chart into a PNG with matplotlib's Agg
canvas (no pyplot, no display, no global state), returning the series as they were plotted so a test
can compare them with the data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Style = Literal["measured", "published", "estimate"]
# (marker, line style, line width) per kind of series: this run stands out, the references recede.
_MARKERS: dict[Style, tuple[str, str, float]] = {
    "measured": ("o", "-", 2.0),
    "published": ("s", "--", 1.2),
    "estimate": ("^", ":", 1.2),
}


@dataclass(frozen=True)
class Point:
    """One measurement at a concurrency: output tokens/s and the median time to first token."""

    concurrency: int
    output_tok_s: float
    ttft_ms: float | None = None


@dataclass(frozen=True)
class Series:
    label: str
    style: Style
    x: tuple[float, ...]
    y: tuple[float, ...]


@dataclass(frozen=True)
class Chart:
    title: str
    x_label: str
    y_label: str
    series: tuple[Series, ...]


@dataclass(frozen=True)
class Phase:
    """A stretch of the run and how many GPUs were billed meanwhile (0 on a CPU pod)."""

    name: str
    seconds: float
    gpus: int

    @property
    def gpu_seconds(self) -> float:
        return self.seconds * self.gpus


@dataclass(frozen=True)
class Bar:
    label: str
    start: float
    seconds: float
    gpu_seconds: float


@dataclass(frozen=True)
class Timeline:
    title: str
    bars: tuple[Bar, ...]

    @property
    def gpu_seconds(self) -> float:
        return sum(bar.gpu_seconds for bar in self.bars)


def _series(label: str, style: Style, points: Iterable[tuple[float, float | None]]) -> Series | None:
    kept = sorted((x, y) for x, y in points if y is not None)
    if not kept:
        return None
    return Series(label, style, tuple(x for x, _ in kept), tuple(float(y) for _, y in kept))


def _against_concurrency(
    title: str,
    y_label: str,
    measured: Sequence[Point],
    published: Mapping[str, Sequence[Point]],
    estimate: Sequence[Point],
    value: str,
) -> Chart:
    candidates = [
        _series("measured (this run)", "measured", ((p.concurrency, getattr(p, value)) for p in measured)),
        *(
            _series(f"published: {source}", "published", ((p.concurrency, getattr(p, value)) for p in points))
            for source, points in sorted(published.items())
        ),
        _series("planner estimate", "estimate", ((p.concurrency, getattr(p, value)) for p in estimate)),
    ]
    return Chart(title, "concurrent requests", y_label, tuple(s for s in candidates if s is not None))


def throughput_chart(
    measured: Sequence[Point], published: Mapping[str, Sequence[Point]], estimate: Sequence[Point] = ()
) -> Chart:
    """Output tokens/s against concurrency: this run, each published source, the planner's estimate."""
    return _against_concurrency(
        "Output throughput against concurrency",
        "output tokens/s",
        measured,
        published,
        estimate,
        "output_tok_s",
    )


def ttft_chart(measured: Sequence[Point], published: Mapping[str, Sequence[Point]]) -> Chart:
    """Median time to first token against concurrency (the planner estimates no TTFT)."""
    return _against_concurrency(
        "Time to first token against concurrency", "TTFT p50 (ms)", measured, published, (), "ttft_ms"
    )


def timeline(phases: Sequence[Phase]) -> Timeline:
    """The run's phases end to end, each with its seconds and GPU-seconds."""
    bars: list[Bar] = []
    start = 0.0
    for phase in phases:
        bars.append(Bar(phase.name, start, phase.seconds, phase.gpu_seconds))
        start += phase.seconds
    total = sum(p.gpu_seconds for p in phases)
    return Timeline(f"Run timeline by phase ({total:,.0f} GPU-seconds in all)", tuple(bars))


# -- drawing -----------------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Figure:
    # Imported here: matplotlib takes a few hundred ms to load, and only a report draws.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def render(chart: Chart, path: Path) -> list[Series]:
    """Draw `chart` into a PNG at `path`; returns the series read back from the plotted lines."""
    figure = _figure(8, 4.5)
    axes = figure.add_subplot(1, 1, 1)
    for series in chart.series:
        marker, linestyle, linewidth = _MARKERS[series.style]
        axes.plot(
            series.x, series.y, label=series.label, marker=marker, linestyle=linestyle, linewidth=linewidth
        )
    axes.set_title(chart.title)
    axes.set_xlabel(chart.x_label)
    axes.set_ylabel(chart.y_label)
    ticks = sorted({x for s in chart.series for x in s.x})
    if ticks and ticks[0] > 0:
        # Concurrencies double from cell to cell: a log axis, labelled with the values themselves.
        axes.set_xscale("log", base=2)
        axes.set_xticks(ticks, [f"{t:g}" for t in ticks])
    axes.grid(True, alpha=0.3)
    if chart.series:
        axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    styles = {s.label: s.style for s in chart.series}
    drawn: list[Series] = []
    for line in axes.get_lines():
        x, y = line.get_data()
        label = str(line.get_label())
        drawn.append(Series(label, styles[label], _floats(x), _floats(y)))
    return drawn


def _floats(values: object) -> tuple[float, ...]:
    import numpy as np

    return tuple(float(v) for v in np.asarray(values, dtype=float))


def render_timeline(chart: Timeline, path: Path) -> list[Bar]:
    """Draw the timeline as one horizontal bar per phase; returns the bars as drawn."""
    figure = _figure(8, 0.6 * max(3, len(chart.bars)) + 1)
    axes = figure.add_subplot(1, 1, 1)
    drawn: list[Bar] = []
    for row, bar in enumerate(chart.bars):
        patches = axes.barh(
            row, bar.seconds, left=bar.start, color="tab:red" if bar.gpu_seconds else "tab:gray"
        )
        rectangle = patches[0]
        note = f"{bar.seconds:,.0f} s, {bar.gpu_seconds:,.0f} GPU-s"
        axes.text(bar.start + bar.seconds, row, " " + note, va="center", fontsize=8)
        drawn.append(Bar(bar.label, float(rectangle.get_x()), float(rectangle.get_width()), bar.gpu_seconds))
    axes.set_yticks(range(len(chart.bars)), [bar.label for bar in chart.bars])
    axes.invert_yaxis()
    axes.set_xlabel("seconds since the run started")
    axes.set_title(chart.title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return drawn
