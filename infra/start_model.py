"""The planner's view of a start: where the weights are read from, at which rate, with which loading flags,
and what each phase costs (pure: the measurements arrive as probe lines in the `PlanRequest`).

The rate is the newest usable measurement for this storage (recorded by the pre-fill or the download Job,
or named by `measuredRates`); otherwise the published figure, and the plan says why. The loading flags are
those `infra.load_path` chooses for the pinned engine version; a version whose options are not recorded
gets none, and the plan says so rather than guessing a flag its parser may refuse.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace

from infra.catalog import Checkpoint, data_file, load_catalog
from infra.compile_cache import cache_variables, flags_digest
from infra.errors import ConfigError
from infra.image_cuda import ImageCuda, check_allowed, driver_floor_label, fit
from infra.load_path import (
    DEFAULT,
    ENGINE_NAMES,
    STRATEGY_KEY,
    THREADS_KEY,
    LoadPath,
    LoadRequest,
    choose,
    engine_default,
    options,
)
from infra.measured_rates import Measurement, from_record, planning_rate
from infra.plan import EngineSpec
from infra.plan_request import PlanRequest
from infra.plan_start import HostConstraint, PhaseCost, StartCost, StartPlan
from infra.read_rates import RUNPOD_TIERS, Rate, Storage, hub_rate, runpod_volume, storage
from infra.startup import (
    COLD,
    WARM,
    StartInputs,
    StartupEstimate,
    comparisons,
    estimate,
    estimate_download,
    hub_versus_volume,
)

VOLUME_PROBES = ("network-volume", "pvc")
DISK, HUB = "container-disk", "hub"
DOWNLOAD_KEY = "downloadAtStart"


def newest_measurements(lines: Iterable[str]) -> dict[str, Measurement]:
    """The newest probe record per kind ("volume", "container-disk", "hub"); lines that are not records
    are skipped (a user's own file was judged when the stack was read)."""
    out: dict[str, Measurement] = {}
    for line in lines:
        try:
            m = from_record(json.loads(line))
        except (ValueError, KeyError, TypeError):
            continue
        kind = "volume" if m.storage in VOLUME_PROBES or not m.storage else m.storage
        if kind not in out or m.measured_at > out[kind].measured_at:
            out[kind] = m
    return out


def weight_storage(request: PlanRequest, measured: Measurement | None) -> Storage:
    """The storage the engine reads its weights from: the RunPod volume of the stack's tier (`auto`: the
    measured tier, else HIGH_PERFORMANCE, which the volume takes where offered) or a Kubernetes RWX volume."""
    if request.target == "kubernetes":
        return storage("kubernetes-rwx")
    tier = request.volume_tier
    if tier not in RUNPOD_TIERS:
        tier = measured.tier if measured is not None and measured.tier in RUNPOD_TIERS else "HIGH_PERFORMANCE"
    return runpod_volume(tier)


def _image_repo(image: str) -> str:
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def _largest_shard(ckpt: Checkpoint) -> tuple[int, str]:
    if ckpt.shards:
        return ckpt.weights_bytes // ckpt.shards, ""
    known = [c.weights_bytes // c.shards for c in load_catalog().checkpoints.values() if c.shards]
    largest = max(known)
    return (
        largest,
        f"shard size not recorded for {ckpt.repo_id}: the largest recorded ({largest / 1e9:.1f} GB) assumed",
    )


def load_paths(
    request: PlanRequest, ckpt: Checkpoint, engine: str, version: str, store: Storage, rate: Rate
) -> tuple[LoadPath, LoadPath, str]:
    """(chosen, engine default, a note) for this start; ConfigError for a request the version cannot take."""
    ranks = request.gpus_per_node
    host = data_file("hosts.yaml")["per_gpu"]
    ram, vcpus = int(host["ram_bytes"]) * ranks, int(host["vcpus"]) * ranks
    shard, note = _largest_shard(ckpt)
    asked = LoadRequest(request.load_strategy, request.load_threads)
    name = f"{ENGINE_NAMES.get(engine, engine)} {version}"
    try:
        options(engine, version)
    except ConfigError:
        if asked.strategy is not None or asked.threads is not None:
            key = STRATEGY_KEY if asked.strategy is not None else THREADS_KEY
            raise ConfigError(
                f"{key}: no weight-loading options are recorded for {name}, so none can be checked against its "
                f"parser; valid: leave {STRATEGY_KEY}/{THREADS_KEY} unset, or pin a version infra/data/"
                "load_options.yaml records"
            ) from None
        why = (
            f"no weight-loading options recorded for {name} (infra/data/load_options.yaml): no loading flag is "
            "added; modelled as memory-mapped reads, every recorded version's default"
        )
        path = LoadPath(engine, version, DEFAULT, "lazy", None, (), ranks, why)
        return path, path, note
    chosen = choose(
        engine, version, storage=store, rate=rate, ram_bytes=ram, vcpus=vcpus,
        checkpoint_bytes=ckpt.weights_bytes, largest_shard_bytes=shard, ranks=ranks, request=asked,
    )  # fmt: skip
    default = engine_default(
        engine, version, storage=store, ram_bytes=ram, checkpoint_bytes=ckpt.weights_bytes, ranks=ranks
    )
    return chosen, default, note


def host_constraint(request: PlanRequest, spec: EngineSpec) -> HostConstraint:
    """Which hosts may run the image; the stack's own list is checked against the image first."""
    need = ImageCuda(spec.image, spec.cuda, spec.min_driver)
    label = driver_floor_label(need)
    if request.allowed_cuda_versions:
        check_allowed(need, request.allowed_cuda_versions)
        allowed = tuple(request.allowed_cuda_versions)
        sentence = (
            f"{need.describe()}: RunPod hosts limited to CUDA {', '.join(allowed)} (allowedCudaVersions)"
        )
    else:
        hosts, sentence = fit(need, ())
        allowed = tuple(hosts)
        sentence += "; the create sends the versions the live catalog offers among these"
    if label is not None:
        sentence += f"; Kubernetes: nodes labelled {label[0]} >= {label[1]} (GPU feature discovery, nodePool existing)"
    return HostConstraint(spec.cuda, spec.min_driver, allowed, label[0] if label else None, sentence)


def _cost(e: StartupEstimate) -> StartCost:
    rows = e.rows()
    return StartCost(
        label=e.label,
        seconds=round(e.seconds, 1),
        gpu_seconds=round(e.gpu_seconds, 1),
        usd=round(e.usd, 2),
        unknown=e.unknown,
        phases=tuple(
            PhaseCost(
                phase=str(r["phase"]),
                seconds=r["seconds"],  # type: ignore[arg-type]
                gpu_seconds=r["gpu_seconds"],  # type: ignore[arg-type]
                usd=r["usd"],  # type: ignore[arg-type]
                basis=str(r["basis"]),
                source=str(r["source"]),
                detail=str(r["detail"]),
            )
            for r in rows
        ),
    )


def start_plan(
    request: PlanRequest, ckpt: Checkpoint, spec: EngineSpec, usd_per_gpu_hour: float | None
) -> tuple[StartPlan, EngineSpec]:
    """The start by phase, and the engine spec with the chosen loading flags appended to its argv."""
    found = newest_measurements(request.measurements)
    volume = found.get("volume")
    store = weight_storage(request, volume)
    notes: list[str] = []
    tier = store.key.removeprefix("runpod-network-")
    if volume is not None and request.target == "runpod" and volume.tier != tier:
        # Another tier's rate says nothing about this one.
        notes.append(f"the recorded measurement is of a {volume.tier} volume, not {tier}: not used")
        volume = None
    rate, rate_note = planning_rate(store, volume)
    chosen, default, shard_note = load_paths(request, ckpt, spec.name, spec.version, store, rate)
    if request.download_at_start:
        # The engine then reads its own download from the container disk: local storage, no loading flag.
        local = storage(DISK)
        chosen, _, _ = load_paths(request, ckpt, spec.name, spec.version, local, local.published)
    price = usd_per_gpu_hour or 0.0
    inputs = StartInputs(
        engine=spec.name,
        version=spec.version,
        image=_image_repo(spec.image),
        weights_bytes=ckpt.weights_bytes,
        gpus_per_node=request.gpus_per_node,
        nodes=request.nodes,
        usd_per_gpu_hour=price,
        storage=store,
        volume_rate=rate,
        ram_bytes=int(data_file("hosts.yaml")["per_gpu"]["ram_bytes"]) * request.gpus_per_node,
    )
    disk = found[DISK].rate if DISK in found and found[DISK].usable else storage(DISK).published
    hub = found[HUB].rate if HUB in found and found[HUB].usable else hub_rate()
    rows = comparisons(inputs, chosen=chosen, default=default, hub=hub, disk=disk)
    volume_first = estimate(inputs, chosen, compile_cache=COLD, label="planned start, cold compile cache")
    download_first = estimate_download(
        inputs, hub=hub, disk=disk, label="download at start, cold compile cache"
    )
    hub_note = hub_versus_volume(volume_first, download_first)
    if request.download_at_start:
        first = download_first
        warm = estimate_download(
            inputs, hub=hub, disk=disk, compile_cache=WARM, label="download at start, warm cache"
        )
    else:
        first = volume_first
        warm = estimate(inputs, chosen, compile_cache=WARM, label="planned start, warm compile cache")
    notes += [n for n in (shard_note,) if n]
    if hub_note and not request.download_at_start:
        notes.append(f"{hub_note}; set {DOWNLOAD_KEY}: true to do that")
    if usd_per_gpu_hour is None:
        notes.append("no GPU price: dollars are shown as 0")
    known = True
    try:
        cache_variables(spec.name, spec.version)
    except ConfigError:
        known = False
        notes.append(
            f"no compile-cache variables recorded for {spec.name} {spec.version}: its caches stay in the "
            "container (infra/data/compile_caches.yaml)"
        )
    digest = flags_digest(spec.args, spec.env, spec.name if known else "", spec.version if known else "")
    measured = tuple(
        f"{kind}: {m.rate.label() if m.usable else 'failed: ' + str(m.error)}"
        for kind, m in sorted(found.items())
    )
    plan = StartPlan(
        storage=store.key,
        read_rate=rate.label(),
        rate_note=rate_note,
        measured=measured,
        load_strategy=chosen.strategy if chosen.strategy != DEFAULT else f"{DEFAULT} ({chosen.reads_as})",
        load_flags=chosen.flags,
        load_reason=chosen.reason,
        engine_default=default.reason,
        download_at_start=request.download_at_start,
        first=_cost(first),
        warm=_cost(warm),
        comparisons=tuple(_cost(r) for r in rows),
        hub_note=hub_note,
        compile_cache_digest=digest,
        compile_cache_known=known,
        hosts=host_constraint(request, spec),
        notes=tuple(notes),
    )
    return plan, replace(spec, args=(*spec.args, *chosen.flags))
