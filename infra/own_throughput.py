"""The planner's throughput from this account's own measured point, where one matches the plan exactly.

`OwnPoints` is how the planner asks: a lookup by the plan's configuration (checkpoint revision, GPUs,
engine and version, flags digest: infra.evidence.RunConfig) and the declared load. The planner stays
pure: the caller hands it the evidence file's lookup (`EvidenceStore().throughput_point`), or nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from infra.evidence import MeasuredPoint, RunConfig
from infra.plan import Throughput


class OwnPoints(Protocol):
    def __call__(
        self, config: RunConfig, input_tokens: int, output_tokens: int, concurrency: int
    ) -> MeasuredPoint | None: ...


def measured_throughput(point: MeasuredPoint, estimated: Throughput) -> Throughput:
    """The estimate replaced by what this account measured at the same configuration and load."""
    ran = f"{point.config.engine} {point.config.engine_version}"
    where = f"stack {point.stack}, " if point.stack else ""
    return replace(
        estimated,
        output_tokens_per_s=round(point.results.output_tok_s, 1),
        source=(
            f"{point.label} ({where}{ran}, {point.workload.requests} requests at concurrency "
            f"{point.workload.concurrency}: {point.results.output_tok_s:,.0f} tok/s)"
        ),
        extrapolation="none: this configuration's own run at this load (published points not used)",
        measured=point.label,
    )
