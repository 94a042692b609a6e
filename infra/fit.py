"""The fit: the settings a plan starts from, the longest context (or, failing that, the reduced
settings) the memory model lets run, and the sentences that give the numbers behind a verdict.

Pure; no I/O. A context a published run failed at is never offered, whatever the memory model says.
"""

from __future__ import annotations

from dataclasses import replace

from infra.catalog import GIB, Checkpoint, Engine, Gpu, Recipe
from infra.engine_flags import version_tuple
from infra.memory import Layout, Settings, breakdown, cuda_total_bytes, runs, weights_per_gpu
from infra.plan import MemoryBreakdown, Verdict
from infra.plan_request import PlanRequest

CONTEXT_STEPS = (1_048_576, 524_288, 262_144, 131_072, 65_536, 32_768)
TIGHT_CONTEXT_STEPS = (16_384, 8_192, 4_096)
TIGHT_UTILIZATION = 0.98
TIGHT_MAX_NUM_SEQS = 8
TIGHT_BATCHED_TOKENS = 2048

Fit = tuple[Verdict, Layout, Settings, MemoryBreakdown, tuple[str, ...]]
"""A verdict with the layout, settings and memory it holds at, and the reduced settings it needs."""


def calibration_bytes(engine: Engine, version: str) -> int:
    """What this engine version reserves per GPU beyond the versions the memory model is fitted to."""
    parsed = version_tuple(version)
    for c in engine.calibration:
        if parsed and parsed >= version_tuple(c.since):
            return int(c.extra_reserve_gib * GIB)
    return 0


def calibration_reason(engine: Engine, version: str, reserve: int) -> str:
    row = next(c for c in engine.calibration if version_tuple(version) >= version_tuple(c.since))
    return (
        f"{engine.key} {version} is planned with {reserve / GIB:.1f} GiB more reserved per GPU than the "
        f"versions the memory model is fitted to ({engine.key} >= {row.since}: {row.facts[0]})"
    )


def default_settings(
    ckpt: Checkpoint, gpu: Gpu, engine: Engine, request: PlanRequest, recipe: Recipe | None, reserve: int = 0
) -> Settings:
    hopper_pro = gpu.family == "hopper" and ckpt.family == "pro" and engine.key == "vllm"
    util = (recipe.gpu_memory_utilization if recipe and recipe.gpu_memory_utilization else None) or (
        0.95 if hopper_pro else engine.default_gpu_memory_utilization
    )
    seqs = (
        request.max_num_seqs
        or (recipe.max_num_seqs if recipe and recipe.max_num_seqs else None)
        or (16 if hopper_pro else engine.default_max_num_seqs)
    )
    length = (
        request.max_model_len
        or (recipe.max_model_len if recipe and recipe.max_model_len else None)
        or (200_000 if hopper_pro else ckpt.context_length)
    )
    return Settings(util, length, seqs, False, cudagraph_decode_only=hopper_pro, engine_reserve_bytes=reserve)


def fit(
    ckpt: Checkpoint,
    gpu: Gpu,
    engine: Engine,
    request: PlanRequest,
    recipe: Recipe | None,
    layouts: list[Layout],
    ceiling: int | None,
    reserve: int = 0,
) -> Fit | None:
    base = default_settings(ckpt, gpu, engine, request, recipe, reserve)
    fixed_len = request.max_model_len is not None or (recipe is not None and recipe.max_model_len is not None)
    lengths = [base.max_model_len] if fixed_len else [n for n in CONTEXT_STEPS if n <= base.max_model_len]
    # A context a published run failed at is not offered, whatever the memory model says.
    lengths = [n for n in lengths if ceiling is None or n < ceiling]
    for layout in layouts:
        for length in lengths:
            settings = replace(base, max_model_len=length)
            mem = breakdown(ckpt, gpu, layout, settings, request.nodes)
            if runs(mem, length):
                notes: tuple[str, ...] = ()
                if length < base.max_model_len:
                    notes = (
                        f"max-model-len capped at {length:,} (the full {base.max_model_len:,} needs more "
                        f"workspace and KV cache than is left)",
                    )
                return "fits", layout, settings, mem, notes
    # Tight: eager mode, few sequences, short context, a little more of the GPU.
    tight_lengths = [base.max_model_len] if request.max_model_len else list(TIGHT_CONTEXT_STEPS)
    tight_lengths = [n for n in tight_lengths if ceiling is None or n < ceiling]
    for layout in layouts:
        for length in tight_lengths:
            settings = Settings(
                gpu_memory_utilization=max(base.gpu_memory_utilization, TIGHT_UTILIZATION),
                max_model_len=length,
                max_num_seqs=min(base.max_num_seqs, request.max_num_seqs or TIGHT_MAX_NUM_SEQS),
                enforce_eager=True,
                max_num_batched_tokens=TIGHT_BATCHED_TOKENS,
                engine_reserve_bytes=reserve,
            )
            mem = breakdown(ckpt, gpu, layout, settings, request.nodes)
            if runs(mem, length):
                reduced = (
                    "eager mode (--enforce-eager: no CUDA graphs, slower decode)",
                    f"max-model-len {length:,}",
                    f"max-num-seqs {settings.max_num_seqs}",
                    f"gpu-memory-utilization {settings.gpu_memory_utilization}",
                )
                return "tight", layout, settings, mem, reduced
    return None


