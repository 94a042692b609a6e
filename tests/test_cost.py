"""What a plan costs: GPUs by the hour, tokens against the model's own API at both tiers, the cache volume."""

from __future__ import annotations

import math

import pytest

from infra.catalog import load_catalog
from infra.planner import PlanRequest, plan

CAT = load_catalog()


def test_costs_add_up():
    p = plan(PlanRequest("pro", "H200", 8))
    gpu = CAT.gpu("H200")
    assert p.cost.usd_per_hour == pytest.approx(gpu.usd_per_gpu_hour * 8)
    tokens_per_hour_m = p.cost.est_output_tokens_per_s * 3600 / 1e6
    assert p.cost.usd_per_million_output == pytest.approx(p.cost.usd_per_hour / tokens_per_hour_m, rel=0.01)
    assert p.cost.api.peak_usd_per_million_output == 3.96
    assert p.cost.api.off_peak_usd_per_million_output == 1.98
    assert p.cost.api.break_even_peak_million_per_hour == pytest.approx(p.cost.usd_per_hour / 3.96, rel=0.01)
    assert p.cost.api.break_even_off_peak_million_per_hour == pytest.approx(
        p.cost.usd_per_hour / 1.98, rel=0.01
    )
    assert p.cost.cache_gb >= math.ceil(CAT.checkpoint("pro").weights_bytes / 1e9)
    spot = plan(PlanRequest("pro", "H200", 8, spot=True))
    assert spot.cost.usd_per_hour == pytest.approx(gpu.usd_per_gpu_hour_spot * 8)


def test_a_price_override_changes_the_cost():
    cat = CAT.with_overrides(gpu="H200", usd_per_gpu_hour=1.0)
    assert plan(PlanRequest("flash", "H200", 4), cat).cost.usd_per_hour == 4.0


def test_each_model_is_compared_with_its_own_api_at_both_tiers():
    pro = plan(PlanRequest("pro-0813", "H200", 8)).cost.api
    assert (pro.api_model, pro.serves) == ("deepseek-v4-pro", "DeepSeek-V4-Pro-0813")
    assert (pro.peak_usd_per_million_output, pro.off_peak_usd_per_million_output) == (3.96, 1.98)
    assert pro.newer_than_checkpoint == ""
    flash = plan(PlanRequest("flash", "H200", 4)).cost.api
    assert (flash.api_model, flash.peak_usd_per_million_output, flash.off_peak_usd_per_million_output) == (
        "deepseek-flash",
        1.20,
        0.60,
    )
    assert flash.peak_hours == "01:00-04:00, 06:00-10:00 UTC on weekdays"
    assert flash.price_date == "2026-11-30"
    assert flash.break_even_off_peak_million_per_hour == pytest.approx(
        2 * flash.break_even_peak_million_per_hour, rel=0.01
    )


def test_the_plan_says_the_flash_api_model_is_newer_than_any_open_checkpoint_planned():
    p = plan(PlanRequest("flash", "H200", 4))
    line = next(r for r in p.reasons if "deepseek-flash" in r and "newer" in r)
    assert "DeepSeek-V4.1-Flash" in line and "newer than any open checkpoint in this catalog" in line
    assert "deepseek-ai/DeepSeek-V4.1-Flash" in line  # the earlier V4.1 release's open weights, named
    preview = plan(PlanRequest("pro", "H200", 8))
    assert any("a newer release than deepseek-ai/DeepSeek-V4-Pro" in r for r in preview.reasons)


def test_the_cost_per_token_uses_the_declared_load():
    slow = plan(PlanRequest("pro", "H200", 8, concurrency=2)).cost
    fast = plan(PlanRequest("pro", "H200", 8, concurrency=8)).cost
    assert slow.usd_per_million_output is not None and fast.usd_per_million_output is not None
    assert slow.usd_per_million_output > 3 * fast.usd_per_million_output


def test_the_cache_volume_is_the_weights_plus_headroom_and_a_terabyte_is_billed_at_the_lower_rate():
    flash = plan(PlanRequest("flash", "H200", 4)).cost
    pro = plan(PlanRequest("pro", "H200", 8)).cost
    # RunPod network volumes: $0.07/GB/month, $0.05 from 1 TB (shared/reference/runpod.md).
    assert (flash.cache_gb, flash.cache_usd_per_month) == (190, 13.3)
    assert (pro.cache_gb, pro.cache_usd_per_month) == (1000, 50.0)
