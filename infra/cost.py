"""What a plan costs: GPUs by the hour, tokens by the million against the model's own API, the cache volume.

Pure arithmetic over the catalog's prices (each with its date and source in infra/data/).
"""

from __future__ import annotations

import math

from infra.catalog import Catalog, Checkpoint, Gpu
from infra.plan import ApiComparison, Cost, Throughput, Verdict

CACHE_HEADROOM = 1.15
VOLUME_USD_PER_GB_MONTH = 0.07
VOLUME_USD_PER_GB_MONTH_LARGE = 0.05  # at 1 TB and above


def cache_size_gb(ckpt: Checkpoint) -> int:
    """Network volume / PVC size: weights plus headroom for the HF cache layout and logs."""
    return int(math.ceil(ckpt.weights_bytes * CACHE_HEADROOM / 1e9 / 10) * 10)


def api_comparison(cat: Catalog, ckpt: Checkpoint, per_hour: float | None) -> ApiComparison:
    """What the same tokens cost from the model's own API, and the hourly volume where renting breaks even."""
    api = cat.api_for(ckpt)
    newer = ""
    if api.open_checkpoint != ckpt.repo_id:
        if api.open_checkpoint:
            newer = (
                f"the API's {api.name} serves {api.serves}, a newer release than {ckpt.repo_id}; "
                f"its open weights are {api.open_checkpoint}"
            )
        else:
            newer = (
                f"the API's {api.name} serves {api.serves}, newer than any open checkpoint in this catalog"
                + (
                    f" (open weights of an earlier release: {api.newer_open_weights})"
                    if api.newer_open_weights
                    else ""
                )
            )
    return ApiComparison(
        api_model=api.name,
        serves=api.serves,
        peak_usd_per_million_output=api.peak_output,
        off_peak_usd_per_million_output=api.off_peak_output,
        break_even_peak_million_per_hour=round(per_hour / api.peak_output, 2)
        if per_hour is not None
        else None,
        break_even_off_peak_million_per_hour=(
            round(per_hour / api.off_peak_output, 2) if per_hour is not None else None
        ),
        peak_hours=api.peak_hours,
        price_date=api.read,
        source=api.source,
        newer_than_checkpoint=newer,
    )


def plan_cost(
    cat: Catalog, ckpt: Checkpoint, gpu: Gpu, world: int, verdict: Verdict, spot: bool, throughput: Throughput
) -> Cost:
    """The hourly price of the GPUs, the price per 1M output tokens at the estimated rate, and the cache volume."""
    price = gpu.usd_per_gpu_hour_spot if spot else gpu.usd_per_gpu_hour
    per_hour = round(price * world, 2) if price is not None else None
    tok_s = throughput.output_tokens_per_s if verdict != "no-fit" else 0.0
    per_million = round(per_hour / (tok_s * 3600 / 1e6), 2) if per_hour is not None and tok_s else None
    size = cache_size_gb(ckpt)
    rate = VOLUME_USD_PER_GB_MONTH_LARGE if size >= 1000 else VOLUME_USD_PER_GB_MONTH
    return Cost(
        usd_per_gpu_hour=price,
        usd_per_hour=per_hour,
        price_date=gpu.price_date,
        spot=spot,
        est_output_tokens_per_s=tok_s,
        usd_per_million_output=per_million,
        api=api_comparison(cat, ckpt, per_hour),
        cache_gb=size,
        cache_usd_per_month=round(size * rate, 2),
    )


def cost_reason(cost: Cost, t: Throughput) -> str:
    """One line for the plan's reasons: the price per token against the API at both tiers."""
    assert cost.usd_per_hour is not None and cost.usd_per_million_output is not None
    api = cost.api
    capacity = cost.est_output_tokens_per_s * 3600 / 1e6
    line = (
        f"${cost.usd_per_hour:.2f}/hour; at an estimated {cost.est_output_tokens_per_s:,.0f} output tokens/s "
        f"for {t.concurrency} concurrent streams of {t.input_tokens:,} in / {t.output_tokens:,} out, that is "
        f"${cost.usd_per_million_output:.2f} per 1M output tokens against {api.api_model}'s "
        f"${api.peak_usd_per_million_output:.2f} peak / ${api.off_peak_usd_per_million_output:.2f} off-peak "
        f"(read {api.price_date})"
    )
    peak, off = api.break_even_peak_million_per_hour, api.break_even_off_peak_million_per_hour
    assert peak is not None and off is not None
    verdicts = [
        f"{tier} it breaks even above {need:,.1f}M output tokens/hour"
        + ("" if capacity >= need else f", more than this setup's estimated {capacity:,.2f}M")
        for tier, need in (("at peak", peak), ("off-peak", off))
    ]
    return line + "; " + "; ".join(verdicts) + "."
