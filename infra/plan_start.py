"""The start of a planned deployment, phase by phase (pure data; `infra.start_model` fills it in).

Every phase carries its seconds, GPU-seconds and dollars with where the number comes from (measured,
published with its source, derived, or no figure), so `plan` can say which parts of a start are known.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class PhaseCost:
    """One phase of a start; `seconds=None` when nothing is published or measured (counted as 0)."""

    phase: str
    seconds: float | None
    gpu_seconds: float | None
    usd: float | None
    basis: str  # "measured", "published", "derived" or "no published figure"
    source: str
    detail: str


@dataclass(frozen=True)
class StartCost:
    """One way to start: its phases and their totals (unknown phases counted as 0 and listed)."""

    label: str
    seconds: float
    gpu_seconds: float
    usd: float
    unknown: tuple[str, ...]
    phases: tuple[PhaseCost, ...]

    def phase(self, name: str) -> PhaseCost | None:
        return next((p for p in self.phases if p.phase == name), None)


@dataclass(frozen=True)
class HostConstraint:
    """Which hosts can run the image: RunPod's `allowedCudaVersions` and the Kubernetes driver label."""

    cuda: str | None
    min_driver: int | None
    allowed_cuda_versions: tuple[
        str, ...
    ]  # what creates send (the stack's list, or the fit of the driver table)
    node_label: str | None  # nvidia.com/cuda.driver.major
    sentence: str


@dataclass(frozen=True)
class StartPlan:
    """How the weights reach the GPUs and what the start costs, for the plan table and --json."""

    storage: str  # storage.yaml key the weights are read from
    read_rate: str  # the rate planned with, labelled (measured or published, with its source)
    rate_note: str  # which rate and why (a failed measurement says so)
    measured: tuple[str, ...]  # one line per measurement used (volume, container disk, hub)
    load_strategy: str  # what the flags select ("default" for none)
    load_flags: tuple[str, ...]  # appended to the engine's argv
    load_reason: str
    engine_default: str  # what the engine does without a loading flag here
    download_at_start: bool  # the stack asked to download to the container disk at start
    first: StartCost  # the planned start with a cold compile cache
    warm: StartCost  # the same start with the compile cache filled by an earlier one
    comparisons: tuple[StartCost, ...]
    hub_note: str | None  # when downloading at start costs fewer GPU-seconds than reading the volume
    compile_cache_digest: str
    compile_cache_known: bool  # the cache variables of this engine version are recorded
    hosts: HostConstraint
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
