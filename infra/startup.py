"""The start of an engine pod, phase by phase: bytes and rates in, GPU-seconds and dollars out.

Pure and deterministic: the same inputs give the same table, on any machine, busy or idle. Every phase
says where its number comes from (measured, published with its source, or derived from them) or that no
figure is published; an unknown phase counts as 0 and the estimate lists it, so a total is never
presented as more than it is. The GPUs are held from create to ready, so every phase costs all of them.

    image pull      image bytes (registry manifest, else a published size) / the published pull rate
    weights read    checkpoint bytes / the volume's read rate at the loader's reader count, divided by
                    the mmap penalty for memory-mapped reads from network storage
    compile         the engine's JIT/compile time with a cold or a warm compile cache
    graph capture   CUDA graph capture

Rates come from `infra.read_rates` (measured beats published); figures for the engine phases from
`infra/data/startup_phases.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.catalog import data_file
from infra.load_path import LoadPath
from infra.read_rates import (
    MEASURED,
    NO_FIGURE,
    PUBLISHED,
    Rate,
    Storage,
    image_pull_rate,
    image_size,
    mmap_penalty,
)

DERIVED = "derived"
COLD, WARM = "cold", "warm"
PAGE_CACHE_FRACTION = (
    0.9  # as vLLM's own test for "fits in RAM" (vllm/model_executor/model_loader/weight_utils.py)
)


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float | None  # None: no figure; counted as 0 and listed as unknown
    basis: str  # MEASURED, PUBLISHED, DERIVED or NO_FIGURE
    source: str
    detail: str


@dataclass(frozen=True)
class StartupEstimate:
    label: str
    phases: tuple[Phase, ...]
    gpus: int
    usd_per_gpu_hour: float
    notes: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        return sum(p.seconds or 0.0 for p in self.phases)

    @property
    def gpu_seconds(self) -> float:
        return self.seconds * self.gpus

    @property
    def usd(self) -> float:
        return self.gpu_seconds / 3600 * self.usd_per_gpu_hour

    @property
    def unknown(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.phases if p.seconds is None)

    def phase(self, name: str) -> Phase:
        return next(p for p in self.phases if p.name == name)

    def rows(self) -> list[dict[str, object]]:
        """One row per phase: seconds, GPU-seconds, dollars, basis and source."""
        return [
            {
                "phase": p.name,
                "seconds": None if p.seconds is None else round(p.seconds, 1),
                "gpu_seconds": None if p.seconds is None else round(p.seconds * self.gpus, 1),
                "usd": None
                if p.seconds is None
                else round(p.seconds * self.gpus / 3600 * self.usd_per_gpu_hour, 2),
                "basis": p.basis,
                "source": p.source,
                "detail": p.detail,
            }
            for p in self.phases
        ]


@dataclass(frozen=True)
class StartInputs:
    """What the start model needs to know about the configuration and where the weights are."""

    engine: str
    version: str
    image: str  # the image repository, e.g. vllm/vllm-openai
    weights_bytes: int
    gpus_per_node: int
    nodes: int
    usd_per_gpu_hour: float
    storage: Storage
    volume_rate: Rate
    ram_bytes: int  # per node
    image_bytes: int | None = None  # from the registry manifest, once read
    image_cached: bool = False  # the host already holds the image

    @property
    def gpus(self) -> int:
        return self.gpus_per_node * self.nodes


def _figure(engine: str, name: str) -> Phase:
    row = data_file("startup_phases.yaml")["engines"].get(engine, {}).get(name)
    title = {"compile_cold": "compile", "compile_warm": "compile", "graph_capture": "graph capture"}[name]
    if row is None or row.get("seconds") is None:
        method = row["method"] if row else f"no figure for {engine}"
        return Phase(title, None, NO_FIGURE, str((row or {}).get("source") or "none"), method)
    when = f", {row['dated']}" if row.get("dated") else ""
    return Phase(title, float(row["seconds"]), PUBLISHED, f"{row['source']}{when}", str(row["method"]))


def image_pull(inputs: StartInputs) -> Phase:
    rate = image_pull_rate()
    if inputs.image_cached:
        seconds = float(data_file("storage.yaml")["transfers"]["image_pull"]["cached_seconds"])
        return Phase(
            "image pull", seconds, PUBLISHED, f"{rate.source}, {rate.dated}", "image already on the host"
        )
    if inputs.image_bytes is not None:
        nbytes, where = inputs.image_bytes, "registry manifest"
    else:
        size = image_size(inputs.image)
        if size.bytes is None:
            return Phase("image pull", None, NO_FIGURE, "none", size.method)
        nbytes, where = size.bytes, size.source
    bps = rate.at(1) or 0.0
    detail = f"{nbytes / 1e9:.1f} GB ({where}) at {bps / 1e6:.0f} MB/s ({rate.method})"
    return Phase("image pull", nbytes / bps, PUBLISHED, f"{rate.source}, {rate.dated}", detail)


def weights_read(inputs: StartInputs, path: LoadPath) -> Phase:
    """Reading the checkpoint the way `path` reads it, from `inputs.storage` at `inputs.volume_rate`."""
    rate = inputs.volume_rate
    bps = rate.at(path.readers)
    if bps is None:
        return Phase("weights read", None, NO_FIGURE, rate.source, f"{inputs.storage.key}: {rate.method}")
    nbytes = float(inputs.weights_bytes)
    how = f"{path.reads_as}, {path.readers} readers per node"
    if path.reads_as == "lazy":
        penalty = mmap_penalty(inputs.storage.kind)
        if penalty.factor != 1:
            bps /= penalty.factor
            how += f", memory-mapped: 1/{penalty.factor:g} of the sequential rate ({penalty.source})"
    elif path.reads_as == "eager" and nbytes > PAGE_CACHE_FRACTION * inputs.ram_bytes:
        # Each rank reads every whole file; without room in the page cache the ranks cannot share them.
        nbytes *= inputs.gpus_per_node
        how += f", every rank reads every file ({inputs.gpus_per_node}x the bytes: the page cache cannot hold them)"
    if inputs.nodes > 1:
        nbytes *= inputs.nodes
        how += f", {inputs.nodes} nodes reading the same volume share its rate"
    detail = f"{nbytes / 1e9:,.0f} GB at {bps / 1e6:,.1f} MB/s ({how})"
    basis = MEASURED if rate.basis == MEASURED else PUBLISHED
    when = f", {rate.dated}" if rate.dated else ""
    return Phase("weights read", nbytes / bps, basis, f"{rate.source}{when}", detail)


def estimate(
    inputs: StartInputs, path: LoadPath, *, compile_cache: str = COLD, label: str = ""
) -> StartupEstimate:
    """The start with the weights read from the volume by `path`."""
    phases = (
        image_pull(inputs),
        weights_read(inputs, path),
        _figure(inputs.engine, "compile_warm" if compile_cache == WARM else "compile_cold"),
        _figure(inputs.engine, "graph_capture"),
    )
    notes = (f"loading: {path.reason}", f"compile cache: {compile_cache}")
    return StartupEstimate(
        label or f"{path.reads_as}, {compile_cache} compile cache",
        phases,
        inputs.gpus,
        inputs.usd_per_gpu_hour,
        notes,
    )


def estimate_download(
    inputs: StartInputs, *, hub: Rate, disk: Rate, compile_cache: str = COLD, label: str = ""
) -> StartupEstimate:
    """The start that downloads the checkpoint to the container disk instead of reading the volume."""
    bps = hub.at(1)
    when = f", {hub.dated}" if hub.dated else ""
    download = (
        Phase("hub download", None, NO_FIGURE, hub.source, hub.method)
        if bps is None
        else Phase(
            "hub download",
            inputs.weights_bytes / bps,
            MEASURED if hub.basis == MEASURED else PUBLISHED,
            f"{hub.source}{when}",
            f"{inputs.weights_bytes / 1e9:,.0f} GB at {bps / 1e6:,.0f} MB/s ({hub.method})",
        )
    )
    if inputs.weights_bytes <= PAGE_CACHE_FRACTION * inputs.ram_bytes:
        read = Phase(
            "weights read",
            0.0,
            DERIVED,
            "page cache",
            "the files were just written and fit in RAM: the loader reads them from the page cache",
        )
    elif disk.at(inputs.gpus_per_node) is not None:
        disk_bps = float(disk.at(inputs.gpus_per_node) or 1.0)
        read = Phase(
            "weights read",
            inputs.weights_bytes / disk_bps,
            disk.basis,
            disk.source,
            f"container disk at {disk_bps / 1e6:,.0f} MB/s",
        )
    else:
        read = Phase("weights read", None, NO_FIGURE, disk.source, f"container disk: {disk.method}")
    phases = (
        image_pull(inputs),
        download,
        read,
        _figure(inputs.engine, "compile_warm" if compile_cache == WARM else "compile_cold"),
        _figure(inputs.engine, "graph_capture"),
    )
    note = "the checkpoint is downloaded to the container disk at start, while the GPUs are held"
    return StartupEstimate(
        label or "download to container disk",
        phases,
        inputs.gpus,
        inputs.usd_per_gpu_hour,
        (note, f"compile cache: {compile_cache}"),
    )


def comparisons(
    inputs: StartInputs, *, chosen: LoadPath, default: LoadPath, hub: Rate, disk: Rate
) -> tuple[StartupEstimate, ...]:
    """The rows `make bench` and the plan compare: default against chosen loading, cold against warm
    compile cache, and reading the volume against downloading to the container disk."""
    return (
        estimate(inputs, default, label="engine default loading, cold cache"),
        estimate(inputs, chosen, label="chosen loading, cold cache"),
        estimate(inputs, chosen, compile_cache=WARM, label="chosen loading, warm cache"),
        estimate_download(inputs, hub=hub, disk=disk, label="download to container disk, cold cache"),
    )


def hub_versus_volume(volume: StartupEstimate, download: StartupEstimate) -> str | None:
    """One sentence when downloading at start costs fewer GPU-seconds than reading the volume."""
    if "weights read" in volume.unknown or set(download.unknown) & {"hub download", "weights read"}:
        return None
    if download.gpu_seconds >= volume.gpu_seconds:
        return None
    return (
        f"the hub is faster than this volume: downloading to the container disk at start costs "
        f"{download.gpu_seconds:,.0f} GPU-s (${download.usd:,.2f}) against {volume.gpu_seconds:,.0f} GPU-s "
        f"(${volume.usd:,.2f}) reading the volume"
    )


def format_table(estimates: tuple[StartupEstimate, ...]) -> str:
    """A fixed-width table of the estimates (deterministic: the same inputs print the same text)."""
    lines = [f"{'start':44} {'seconds':>9} {'GPU-s':>10} {'$':>8}  unknown phases"]
    for e in estimates:
        unknown = ", ".join(e.unknown) or "-"
        lines.append(f"{e.label:44} {e.seconds:9,.0f} {e.gpu_seconds:10,.0f} {e.usd:8,.2f}  {unknown}")
    return "\n".join(lines)
