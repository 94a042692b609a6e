"""Output throughput at a declared load, carried over from published measurements (pure arithmetic).

Each published point (`infra/data/throughput.yaml`) is moved to the planned hardware by aggregate HBM
bandwidth (GPUs x GB/s: decode reads the weights once per step), then the estimate interpolates in
log-log between the points just below and just above the declared concurrency; outside them it keeps
the nearest point's per-stream rate. Prompt and output lengths are not modelled: the estimate says
how far they are from the points it used, so a reader knows what it rests on.
"""

from __future__ import annotations

import math

from infra.catalog import Catalog, Checkpoint, Gpu, ThroughputPoint
from infra.plan import Throughput

# Eager mode with a handful of sequences serves a fraction of a CUDA-graph batch (rough).
TIGHT_THROUGHPUT_FACTOR = 0.25
# Ampere has neither FP8 nor FP4 tensor cores: weights are upcast on the fly (Marlin; rough).
AMPERE_THROUGHPUT_FACTOR = 0.5


def estimate(
    cat: Catalog,
    ckpt: Checkpoint,
    gpu: Gpu,
    world: int,
    *,
    concurrency: int,
    max_running: int,
    input_tokens: int,
    output_tokens: int,
    tight: bool,
    engine: str | None = None,
    engine_version: str | None = None,
) -> Throughput:
    """Output tokens/s for `concurrency` streams of `input_tokens` in / `output_tokens` out."""
    running = max(1, min(concurrency, max_running))
    points = [p for p in cat.throughput if p.model == ckpt.family]
    if not points:
        return Throughput(0.0, concurrency, running, input_tokens, output_tokens, "no published point", "")
    hw = world * gpu.hbm_gbps

    def scaled(p: ThroughputPoint) -> float:
        return p.output_tok_s * hw / (p.gpus * p.hbm_gbps)

    def hw_distance(p: ThroughputPoint) -> float:
        return abs(math.log(hw / (p.gpus * p.hbm_gbps))) + (0.0 if p.gpu == gpu.key else 0.01)

    # Per concurrency, the point measured on the hardware closest to the planned one.
    by_conc: dict[int, ThroughputPoint] = {}
    for p in sorted(points, key=hw_distance):
        by_conc.setdefault(p.concurrency, p)
    below = [c for c in by_conc if c <= running]
    above = [c for c in by_conc if c >= running]
    lo = by_conc[max(below)] if below else None
    hi = by_conc[min(above)] if above else None
    if lo is not None and hi is not None and lo is not hi:
        slope = math.log(scaled(hi) / scaled(lo)) / math.log(hi.concurrency / lo.concurrency)
        rate = scaled(lo) * (running / lo.concurrency) ** slope
        used = [lo, hi]
        how = f"interpolated between concurrency {lo.concurrency} and {hi.concurrency}"
    else:
        near = lo or hi
        assert near is not None
        rate = scaled(near) / near.concurrency * running
        used = [near]
        how = (
            "at a published point"
            if near.concurrency == running
            else f"{running / near.concurrency:.2g}x the published point's concurrency "
            f"({near.concurrency}), at its per-stream rate"
        )
    if gpu.family == "ampere":
        rate *= AMPERE_THROUGHPUT_FACTOR
        how += "; halved for Ampere (no FP8/FP4 tensor cores)"
    if tight:
        rate *= TIGHT_THROUGHPUT_FACTOR
        how += "; quartered for eager mode"
    notes = [how]
    for p in used:
        ratio = hw / (p.gpus * p.hbm_gbps)
        if p.gpu != gpu.key or p.gpus != world:
            notes.append(f"{p.gpus}x {p.gpu} carried to {world}x {gpu.key} by HBM bandwidth ({ratio:.2f}x)")
        if engine is not None and (p.engine, p.engine_version) != (engine, engine_version):
            # An anchor belongs to the engine build that measured it (~10% between SGLang 0.5.12 and 0.5.15).
            ran = f"{p.engine or 'an engine the source does not name'} {p.engine_version or '(version not stated)'}"
            notes.append(
                f"a point from another engine build: it ran {ran}, the plan runs {engine} {engine_version}"
            )
        lengths = f"{_k(p.input_tokens)} in / {_k(p.output_tokens)} out"
        if (p.input_tokens, p.output_tokens) != (input_tokens, output_tokens):
            notes.append(
                f"the point used {lengths}, the declared load {_k(input_tokens)} in / {_k(output_tokens)} out "
                "(lengths are not modelled)"
            )
    if running < concurrency:
        notes.append(
            f"declared concurrency {concurrency} capped at {running} sequences the engine runs at once"
        )
    source = "; ".join(f"{p.source} ({p.output_tok_s:,.0f} tok/s)" for p in used)
    return Throughput(
        output_tokens_per_s=round(rate, 1),
        declared_concurrency=concurrency,
        concurrency=running,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        source=source,
        extrapolation="; ".join(dict.fromkeys(notes)),
    )


def _k(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n // 1024}K" if n >= 1024 and n % 1024 == 0 else f"{n:,}"
