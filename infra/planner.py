"""Plan a deployment before anything is rented: does it fit, with which flags, at what cost.

Pure functions over the catalog; no I/O. `plan()` always returns a `Plan` (a no-fit plan says
why); `require_deployable()` turns a plan that must not be deployed into a `PlanError`. The rules
it composes live beside it, one concept each: `refusals` (what blocks a request whatever the memory),
`layouts` (how the model splits over the GPUs), `fit` (the settings and verdict the memory model allows),
`memory`, `engine_flags`, `roles`, `verification`, `throughput` and `cost`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

from infra.catalog import GIB, Catalog, load_catalog
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
)
from infra.errors import ConfigError, PlanError
from infra.evidence import run_config_of
from infra.fit import (
    Fit,
    calibration_bytes,
    calibration_reason,
    default_settings,
    fit,
    fit_reason,
    no_fit_reason,
)
from infra.layouts import layouts, no_layout_reason, strategy_refusal
from infra.memory import Layout, breakdown
from infra.own_throughput import OwnPoints, measured_throughput
from infra.plan import (
    Alternative,
    Plan,
    Verdict,
)
from infra.plan_request import PlanRequest  # re-exported: callers build their requests from infra.planner
from infra.refusals import blockers, check_request
from infra.roles import role_commands
from infra.start_model import start_plan
from infra.throughput import estimate
from infra.verification import failed_context, published_evidence, verification


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
    check_request(request, ckpt)
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
    reserve = calibration_bytes(engine, version)
    world = request.gpus_per_node * request.nodes
    ceiling = failed_context(recipe)
    reasons: list[str] = []

    blocked = blockers(request, ckpt, gpu, engine, version, target, ceiling)
    candidates = layouts(ckpt, engine, request.gpus_per_node, request.nodes, recipe)
    if request.strategy is not None:
        kept = [lay for lay in candidates if lay.strategy == request.strategy]
        if not kept and not blocked:
            blocked.append(strategy_refusal(ckpt, engine, request, world))
        candidates = kept
    if not candidates and not blocked:
        blocked.append(no_layout_reason(ckpt, world))

    chosen: Fit | None = None
    fallback = ""
    if not blocked:
        chosen = fit(ckpt, gpu, engine, request, recipe, candidates, ceiling, reserve)
        if chosen is None and not request.image and tag is not None:
            # A newer build that reserves more memory may not fit where an older one does: plan that one.
            for older in default_tags(engine, ckpt)[1:]:
                older_reserve = calibration_bytes(engine, older.version)
                if older_reserve >= reserve:
                    continue
                chosen = fit(ckpt, gpu, engine, request, recipe, candidates, ceiling, older_reserve)
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
        settings = default_settings(ckpt, gpu, engine, request, recipe, reserve)
        mem = breakdown(ckpt, gpu, layout, settings, request.nodes)
        verdict: Verdict = "no-fit"
        reduced: tuple[str, ...] = ()
        reasons.extend(blocked or [no_fit_reason(ckpt, gpu, layout, mem, request, world)])
    else:
        verdict, layout, settings, mem, reduced = chosen
        reasons.append(fit_reason(ckpt, gpu, layout, mem, settings, world))
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
        reasons.append(calibration_reason(engine, version, reserve))
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
