"""Read and transfer rates for a start: each one measured or published, and always with its source.

A `Rate` is a set of points (parallel readers -> bytes/s). A published figure is one point, measured
the way its source measured it (`dd` is one reader); a measurement by the read-rate probe has one point
per reader count it tried. `Rate.at(readers)` takes the best point measured with at most that many
readers and never extrapolates upwards, so more threads only help where a measurement showed it.

The published figures live in `infra/data/storage.yaml`; `volume_rate()` prefers a usable measurement
for the same storage and says so, and falls back to the published figure (saying why) otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.catalog import data_file
from infra.errors import ConfigError

MEASURED = "measured"
PUBLISHED = "published"
NO_FIGURE = "no published figure"

# RunPod network-volume tiers (REST v2 `CreateNetworkVolumeRequest.type`, shared/reference/runpod.md).
RUNPOD_TIERS = ("STANDARD", "HIGH_PERFORMANCE")


@dataclass(frozen=True)
class Rate:
    """Bytes per second at each measured reader count; no points means no figure at all."""

    points: tuple[tuple[int, float], ...]
    basis: str  # MEASURED, PUBLISHED or NO_FIGURE
    source: str  # the citation, or where and when it was measured
    method: str
    dated: str | None = None

    @property
    def known(self) -> bool:
        return bool(self.points)

    def at(self, readers: int) -> float | None:
        """The best rate seen with at most `readers` readers (the fewest-reader point if none is that low)."""
        if not self.points:
            return None
        within = [bps for n, bps in self.points if n <= readers]
        if within:
            return max(within)
        return min(self.points)[1]

    def best_readers(self) -> int | None:
        """The reader count at which this rate peaked (the fewest readers on a tie)."""
        if not self.points:
            return None
        top = max(bps for _, bps in self.points)
        return min(n for n, bps in self.points if bps == top)

    def label(self) -> str:
        """`237 MB/s, published (kohya-ss/musubi-tuner#655, 2025-10-17)` and the like."""
        if not self.points:
            return f"{NO_FIGURE} ({self.method})"
        best = max(bps for _, bps in self.points)
        when = f", {self.dated}" if self.dated else ""
        return f"{best / 1e6:,.0f} MB/s, {self.basis} ({self.source}{when})"


@dataclass(frozen=True)
class Storage:
    """Where the weights are read from at start: its key in storage.yaml, its kind and filesystem."""

    key: str
    kind: str  # "network" or "local"
    fs_type: str | None  # as /proc/mounts names it, where known (vLLM's auto-prefetch keys on it)
    published: Rate


def _rate(row: dict[str, object]) -> Rate:
    bps = row.get("bytes_per_s")
    streams = row.get("streams") or 1
    points = ((int(str(streams)), float(str(bps))),) if bps is not None else ()
    return Rate(
        points=points,
        basis=PUBLISHED if points else NO_FIGURE,
        source=str(row.get("source") or "none"),
        method=str(row.get("method") or ""),
        dated=str(row["dated"]) if row.get("dated") else None,
    )


def storage(key: str) -> Storage:
    """A storage kind from storage.yaml (`runpod-network-STANDARD`, `kubernetes-rwx`, `container-disk`)."""
    volumes = data_file("storage.yaml")["volumes"]
    if key not in volumes:
        raise ConfigError(f"unknown storage '{key}'. Valid: {', '.join(sorted(volumes))}.")
    row = volumes[key]
    return Storage(key=key, kind=str(row["kind"]), fs_type=row.get("fs_type"), published=_rate(row))


def runpod_volume(tier: str) -> Storage:
    """The RunPod network volume of a tier; an unknown tier names the valid ones."""
    if tier not in RUNPOD_TIERS:
        raise ConfigError(
            f"volumeTier '{tier}' is not a RunPod network-volume tier; valid: {', '.join(RUNPOD_TIERS)}"
        )
    return storage(f"runpod-network-{tier}")


def hub_rate() -> Rate:
    """The published Hugging Face download rate (one hydration Job)."""
    return _rate(data_file("storage.yaml")["transfers"]["hub"])


def image_pull_rate() -> Rate:
    """The published cold image-pull rate on a RunPod host."""
    return _rate(data_file("storage.yaml")["transfers"]["image_pull"])


@dataclass(frozen=True)
class ImageSize:
    bytes: int | None
    basis: str
    source: str
    method: str


def image_size(image: str) -> ImageSize:
    """The image's size as its source states it; `bytes=None` where nothing is published."""
    row = data_file("storage.yaml")["images"].get(image)
    if row is None:
        return ImageSize(None, NO_FIGURE, "none", f"no published size for {image}")
    return ImageSize(int(row["bytes"]), PUBLISHED, f"{row['source']}, {row['dated']}", str(row["method"]))


@dataclass(frozen=True)
class MmapPenalty:
    factor: float
    source: str


def mmap_penalty(kind: str) -> MmapPenalty:
    """How much slower memory-mapped reads are than whole-file reads on this kind of storage."""
    row = data_file("storage.yaml")["mmap_penalty"]
    return MmapPenalty(
        float(row[kind]), f"{row['source']}, {row['dated']}" if kind == "network" else "local disk"
    )


def volume_rate(store: Storage, measured: Rate | None, failure: str | None = None) -> tuple[Rate, str]:
    """The rate to plan with and one sentence saying which it is and why."""
    if measured is not None and measured.known:
        return measured, f"read rate measured: {measured.label()}"
    published = store.published
    why = f"the measurement failed ({failure}); " if failure else "not measured yet; "
    if not published.known:
        return published, f"{why}{store.key} has {NO_FIGURE} for its read rate"
    return published, f"{why}using the published rate: {published.label()}"
