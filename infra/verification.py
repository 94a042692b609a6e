"""What the published runs say about a configuration: the evidence listed, and whether it is verified.

Pure, over the catalog's recipes: a plan is verified only where a published run served this GPU, engine,
context and concurrency; a run that failed to start caps the context the planner may offer. A cell its
publisher marks verified but publishes no numbers for is "verified by its publisher, no published
numbers": said so in the plan, distinct from a measured run, and not the plan's verified label.
"""

from __future__ import annotations

from infra.catalog import Checkpoint, Engine, Gpu, Recipe
from infra.memory import Settings
from infra.plan import PUBLISHER_ONLY, Evidence, Verdict


def failed_context(recipe: Recipe | None) -> int | None:
    """The smallest context a published run of this configuration failed to start at."""
    failed = [r.context for r in (recipe.runs if recipe else ()) if r.outcome == "failed" and r.context]
    return min(failed) if failed else None


def published_evidence(
    recipe: Recipe | None, elsewhere: list[Recipe], other_engines: list[Recipe]
) -> tuple[Evidence, ...]:
    """Every published run behind this plan: this configuration's first, then other GPUs', then other engines'."""
    out: list[Evidence] = []
    for r in [*([recipe] if recipe else []), *elsewhere, *other_engines]:
        for run in r.runs:
            out.append(
                Evidence(
                    what=run.what,
                    source=run.source,
                    gpu=r.gpu,
                    engine=r.engine,
                    context=run.context,
                    concurrency=run.concurrency,
                    outcome=run.outcome,
                    read=run.read,
                    note=run.note,
                    engine_version=run.engine_version,
                )
            )
    return tuple(out)


def verification(
    ckpt: Checkpoint,
    gpu: Gpu,
    engine: Engine,
    recipe: Recipe | None,
    elsewhere: list[Recipe],
    recipes: list[Recipe],
    s: Settings,
    verdict: Verdict,
) -> tuple[bool, str]:
    """Verified only where a published run served this configuration at this context and concurrency."""
    if recipe is None:
        if elsewhere:
            gpus = ", ".join(sorted({r.gpu for r in elsewhere}))
            return False, (
                f"unverified on {gpu.key}: the published {engine.key} runs of {ckpt.key} on "
                f"{elsewhere[0].nodes} node(s) x {elsewhere[0].gpus_per_node} GPUs are on {gpus} ({elsewhere[0].source})"
            )
        others = [r for r in recipes if r.engine != engine.key]
        if others:
            return (
                False,
                f"unverified with {engine.key}; published with {others[0].engine}: {others[0].source}",
            )
        return False, "unverified: no published run of this combination; planned by the memory model"
    served = [r for r in recipe.runs if r.outcome == "served"]
    marked = [r for r in recipe.runs if r.outcome == "marked-verified"]
    if not served and marked:
        run = marked[0]
        measured = ""
        if elsewhere:
            gpus = ", ".join(sorted({r.gpu for r in elsewhere}))
            measured = f"; the measured {engine.key} runs of this shape are on {gpus} ({elsewhere[0].source})"
        return False, (
            f"{PUBLISHER_ONLY}: {run.what} ({run.source}, read {run.read}) is marked verified with empty "
            f"benchmark cells{measured}"
        )
    covering = [
        r
        for r in served
        if (r.context is None or s.max_model_len <= r.context)
        and (r.concurrency is None or s.max_num_seqs <= r.concurrency)
    ]
    if verdict == "fits" and covering and not s.enforce_eager:
        run = covering[0]
        ctx = f"context {run.context:,}" if run.context else "context not stated by the source"
        conc = f"concurrency {run.concurrency}" if run.concurrency else "concurrency not stated by the source"
        return True, f"verified: {run.what} ({run.source}) served {ctx}, {conc}"
    shown = "; ".join(
        f"{r.what} served context {r.context or 'not stated'}, concurrency {r.concurrency or 'not stated'} ({r.source})"
        for r in served
    )
    return False, (
        f"unverified at max-model-len {s.max_model_len:,} and max-num-seqs {s.max_num_seqs}"
        f"{' in eager mode' if s.enforce_eager else ''}: the published runs show only {shown or 'nothing that served'}"
    )
