"""Plan a deployment before anything is rented: does it fit, with which flags, at what cost.

Pure functions over the catalog; no I/O. `plan()` always returns a `Plan` (a no-fit plan says
why); `require_deployable()` turns a plan that must not be deployed into a `PlanError`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

from infra.catalog import GIB, Catalog, Checkpoint, Engine, Gpu, Recipe, TargetLimits, load_catalog
from infra.cost import cost_reason, plan_cost
from infra.engine_flags import (
    catalog_tag,
    cuda_note,
    default_tag,
    default_tags,
    engine_image,
    engine_spec,
    floating_image,
    refused_spellings,
    version_tuple,
)
from infra.errors import ConfigError, PlanError
from infra.evidence import run_config_of
from infra.memory import Layout, Settings, breakdown, cuda_total_bytes, runs, weights_per_gpu
from infra.own_throughput import OwnPoints, measured_throughput
from infra.plan import (
    Alternative,
    MemoryBreakdown,
    Plan,
    Verdict,
)
from infra.plan_request import PlanRequest  # re-exported: callers build their requests from infra.planner
from infra.roles import role_commands
from infra.start_model import start_plan
from infra.throughput import estimate
from infra.verification import failed_context, published_evidence, verification

FP8_BLOCK = 128
STRATEGIES = ("tp-ep", "dp-ep", "tp-dp-ep", "tp")
CONTEXT_STEPS = (1_048_576, 524_288, 262_144, 131_072, 65_536, 32_768)
TIGHT_CONTEXT_STEPS = (16_384, 8_192, 4_096)
TIGHT_UTILIZATION = 0.98
TIGHT_MAX_NUM_SEQS = 8
TIGHT_BATCHED_TOKENS = 2048


def plan(
    request: PlanRequest,
    catalog: Catalog | None = None,
    *,
    alternatives: bool = True,
    own_points: OwnPoints | None = None,
) -> Plan:
    """Decide verdict, layout, settings, engine arguments and cost for one request.

    `own_points` looks up this account's measured point for the planned configuration and load
    (infra/evidence.py); one that matches replaces the published estimate, labelled as measured."""
    cat = catalog or load_catalog()
    ckpt = cat.checkpoint(request.model)
    gpu = cat.gpu(request.gpu)
    engine = cat.engine(request.engine)
    target = cat.target(request.target)
    _check_request(request, ckpt)
    recipes = cat.recipe(ckpt.key, gpu.key, request.gpus_per_node, request.nodes)
    recipe = next((r for r in recipes if r.engine == engine.key), None)
    elsewhere = [
        r
        for r in cat.recipes_elsewhere(ckpt.key, gpu.key, request.gpus_per_node, request.nodes)
        if r.engine == engine.key
    ]
    # A run on another GPU does not verify this one, but its flags are the ones known to work.
    donor = recipe or (elsewhere[0] if elsewhere else None)
    if request.image and floating_image(engine, request.image) and not request.allow_floating_image:
        raise ConfigError(
            f"image '{request.image}' names no engine version, so two runs of this stack may run different "
            f"engines; pin a version tag (e.g. {engine.image}:{default_tag(engine, ckpt).tag}) or a digest, "
            f"or set allowFloatingImage: true to accept that"
        )
    image, version = engine_image(engine, ckpt, request.image)
    tag = catalog_tag(engine, image) if request.image else default_tag(engine, ckpt)
    reserve = _calibration_bytes(engine, version)
    world = request.gpus_per_node * request.nodes
    ceiling = failed_context(recipe)
    reasons: list[str] = []

    blockers = _blockers(request, ckpt, gpu, engine, version, target, ceiling)
    if ckpt.gpu_families and gpu.family not in ckpt.gpu_families:
        blockers.append(
            f"{ckpt.repo_id} is a {ckpt.precision} checkpoint for {', '.join(ckpt.gpu_families)} GPUs ({ckpt.note}); "
            f"{gpu.key} is {gpu.family}"
        )
    candidates = _layouts(ckpt, engine, request.gpus_per_node, request.nodes, recipe)
    if request.strategy is not None:
        kept = [lay for lay in candidates if lay.strategy == request.strategy]
        if not kept and not blockers:
            blockers.append(_strategy_refusal(ckpt, engine, request, world))
        candidates = kept
    if not candidates and not blockers:
        blockers.append(
            f"no parallel layout splits {ckpt.key} over {world} GPUs: tensor parallel needs "
            f"{ckpt.attention_heads} heads and an expert width of {ckpt.expert_width} divisible in "
            f"{FP8_BLOCK}-wide FP8 blocks, expert parallel needs {ckpt.routed_experts} experts divisible "
            f"by the GPU count, and pipeline parallel is not supported for V4 (vllm#52761)"
        )

    chosen: tuple[Verdict, Layout, Settings, MemoryBreakdown, tuple[str, ...]] | None = None
    fallback = ""
    if not blockers:
        chosen = _fit(ckpt, gpu, engine, request, recipe, candidates, ceiling, reserve)
        if chosen is None and not request.image and tag is not None:
            # A newer build that reserves more memory may not fit where an older one does: plan that one.
            for older in default_tags(engine, ckpt)[1:]:
                older_reserve = _calibration_bytes(engine, older.version)
                if older_reserve >= reserve:
                    continue
                chosen = _fit(ckpt, gpu, engine, request, recipe, candidates, ceiling, older_reserve)
                if chosen is not None:
                    fallback = (
                        f"{engine.image}:{tag.tag} does not fit: {engine.key} {tag.version} reserves "
                        f"{(reserve - older_reserve) / GIB:.1f} GiB more per GPU; planned with {engine.image}:{older.tag}, "
                        f"the newest image that fits"
                    )
                    image, version, tag, reserve = (
                        f"{engine.image}:{older.tag}",
                        older.version,
                        older,
                        older_reserve,
                    )
                break
    if chosen is None:
        layout = candidates[0] if candidates else Layout("tp-ep", world, 1, True)
        settings = _default_settings(ckpt, gpu, engine, request, recipe, reserve)
        mem = breakdown(ckpt, gpu, layout, settings, request.nodes)
        verdict: Verdict = "no-fit"
        reduced: tuple[str, ...] = ()
        reasons.extend(blockers or [_no_fit_reason(ckpt, gpu, layout, mem, request, world)])
    else:
        verdict, layout, settings, mem, reduced = chosen
        reasons.append(_fit_reason(ckpt, gpu, layout, mem, settings, world))
        if fallback:
            reasons.append(fallback)
        if reduced:
            reasons.append("fits only with reduced settings: " + "; ".join(reduced))

    evidence = published_evidence(recipe, elsewhere, [r for r in recipes if r.engine != engine.key])
    verified, detail = verification(ckpt, gpu, engine, recipe, elsewhere, recipes, settings, verdict)
    source = recipe.source if recipe is not None else detail
    if not verified and verdict != "no-fit":
        reasons.append(detail)
    if request.nodes > 1 and verdict != "no-fit" and not target.deploys_multi_node:
        reasons.append(f"planned only: {target.multi_node_note}")
    # Recipes size GPUs as marketed (an H100 is "80 GB"), which is close to the GiB nvidia-smi reports.
    total_gib = world * gpu.memory_mib / 1024
    if ckpt.vram_minimum_gb and total_gib < ckpt.vram_minimum_gb and verdict != "no-fit":
        reasons.append(
            f"below the vLLM recipe's minimum of {ckpt.vram_minimum_gb} GB for {ckpt.repo_id}: "
            f"{world}x {gpu.key} have {total_gib:,.0f} GiB"
        )

    spec = engine_spec(ckpt, gpu, engine, image, version, layout, settings, request.speculative, donor)
    spec = replace(spec, cuda=tag.cuda if tag else None, min_driver=tag.min_driver if tag else None)
    refused = refused_spellings(engine, version, spec.args)
    if refused and verdict != "no-fit":
        verdict, reasons = "no-fit", [*refused, *reasons]
    if tag is not None:
        reasons.append(cuda_note(engine, tag))
    elif request.image:
        reasons.append(
            f"{image} is not a catalog tag: its CUDA, and so the NVIDIA driver it needs, is unknown"
        )
    if reserve and verdict != "no-fit":
        reasons.append(_calibration_reason(engine, version, reserve))
    start = None
    if verdict != "no-fit":
        # Before the own-points lookup: the loading flags are part of the command that ran (and is recorded).
        price = gpu.usd_per_gpu_hour_spot if request.spot else gpu.usd_per_gpu_hour
        start, spec = start_plan(request, ckpt, spec, price)
    throughput = estimate(
        cat,
        ckpt,
        gpu,
        world,
        engine=engine.key,
        engine_version=version,
        concurrency=request.concurrency,
        max_running=settings.max_num_seqs * layout.data_parallel,
        input_tokens=request.input_tokens,
        output_tokens=request.output_tokens,
        tight=verdict == "tight",
    )
    if own_points is not None and verdict != "no-fit":
        config = run_config_of(ckpt.repo_id, gpu.key, request.gpus_per_node, request.nodes, spec)
        own = own_points(config, request.input_tokens, request.output_tokens, request.concurrency)
        throughput = measured_throughput(own, throughput) if own is not None else throughput
    cost = plan_cost(cat, ckpt, gpu, world, verdict, request.spot, throughput)
    if cost.usd_per_hour is not None and cost.usd_per_million_output is not None and verdict != "no-fit":
        reasons.append(cost_reason(cost, throughput))
    if cost.api.newer_than_checkpoint:
        reasons.append(cost.api.newer_than_checkpoint)
    alts: tuple[Alternative, ...] = ()
    if alternatives and verdict != "fits":
        alts = _alternatives(cat, ckpt.key, request.target, engine.key, request.spot)
    roles = (
        role_commands(engine, spec, layout, request.nodes, request.interconnect, request.network_interface)
        if verdict != "no-fit"
        else ()
    )
    return Plan(
        model=ckpt.repo_id,
        checkpoint=ckpt.key,
        gpu=gpu.key,
        gpu_count=request.gpus_per_node,
        nodes=request.nodes,
        target=request.target,
        verdict=verdict,
        reasons=tuple(reasons),
        strategy=layout.strategy,
        tensor_parallel=layout.tensor_parallel,
        data_parallel=layout.data_parallel,
        expert_parallel=layout.expert_parallel,
        max_model_len=settings.max_model_len,
        max_num_seqs=settings.max_num_seqs,
        enforce_eager=settings.enforce_eager,
        reduced_settings=reduced,
        verified=verified,
        source=source,
        memory=mem,
        engine=spec,
        cost=cost,
        weights_bytes=ckpt.weights_bytes,
        load_minutes=ckpt.load_minutes,
        alternatives=alts,
        evidence=evidence,
        verified_detail=detail,
        throughput=throughput,
        roles=roles,
        start=start,
    )


def _strategy_refusal(ckpt: Checkpoint, engine: Engine, request: PlanRequest, world: int) -> str:
    if request.strategy in ("tp-ep", "tp") and engine.key == "vllm" and world > 1:
        width = ckpt.expert_width / world
        if ckpt.expert_width % world or (ckpt.expert_width // world) % FP8_BLOCK:
            return (
                f"vLLM tensor parallel over {world} GPUs cannot split {ckpt.repo_id}: an expert width of "
                f"{ckpt.expert_width} / {world} = {width:g} is not a multiple of the {FP8_BLOCK}-wide FP8 block "
                f"(vllm#40955); use data + expert parallel across nodes (TP inside a node) or SGLang TP"
            )
    return f"{engine.key} has no '{request.strategy}' layout for {ckpt.key} over {request.nodes} node(s) x {request.gpus_per_node} GPUs"


def require_deployable(p: Plan, *, accept_tight: bool = False, where: str = "") -> None:
    """Raise `PlanError` for a plan that must not create anything."""
    prefix = f"{where}: " if where else ""
    alts = ", ".join(a.label() for a in p.alternatives) or "none in the catalog"
    if p.verdict == "no-fit":
        raise PlanError(
            f"{prefix}{p.model} does not fit {p.gpu_count * p.nodes}x {p.gpu}: {p.reasons[0]} "
            f"Cheapest configurations that fit: {alts}."
        )
    if p.verdict == "tight" and not accept_tight:
        raise PlanError(
            f"{prefix}{p.model} on {p.gpu_count * p.nodes}x {p.gpu} is a tight fit "
            f"({'; '.join(p.reduced_settings)}). Set acceptTight: true in the stack to deploy it anyway, "
            f"or use one that fits: {alts}."
        )


def _check_request(request: PlanRequest, ckpt: Checkpoint) -> None:
    if request.gpus_per_node < 1 or request.nodes < 1:
        raise ConfigError("gpu count and nodes must be at least 1")
    if request.strategy is not None and request.strategy not in STRATEGIES:
        raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}, not '{request.strategy}'")
    if request.speculative not in ("none", "mtp", "dspark"):
        raise ConfigError(f"speculative must be none, mtp or dspark, not '{request.speculative}'")
    if request.speculative != "none" and request.speculative != ckpt.speculative:
        has = "no draft head" if ckpt.speculative == "none" else f"a {ckpt.speculative} head"
        raise ConfigError(
            f"speculative '{request.speculative}' needs a checkpoint with that draft head; "
            f"{ckpt.repo_id} has {has}"
        )
    if request.max_model_len is not None and not 1024 <= request.max_model_len <= ckpt.context_length:
        raise ConfigError(f"max-model-len must be between 1024 and {ckpt.context_length} for {ckpt.repo_id}")


def _blockers(
    request: PlanRequest,
    ckpt: Checkpoint,
    gpu: Gpu,
    engine: Engine,
    version: str,
    target: TargetLimits,
    ceiling: int | None,
) -> list[str]:
    out: list[str] = []
    minimum = ckpt.min_vllm if engine.key == "vllm" else ckpt.min_sglang
    parsed = version_tuple(version)
    if parsed and parsed < version_tuple(minimum):
        out.append(
            f"{engine.key} {version} cannot load {ckpt.repo_id} (architecture DeepseekV4ForCausalLM "
            f"needs {engine.key} >= {minimum}); use {engine.image}:v{minimum} or later"
        )
    unsupported = engine.unsupported_families.get(gpu.family)
    if unsupported is not None:
        sm = gpu.compute_capability.replace(".", "")
        out.append(
            f"{engine.key} cannot run V4 on {gpu.key} ({gpu.family}, sm_{sm}): {unsupported.fact} "
            f"({', '.join(unsupported.sources)}, read {unsupported.read})"
        )
    per_node = min(gpu.max_gpus_per_node, target.max_gpus_per_node)
    if request.gpus_per_node > per_node:
        out.append(
            f"no {gpu.key} node holds {request.gpus_per_node} GPUs: the largest {gpu.key} nodes (8-GPU HGX/DGX "
            f"boards) have {gpu.max_gpus_per_node}, and a {target.key} node at most {target.max_gpus_per_node}; "
            f"use {math.ceil(request.gpus_per_node / per_node)} nodes of {per_node}"
        )
    if request.nodes > 1 and target.key == "runpod" and not target.deploys_multi_node:
        out.append(f"{target.multi_node_note}; plan it with target kubernetes to see the multi-node layout")
    if request.speculative == "dspark" and engine.key == "vllm" and parsed < (0, 25, 0):
        out.append("DSpark speculative decoding needs vLLM >= 0.25.0")
    if ceiling is not None and request.max_model_len is not None and request.max_model_len >= ceiling:
        out.append(
            f"a published run of {ckpt.repo_id} on {request.gpus_per_node}x {gpu.key} at max-model-len "
            f"{ceiling:,} did not start (out of memory, vllm-project/recipes#381); "
            f"{request.max_model_len:,} is at or above it"
        )
    return out


def _layouts(
    ckpt: Checkpoint, engine: Engine, per_node: int, nodes: int, recipe: Recipe | None
) -> list[Layout]:
    """Valid ways to split the model, the recipe's first. Pipeline parallel is never offered."""
    world = per_node * nodes

    def tp_ok(n: int) -> bool:
        return (
            ckpt.attention_heads % n == 0
            and ckpt.expert_width % n == 0
            and (ckpt.expert_width // n) % FP8_BLOCK == 0
        )

    ep_ok = ckpt.routed_experts % world == 0
    layouts: list[Layout] = []
    if engine.key == "sglang":
        if ckpt.attention_heads % world == 0:
            layouts.append(Layout("tp", world, 1, False))
        return layouts
    if nodes > 1:
        # vLLM's multi-node strategy: TP inside a node, DP across nodes, EP over every GPU.
        if tp_ok(per_node) and ep_ok:
            layouts.append(Layout("tp-dp-ep", per_node, nodes, True))
        if ep_ok:
            layouts.append(Layout("dp-ep", 1, world, True))
        if tp_ok(world) and ep_ok:
            layouts.append(Layout("tp-ep", world, 1, True))
    else:
        if tp_ok(world) and ep_ok:
            layouts.append(Layout("tp-ep", world, 1, world > 1))
        if ep_ok and world > 1:
            layouts.append(Layout("dp-ep", 1, world, True))
    if recipe is not None:
        layouts.sort(key=lambda lay: lay.strategy != recipe.strategy)
    return layouts


def _calibration_bytes(engine: Engine, version: str) -> int:
    """What this engine version reserves per GPU beyond the versions the memory model is fitted to."""
    parsed = version_tuple(version)
    for c in engine.calibration:
        if parsed and parsed >= version_tuple(c.since):
            return int(c.extra_reserve_gib * GIB)
    return 0


def _calibration_reason(engine: Engine, version: str, reserve: int) -> str:
    row = next(c for c in engine.calibration if version_tuple(version) >= version_tuple(c.since))
    return (
        f"{engine.key} {version} is planned with {reserve / GIB:.1f} GiB more reserved per GPU than the "
        f"versions the memory model is fitted to ({engine.key} >= {row.since}: {row.facts[0]})"
    )


def _default_settings(
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


def _fit(
    ckpt: Checkpoint,
    gpu: Gpu,
    engine: Engine,
    request: PlanRequest,
    recipe: Recipe | None,
    layouts: list[Layout],
    ceiling: int | None,
    reserve: int = 0,
) -> tuple[Verdict, Layout, Settings, MemoryBreakdown, tuple[str, ...]] | None:
    base = _default_settings(ckpt, gpu, engine, request, recipe, reserve)
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


def _fit_reason(
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


def _no_fit_reason(
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


@lru_cache(maxsize=256)
def _alternatives_cached(model: str, target: str, engine: str, spot: bool) -> tuple[Alternative, ...]:
    return _search_alternatives(load_catalog(), model, target, engine, spot)


def _alternatives(cat: Catalog, model: str, target: str, engine: str, spot: bool) -> tuple[Alternative, ...]:
    if cat is load_catalog():
        return _alternatives_cached(model, target, engine, spot)
    return _search_alternatives(cat, model, target, engine, spot)


def _search_alternatives(
    cat: Catalog, model: str, target: str, engine: str, spot: bool
) -> tuple[Alternative, ...]:
    shapes = [(n, 1) for n in (1, 2, 4, 8)]
    if target == "kubernetes":
        shapes.append((8, 2))
    found: list[Alternative] = []
    for gpu in cat.gpus.values():
        for count, nodes in shapes:
            req = PlanRequest(model, gpu.key, count, nodes, target, engine, spot=spot)
            p = plan(req, cat, alternatives=False)
            if p.verdict == "fits" and p.cost.usd_per_hour is not None:
                found.append(Alternative(gpu.key, count, nodes, p.verdict, p.cost.usd_per_hour, p.verified))
    found.sort(key=lambda a: (a.usd_per_hour or math.inf, a.gpu_count * a.nodes))
    return tuple(found[:3])