def _gib(n: int) -> str:
    return f"{n / GIB:,.1f} GiB"


def fit_reason(
    ckpt: Checkpoint, gpu: Gpu, layout: Layout, mem: MemoryBreakdown, s: Settings, world: int
) -> str:
    concurrency = mem.kv_tokens // s.max_model_len
    return (
        f"{ckpt.repo_id} weights are {ckpt.weights_bytes / 1e9:,.0f} GB; {layout.strategy} over {world}x "
        f"{gpu.key} puts {_gib(mem.weights_bytes)} on each GPU of {_gib(mem.usable_bytes)} usable "
        f"({mem.cuda_bytes / GIB:,.1f} GiB seen by CUDA x {s.gpu_memory_utilization}); after a {_gib(mem.reserve_bytes)} runtime "
        f"reserve, {_gib(mem.kv_cache_bytes)} of KV cache holds {mem.kv_tokens:,} tokens "
        f"({concurrency} sequence(s) at {s.max_model_len:,})."
    )


def no_fit_reason(
    ckpt: Checkpoint, gpu: Gpu, layout: Layout, mem: MemoryBreakdown, request: PlanRequest, world: int
) -> str:
    total_weights = ckpt.weights_bytes / 1e9
    capacity = gpu.memory_bytes * world / 1e9
    per_gpu_limit = cuda_total_bytes(gpu) * TIGHT_UTILIZATION
    if ckpt.weights_bytes > gpu.memory_bytes * world:
        return (
            f"weights are {total_weights:,.0f} GB ({_gib(mem.weights_bytes)} per GPU with {layout.strategy}) "
            f"but {world}x {gpu.key} have {capacity:,.0f} GB in all ({gpu.memory_mib:,} MiB each)."
        )
    if weights_per_gpu(ckpt, layout) > per_gpu_limit:
        why = (
            f"{layout.strategy} (TP={layout.tensor_parallel} DP={layout.data_parallel}) replicates the "
            f"{ckpt.dense_bytes / 1e9:,.0f} GB dense part per data-parallel rank and puts"
            if layout.data_parallel > 1
            else f"{layout.strategy} over {world} GPUs puts"
        )
        return (
            f"weights are {total_weights:,.0f} GB and {world}x {gpu.key} hold {capacity:,.0f} GB in all, but "
            f"{why} {_gib(mem.weights_bytes)} on each GPU, more than the {_gib(int(per_gpu_limit))} each can "
            f"give ({TIGHT_UTILIZATION:.0%} of {_gib(cuda_total_bytes(gpu))} seen by CUDA)."
        )
    need = (
        mem.weights_bytes
        + mem.reserve_bytes
        + mem.kv_bytes_per_token * mem.workspace_bytes // max(1, ckpt.workspace_bytes_per_token)
    )
    return (
        f"weights are {total_weights:,.0f} GB ({_gib(mem.weights_bytes)} per GPU) and fit {world}x {gpu.key} "
        f"({capacity:,.0f} GB), but at max-model-len {request.max_model_len or ckpt.context_length:,} each GPU "
        f"needs about {_gib(need)} with the runtime reserve and one sequence of KV cache, "
        f"more than the {_gib(mem.usable_bytes)} usable even in eager mode."
    )
